import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { FatalExportError } from '../../src/limits/export-errors.js';
import type { ObjectSink, StagedFile, StagedLocation, StagedWriter, StagingScope, StoredObject, SweepResult } from '../../src/storage/object-sink.js';

/**
 * An in-memory destination for property tests of the commit protocol: one {@link MemoryStore}
 * shared by every "worker" of a history, each seeing it through its own {@link ObjectSink} view
 * whose every call first awaits a scheduling point (a fast-check scheduler's task), so a test can
 * interleave concurrent finalizers, cancels and repairs at every storage call.
 *
 * Laid out like a `file://` destination: staged files live apart (by staging key), published
 * objects by key, each object with a version that changes on every write (never reused, even after
 * a delete). With `conditional: false` the store ignores `putIfVersion`'s condition and writes
 * anyway, like s3rver and other S3-compatible servers without conditional writes.
 */

/** Awaited at the start of every storage call; the label says which call. */
export type SchedulingPoint = (label: string) => Promise<void>;

/** One write that changed what the store holds, in the order they happened. */
export interface StoreWrite {
  /** Position in the store's history, from 1. */
  readonly n: number;
  /** The view (worker) that made it. */
  readonly by: string;
  readonly op: 'put' | 'put-if-version' | 'publish' | 'delete';
  readonly key: string;
  /** The text written (puts only). */
  readonly text?: string;
  /** For put-if-version: the version the writer read and the one the object was at (the store may have ignored a mismatch). */
  readonly expected?: string | null;
  readonly actual?: string | null;
}

export interface MemoryStoreOptions {
  /** Whether `putIfVersion` honours its condition. @default true */
  readonly conditional?: boolean;
  /** What `rootUrl` and `urlOf` answer. @default 'file:///memory' */
  readonly rootUrl?: string;
}

interface StoredItem {
  readonly bytes: Buffer;
  readonly version: string;
}

/** A pointer file's name below a pool's manifests folder (`latest.json`, `latest-<name>.json`). */
export const POINTER_KEY = /(^|\/)latest(-[^/]+)?\.json$/;

