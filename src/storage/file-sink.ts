import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, fchmod } from 'node:fs';
import { access, chmod, constants, mkdir, open, readdir, readFile, realpath, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { describeError, fatalHint } from '../limits/error-classification.js';
import { FatalExportError } from '../limits/export-errors.js';
import { compareAndSwapFile, readVersioned, textVersion } from './file-cas.js';
import type { ObjectSink, StagedFile, StagedLocation, StagedWriter, StagingScope, StoredObject, SweepResult } from './object-sink.js';

/**
 * The staging folder, outside every table folder and `manifests/`: staged data files (by run) and
 * the temporary files of small atomic writes live here, never where readers look.
 */
export const STAGING_FOLDER = '.cognito-export-staging';

/** Modes of what a FileSink creates. */
export interface FileModes {
  /** Every file: data, staging, temporary files, probes, locks, manifests, pointers. @default 0o600 */
  readonly fileMode?: number;
  /** Every folder, the destination folder itself and staging included. @default 0o700 */
  readonly dirMode?: number;
}

/** Owner only: these files hold the PII of a whole pool. */
export const DEFAULT_FILE_MODE = 0o600;
export const DEFAULT_DIR_MODE = 0o700;

/** Temporary files older than this belong to writers that died; preflight removes them. */
const STALE_TEMPORARY_MS = 24 * 3600 * 1000;

/**
 * A local directory laid out like the S3 destination. A staged file is written under the staging
 * folder, fsynced with its directory; publishing renames it into place and fsyncs the target
 * directory, so readers never see half a file, and nothing a worker writes lands in a table folder.
 */
export class FileSink implements ObjectSink {
  readonly rootUrl: string;
  private readonly staging: string;
  private readonly fileMode: number;
  private readonly dirMode: number;

  constructor(
    private readonly directory: string,
    modes: FileModes = {},
  ) {
    this.rootUrl = pathToFileURL(directory).href;
    this.staging = join(directory, STAGING_FOLDER);
    this.fileMode = modes.fileMode ?? DEFAULT_FILE_MODE;
    this.dirMode = modes.dirMode ?? DEFAULT_DIR_MODE;
  }

  urlOf(key: string): string {
    return `${this.rootUrl.replace(/\/$/, '')}/${key}`;
  }

  async preflight(): Promise<void> {
    try {
      await makeDirectory(this.staging, this.dirMode);
      await access(this.directory, constants.W_OK);
      // access() says yes to root everywhere; a real write also catches read-only file systems.
      await this.writeAtomically(join(this.staging, 'probe'), (handle) => handle.writeFile(''));
      await rm(join(this.staging, 'probe'), { force: true });
      await this.removeStaleTemporaries();
    } catch (error) {
      // Nothing at the start of a run is worth retrying on a local disk: a path that cannot be a
      // directory, a read-only mount or a full disk stays that way.
      throw this.fatal(error, true);
    }
  }

  async openStaged(key: string, stagingKey: string): Promise<StagedWriter> {
    const path = this.stagedPath(stagingKey);
    try {
      await makeDirectory(dirname(path), this.dirMode);
    } catch (error) {
      throw this.fatal(error);
    }
    // Created with its final mode: never readable by others, not even for an instant.
    const stream = createWriteStream(path, { flags: 'wx', mode: this.fileMode });
    const mode = this.fileMode;
    stream.once('open', (fd: number) => fchmod(fd, mode, () => undefined));
    const location: StagedLocation = { kind: 'file', path: stagingKey };
    return {
      stream,
      location,
      commit: async () => {
        try {
          const handle = await open(path, 'r');
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
          await syncDirectory(dirname(path));
          return location;
        } catch (error) {
          throw this.fatal(error);
        }
      },
      abort: async () => {
        stream.destroy();
        await rm(path, { force: true });
      },
    };
  }

  async publish(file: StagedFile): Promise<void> {
    if (file.location.kind !== 'file') throw new Error(`cannot publish ${file.location.kind} ${file.key} to a directory`);
    const staged = this.stagedPath(file.location.path);
    const target = this.pathOf(file.key);
    const stagedDigest = await digest(staged);
    if (stagedDigest === undefined) {
      // Published by an earlier attempt (rename is atomic): fine if what is there is this file.
      const published = await digest(target);
      if (published?.sha256 === file.sha256 && published.bytes === file.bytes) return;
      throw new FatalExportError(
        `staged file ${file.location.path} of ${this.urlOf(file.key)} is gone and ${published ? 'another file is' : 'nothing is'} in its place: run the export again`,
      );
    }
    if (stagedDigest.sha256 !== file.sha256 || stagedDigest.bytes !== file.bytes) {
      throw new FatalExportError(
        `staged file ${file.location.path} has ${stagedDigest.bytes} bytes with sha256 ${stagedDigest.sha256}, not the ${file.bytes} bytes with sha256 ${file.sha256} its checkpoint recorded: run the export again`,
      );
    }
    try {
      await makeDirectory(dirname(target), this.dirMode);
      await rename(staged, target);
      await syncDirectory(dirname(target));
    } catch (error) {
      // Another finalizer (one that stalled and came back) moved it first: fine if it is this file.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        const published = await digest(target);
        if (published?.sha256 === file.sha256 && published.bytes === file.bytes) return;
      }
      throw this.fatal(error);
    }
  }

  async discardStaged(location: StagedLocation): Promise<void> {
    if (location.kind === 'file') await rm(this.stagedPath(location.path), { force: true });
  }

  async sweepStaged(scope: StagingScope, known: readonly StagedLocation[]): Promise<SweepResult> {
    let removed = 0;
    for (const location of known) {
      if (scope.keep?.(location)) continue;
      if (location.kind === 'file' && (await exists(this.stagedPath(location.path)))) {
        await this.discardStaged(location);
        removed++;
      }
    }
    const root = this.stagedPath(scope.stagingPrefix);
    for (const path of await filesUnder(root)) {
      const location: StagedLocation = { kind: 'file', path: relative(this.staging, path).split(sep).join('/') };
      if (scope.keep?.(location)) continue;
      await rm(path, { force: true });
      removed++;
    }
    await removeEmptyFolders(root, this.staging);
    return { removed, listed: true };
  }

  async putText(key: string, text: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await makeDirectory(dirname(path), this.dirMode);
      await makeDirectory(this.staging, this.dirMode);
    } catch (error) {
      throw this.fatal(error);
    }
    await this.writeAtomically(path, async (handle) => {
      await handle.writeFile(text);
      await handle.sync();
    });
  }

  async getText(key: string): Promise<string | undefined> {
    try {
      return await readFile(await this.readablePath(key), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async getVersioned(key: string): Promise<{ text: string; version: string } | undefined> {
    return readVersioned(await this.readablePath(key));
  }

  async putIfVersion(key: string, text: string, _contentType: string, version: string | null): Promise<boolean> {
    const path = this.pathOf(key);
    try {
      await makeDirectory(dirname(path), this.dirMode);
      await makeDirectory(this.staging, this.dirMode);
    } catch (error) {
      throw this.fatal(error);
    }
    const lock = join(this.staging, `lock-${textVersion(key).slice(0, 16)}`);
    return compareAndSwapFile(
      path,
      lock,
      version,
      () =>
        this.writeAtomically(path, async (handle) => {
          await handle.writeFile(text);
          await handle.sync();
        }),
      this.fileMode,
    );
  }

  honoursConditions(): Promise<boolean> {
    return Promise.resolve(true);
  }

  async readStream(key: string): Promise<Readable | undefined> {
    const path = await this.readablePath(key);
    if (!(await exists(path))) return undefined;
    return createReadStream(path);
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
    const walk = async (relativePath: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(relativePath ? this.pathOf(relativePath) : this.directory, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      for (const entry of entries) {
        const key = relativePath ? `${relativePath}/${entry.name}` : entry.name;
        if (entry.isDirectory() && key !== STAGING_FOLDER) await walk(key);
        else if (entry.isFile() && key.startsWith(prefix)) objects.push({ key, bytes: (await stat(this.pathOf(key))).size });
      }
    };
    await walk(base);
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * Writes a temporary file in the staging folder through `finish` (which writes and fsyncs), renames
   * it over `path` and flushes the directory: the object appears whole and durable, or not at all.
   */
  private async writeAtomically(path: string, finish: (handle: FileHandle) => Promise<void>): Promise<void> {
    const temporary = join(this.staging, `tmp-${randomBytes(8).toString('hex')}`);
    try {
      const handle = await open(temporary, 'wx', this.fileMode);
      try {
        await exactMode(handle, this.fileMode);
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

  private async removeStaleTemporaries(now: number = Date.now()): Promise<void> {
    for (const entry of await readdir(this.staging, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(this.staging, entry.name);
      const info = await stat(path).catch(() => undefined);
      if (info && now - info.mtimeMs > STALE_TEMPORARY_MS) await rm(path, { force: true });
    }
  }

  private stagedPath(stagingKey: string): string {
    return join(this.staging, ...stagingKey.split('/'));
  }

  /** The path of `key`: refused when a `.` or `..` segment (or a NUL) would take it elsewhere than under the root. */
  private pathOf(key: string): string {
    const segments = key.split('/');
    if (segments.some((segment) => segment === '.' || segment === '..' || segment.includes('\0'))) {
      throw new FatalExportError(`a key with . or .. segments was asked of ${this.rootUrl}: refused, nothing outside the destination is read or written`);
    }
    return join(this.directory, ...segments);
  }

  /**
   * The path of `key` for reading, once its real path (symlinks followed) is known to be inside the
   * destination's real root: a symlink planted in the destination cannot make a read (a change diff,
   * a manifest) return another directory's files. A path that does not exist is returned as is.
   */
  private async readablePath(key: string): Promise<string> {
    const path = this.pathOf(key);
    let real: string;
    try {
      real = await realpath(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return path;
      throw error;
    }
    const root = await realpath(this.directory);
    if (real !== root && !real.startsWith(root.endsWith(sep) ? root : `${root}${sep}`)) {
      throw new FatalExportError(`${this.urlOf(key)} resolves outside ${this.rootUrl} (a symbolic link): refused, nothing outside the destination is read`);
    }
    return real;
  }

  /** A one-line FatalExportError for errors the table knows (or, at `always`, any error). */
  private fatal(error: unknown, always = false): Error {
    if (error instanceof FatalExportError) return error;
    const hint = fatalHint(error) ?? (always ? 'choose a destination directory the worker can create and write' : undefined);
    if (!hint) return error instanceof Error ? error : new Error(String(error));
    return new FatalExportError(`cannot write to ${this.directory}: ${describeError(error)}; ${hint}`);
  }
}

/**
 * Gives a file just created with `mode` exactly that mode. Created with it, the file can only have
 * fewer bits (a umask stricter than the setting), never more: this widens it to the setting before
 * a byte is written; where the file system refuses, the stricter mode stays.
 */
async function exactMode(handle: FileHandle, mode: number): Promise<void> {
  await handle.chmod(mode).catch(() => undefined);
}

/**
 * `mkdir -p` with `mode` for every folder it creates (folders that exist are left as they are), one
 * level at a time. Node's own recursive mkdir spins forever at full CPU on a parent that exists but
 * refuses children with ENOENT (procfs, `/proc/x`); this fails instead.
 */
async function makeDirectory(path: string, mode: number): Promise<void> {
  const create = async (): Promise<void> => {
    await mkdir(path, { mode });
    // As for files: the umask can only take bits away from `mode`; give it back exactly.
    await chmod(path, mode).catch(() => undefined);
  };
  try {
    await create();
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if ((await stat(path)).isDirectory()) return;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), { code: 'ENOTDIR' });
    }
    if (code !== 'ENOENT' || dirname(path) === path) throw error;
  }
  await makeDirectory(dirname(path), mode);
  try {
    await create();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/** Size and SHA-256 of a file, or undefined if there is none. */
async function digest(path: string): Promise<{ bytes: number; sha256: string } | undefined> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return { bytes, sha256: hash.digest('hex') };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Every file below `root`, depth first; none if it does not exist. */
async function filesUnder(root: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw error;
  }
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(path)));
    else files.push(path);
  }
  return files;
}

/** Removes `folder` and its parents up to (not including) `stop` while they are empty. */
async function removeEmptyFolders(folder: string, stop: string): Promise<void> {
  for (const path of await foldersUnder(folder)) await rmdir(path).catch(() => undefined);
  let current = folder;
  while (current.startsWith(stop) && current !== stop) {
    try {
      await rmdir(current);
    } catch {
      return;
    }
    current = dirname(current);
  }
}

/** Every folder below `root`, deepest first. */
async function foldersUnder(root: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch {
    return [];
  }
  const folders: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const path = join(root, entry.name);
    folders.push(...(await foldersUnder(path)), path);
  }
  return folders;
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
