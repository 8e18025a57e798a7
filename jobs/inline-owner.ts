import type { ExportRuntime } from './export-runtime.js';

/**
 * While a process runs an `--inline` run, it holds a key saying so, renewed every few seconds: a run
 * whose key has lapsed was abandoned (the process died or was stopped), and the next trigger of the
 * pool may take it over. Returns the function that stops holding it.
 */
export function holdInlineRun(runtime: ExportRuntime, snapshotId: string): () => Promise<void> {
  const key = runtime.keys.inlineOwner(snapshotId);
  const ttl = Math.max(3 * runtime.config.workerLockDurationMs, 10_000);
  const renew = () => runtime.redis.set(key, runtime.name, 'PX', ttl).catch(() => undefined);
  void renew();
  const timer = setInterval(() => void renew(), Math.floor(ttl / 3));
  timer.unref();
  return async () => {
    clearInterval(timer);
    await runtime.redis.del(key).catch(() => undefined);
  };
}

/** Whether a process is running the inline run now. */
export async function inlineRunHeld(runtime: ExportRuntime, snapshotId: string): Promise<boolean> {
  return (await runtime.redis.exists(runtime.keys.inlineOwner(snapshotId))) === 1;
}
