import type { Logger } from 'pino';
import { FatalExportError, FencedError, TokenRejectedError } from '../limits/export-errors.js';
import type { ObjectSink } from '../storage/object-sink.js';
import { dataFileKey, type RunLocation } from '../storage/output-layout.js';
import type { ShardCheckpoint, ShardCheckpoints } from './checkpoint-store.js';
import { encodeNdjson } from './ndjson.js';
import { PartFile, type SealedPart } from './part-file.js';
import type { TablePage, TableSource } from './table-source.js';

/** Live progress of a shard, reported after every page. */
export interface ShardProgressSink {
  /** A page arrived: `fetched` items in it, `openRecords` now in the file not yet durable. */
  page(fetched: number, openRecords: number): Promise<void>;
  /** A data file is durable and checkpointed. */
  fileDone(file: SealedPart): void;
}

/** How a shard's data files are written. */
export interface ShardFiles {
  readonly gzip: boolean;
  /** zlib level 1..9 when gzip is on. */
  readonly gzipLevel: number;
  /** Records per file before it is sealed and checkpointed. */
  readonly maxRecords: number;
}

/** Everything one shard's walk touches, passed in. */
export interface ShardWalkContext<Item, Rec extends object> {
  /** The table's page source and record mapping for this shard. */
  readonly source: TableSource<Item, Rec>;
  /** Names the shard in checkpoint keys and file names (`0`…`f`, `all`, …). */
  readonly shard: string;
  /** The run the files belong to. */
  readonly run: RunLocation;
  readonly files: ShardFiles;
  readonly sink: ObjectSink;
  /** The run's checkpoints (Redis in production). */
  readonly checkpoints: ShardCheckpoints;
  readonly progress: ShardProgressSink;
  /** Aborts on shutdown: seal the open file, checkpoint, and return `paused`. */
  readonly stop: AbortSignal;
  /**
   * Aborts when this worker has lost the job (its lock expired): the open file is discarded, not
   * sealed, since another worker may be writing the same file now, and the walk ends with a FencedError.
   */
  readonly lost?: AbortSignal | undefined;
  readonly log: Logger;
  /** Walks restarted after rejected cursors before the shard gives up. @default 3 */
  readonly maxRestarts?: number;
}

/** How a shard walk ended. */
export type ShardOutcome =
  | { readonly status: 'done'; readonly records: number; readonly files: number }
  | { readonly status: 'paused'; readonly records: number };

/**
 * Walks one shard of a table into data files, resuming from its checkpoint. The checkpoint rule: a
 * checkpoint moves only after the file holding every page before its cursor is durable, so a crash
 * at any instant loses at most one file's pages (fetched again) and never duplicates or drops a record.
 */
export async function walkShard<Item, Rec extends object>(context: ShardWalkContext<Item, Rec>): Promise<ShardOutcome> {
  const { shard, checkpoints } = context;
  const claimed = await checkpoints.claim(shard);
  const { epoch } = claimed;
  let checkpoint = claimed.checkpoint;
  let restarts = 0;
  while (!checkpoint.done) {
    try {
      const walked = await walk(context, epoch, checkpoint);
      if (walked.status === 'paused') return { status: 'paused', records: walked.checkpoint.records };
      checkpoint = walked.checkpoint;
    } catch (error) {
      if (!(error instanceof TokenRejectedError)) throw error;
      if (++restarts > (context.maxRestarts ?? 3)) {
        throw new FatalExportError(`${error.message}; the walk of shard ${shard} restarted ${restarts - 1} times, giving up`);
      }
      context.log.warn({ reason: error.message }, 'pagination token rejected; restarting the shard');
      checkpoint = await checkpoints.restart(shard, epoch);
    }
  }
  // A restarted walk can end with fewer files than an earlier one wrote: remove the leftovers so
  // the run's folder holds exactly what the manifest lists. Redis knows every file ever started.
  const highSeq = await checkpoints.highSeq(shard);
  if (highSeq >= checkpoint.fileSeq) {
    await checkpoints.assertOwner(shard, epoch);
    const stale: string[] = [];
    for (let seq = checkpoint.fileSeq; seq <= highSeq; seq++) stale.push(fileKey(context, seq));
    await context.sink.deleteObjects(stale);
  }
  return { status: 'done', records: checkpoint.records, files: checkpoint.fileSeq };
}

