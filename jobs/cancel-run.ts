import { isEnded, type RunStatus } from '../src/runs/run-store.js';
import type { ExportRuntime } from './export-runtime.js';
import { withdraw } from './job-boundary.js';

/** How a cancel request ended. */
export type CancelOutcome =
  | { readonly kind: 'cancelled'; readonly status: RunStatus }
  | { readonly kind: 'ended'; readonly status: RunStatus }
  | { readonly kind: 'unknown' };

/**
 * Cancels a run: it ends as `cancelled` at once (the pool is free for its next run), its shards stop
 * at their next page or within 2 s when they are waiting out throttles, nothing is published, and
 * its staged files are removed. A run that already ended is left as it is.
 */
export async function cancelRun(runtime: ExportRuntime, snapshotId: string): Promise<CancelOutcome> {
  const status = await runtime.runs.status(snapshotId);
  if (!status) return { kind: 'unknown' };
  if (isEnded(status.state) || !(await runtime.runs.cancel(status.spec))) {
    return { kind: 'ended', status: (await runtime.runs.status(snapshotId)) ?? status };
  }
  runtime.metrics.runFinished(status.spec.userPoolId, 'cancelled', (Date.now() - Date.parse(status.spec.startedAt)) / 1000);
  runtime.log.info({ userPoolId: status.spec.userPoolId, snapshotId }, 'export cancelled');
  await withdraw(runtime, status.spec);
  return { kind: 'cancelled', status: (await runtime.runs.status(snapshotId)) ?? status };
}
