import { GROUPS_UNIT, planMembershipBatches, membershipUnit, type RunSpec } from '../src/runs/run-spec.js';
import { GROUP_MEMBERSHIPS_TABLE } from '../src/storage/output-layout.js';
import { CheckpointStore } from '../src/walk/checkpoint-store.js';
import type { ExportRuntime } from './export-runtime.js';
import { finalizeJobId, membershipJobId, SHARD_JOB, SHARD_JOB_OPTIONS, type ExportQueues } from './queues.js';

/**
 * After the groups walk: plans the membership shards from exactly the groups its committed files
 * hold (so memberships and groups describe the same groups), and adds them to the run's flow as
 * children of its finalizer. Idempotent: a retried groups job makes the same plan and adds nothing
 * twice (deterministic job ids).
 */
export async function addMembershipShards(runtime: ExportRuntime, queues: ExportQueues, spec: RunSpec): Promise<number> {
  const checkpoints = new CheckpointStore(runtime.redis, runtime.keys, spec.snapshotId);
  const groups = (await checkpoints.files(GROUPS_UNIT)).flatMap((file) => file.keys ?? []);
  const batches = planMembershipBatches(groups);
  await runtime.runs.setMembershipBatches(spec.snapshotId, batches.length);
  const parent = { id: finalizeJobId(spec.snapshotId), queue: queues.runs.qualifiedName };
  await queues.groups.addBulk(
    batches.map((batch, index) => ({
      name: SHARD_JOB,
      data: { snapshotId: spec.snapshotId, shard: { id: String(index), filter: null }, table: GROUP_MEMBERSHIPS_TABLE, groups: batch },
      opts: { ...SHARD_JOB_OPTIONS, jobId: membershipJobId(spec.snapshotId, index), parent },
    })),
  );
  runtime.log.info({ snapshotId: spec.snapshotId, groups: groups.length, shards: batches.length }, 'membership walk planned');
  return batches.length;
}

/** Every checkpoint unit of a run: the users' shards and, with groups, the groups walk and each membership batch. */
export async function runUnits(runtime: ExportRuntime, spec: RunSpec, users: readonly string[]): Promise<{ units: string[]; planned: boolean }> {
  if (!spec.groups) return { units: [...users], planned: true };
  const batches = await runtime.runs.membershipBatches(spec.snapshotId);
  if (batches === undefined) return { units: [...users, GROUPS_UNIT], planned: false };
  return { units: [...users, GROUPS_UNIT, ...Array.from({ length: batches }, (_, b) => membershipUnit(b))], planned: true };
}
