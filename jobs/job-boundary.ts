import { UnrecoverableError, WaitingChildrenError, type Job } from 'bullmq';
import { classifyError, describeError } from '../src/limits/error-classification.js';
import { FatalExportError, FencedError, RunNotActiveError } from '../src/limits/export-errors.js';
import type { ExportRuntime } from './export-runtime.js';
import type { RunSpec } from '../src/runs/run-spec.js';
import { withdraw, WITHDRAW_IN_JOB_MS } from './run-withdrawal.js';

/**
 * The one place where our errors become BullMQ's: a fatal error fails the run now (no retries, no
 * manifest) as an UnrecoverableError; a shard of a run that already ended stops the same way; a
 * worker fenced out of its shard just stops; anything else is retried by BullMQ, and on the last
 * attempt fails the run with its reason.
 */
export async function atJobBoundary<T>(runtime: ExportRuntime, job: Job, spec: RunSpec, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    // The finalizer waits for the diff jobs it added: not a failure.
    if (error instanceof WaitingChildrenError) throw error;
    if (error instanceof FencedError) {
      // Expected (a lock that lapsed, a finalizer taken over): not an error, and no stack trace.
      runtime.log.info({ jobId: job.id, reason: error.message }, 'lost ownership of the job; stopping without writing');
      throw error;
    }
    if (error instanceof RunNotActiveError) {
      await withdraw(runtime, spec, AbortSignal.timeout(WITHDRAW_IN_JOB_MS));
      throw new UnrecoverableError(error.message);
    }
    const fatal = error instanceof FatalExportError || classifyError(error) === 'fatal';
    const reason = error instanceof FatalExportError ? error.message : describeError(error);
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (fatal || lastAttempt) {
      if ((await runtime.runs.fail(spec, reason)).ended) {
        runtime.metrics.runFinished(spec.userPoolId, 'failed', (Date.now() - Date.parse(spec.startedAt)) / 1000);
        runtime.log.error({ userPoolId: spec.userPoolId, snapshotId: spec.snapshotId, jobId: job.id, reason }, 'export run failed');
      }
      await withdraw(runtime, spec);
      throw new UnrecoverableError(reason);
    }
    runtime.log.warn({ jobId: job.id, attempt: job.attemptsMade + 1, reason }, 'job failed; BullMQ will retry it');
    throw error;
  }
}

