import { sleep } from '../src/limits/sleep.js';
import type { ExportRuntime } from './export-runtime.js';
import type { RunStatus } from '../src/runs/run-store.js';
import type { ExportQueues } from './queues.js';
import { reconcileRun } from './run-liveness.js';

/** How a caller follows a run. */
export interface WaitOptions {
  /** Called with every status read. */
  readonly onProgress?: (status: RunStatus) => void;
  /** Poll interval. @default 500 */
  readonly intervalMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Follows a run until it completes or fails, and returns its final status. Every few polls it also
 * checks the run's jobs, so a run BullMQ gave up on is reported failed instead of waited on forever.
 */
export async function waitForRun(runtime: ExportRuntime, queues: ExportQueues, snapshotId: string, options: WaitOptions = {}): Promise<RunStatus> {
  const interval = options.intervalMs ?? 500;
  let failedAt: number | undefined;
  for (let poll = 0; ; poll++) {
    const status = poll % 10 === 9 ? await reconcileRun(runtime, queues, snapshotId) : await runtime.runs.status(snapshotId);
    if (status === undefined) throw new Error(`run ${snapshotId} is unknown or has expired from Redis`);
    options.onProgress?.(status);
    if (status.state === 'completed') return status;
    if (status.state === 'failed' || status.state === 'cancelled') {
      // A failed or cancelled run's files are withdrawn just after it is marked so: report it once they are
      // gone, so whoever acts on the failure sees the destination as the failure left it.
      failedAt ??= Date.now();
      if (status.withdrawn || Date.now() - failedAt > WITHDRAWAL_GRACE_MS) return status;
    }
    await sleep(interval, options.signal);
  }
}

/** How long a waiter gives a failed run's withdrawal before reporting the failure anyway. */
const WITHDRAWAL_GRACE_MS = 15_000;
