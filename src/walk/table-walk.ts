import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import { CheckpointDivergedError, FatalExportError, FencedError, TokenRejectedError } from '../limits/export-errors.js';
import type { ObjectSink } from '../storage/object-sink.js';
import { dataFileExtension, dataFileKey, stagedFileKey, type DataFormat, type RunLocation } from '../storage/output-layout.js';
import { TABLE_COLUMNS } from '../storage/table-columns.js';
import type { ClaimedShard, ShardCheckpoint, ShardCheckpoints } from './checkpoint-store.js';
import { PartFile, type PartFileOptions, type SealedPart } from './part-file.js';
import type { TablePage, TableSource } from './table-source.js';

/** Live progress of a shard, reported after every page. */
export interface ShardProgressSink {
  /**
   * A page arrived: `fetched` items in it, `openRecords` now in the file not yet durable,
   * `durableRecords` in the shard's checkpointed files.
   */
  page(fetched: number, openRecords: number, durableRecords: number): Promise<void>;
  /** A data file is durable and checkpointed. */
  fileDone(file: SealedPart): void;
}

/** How a shard's data files are written. */
export interface ShardFiles {
  /** NDJSON lines (gzipped or not) or Parquet. @default 'ndjson' */
  readonly format?: DataFormat | undefined;
  /** Parquet: records per row group. @default 25000 */
  readonly parquetRowGroupRows?: number | undefined;
  /** NDJSON: whether files are gzipped. */
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
  /** Names the shard in file names (`0`…`f`, `all`, a batch number). */
  readonly shard: string;
  /**
   * Names the shard's checkpoint, unique within the run across tables (`groups.all`,
   * `group_memberships.3`). @default shard (the users table's shards)
   */
  readonly unit?: string | undefined;
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
  /**
   * Whether this worker may claim the shard again after Redis lost its writes: true only while it
   * still holds the shard's job (and the run is going). Without it, a lost write stops the walk.
   */
  readonly mayReclaim?: (() => Promise<boolean>) | undefined;
  /** Walks restarted after rejected cursors before the shard gives up. @default 3 */
  readonly maxRestarts?: number;
}

/** How a shard walk ended. */
export type ShardOutcome =
  | { readonly status: 'done'; readonly records: number; readonly files: number }
  | { readonly status: 'paused'; readonly records: number };

/** Times a worker claims its shard again because Redis lost its writes, before it gives up. */
const MAX_RECLAIMS = 5;

/**
 * Walks one shard of a table into staged data files, resuming from its checkpoint. The checkpoint
 * rule: a checkpoint moves only after the file holding every page before its cursor is durably
 * staged, so a crash at any instant loses at most one file's pages (fetched again) and never
 * duplicates or drops a record. Nothing this writes is visible to readers: the finalizer publishes
 * exactly the files the checkpoints list, so a worker that lost its shard cannot change the output.
 */
export async function walkShard<Item, Rec extends object>(context: ShardWalkContext<Item, Rec>): Promise<ShardOutcome> {
  for (let reclaims = 0; ; reclaims++) {
    try {
      return await walkClaimed(context, await context.checkpoints.claim(unitOf(context)));
    } catch (error) {
      if (!(error instanceof CheckpointDivergedError) || reclaims >= MAX_RECLAIMS) throw error;
      if (!(await context.mayReclaim?.())) throw new FencedError(`${error.message}, and this worker no longer holds the shard's job`);
      context.log.warn({ reason: error.message }, 'the checkpoint changed under this worker (Redis lost writes); resuming from what Redis holds');
    }
  }
}

async function walkClaimed<Item, Rec extends object>(context: ShardWalkContext<Item, Rec>, claimed: ClaimedShard): Promise<ShardOutcome> {
  const { shard, checkpoints } = context;
  const unit = unitOf(context);
  const { epoch } = claimed;
  // Moved by every commit, so a restart after a rejected cursor follows the last one.
  const position: Position = { checkpoint: claimed.checkpoint, stored: claimed.stored };
  let restarts = 0;
  while (!position.checkpoint.done) {
    try {
      if ((await walk(context, epoch, position)) === 'paused') return { status: 'paused', records: position.checkpoint.records };
    } catch (error) {
      if (!(error instanceof TokenRejectedError)) throw error;
      if (++restarts > (context.maxRestarts ?? 3)) {
        throw new FatalExportError(`${error.message}; the walk of shard ${shard} restarted ${restarts - 1} times, giving up`);
      }
      context.log.warn({ reason: error.message }, 'pagination token rejected; restarting the shard');
      Object.assign(position, await checkpoints.restart(unit, epoch, position.stored));
    }
  }
  return { status: 'done', records: position.checkpoint.records, files: position.checkpoint.fileSeq };
}

/** Where the walk stands: a checkpoint and the exact text Redis holds for it (every write names the state it follows). */
interface Position {
  checkpoint: ShardCheckpoint;
  stored: string;
}

const unitOf = (context: ShardWalkContext<unknown, object>): string => context.unit ?? context.shard;

const extensionOf = (files: ShardFiles) => dataFileExtension(files.format ?? 'ndjson', files.gzip);

const fileKey = (context: ShardWalkContext<unknown, object>, seq: number): string =>
  dataFileKey(context.run, context.shard, seq, extensionOf(context.files), context.source.table);

