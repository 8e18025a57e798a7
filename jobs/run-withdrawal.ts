import { diffUnits, type ChangePlan } from '../src/changes/change-plan.js';
import { manifestKey, poolDataPrefix, poolStagingPrefix, stagingRunOf, TABLES } from '../src/storage/output-layout.js';
import { sinkUntil, type StagedLocation } from '../src/storage/object-sink.js';
import { runLocation, runShards, type RunSpec } from '../src/runs/run-spec.js';
import { describeError } from '../src/limits/error-classification.js';
import { FatalExportError } from '../src/limits/export-errors.js';
import { CheckpointStore } from '../src/walk/checkpoint-store.js';
import { withdrawRunFiles } from '../src/walk/run-commit.js';
import { runSink, type ExportRuntime } from './export-runtime.js';
import { runUnits } from './membership-plan.js';

/**
 * How long a job whose run ended waits out S3 throttling while it takes the run's files back, before
 * leaving the rest to the reconcile tick (a healthy destination is not cut short: only retries end).
 */
export const WITHDRAW_IN_JOB_MS = 2_000;

/**
 * Takes a run that failed or was cancelled off its destination: every staged file (recorded by its
 * writers, or found by a listing), anything a finalizer had already published in any of its table
 * folders, and its manifest. Such a run ended before its point of no return, so no pointer ever
 * named it: nothing else is touched. Idempotent, and a no-op unless the run has failed or was
 * cancelled; it throws when the destination cannot be cleaned, and the withdrawal stays pending.
 */
export async function withdrawRun(runtime: ExportRuntime, spec: RunSpec, signal?: AbortSignal): Promise<void> {
  const status = await runtime.runs.status(spec.snapshotId);
  if (status !== undefined && status.state !== 'failed' && status.state !== 'cancelled') return;
  // A run that failed before its shards were enqueued (a bucket that does not exist, a bad key) staged nothing.
  if (status !== undefined && status.runningAt === undefined) return;
  const destination = runSink(runtime, spec);
  const sink = signal === undefined ? destination : sinkUntil(destination, signal);
  const checkpoints = new CheckpointStore(runtime.redis, runtime.keys, spec.snapshotId);
  const { units } = await runUnits(runtime, spec, runShards(spec).map((shard) => shard.id));
  const plan = await runtime.runs.storedChangePlan<ChangePlan>(spec.snapshotId);
  if (plan) units.push(...diffUnits(plan));
  const known = (await Promise.all(units.map((unit) => checkpoints.staged(unit)))).flat();
  const run = runLocation(spec);
  const withdrawn = await withdrawRunFiles(sink, { run, tables: TABLES }, known);
  await sink.deleteObjects([manifestKey(run)]);
  if (withdrawn.swept.removed > 0 || withdrawn.deleted > 0) {
    runtime.log.info({ snapshotId: spec.snapshotId, staged: withdrawn.swept.removed, published: withdrawn.deleted }, 'removed the files of a run that did not complete');
  }
}

/**
 * Finishes the withdrawal of every failed or cancelled run of the pool whose withdrawal did not
 * complete (a worker killed inside it, a destination that could not be reached): at every run start
 * and on the worker's reconcile tick.
 */
export async function finishPendingWithdrawals(runtime: ExportRuntime, userPoolId: string): Promise<void> {
  for (const snapshotId of await runtime.runs.pendingWithdrawals(userPoolId)) {
    const spec = await runtime.runs.spec(snapshotId);
    // Expired from Redis: nothing says where its files are; the pool's next run sweeps its staging.
    if (!spec) await runtime.runs.markWithdrawn({ snapshotId, userPoolId });
    else await withdraw(runtime, spec);
  }
}

/**
 * Removes staged files a pool's earlier runs left behind (a worker killed mid-file, a zombie that
 * wrote after its run was published): at the start of a run, every other run of the pool has ended.
 */
export async function sweepStalePoolStaging(runtime: ExportRuntime, spec: RunSpec): Promise<number> {
  const ours = (location: StagedLocation): boolean =>
    location.kind === 'file' ? stagingRunOf(location.path) === spec.snapshotId : location.key.includes(`/run=${spec.snapshotId}/`);
  const result = await runSink(runtime, spec).sweepStaged(
    { stagingPrefix: poolStagingPrefix(spec.userPoolId), dataPrefixes: TABLES.map((table) => poolDataPrefix(spec.userPoolId, table)), keep: ours },
    [],
  );
  if (result.removed > 0) runtime.log.info({ userPoolId: spec.userPoolId, removed: result.removed }, "removed staged files of the pool's earlier runs");
  return result.removed;
}

/**
 * A failed or cancelled run leaves nothing behind: its withdrawal is marked done only once it
 * succeeded. A failure to clean up is logged, and the withdrawal stays pending for whoever comes
 * next (a finalizer attempt, the worker's reconcile tick, the pool's next run). With `signal`, the
 * destination's retries end when it aborts (a job must not wait out S3 throttling for a run that
 * ended: it leaves the rest to the reconcile tick).
 */
export async function withdraw(runtime: ExportRuntime, spec: RunSpec, signal?: AbortSignal): Promise<void> {
  try {
    await withdrawRun(runtime, spec, signal);
  } catch (error) {
    // A destination that cannot be used at all (the usual reason a run fails at its start) holds nothing of it.
    const level = error instanceof FatalExportError ? 'debug' : 'warn';
    runtime.log[level]({ snapshotId: spec.snapshotId, reason: describeError(error) }, "could not remove a failed run's files yet; a worker will finish it");
    return;
  }
  const state = await runtime.runs.state(spec.snapshotId);
  if (state === 'failed' || state === 'cancelled') await runtime.runs.markWithdrawn(spec);
}