export class MemoryStore {
  readonly conditional: boolean;
  readonly rootUrl: string;
  /** Published objects by key. */
  readonly objects = new Map<string, StoredItem>();
  /** Staged files by staging key (the `path` of a `file` location). */
  readonly staged = new Map<string, Buffer>();
  /** Every successful write and delete, in order. */
  readonly log: StoreWrite[] = [];
  private versions = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.conditional = options.conditional ?? true;
    this.rootUrl = (options.rootUrl ?? 'file:///memory').replace(/\/$/, '');
  }

  /** A worker's view: every call awaits `point` first, then acts atomically. */
  sink(by: string, point: SchedulingPoint = () => Promise.resolve()): ObjectSink {
    return new MemorySink(this, by, point);
  }

  /** Stages a file directly (a shard's writer, outside the interleaved part of a test). */
  stage(path: string, bytes: Buffer): void {
    this.staged.set(path, bytes);
  }

  /** The text of an object, or undefined. */
  text(key: string): string | undefined {
    return this.objects.get(key)?.bytes.toString('utf8');
  }

  /** The bytes of the object a URL of this store names, or undefined (also for a URL elsewhere). */
  bytesOfUrl(url: string): Buffer | undefined {
    const root = `${this.rootUrl}/`;
    return url.startsWith(root) ? this.objects.get(url.slice(root.length))?.bytes : undefined;
  }

  /** Every key, sorted, under `prefix`. */
  keys(prefix = ''): string[] {
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  /** Every successful write of a pointer file (`latest*.json`), in order. */
  pointerWrites(): StoreWrite[] {
    return this.log.filter((write) => (write.op === 'put' || write.op === 'put-if-version') && POINTER_KEY.test(write.key));
  }

  /** @internal */
  write(by: string, op: StoreWrite['op'], key: string, bytes: Buffer | undefined, extra: Partial<StoreWrite> = {}): void {
    if (bytes === undefined) this.objects.delete(key);
    else this.objects.set(key, { bytes, version: `v${++this.versions}` });
    this.log.push({ n: this.log.length + 1, by, op, key, ...(op === 'put' || op === 'put-if-version' ? { text: bytes?.toString('utf8') } : {}), ...extra });
  }
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

class MemorySink implements ObjectSink {
  readonly rootUrl: string;

  constructor(
    private readonly store: MemoryStore,
    private readonly by: string,
    private readonly point: SchedulingPoint,
  ) {
    this.rootUrl = store.rootUrl;
  }

  urlOf(key: string): string {
    return `${this.store.rootUrl}/${key}`;
  }

  async preflight(): Promise<void> {
    await this.point('preflight');
  }

  async openStaged(key: string, stagingKey: string): Promise<StagedWriter> {
    await this.point(`openStaged ${key}`);
    const chunks: Buffer[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(Buffer.from(chunk));
        callback();
      },
    });
    const location: StagedLocation = { kind: 'file', path: stagingKey };
    let aborted = false;
    return {
      stream,
      location,
      commit: async () => {
        await this.point(`commit staged ${stagingKey}`);
        if (aborted) throw new Error(`staged file ${stagingKey} was aborted`);
        this.store.staged.set(stagingKey, Buffer.concat(chunks));
        return location;
      },
      abort: async () => {
        aborted = true;
        stream.destroy();
        await this.point(`abort staged ${stagingKey}`);
        this.store.staged.delete(stagingKey);
      },
    };
  }

  async publish(file: StagedFile): Promise<void> {
    await this.point(`publish ${file.key}`);
    if (file.location.kind !== 'file') throw new Error(`cannot publish ${file.location.kind} ${file.key} to the memory store`);
    const staged = this.store.staged.get(file.location.path);
    if (staged === undefined) {
      // Published by an earlier attempt: fine if what is there is this file.
      const published = this.store.objects.get(file.key)?.bytes;
      if (published !== undefined && published.length === file.bytes && sha256(published) === file.sha256) return;
      throw new FatalExportError(`staged file ${file.location.path} of ${this.urlOf(file.key)} is gone and ${published ? 'another file is' : 'nothing is'} in its place: run the export again`);
    }
    if (staged.length !== file.bytes || sha256(staged) !== file.sha256) {
      throw new FatalExportError(`staged file ${file.location.path} is not the file its checkpoint recorded`);
    }
    // A rename: the staged file becomes the object, atomically.
    this.store.staged.delete(file.location.path);
    this.store.write(this.by, 'publish', file.key, staged);
  }

  async discardStaged(location: StagedLocation): Promise<void> {
    await this.point(`discardStaged ${location.kind === 'file' ? location.path : location.uploadId}`);
    if (location.kind === 'file') this.store.staged.delete(location.path);
  }

  async sweepStaged(scope: StagingScope, known: readonly StagedLocation[]): Promise<SweepResult> {
    await this.point(`sweepStaged ${scope.stagingPrefix}`);
    let removed = 0;
    for (const location of known) {
      if (location.kind !== 'file' || scope.keep?.(location)) continue;
      if (this.store.staged.delete(location.path)) removed++;
    }
    for (const path of [...this.store.staged.keys()]) {
      if (!path.startsWith(scope.stagingPrefix) || scope.keep?.({ kind: 'file', path })) continue;
      this.store.staged.delete(path);
      removed++;
    }
    return { removed, listed: true };
  }

  async putText(key: string, text: string): Promise<void> {
    await this.point(`putText ${key}`);
    this.store.write(this.by, 'put', key, Buffer.from(text, 'utf8'));
  }

  async getText(key: string): Promise<string | undefined> {
    await this.point(`getText ${key}`);
    return this.store.text(key);
  }

  async getVersioned(key: string): Promise<{ text: string; version: string } | undefined> {
    await this.point(`getVersioned ${key}`);
    const item = this.store.objects.get(key);
    return item === undefined ? undefined : { text: item.bytes.toString('utf8'), version: item.version };
  }

  async putIfVersion(key: string, text: string, _contentType: string, version: string | null): Promise<boolean> {
    await this.point(`putIfVersion ${key} @${version ?? 'none'}`);
    const actual = this.store.objects.get(key)?.version ?? null;
    if (this.store.conditional && actual !== version) return false;
    this.store.write(this.by, 'put-if-version', key, Buffer.from(text, 'utf8'), { expected: version, actual });
    return true;
  }

  async honoursConditions(): Promise<boolean> {
    await this.point('honoursConditions');
    return this.store.conditional;
  }

  async readStream(key: string): Promise<Readable | undefined> {
    await this.point(`readStream ${key}`);
    const bytes = this.store.objects.get(key)?.bytes;
    return bytes === undefined ? undefined : Readable.from([bytes]);
  }

  async deleteObjects(keys: readonly string[]): Promise<void> {
    await this.point(`deleteObjects ${keys.length === 1 ? keys[0] : `${keys.length} keys`}`);
    for (const key of keys) if (this.store.objects.has(key)) this.store.write(this.by, 'delete', key, undefined);
  }

  async listObjects(prefix: string): Promise<StoredObject[]> {
    await this.point(`listObjects ${prefix}`);
    return this.store.keys(prefix).map((key) => ({ key, bytes: this.store.objects.get(key)?.bytes.length ?? 0 }));
  }
}
