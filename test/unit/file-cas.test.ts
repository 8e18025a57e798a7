import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as FsPromises from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { compareAndSwapFile, readVersioned, STALE_LOCK_MS, textVersion } from '../../src/storage/file-cas.js';

/**
 * Compare-and-swap of a pointer on a local disk. `readFile` goes through a hook, so a test can act
 * between two steps of a swap (another writer breaking the lock, as a pause past STALE_LOCK_MS would).
 */
const hooks = vi.hoisted(() => ({
  beforeRead: undefined as ((path: string) => Promise<void>) | undefined,
  afterRead: undefined as ((path: string) => Promise<void>) | undefined,
  afterStat: undefined as ((path: string) => Promise<void>) | undefined,
}));

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof FsPromises>();
  const hookedReadFile = (async (...args: Parameters<typeof actual.readFile>) => {
    if (hooks.beforeRead && typeof args[0] === 'string') await hooks.beforeRead(args[0]);
    const result = await actual.readFile(...args);
    if (hooks.afterRead && typeof args[0] === 'string') await hooks.afterRead(args[0]);
    return result;
  }) as typeof actual.readFile;
  const hookedStat = (async (...args: Parameters<typeof actual.stat>) => {
    const result = await actual.stat(...args);
    if (hooks.afterStat && typeof args[0] === 'string') await hooks.afterStat(args[0]);
    return result;
  }) as typeof actual.stat;
  return { ...actual, readFile: hookedReadFile, stat: hookedStat, default: { ...actual, readFile: hookedReadFile, stat: hookedStat } };
});

let scratch: string;
let n = 0;
/** A fresh pointer path and lock path. */
const paths = () => {
  n++;
  return { path: join(scratch, `pointer-${n}.json`), lock: join(scratch, `lock-${n}`) };
};
const exists = (path: string) => stat(path).then(
  () => true,
  () => false,
);

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ce-cas-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

afterEach(() => {
  hooks.beforeRead = undefined;
  hooks.afterRead = undefined;
  hooks.afterStat = undefined;
});

