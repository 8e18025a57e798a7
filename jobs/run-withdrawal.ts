import { CHANGE_KINDS } from '../src/changes/change-kinds.js';
import { diffUnits, type ChangePlan } from '../src/changes/change-plan.js';
import { restorePointer } from '../src/storage/manifest.js';
import { manifestKey, poolDataPrefix, poolStagingPrefix, stagingRunOf, TABLES } from '../src/storage/output-layout.js';
import type { StagedLocation } from '../src/storage/object-sink.js';
import { runLocation, runPointer, runShards, runTables, runS3Role, type RunSpec } from '../src/runs/run-spec.js';
import { CheckpointStore } from '../src/walk/checkpoint-store.js';
import { withdrawRunFiles } from '../src/walk/run-commit.js';
import type { ExportRuntime } from './export-runtime.js';
import { runUnits } from './membership-plan.js';

/**
 * Takes a run that ended without completing off its destination: every staged file (recorded by its
 * writers, or found by a listing), anything a finalizer had already published in its table folders,
 * its manifest, and `latest.json` back to what it said before. So a failed or cancelled run leaves
 * nothing a reader can see. Idempotent, and a no-op unless the run has failed or was cancelled: whoever notices last
 * (the job that failed it, each shard that stops because of it) leaves the destination clean.
 */
export async function withdrawRun(runtime: ExportRuntime, spec: RunSpec): Promise<void> {
  const status = await runtime.runs.status(spec.snapshotId);
  if (status !== undefined && status.state !== 'failed' && status.state !== 'cancelled') return;
  // A run that failed before its shards were enqueued (a bucket that does not exist, a bad key) staged nothing.
  if (status !== undefined && status.runningAt === undefined) return;
  const sink = runtime.sink(spec.destination, runS3Role(spec));
  const checkpoints = new CheckpointStore(runtime.redis, runtime.keys, spec.snapshotId);
  const { units } = await runUnits(runtime, spec, runShards(spec).map((shard) => shard.id));
  const plan = await runtime.runs.storedChangePlan<ChangePlan>(spec.snapshotId);
  if (plan) units.push(...diffUnits(plan));
  const known = (await Promise.all(units.map((unit) => checkpoints.staged(unit)))).flat();
  const run = runLocation(spec);
  const tables = [...runTables(spec), ...(spec.changes ? CHANGE_KINDS.map((kind) => kind.changes) : [])];
  const withdrawn = await withdrawRunFiles(sink, { run, tables }, known);
  await sink.deleteObjects([manifestKey(run)]);
  const kept = await runtime.runs.keptPointer(spec.snapshotId);
  const pointer = runPointer(spec);
  if (kept && pointer) await restorePointer(sink, spec.userPoolId, spec.snapshotId, kept.text, pointer);
  if (withdrawn.swept.removed > 0 || withdrawn.deleted > 0) {
    runtime.log.info({ snapshotId: spec.snapshotId, staged: withdrawn.swept.removed, published: withdrawn.deleted }, 'removed the files of a run that did not complete');
  }
}

/**
 * Removes staged files a pool's earlier runs left behind (a worker killed mid-file, a zombie that
 * wrote after its run was published): at the start of a run, every other run of the pool has ended.
 */
export async function sweepStalePoolStaging(runtime: ExportRuntime, spec: RunSpec): Promise<number> {
  const ours = (location: StagedLocation): boolean =>
    location.kind === 'file' ? stagingRunOf(location.path) === spec.snapshotId : location.key.includes(`/run=${spec.snapshotId}/`);
  const result = await runtime.sink(spec.destination, runS3Role(spec)).sweepStaged(
    { stagingPrefix: poolStagingPrefix(spec.userPoolId), dataPrefixes: TABLES.map((table) => poolDataPrefix(spec.userPoolId, table)), keep: ours },
    [],
  );
  if (result.removed > 0) runtime.log.info({ userPoolId: spec.userPoolId, removed: result.removed }, "removed staged files of the pool's earlier runs");
  return result.removed;
}
