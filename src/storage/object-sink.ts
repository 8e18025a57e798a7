import type { Readable, Writable } from 'node:stream';

/** One part of a staged S3 multipart upload, as the checkpoint records it. */
export interface StagedPart {
  readonly partNumber: number;
  /** The ETag S3 answered for the part (quotes stripped). */
  readonly etag: string;
  /** MD5 and SHA-256 of the part's bytes, base64, as S3's headers carry them. */
  readonly md5: string;
  readonly sha256: string;
  readonly bytes: number;
}

/**
 * Where a staged file is, exactly: the identity a checkpoint records and the finalizer publishes.
 * No other writer can produce the same location: an upload id is S3's, a staging path carries the
 * writer's epoch and a random tag. JSON-serializable.
 */
export type StagedLocation =
  /** An S3 multipart upload on the file's final key that only the finalizer completes. */
  | { readonly kind: 's3-upload'; readonly key: string; readonly uploadId: string; readonly parts: readonly StagedPart[] }
  /** A file under the destination's staging folder, renamed into place at publication. */
  | { readonly kind: 'file'; readonly path: string };

/** A staged file as the checkpoint lists it: what it will be published as, and how to check it. */
export interface StagedFile {
  /** The contract key it is published under (`users/…/part-<shard>-<seq>.ndjson.gz`). */
  readonly key: string;
  /** Size of the stored bytes (compressed when gzip is on). */
  readonly bytes: number;
  /** SHA-256 of the stored bytes, hex. */
  readonly sha256: string;
  readonly location: StagedLocation;
}

/**
 * One file being staged. Bytes go into `stream`; once it has finished, `commit()` makes the staged
 * file durable (still invisible to readers) and returns its exact location.
 */
export interface StagedWriter {
  readonly stream: Writable;
  /** Where the file is being staged, known from the start so it can be recorded before any data lands. */
  readonly location: StagedLocation;
  /** Resolves once every byte is durably staged, with the final location (S3: with its parts). */
  commit(): Promise<StagedLocation>;
  /** Gives the staged file up. Safe to call more than once. */
  abort(): Promise<void>;
}

/** Which staged files a sweep covers: one run's, or every run's of a pool but the active one. */
export interface StagingScope {
  /** Under the sink's staging folder (file sinks): e.g. `user_pool_id=<pool>/run=<id>/`. */
  readonly stagingPrefix: string;
  /** Table folders whose unfinished uploads belong to the scope (S3): e.g. `users/user_pool_id=<pool>/dt=…/run=<id>/`. */
  readonly dataPrefixes: readonly string[];
  /** Locations under the scope to leave alone (an active run's). */
  readonly keep?: (location: StagedLocation) => boolean;
}

/** What a sweep found and removed. */
export interface SweepResult {
  readonly removed: number;
  /** False when the store cannot list unfinished uploads (some S3-compatible servers): only `known` ones were removed. */
  readonly listed: boolean;
}

/** An object as a listing shows it. */
export interface StoredObject {
  readonly key: string;
  /** Its size in bytes. */
  readonly bytes: number;
}

/**
 * The output seam: S3 or a local directory, with the same key layout. Workers only ever stage;
 * only the finalizer publishes (`publish`), writes manifests (`putText`) and deletes.
 */
export interface ObjectSink {
  /** The destination root, as a URL. */
  readonly rootUrl: string;
  /**
   * The same sink, whose retries (throttles, transient errors) end as soon as `signal` aborts, with
   * its reason: a shard of a run that was cancelled must not wait out S3's SlowDown. A call in
   * flight is let finish. Absent: the sink does not retry (a local directory).
   */
  during?(signal: AbortSignal): ObjectSink;
  /** The URL of the object at `key`. */
  urlOf(key: string): string;
  /**
   * Checks before any work that the destination exists and can be written, throwing a
   * FatalExportError naming the bucket or directory and the fix.
   */
  preflight(): Promise<void>;
  /**
   * Starts staging a file that will be published under `key`. `stagingKey` (relative to the staging
   * folder, unique to this writer) is where sinks that stage by name put it; S3 stages as an
   * uncompleted multipart upload on `key` instead, which no reader can see.
   */
  openStaged(key: string, stagingKey: string, contentType: string): Promise<StagedWriter>;
  /**
   * Makes a staged file visible under its key, after checking that what is there is exactly the
   * staged file the checkpoint recorded (its identity, size and SHA-256). Idempotent: a file already
   * published with that content is fine. A staged file that is gone or differs is a FatalExportError.
   */
  publish(file: StagedFile): Promise<void>;
  /** Removes a staged file that will never be published (a zombie's, an aborted one). Missing is fine. */
  discardStaged(location: StagedLocation): Promise<void>;
  /**
   * Removes the staged files in `known` and every other staged file a listing finds in `scope`,
   * except those `scope.keep` accepts.
   */
  sweepStaged(scope: StagingScope, known: readonly StagedLocation[]): Promise<SweepResult>;
  /** Writes a small object (a manifest) in one go, atomically. */
  putText(key: string, text: string, contentType: string): Promise<void>;
  /** Reads a small object, or undefined if there is none. */
  getText(key: string): Promise<string | undefined>;
  /**
   * Reads a small object with its version (S3: its ETag; a directory: a hash of its bytes), for a
   * compare-and-swap with {@link putIfVersion}; undefined if there is none.
   */
  getVersioned(key: string): Promise<{ readonly text: string; readonly version: string } | undefined>;
  /**
   * Writes a small object atomically only if it is still at `version` (null: only if there is none):
   * S3's `If-Match` / `If-None-Match: *`, a lock and a rename on disk. False, writing nothing, when
   * it moved on. A store that ignores conditions writes anyway (see {@link honoursConditions}).
   */
  putIfVersion(key: string, text: string, contentType: string, version: string | null): Promise<boolean>;
  /** Whether the store honours {@link putIfVersion}'s condition (probed once per bucket; a directory always does). */
  honoursConditions(): Promise<boolean>;
  /** Streams an object's bytes (a data file of any size), or undefined if there is none. */
  readStream(key: string): Promise<Readable | undefined>;
  /** Deletes objects; missing ones are fine. */
  deleteObjects(keys: readonly string[]): Promise<void>;
  /** Every object under `prefix` (keys relative to the root), sorted by key; staged files excluded. */
  listObjects(prefix: string): Promise<StoredObject[]>;
}

/** `sink` with its retries ended by `signal` (where the sink retries at all: see ObjectSink.during). */
export function sinkUntil(sink: ObjectSink, signal: AbortSignal): ObjectSink {
  return sink.during?.(signal) ?? sink;
}
