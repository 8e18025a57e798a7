import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, constants, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeError, fatalHint } from '../limits/error-classification.js';
import { FatalExportError } from '../limits/export-errors.js';
import type { ObjectSink, ObjectWriter, StoredObject } from './object-sink.js';

/**
 * Objects being written live here until they are complete, outside `users/` and `manifests/`: a
 * writer killed half-way leaves its temporary file here, never in a run's data folder.
 */
const STAGING = '.cognito-export-staging';

/** Staged files older than this belong to writers that died; preflight removes them. */
const STALE_STAGING_MS = 24 * 3600 * 1000;

/**
 * A local directory laid out like the S3 destination. Each object is written to a staging file,
 * flushed to disk, then renamed into place, so readers never see half a file.
 */
export class FileSink implements ObjectSink {
  readonly rootUrl: string;
  private readonly staging: string;

  constructor(private readonly directory: string) {
    this.rootUrl = pathToFileURL(directory).href;
    this.staging = join(directory, STAGING);
  }

  urlOf(key: string): string {
    return `${this.rootUrl.replace(/\/$/, '')}/${key}`;
  }

  async preflight(): Promise<void> {
    try {
      await mkdir(this.staging, { recursive: true });
      await access(this.directory, constants.W_OK);
      // access() says yes to root everywhere; a real write also catches read-only file systems.
      await this.publish(this.stagingPath(), join(this.staging, 'probe'), (handle) => handle.writeFile(''), 'wx');
      await rm(join(this.staging, 'probe'), { force: true });
      await this.removeStaleStaging();
    } catch (error) {
      throw this.fatal(error);
    }
  }

  async openWriter(key: string): Promise<ObjectWriter> {
    const path = this.pathOf(key);
    const temporary = this.stagingPath();
    try {
      await mkdir(dirname(path), { recursive: true });
      await mkdir(this.staging, { recursive: true });
    } catch (error) {
      throw this.fatal(error);
    }
    const stream = createWriteStream(temporary, { flags: 'wx' });
    return {
      stream,
      commit: () => this.publish(temporary, path, (handle) => handle.sync()),
      abort: async () => {
        stream.destroy();
        await rm(temporary, { force: true });
      },
    };
  }

  async putText(key: string, text: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await mkdir(dirname(path), { recursive: true });
      await mkdir(this.staging, { recursive: true });
    } catch (error) {
      throw this.fatal(error);
    }
    await this.publish(
      this.stagingPath(),
      path,
      async (handle) => {
        await handle.writeFile(text);
        await handle.sync();
      },
      'wx',
    );
  }

  async getText(key: string): Promise<string | undefined> {
    try {
      return await readFile(this.pathOf(key), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async deleteObjects(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => rm(this.pathOf(key), { force: true })));
    // S3 has no folders: remove the ones a delete leaves empty, deepest first, so disk looks the same.
    const folders = new Set<string>();
    for (const key of keys) {
      const parts = key.split('/');
      for (let depth = parts.length - 1; depth > 0; depth--) folders.add(parts.slice(0, depth).join('/'));
    }
    for (const folder of [...folders].sort((a, b) => b.split('/').length - a.split('/').length)) {
      await rmdir(this.pathOf(folder)).catch(() => undefined);
    }
  }

  async listObjects(prefix: string): Promise<StoredObject[]> {
    // Keys are paths; list the deepest directory the prefix names, then filter by the full prefix.
    const slash = prefix.lastIndexOf('/');
    const base = slash === -1 ? '' : prefix.slice(0, slash);
    const objects: StoredObject[] = [];
    const walk = async (relative: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(relative ? this.pathOf(relative) : this.directory, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      for (const entry of entries) {
        const key = relative ? `${relative}/${entry.name}` : entry.name;
        if (entry.isDirectory() && key !== STAGING) await walk(key);
        else if (entry.isFile() && key.startsWith(prefix)) objects.push({ key, bytes: (await stat(this.pathOf(key))).size });
      }
    };
    await walk(base);
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * Finishes a staged file through `handle` (writes, then fsync), renames it over `path` and
   * flushes the directory: the object appears whole and durable, or not at all.
   */
  private async publish(temporary: string, path: string, finish: (handle: FileHandle) => Promise<void>, flags = 'r'): Promise<void> {
    try {
      const handle = await open(temporary, flags);
      try {
        await finish(handle);
      } finally {
        await handle.close();
      }
      await rename(temporary, path);
      await syncDirectory(dirname(path));
    } catch (error) {
      await rm(temporary, { force: true });
      throw this.fatal(error);
    }
  }

  private stagingPath(): string {
    return join(this.staging, randomBytes(8).toString('hex'));
  }

  private async removeStaleStaging(now: number = Date.now()): Promise<void> {
    for (const name of await readdir(this.staging)) {
      const path = join(this.staging, name);
      const info = await stat(path).catch(() => undefined);
      if (info && now - info.mtimeMs > STALE_STAGING_MS) await rm(path, { force: true });
    }
  }

  private pathOf(key: string): string {
    return join(this.directory, ...key.split('/'));
  }

  private fatal(error: unknown): Error {
    if (error instanceof FatalExportError) return error;
    const hint = fatalHint(error);
    if (!hint) return error instanceof Error ? error : new Error(String(error));
    return new FatalExportError(`cannot write to ${this.directory}: ${describeError(error)}; ${hint}`);
  }
}

/** Makes a rename durable: the directory entry is flushed too. */
async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    await handle.close();
  }
}