describe('versions', () => {
  it('are the SHA-256 of the text, and a missing file has none', async () => {
    expect(textVersion('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(textVersion('{"a":1}')).toBe(createHash('sha256').update('{"a":1}').digest('hex'));
    const { path } = paths();
    expect(await readVersioned(path)).toBeUndefined();
    await writeFile(path, 'héllo');
    expect(await readVersioned(path)).toEqual({ text: 'héllo', version: textVersion('héllo') });
  });

  it('fail on a file that cannot be read for another reason than its absence', async () => {
    const dir = join(scratch, 'a-folder');
    await mkdir(dir);
    await expect(readVersioned(dir)).rejects.toMatchObject({ code: 'EISDIR' });
  });
});

describe('compare-and-swap', () => {
  it('replaces a file only at the version read (none: only if there is none), and leaves no lock', async () => {
    const { path, lock } = paths();
    const replace = (text: string) => () => writeFile(path, text);
    expect(await compareAndSwapFile(path, lock, null, replace('one'))).toBe(true);
    expect(await readFile(path, 'utf8')).toBe('one');
    expect(await compareAndSwapFile(path, lock, null, replace('two'))).toBe(false);
    expect(await compareAndSwapFile(path, lock, textVersion('zero'), replace('two'))).toBe(false);
    expect(await readFile(path, 'utf8')).toBe('one');
    expect(await compareAndSwapFile(path, lock, textVersion('one'), replace('two'))).toBe(true);
    expect(await readFile(path, 'utf8')).toBe('two');
    expect(await exists(lock)).toBe(false);
  });

  it('holds the lock, with the mode asked for even where the umask would take bits off, while it replaces', async () => {
    // 0666 loses its group and other write bits to the usual umask (022) at creation: the lock is widened back.
    // (process.umask cannot be set here: Stryker runs the tests in worker threads.)
    const { path, lock } = paths();
    let seen = '';
    await compareAndSwapFile(
      path,
      lock,
      null,
      async () => {
        seen = ((await stat(lock)).mode & 0o777).toString(8);
        expect((await readFile(lock, 'utf8')).length).toBe(16);
      },
      0o666,
    );
    expect(seen).toBe('666');
  });

  it('lets go of the lock when the replacement fails', async () => {
    const { path, lock } = paths();
    await expect(compareAndSwapFile(path, lock, null, () => Promise.reject(new Error('disk full')))).rejects.toThrow('disk full');
    expect(await exists(lock)).toBe(false);
    expect(await compareAndSwapFile(path, lock, null, () => writeFile(path, 'x'))).toBe(true);
  });

  it('waits for a lock another writer holds', async () => {
    const { path, lock } = paths();
    await writeFile(lock, 'other-writer');
    let released = false;
    const release = setTimeout(() => {
      released = true;
      void rm(lock);
    }, 300);
    try {
      let replacedAfterRelease: boolean | undefined;
      expect(
        await compareAndSwapFile(path, lock, null, () => {
          replacedAfterRelease = released;
          return Promise.resolve();
        }),
      ).toBe(true);
      expect(replacedAfterRelease).toBe(true);
    } finally {
      clearTimeout(release);
    }
  });

  it('breaks a lock older than STALE_LOCK_MS (its writer died)', async () => {
    const { path, lock } = paths();
    await writeFile(lock, 'dead-writer');
    const old = (Date.now() - STALE_LOCK_MS - 5_000) / 1000;
    await utimes(lock, old, old);
    const started = Date.now();
    expect(await compareAndSwapFile(path, lock, null, () => writeFile(path, 'x'))).toBe(true);
    expect(Date.now() - started).toBeLessThan(STALE_LOCK_MS / 2);
    expect(await exists(lock)).toBe(false);
  });

  it('takes the lock when another writer removes the stale lock it was about to break', async () => {
    const { path, lock } = paths();
    await writeFile(lock, 'dead-writer');
    const old = (Date.now() - STALE_LOCK_MS - 5_000) / 1000;
    await utimes(lock, old, old);
    hooks.afterStat = async (statted) => {
      // The other writer breaks it first, between this one's look at its age and its own removal.
      if (statted === lock) await rm(lock, { force: true });
    };
    expect(await compareAndSwapFile(path, lock, null, () => writeFile(path, 'x'))).toBe(true);
    expect(await readFile(path, 'utf8')).toBe('x');
  });

  it('writes nothing, and leaves the lock alone, once another writer has broken its lock', async () => {
    const { path, lock } = paths();
    hooks.beforeRead = async (read) => {
      if (read === path) await writeFile(lock, 'the-next-writer');
    };
    let replaced = false;
    expect(
      await compareAndSwapFile(path, lock, null, () => {
        replaced = true;
        return Promise.resolve();
      }),
    ).toBe(false);
    expect(replaced).toBe(false);
    hooks.beforeRead = undefined;
    expect(await readFile(lock, 'utf8')).toBe('the-next-writer');
  });

  it('reports its swap even when its lock is gone by the time it lets go of it', async () => {
    const { path, lock } = paths();
    let replaced = false;
    hooks.afterRead = async (read) => {
      // Another writer breaks the lock right after this one has read its token back, before it removes it.
      if (read === lock && replaced) await rm(lock, { force: true });
    };
    expect(
      await compareAndSwapFile(path, lock, null, async () => {
        await writeFile(path, 'x');
        replaced = true;
      }),
    ).toBe(true);
    expect(await exists(lock)).toBe(false);
  });

  it('leaves a lock taken over while it replaced to its new owner', async () => {
    const { path, lock } = paths();
    expect(await compareAndSwapFile(path, lock, null, () => writeFile(lock, 'the-next-writer'))).toBe(true);
    expect(await readFile(lock, 'utf8')).toBe('the-next-writer');
  });

  it('fails, rather than waits, when the lock cannot be created', async () => {
    const { path } = paths();
    await expect(compareAndSwapFile(path, join(scratch, 'missing-folder', 'lock'), null, () => Promise.resolve())).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