interface Walked {
  readonly status: 'done' | 'paused';
  readonly checkpoint: ShardCheckpoint;
}

const fileKey = (context: ShardWalkContext<unknown, object>, seq: number): string =>
  dataFileKey(context.run, context.shard, seq, context.files.gzip, context.source.table);

async function walk<Item, Rec extends object>(context: ShardWalkContext<Item, Rec>, epoch: number, from: ShardCheckpoint): Promise<Walked> {
  const { source, shard, sink, checkpoints, progress, stop, files } = context;
  const lost = context.lost;
  const fenced = () => new FencedError(`lost shard ${shard} of run ${context.run.snapshotId} to another worker; discarding its open file`);
  let checkpoint = from;
  let part: PartFile | null = null;
  // The cursor of the first page not yet appended to any file.
  let cursor = from.nextToken ?? undefined;

  /**
   * Seals the open file (if any) and commits the checkpoint at `next`. Only the end of the walk
   * marks the shard done: a pause before the first page also has no cursor, and is not the end.
   */
  const seal = async (next: string | undefined, finished: boolean): Promise<void> => {
    let sealed: SealedPart | null = null;
    if (part !== null) {
      await checkpoints.assertOwner(shard, epoch);
      sealed = await part.seal();
      part = null;
    }
    checkpoint = {
      ...checkpoint,
      nextToken: next ?? null,
      fileSeq: checkpoint.fileSeq + (sealed ? 1 : 0),
      records: checkpoint.records + (sealed?.records ?? 0),
      bytes: checkpoint.bytes + (sealed?.bytes ?? 0),
      done: finished,
    };
    await checkpoints.commit(shard, epoch, checkpoint, sealed, checkpoint.fileSeq - 1);
    if (sealed) progress.fileDone(sealed);
  };

  const pages = source.pages(cursor, lost ? AbortSignal.any([stop, lost]) : stop);
  try {
    for (;;) {
      let next: IteratorResult<TablePage<Item>>;
      try {
        next = await pages.next();
      } catch (error) {
        if (lost?.aborted) throw fenced();
        // Stopped while waiting for a slot or a backoff: no call was lost, so everything before
        // `cursor` can be sealed and nothing is fetched twice on resume.
        if (stop.aborted) {
          await seal(cursor, false);
          return { status: 'paused', checkpoint };
        }
        throw error;
      }
      if (next.done) break;
      const page = next.value;
      if (page.items.length > 0) {
        if (part === null) {
          const seq = checkpoint.fileSeq;
          await checkpoints.reserveFile(shard, epoch, seq);
          part = await PartFile.open(sink, fileKey(context, seq), { gzip: files.gzip, gzipLevel: files.gzipLevel });
        }
        const records = page.items.map((item) => source.toRecord(item));
        await part.append(encodeNdjson(records), records.length);
      }
      cursor = page.next;
      await progress.page(page.items.length, part?.records ?? 0);
      if (cursor === undefined) break;
      if (lost?.aborted) throw fenced();
      if (stop.aborted) {
        await seal(cursor, false);
        return { status: 'paused', checkpoint };
      }
      if (part !== null && part.records >= files.maxRecords) await seal(cursor, false);
    }
    await seal(undefined, true);
    return { status: 'done', checkpoint };
  } finally {
    // Anything still open failed half-way: publish nothing under its key.
    if (part !== null) await part.discard();
    await pages.return(undefined);
  }
}
