import type { ExportRuntime } from '../src/export-runtime.js';
import type { RunStatus } from '../src/run-store.js';
import { finalizeJobId, startJobId, type ExportQueues } from './queues.js';

/** A queued run whose start job never appeared is abandoned after this long. */
const QUEUED_GRACE_MS = 60_000;

/**
 * Why a run that Redis still calls active can never finish, or undefined if it can: its jobs are
 * gone, or BullMQ failed its parent without our processors seeing it (a shard stalled too often).
 */
export async function deadRunReason(queues: ExportQueues, status: RunStatus | undefined, now: number = Date.now()): Promise<string | undefined> {
  if (status === undefined) return 'the run has expired from Redis';
  if (status.state === 'completed' || status.state === 'failed') return `the run already ${status.state}`;
  const id = status.spec.snapshotId;
  if (status.state === 'queued') {
    if (await queues.runs.getJob(startJobId(id))) return undefined;
    return now - status.createdAt > QUEUED_GRACE_MS ? 'the run was never started' : undefined;
  }
  const parent = await queues.runs.getJob(finalizeJobId(id));
  if (!parent) return 'the run has no jobs in the queue any more';
  const state = await parent.getState();
  if (state === 'failed') return parent.failedReason || 'a shard failed';
  return undefined;
}

/**
 * Marks a run failed if it can never finish; returns its (possibly updated) status. Called by
 * `status`, `export --wait` and before a new trigger, so a crashed run cannot block its pool.
 */
export async function reconcileRun(runtime: ExportRuntime, queues: ExportQueues, snapshotId: string): Promise<RunStatus | undefined> {
  const status = await runtime.runs.status(snapshotId);
  if (status === undefined || status.state === 'completed' || status.state === 'failed') return status;
  const reason = await deadRunReason(queues, status);
  if (reason === undefined) return status;
  await runtime.runs.fail(status.spec, reason);
  return runtime.runs.status(snapshotId);
}
