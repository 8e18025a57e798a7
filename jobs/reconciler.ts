import { reconcileRun } from './run-liveness.js';
import type { ExportRuntime } from './export-runtime.js';
import type { ExportQueues } from './queues.js';
import { repairPoolPointers } from './run-pointers.js';
import { finishPendingWithdrawals } from './run-withdrawal.js';

/**
 * A worker's reconcile tick: finishes what runs left undone, whoever left it. For every pool, the
 * withdrawals of failed or cancelled runs that did not finish; pointers behind their committed head
 * (a late stale write on a store that ignores conditional writes is undone within one tick); and
 * runs in flight that can never finish, or that committed and whose finalizer stopped. Every step is
 * idempotent, so every worker may tick at once.
 */
export async function reconcileOnce(runtime: ExportRuntime, queues: ExportQueues): Promise<void> {
  for (const [, snapshotId] of Object.entries(await runtime.runs.activeRuns())) await reconcileRun(runtime, queues, snapshotId);
  for (const userPoolId of await runtime.runs.pools()) {
    await finishPendingWithdrawals(runtime, userPoolId);
    await repairPoolPointers(runtime, userPoolId);
  }
}

/** Runs {@link reconcileOnce} every `intervalMs` (never two at once); returns a stop function. */
export function startReconciler(runtime: ExportRuntime, queues: ExportQueues, intervalMs: number): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reconcileOnce(runtime, queues)
      .catch((error: unknown) => runtime.log.debug({ err: error }, 'reconcile tick failed; the next one tries again'))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