/** How the shard's files are encoded: a Parquet file takes its table's columns. */
function partOptions(files: ShardFiles, table: string): PartFileOptions {
  if (files.format !== 'parquet') return { gzip: files.gzip, gzipLevel: files.gzipLevel };
  const columns = TABLE_COLUMNS[table];
  if (!columns) throw new Error(`no Parquet schema for table ${table}`);
  return { format: 'parquet', columns, rowGroupRows: files.parquetRowGroupRows ?? DEFAULT_ROW_GROUP_ROWS };
}

/** Parquet records per row group unless told: what an open file holds in memory at most. */
export const DEFAULT_ROW_GROUP_ROWS = 25_000;

/** Walks from `position` (moving it with every commit) until the shard is done or stopped. */
async function walk<Item, Rec extends object>(context: ShardWalkContext<Item, Rec>, epoch: number, position: Position): Promise<'done' | 'paused'> {
  const { source, shard, sink, checkpoints, progress, stop, files } = context;
  const unit = unitOf(context);
  const lost = context.lost;
  const fenced = (): Error =>
    lost?.reason instanceof Error ? lost.reason : new FencedError(`lost shard ${shard} of run ${context.run.snapshotId} to another worker; discarding its open file`);
  let part: PartFile | null = null;
  // The keys of the open file's records, for a source that wants them (see TableSource.keyOf).
  let keys: string[] = [];
  // The open file's records counted by kind (see TableSource.tallyOf).
  let tally: Record<string, number> = {};
  // The keys of the open file's last scope (see TableSource.tailKeyOf): a scope's records are
  // contiguous in a walk, so a new scope starts the tail afresh.
  let tail: { scope: string; keys: string[] } | undefined;
  // The cursor of the first page not yet appended to any file.
  let cursor = position.checkpoint.nextToken ?? undefined;

  /**
   * Seals the open file (if any) and commits the checkpoint at `cursorAfter`. Only the end of the walk
   * marks the shard done: a pause before the first page also has no cursor, and is not the end.
   */
  const seal = async (cursorAfter: string | undefined, finished: boolean): Promise<void> => {
    let sealed: SealedPart | null = null;
    if (part !== null) {
      await checkpoints.assertOwner(unit, epoch);
      try {
        sealed = await part.seal();
      } catch (error) {
        // A worker that stalled here may find its staged file swept by the finalizer: say why.
        await checkpoints.assertOwner(unit, epoch);
        throw error;
      }
      if (source.keyOf) sealed = { ...sealed, keys };
      if (source.tallyOf) sealed = { ...sealed, tally };
      if (tail) sealed = { ...sealed, tail };
      part = null;
      keys = [];
      tally = {};
      tail = undefined;
    }
    const { checkpoint } = position;
    const next: ShardCheckpoint = {
      ...checkpoint,
      nextToken: cursorAfter ?? null,
      fileSeq: checkpoint.fileSeq + (sealed ? 1 : 0),
      records: checkpoint.records + (sealed?.records ?? 0),
      bytes: checkpoint.bytes + (sealed?.bytes ?? 0),
      done: finished,
    };
    try {
      position.stored = await checkpoints.commit(unit, epoch, position.stored, next, sealed, checkpoint.fileSeq);
      position.checkpoint = next;
    } catch (error) {
      // Not ours to publish: whoever owns the shard now stages this file again.
      if (sealed) await sink.discardStaged(sealed.location).catch(() => undefined);
      throw error;
    }
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
          return 'paused';
        }
        throw error;
      }
      if (next.done) break;
      const page = next.value;
      if (page.items.length > 0) {
        if (part === null) part = await openPart(context, epoch, position.checkpoint.fileSeq);
        const records = page.items.map((item) => source.toRecord(item));
        if (source.keyOf) for (const record of records) keys.push(source.keyOf(record));
        if (source.tallyOf) for (const record of records) tally[source.tallyOf(record)] = (tally[source.tallyOf(record)] ?? 0) + 1;
        if (source.tailKeyOf) {
          for (const record of records) {
            const { scope, key } = source.tailKeyOf(record);
            if (tail?.scope !== scope) tail = { scope, keys: [] };
            tail.keys.push(key);
          }
        }
        await part.append(records);
      }
      cursor = page.next;
      await progress.page(page.items.length, part?.records ?? 0, position.checkpoint.records);
      if (cursor === undefined) break;
      if (lost?.aborted) throw fenced();
      if (stop.aborted) {
        await seal(cursor, false);
        return 'paused';
      }
      if (part !== null && part.records >= files.maxRecords) await seal(cursor, false);
    }
    await seal(undefined, true);
    return 'done';
  } finally {
    // Anything still open failed half-way: its staged copy goes (and is never published anyway).
    if (part !== null) await part.discard();
    await pages.return(undefined);
  }
}

/**
 * Opens staged file `seq` under a name no other writer uses (the epoch and a random tag), and
 * records it before any data lands, so the finalizer can remove it if no checkpoint ever lists it.
 */
async function openPart(context: ShardWalkContext<unknown, object>, epoch: number, seq: number): Promise<PartFile> {
  const { run, shard, files, source, sink } = context;
  const unit = unitOf(context);
  const tag = `e${epoch}-${randomBytes(3).toString('hex')}`;
  const stagingKey = stagedFileKey(run, source.table, shard, seq, extensionOf(files), tag);
  const part = await PartFile.open(sink, { key: fileKey(context, seq), stagingKey }, partOptions(files, source.table));
  try {
    await context.checkpoints.recordStaged(unit, epoch, part.location);
  } catch (error) {
    await part.discard();
    throw error;
  }
  return part;
}
