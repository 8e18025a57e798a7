import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Transform, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlib } from 'node:zlib';
import type { ObjectSink, ObjectWriter } from '../storage/object-sink.js';

/** A data file as the manifest lists it. */
export interface SealedPart {
  readonly key: string;
  readonly url: string;
  readonly records: number;
  /** Size of the stored object (compressed when gzip is on). */
  readonly bytes: number;
  /** SHA-256 of the stored bytes, hex. */
  readonly sha256: string;
}

/** How part files are encoded. */
export interface PartFileOptions {
  readonly gzip: boolean;
  /** zlib level 1..9. @default 6 */
  readonly gzipLevel?: number;
}

/**
 * One data file being written: NDJSON text in, optionally gzipped, hashed and counted on its way to
 * the sink. Memory stays bounded by stream buffers, whatever the file's size.
 */
export class PartFile {
  private recordCount = 0;
  private storedBytes = 0;
  private readonly hash = createHash('sha256');
  private readonly head: Duplex;
  private readonly flowing: Promise<void>;
  private failure: Error | undefined;

  private constructor(
    private readonly sink: ObjectSink,
    readonly key: string,
    private readonly writer: ObjectWriter,
    options: PartFileOptions,
  ) {
    const meter = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.hash.update(chunk);
        this.storedBytes += chunk.length;
        callback(null, chunk);
      },
    });
    this.head = options.gzip
      ? createGzip({ level: options.gzipLevel ?? zlib.Z_DEFAULT_COMPRESSION })
      : new PassThrough();
    this.flowing = pipeline(this.head, meter, writer.stream);
    this.flowing.catch((error: unknown) => {
      this.failure = error instanceof Error ? error : new Error(String(error));
    });
  }

  /** Opens a new data file at `key`. */
  static async open(sink: ObjectSink, key: string, options: PartFileOptions): Promise<PartFile> {
    const contentType = options.gzip ? 'application/gzip' : 'application/x-ndjson';
    return new PartFile(sink, key, await sink.openWriter(key, contentType), options);
  }

  /** Records appended so far. */
  get records(): number {
    return this.recordCount;
  }

  /** Appends NDJSON text holding `records` records, waiting while the sink is behind. */
  async append(text: string, records: number): Promise<void> {
    this.throwIfFailed();
    this.recordCount += records;
    if (!this.head.write(text)) {
      await Promise.race([once(this.head, 'drain'), this.flowing]);
      this.throwIfFailed();
    }
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Finishes the file and waits until it is durably stored; returns what the manifest lists. */
  async seal(): Promise<SealedPart> {
    this.head.end();
    await this.flowing;
    await this.writer.commit();
    return {
      key: this.key,
      url: this.sink.urlOf(this.key),
      records: this.recordCount,
      bytes: this.storedBytes,
      sha256: this.hash.digest('hex'),
    };
  }

  /** Abandons the file: nothing is published under its key. */
  async discard(): Promise<void> {
    this.head.destroy();
    await this.flowing.catch(() => undefined);
    await this.writer.abort();
  }
}
