import type { Queue } from 'bullmq';
import { diffUnits, type ChangePlan } from '../src/changes/change-plan.js';
import { FatalExportError, type StagedFileGoneError } from '../src/limits/export-errors.js';
import { GROUPS_UNIT, planMembershipBatches, runShards, type RunSpec } from '../src/runs/run-spec.js';
import { GROUP_MEMBERSHIPS_TABLE } from '../src/storage/output-layout.js';
import { CheckpointStore, tableOfUnit } from '../src/walk/checkpoint-store.js';
import type { ExportRuntime } from './export-runtime.js';
import { diffJobId } from './change-diff.js';
import { finalizeJobId, membershipJobId, SHARD_JOB, SHARD_JOB_OPTIONS, shardJobId, type ExportQueues, type ShardJobData } from './queues.js';

/**
 * A staged upload that expired before the finalizer published it (a bucket lifecycle rule shorter
 * than the run, a run resumed days later) costs that shard's walk, not the run: the finalizer
 * starts the unit's walk over (its checkpoint fenced and reset, its old files forgotten) and adds a
 * new shard job for it as its own child, then waits for it. The groups walk is the exception: the
 * memberships were planned from its files, so the run fails with one line instead.
 */
export async function rewalkUnitOf(runtime: ExportRuntime, queues: ExportQueues, spec: RunSpec, unitOfKey: ReadonlyMap<string, string>, gone: StagedFileGoneError): Promise<void> {
  const unit = unitOfKey.get(gone.key);
  if (unit === undefined || unit === GROUPS_UNIT) throw new FatalExportError(gone.message);
  const checkpoints = new CheckpointStore(runtime.redis, runtime.keys, spec.snapshotId);
  const claimed = await checkpoints.claim(unit);
  await checkpoints.restart(unit, claimed.epoch, claimed.stored);
  const { data, jobId, queue } = await jobOf(runtime, queues, spec, unit);
  const parent = { id: finalizeJobId(spec.snapshotId), queue: queues.runs.qualifiedName };
  await queue.add(SHARD_JOB, data, { ...SHARD_JOB_OPTIONS, jobId: `${jobId}-rewalk-${claimed.epoch}`, parent });
  runtime.log.warn({ snapshotId: spec.snapshotId, unit, key: gone.key }, 'a staged upload expired before it was published; walking its shard again');
}

/** The shard job that walks `unit`, rebuilt from the run's spec, its groups and its change plan. */
async function jobOf(runtime: ExportRuntime, queues: ExportQueues, spec: RunSpec, unit: string): Promise<{ data: ShardJobData; jobId: string; queue: Queue }> {
  const { snapshotId } = spec;
  const table = tableOfUnit(unit);
  const shard = unit.includes('.') ? unit.slice(unit.indexOf('.') + 1) : unit;
  if (table === GROUP_MEMBERSHIPS_TABLE) {
    const groups = (await new CheckpointStore(runtime.redis, runtime.keys, snapshotId).files(GROUPS_UNIT)).flatMap((file) => file.keys ?? []);
    const batch = planMembershipBatches(groups)[Number(shard)] ?? [];
    return { data: { snapshotId, shard: { id: shard, filter: null }, table, groups: batch }, jobId: membershipJobId(snapshotId, Number(shard)), queue: queues.groups };
  }
  const plan = await runtime.runs.storedChangePlan<ChangePlan>(snapshotId);
  if (plan && diffUnits(plan).includes(unit)) {
    return { data: { snapshotId, shard: { id: shard, filter: null }, table }, jobId: diffJobId(snapshotId, table, shard === 'all' ? '' : shard), queue: queues.shards };
  }
  const users = runShards(spec).find((candidate) => candidate.id === unit);
  if (!users) throw new FatalExportError(`run ${snapshotId} has no shard ${unit} to walk again`);
  return { data: { snapshotId, shard: users }, jobId: shardJobId(snapshotId, users.id), queue: queues.shards };
}
