import type { Writable } from 'node:stream';

/**
 * One object being written. Bytes go into `stream`; the object becomes visible, complete and
 * durable only when `commit()` resolves, and never partly: a crash or `abort()` before then leaves
 * no object (or the previous one) under the key.
 */
export interface ObjectWriter {
  readonly stream: Writable;
  /** Resolves once the object is durably stored under its key. Call after `stream` has finished. */
  commit(): Promise<void>;
  /** Gives up the object; nothing is published. Safe to call more than once. */
  abort(): Promise<void>;
}

/** An object as a listing shows it. */
export interface StoredObject {
  readonly key: string;
  /** Its size in bytes. */
  readonly bytes: number;
}

/** The output seam: S3 or a local directory, with the same key layout. */
export interface ObjectSink {
  /** The destination root, as a URL. */
  readonly rootUrl: string;
  /** The URL of the object at `key`. */
  urlOf(key: string): string;
  /**
   * Checks before any work that the destination exists and can be written, throwing a
   * FatalExportError naming the bucket or directory and the fix.
   */
  preflight(): Promise<void>;
  /** Starts streaming an object to `key`. */
  openWriter(key: string, contentType: string): Promise<ObjectWriter>;
  /** Writes a small object (a manifest) in one go, atomically. */
  putText(key: string, text: string, contentType: string): Promise<void>;
  /** Reads a small object, or undefined if there is none. */
  getText(key: string): Promise<string | undefined>;
  /** Deletes objects; missing ones are fine. */
  deleteObjects(keys: readonly string[]): Promise<void>;
  /** Every object under `prefix` (keys relative to the root), sorted by key; unfinished writes excluded. */
  listObjects(prefix: string): Promise<StoredObject[]>;
}
