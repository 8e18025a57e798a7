import { setTimeout as delay } from 'node:timers/promises';

/**
 * Waits `ms` milliseconds, or rejects with the signal's own reason as soon as it aborts (Node's
 * timer rejects with a generic AbortError, which would hide why we stopped).
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    signal?.throwIfAborted();
    throw error;
  }
}
