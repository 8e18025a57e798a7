import { isEnded, type RunStatus } from '../src/runs/run-store.js';
import type { ExportRuntime } from './export-runtime.js';
import { withdraw } from './run-withdrawal.js';

/** How a cancel request ended. */
export type CancelOutcome =
  /** Cancelled before its commit point: nothing of it was ever visible; `status.withdrawn` says whether its staging is gone yet. */
  | { readonly kind: 'cancelled'; readonly status: RunStatus }
  /** Past its commit point: it only rolls forward, and will complete. Refused. */
  | { readonly kind: 'committing'; readonly status: RunStatus }
  /** It had already ended (completed, failed or cancelled). Refused. */
  | { readonly kind: 'ended'; readonly status: RunStatus }
  | { readonly kind: 'unknown' };

/**
 * Cancels a run, if it has not reached its commit point: it ends as `cancelled` at once (the pool is
 * free for its next run), its shards stop at their next page or within 2 s when they are waiting out
 * throttles, a finalizer that comes later stops before any visible write, and its staged files are
 * removed (or, if the destination cannot be reached now, by the next worker that can). A run past
 * its commit point, or already ended, is left as it is.
 */
export async function cancelRun(runtime: ExportRuntime, snapshotId: string): Promise<CancelOutcome> {
  const status = await runtime.runs.status(snapshotId);
  if (!status) return { kind: 'unknown' };
  const end = isEnded(status.state) ? { ended: false, state: status.state } : await runtime.runs.cancel(status.spec);
  if (!end.ended) {
    const now = (await runtime.runs.status(snapshotId)) ?? status;
    return { kind: end.state === 'committing' ? 'committing' : 'ended', status: now };
  }
  runtime.metrics.runFinished(status.spec.userPoolId, 'cancelled', (Date.now() - Date.parse(status.spec.startedAt)) / 1000);
  runtime.log.info({ userPoolId: status.spec.userPoolId, snapshotId }, 'export cancelled');
  await withdraw(runtime, status.spec);
  return { kind: 'cancelled', status: (await runtime.runs.status(snapshotId)) ?? status };
}
