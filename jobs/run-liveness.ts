import type { ExportRuntime } from './export-runtime.js';
import { isEnded, type RunStatus } from '../src/runs/run-store.js';
import { inlineRunHeld } from './inline-owner.js';
import { withdraw } from './run-withdrawal.js';
import type { Job } from 'bullmq';
import { FINALIZE_JOB, FINALIZE_JOB_OPTIONS, finalizeJobId, startJobId, type ExportQueues } from './queues.js';

/** A queued run whose start job never appeared is abandoned after this long. */
const QUEUED_GRACE_MS = 60_000;

/**
 * The reason an `--inline` run cannot go on: the process running it stopped. Such a run is not
 * failed by status checks: the same `export --inline` again resumes it from its checkpoints; any
 * other trigger of the pool replaces it.
 */
export const INLINE_ABANDONED = 'the process running it (export --inline) stopped: run the same command again to resume it';

/**
 * Why a run that Redis still calls active can never finish, or undefined if it can: its jobs are
 * gone, or BullMQ failed its parent (or start job) without our processors seeing it (a job stalled
 * too often). A run that moved on while its jobs were being looked at is judged again.
 */
export async function deadRunReason(runtime: ExportRuntime, queues: ExportQueues, snapshotId: string, now: number = Date.now()): Promise<string | undefined> {
  const first = await runtime.runs.status(snapshotId);
  const reason = await judge(runtime, queues, first, now);
  if (reason === undefined) return undefined;
  const second = await runtime.runs.status(snapshotId);
  return second?.state === first?.state ? reason : judge(runtime, queues, second, now);
}

async function judge(runtime: ExportRuntime, queues: ExportQueues, status: RunStatus | undefined, now: number): Promise<string | undefined> {
  if (status === undefined) return 'the run has expired from Redis';
  if (isEnded(status.state)) return `the run already ${status.state}`;
  const id = status.spec.snapshotId;
  if (status.spec.inline && !(await inlineRunHeld(runtime, id))) return INLINE_ABANDONED;
  const own = queues.forRun(status.spec);
  const start = await own.runs.getJob(startJobId(id));
  const startState = start ? await start.getState() : undefined;
  // While the start job is pending or running, the run's flow may not exist yet.
  const starting = startState !== undefined && !['completed', 'failed', 'unknown'].includes(startState);
  if (status.state === 'queued') {
    if (starting) return undefined;
    if (startState === 'failed') return start?.failedReason || 'the start job failed';
    if (startState === 'completed') return 'the start job ended without starting the run';
    return now - status.createdAt > QUEUED_GRACE_MS ? 'the run was never started' : undefined;
  }
  const parent = await own.runs.getJob(finalizeJobId(id));
  // Past its commit point a run only rolls forward: its finalizer is started again, never replaced.
  if (status.state === 'committing') {
    await resumeCommit(runtime, own, id, parent);
    return undefined;
  }
  if (!parent) return starting ? undefined : 'the run has no jobs in the queue any more';
  const state = await parent.getState();
  if (state === 'failed') return parent.failedReason || 'a shard failed';
  return undefined;
}

/** Retries the finalizer of a committing run whose job failed for good (or is gone): the publication must be finished. */
async function resumeCommit(runtime: ExportRuntime, queues: ExportQueues, snapshotId: string, parent: Job | undefined): Promise<void> {
  if (parent && (await parent.getState()) !== 'failed') return;
  runtime.log.warn({ snapshotId }, 'the finalizer of a committed run stopped; starting it again to finish the publication');
  if (parent) await parent.retry('failed');
  else await queues.runs.add(FINALIZE_JOB, { snapshotId }, { ...FINALIZE_JOB_OPTIONS, jobId: finalizeJobId(snapshotId) });
}

/**
 * Marks a run failed if it can never finish; returns its (possibly updated) status. Called by
 * `status`, `export --wait` and before a new trigger, so a crashed run cannot block its pool.
 */
export async function reconcileRun(runtime: ExportRuntime, queues: ExportQueues, snapshotId: string): Promise<RunStatus | undefined> {
  const status = await runtime.runs.status(snapshotId);
  if (status === undefined || isEnded(status.state)) return status;
  const reason = await deadRunReason(runtime, queues, snapshotId);
  if (reason === undefined || reason === INLINE_ABANDONED) return runtime.runs.status(snapshotId);
  if ((await runtime.runs.fail(status.spec, reason)).ended) await withdraw(runtime, status.spec);
  return runtime.runs.status(snapshotId);
}
