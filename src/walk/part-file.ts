import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Transform, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlib } from 'node:zlib';
import type { ObjectSink, StagedFile, StagedLocation, StagedWriter } from '../storage/object-sink.js';
import { ParquetEncoder } from '../storage/parquet-file.js';
import type { Column } from '../storage/table-columns.js';
import { encodeNdjson } from './ndjson.js';

/** A data file durably staged: what its checkpoint records, the finalizer publishes and the manifest lists. */
export interface SealedPart extends StagedFile {
  /** The URL it is published at. */
  readonly url: string;
  readonly records: number;
  /** The keys of its records, for a table whose source asks (TableSource.keyOf). */
  readonly keys?: readonly string[];
  /** Its records counted by kind, for a table whose source asks (TableSource.tallyOf): a change table's ops. */
  readonly tally?: Readonly<Record<string, number>>;
  /** The keys of the last scope its records hold, for a table whose source asks (TableSource.tailKeyOf). */
  readonly tail?: FileTail;
}

/** The last scope of a file's records (a group, for memberships) and the keys of its records in the file. */
export interface FileTail {
  readonly scope: string;
  readonly keys: readonly string[];
}

/** Where a part file goes: published under `key`, staged first under `stagingKey` (see ObjectSink.openStaged). */
export interface PartTarget {
  readonly key: string;
  readonly stagingKey: string;
}

/** How part files are encoded: NDJSON lines, optionally gzipped, or Parquet. */
export type PartFileOptions =
  | {
      readonly format?: 'ndjson';
      readonly gzip: boolean;
      /** zlib level 1..9. @default 6 */
      readonly gzipLevel?: number;
    }
  | {
      readonly format: 'parquet';
      /** The table's columns (see table-columns.ts). */
      readonly columns: readonly Column[];
      /** Records per row group: what the open file holds in memory at most. */
      readonly rowGroupRows: number;
    };

/**
 * One data file being staged: records in, encoded as NDJSON (optionally gzipped) or Parquet, hashed
 * and counted on their way to the sink. Memory stays bounded by stream buffers (and one Parquet row
 * group), whatever the file's size. A Parquet file is only valid once sealed (its footer is written
 * last), which is also when the checkpoint lists it. Nothing a part file writes is visible to
 * readers: only the finalizer publishes.
 */
export class PartFile {
  private recordCount = 0;
  private storedBytes = 0;
  private readonly hash = createHash('sha256');
  private readonly head: Duplex;
  private readonly flowing: Promise<void>;
  private readonly parquet: ParquetEncoder | undefined;
  private failure: Error | undefined;

  private constructor(
    private readonly sink: ObjectSink,
    readonly key: string,
    private readonly writer: StagedWriter,
    options: PartFileOptions,
  ) {
    const meter = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.hash.update(chunk);
        this.storedBytes += chunk.length;
        callback(null, chunk);
      },
    });
    this.head =
      options.format !== 'parquet' && options.gzip
        ? createGzip({ level: options.gzipLevel ?? zlib.Z_DEFAULT_COMPRESSION })
        : new PassThrough();
    this.flowing = pipeline(this.head, meter, writer.stream);
    this.flowing.catch((error: unknown) => {
      this.failure = error instanceof Error ? error : new Error(String(error));
    });
    this.parquet = options.format === 'parquet' ? new ParquetEncoder(options.columns, (bytes) => this.write(bytes), options.rowGroupRows) : undefined;
  }

  /** Opens a new staged data file for `target`. */
  static async open(sink: ObjectSink, target: PartTarget, options: PartFileOptions): Promise<PartFile> {
    const contentType = options.format === 'parquet' ? 'application/vnd.apache.parquet' : options.gzip ? 'application/gzip' : 'application/x-ndjson';
    return new PartFile(sink, target.key, await sink.openStaged(target.key, target.stagingKey, contentType), options);
  }

  /** Where the file is being staged (known before any data lands, so it can be recorded for the sweep). */
  get location(): StagedLocation {
    return this.writer.location;
  }

  /** Records appended so far. */
  get records(): number {
    return this.recordCount;
  }

  /** Appends records, waiting while the sink is behind. */
  async append(records: readonly object[]): Promise<void> {
    this.throwIfFailed();
    this.recordCount += records.length;
    if (this.parquet) await this.parquet.add(records);
    else await this.write(encodeNdjson(records));
  }

  private async write(bytes: string | Uint8Array): Promise<void> {
    this.throwIfFailed();
    if (!this.head.write(bytes)) {
      await Promise.race([once(this.head, 'drain'), this.flowing]);
      this.throwIfFailed();
    }
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Finishes the file and waits until it is durably staged; returns what the checkpoint records. */
  async seal(): Promise<SealedPart> {
    // Parquet's last row group and footer: until they are written the file is not readable.
    if (this.parquet) await this.parquet.finish();
    this.head.end();
    await this.flowing;
    const location = await this.writer.commit();
    return {
      key: this.key,
      url: this.sink.urlOf(this.key),
      records: this.recordCount,
      bytes: this.storedBytes,
      sha256: this.hash.digest('hex'),
      location,
    };
  }

  /** Abandons the file: its staged copy is removed (best effort; a sweep removes what is left). */
  async discard(): Promise<void> {
    this.head.destroy();
    await this.flowing.catch(() => undefined);
    await this.writer.abort();
  }
}
