import { prepareRestore, queueRestore } from '../../jobs/request-restore.js';
import { RestoreStore } from '../../src/restore/restore-store.js';
import type { ExportHarness } from './export-harness.js';
import { eventually } from './worker-process.js';

/** Restore rates far above the emulator's (which has no write quota unless a test sets one): tests need not wait for AWS's. */
export const FAST_WRITES = { RESTORE_CREATE_RPS: '500', RESTORE_UPDATE_RPS: '500', RESTORE_MEMBERSHIP_RPS: '500', RESTORE_GROUP_WRITE_RPS: '500' };

/** Requests a restore through the harness's queues and waits until a worker completes it (a failure throws with its reason). */
export async function restoreAndWait(h: ExportHarness, from: string, target: string, options: { merge?: boolean; deleteMissing?: boolean; verify?: boolean } = {}): Promise<string> {
  const { restoreId } = await queueRestore(h.runtime, h.queues, await prepareRestore(h.runtime, { from, targetPoolId: target, ...options }));
  await eventually(async () => {
    const status = await new RestoreStore(h.runtime.redis, h.runtime.keys).status(restoreId);
    if (status?.state === 'failed') throw new Error(`restore failed: ${status.error ?? ''}`);
    return status?.state === 'completed' ? true : undefined;
  }, 120_000, 'the restore');
  return restoreId;
}
