import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Compare-and-swap of a small file on a local disk (a pointer such as `latest.json`): under an
 * exclusive lock file, the file is replaced (by the caller's atomic rename) only if it still holds
 * the version the caller read. What S3's `If-Match` does for a bucket.
 */

/** A lock older than this belongs to a writer that died (or is paused far beyond any write's time): it is broken. */
export const STALE_LOCK_MS = 30_000;

/** The version of a pointer's text: a hash of its bytes (what a reader compares against). */
export function textVersion(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The current text of `path` with its version, or undefined when there is none. */
export async function readVersioned(path: string): Promise<{ text: string; version: string } | undefined> {
  try {
    const text = await readFile(path, 'utf8');
    return { text, version: textVersion(text) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Runs `replace` (which must put the new file in place atomically) only if `path` is still at
 * `expected` (null: only if it does not exist), holding `lockPath` meanwhile. Returns false,
 * writing nothing, when the file moved on. Waits for a lock another writer holds, up to
 * `STALE_LOCK_MS`, then breaks it.
 */
export async function compareAndSwapFile(path: string, lockPath: string, expected: string | null, replace: () => Promise<void>, mode = 0o600): Promise<boolean> {
  const token = randomBytes(8).toString('hex');
  await acquire(lockPath, token, mode);
  try {
    const current = await readVersioned(path);
    if ((current?.version ?? null) !== expected) return false;
    // A lock broken under us (we were paused past STALE_LOCK_MS) is no longer ours: do not write.
    if ((await readFile(lockPath, 'utf8').catch(() => '')) !== token) return false;
    await replace();
    return true;
  } finally {
    if ((await readFile(lockPath, 'utf8').catch(() => '')) === token) await rm(lockPath, { force: true });
  }
}

async function acquire(lockPath: string, token: string, mode: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      // Created with its final mode; a umask stricter than `mode` is widened back to it before the token is written.
      const handle = await open(lockPath, 'wx', mode);
      try {
        await handle.chmod(mode).catch(() => undefined);
        await handle.writeFile(token);
      } finally {
        await handle.close();
      }
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const info = await stat(lockPath).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > STALE_LOCK_MS) {
      await rm(lockPath, { force: true });
      continue;
    }
    await sleep(Math.min(200, 5 * 2 ** Math.min(attempt, 6)));
  }
}
