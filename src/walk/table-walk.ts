import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { Logger } from 'pino';
import type { CheckpointStore, ShardCheckpoint } from './checkpoint-store.js';
import { FatalExportError, FencedError, TokenRejectedError } from '../limits/export-errors.js';
import type { ObjectSink } from '../storage/object-sink.js';
import { dataFileKey } from '../storage/output-layout.js';
import { PartFile, type SealedPart } from './part-file.js';
import type { CallLimiter } from '../limits/rate-limiter.js';
import type { RetryEvent, RetryPolicy } from '../limits/retry-policy.js';
import { runLocation, type RunSpec } from '../runs/run-spec.js';
import type { Shard } from '../runs/shard-plan.js';
import { encodeNdjson, toUserRecord, type RecordContext } from '../tables/user-record.js';
import { listUserPages, type UserPage } from '../cognito/list-users.js';

/** Live progress of a shard, reported after every page. */
export interface ShardProgressSink {
  /** A page arrived: `fetched` users in it, `openRecords` now in the file not yet durable. */
  page(fetched: number, openRecords: number): Promise<void>;
  /** A call failed and will be retried. */
  retry(event: RetryEvent): void;
  /** A ListUsers call is about to go out. */
  call(): void;
  /** A data file is durable and checkpointed. */
  fileDone(file: SealedPart): void;
}

/** Everything a shard walk touches, passed in. */
export interface ShardExportContext {
  readonly spec: RunSpec;
  readonly shard: Shard;
  readonly client: CognitoIdentityProviderClient;
  readonly sink: ObjectSink;
  readonly checkpoints: CheckpointStore;
  readonly limiter: CallLimiter;
  readonly progress: ShardProgressSink;
  /** Aborts on shutdown: seal the open file, checkpoint, and return `paused`. */
  readonly stop: AbortSignal;
  /**
   * Aborts when this worker has lost the job (its lock expired): the open file is discarded, not
   * sealed, since another worker may be writing the same file now, and the walk ends with a FencedError.
   */
  readonly lost?: AbortSignal;
  readonly log: Logger;
  readonly retryPolicy?: Partial<RetryPolicy>;
  /** Walks restarted after rejected tokens before the shard gives up. @default 3 */
  readonly maxRestarts?: number;
}

/** How a shard job ended. */
export type ShardOutcome =
  | { readonly status: 'done'; readonly records: number; readonly files: number }
  | { readonly status: 'paused'; readonly records: number };

/**
 * Walks one shard into data files, resuming from its checkpoint. The checkpoint rule: a checkpoint
 * moves only after the file holding every page before its token is durable, so a crash at any
 * instant loses at most one file's pages (fetched again) and never duplicates or drops a user.
 */
export async function exportShard(context: ShardExportContext): Promise<ShardOutcome> {
  const { shard, checkpoints } = context;
  const claimed = await checkpoints.claim(shard.id);
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
        throw new FatalExportError(`${error.message}; the walk of shard ${shard.id} restarted ${restarts - 1} times, giving up`);
      }
      context.log.warn({ reason: error.message }, 'pagination token rejected; restarting the shard');
      checkpoint = await checkpoints.restart(shard.id, epoch);
    }
  }
  // A restarted walk can end with fewer files than an earlier one wrote: remove the leftovers so
  // the run's folder holds exactly what the manifest lists. Redis knows every file ever started.
  const highSeq = await checkpoints.highSeq(shard.id);
  if (highSeq >= checkpoint.fileSeq) {
    await checkpoints.assertOwner(shard.id, epoch);
    const stale: string[] = [];
    for (let seq = checkpoint.fileSeq; seq <= highSeq; seq++) stale.push(dataFileKey(runLocation(context.spec), shard.id, seq, context.spec.gzip));
    await context.sink.deleteObjects(stale);
  }
  return { status: 'done', records: checkpoint.records, files: checkpoint.fileSeq };
}

interface Walked {
  readonly status: 'done' | 'paused';
  readonly checkpoint: ShardCheckpoint;
}

async function walk(context: ShardExportContext, epoch: number, from: ShardCheckpoint): Promise<Walked> {
  const { spec, shard, sink, checkpoints, progress, stop } = context;
  const lost = context.lost;
  const fenced = () => new FencedError(`lost shard ${shard.id} of run ${spec.snapshotId} to another worker; discarding its open file`);
  const run = runLocation(spec);
  const recordContext: RecordContext = {
    userPoolId: spec.userPoolId,
    snapshotId: spec.snapshotId,
    attributes: spec.attributes === null ? null : new Set(spec.attributes),
  };
  let checkpoint = from;
  let part: PartFile | null = null;
  // The token of the first page not yet appended to any file.
  let token = from.nextToken ?? undefined;

  /**
   * Seals the open file (if any) and commits the checkpoint at `nextToken`. Only the end of the walk
   * marks the shard done: a pause before the first page also has no token, and is not the end.
   */
  const seal = async (nextToken: string | undefined, finished: boolean): Promise<void> => {
    let sealed: SealedPart | null = null;
    if (part !== null) {
      await checkpoints.assertOwner(shard.id, epoch);
      sealed = await part.seal();
      part = null;
    }
    checkpoint = {
      ...checkpoint,
      nextToken: nextToken ?? null,
      fileSeq: checkpoint.fileSeq + (sealed ? 1 : 0),
      records: checkpoint.records + (sealed?.records ?? 0),
      bytes: checkpoint.bytes + (sealed?.bytes ?? 0),
      done: finished,
    };
    await checkpoints.commit(shard.id, epoch, checkpoint, sealed, checkpoint.fileSeq - 1);
    if (sealed) progress.fileDone(sealed);
  };

  const pages = listUserPages({
    client: context.client,
    userPoolId: spec.userPoolId,
    filter: shard.filter,
    startToken: token,
    limiter: context.limiter,
    signal: lost ? AbortSignal.any([stop, lost]) : stop,
    retryPolicy: context.retryPolicy,
    onRetry: (event) => progress.retry(event),
    onCall: () => progress.call(),
  });
  try {
    for (;;) {
      let next: IteratorResult<UserPage>;
      try {
        next = await pages.next();
      } catch (error) {
        if (lost?.aborted) throw fenced();
        // Stopped while waiting for a slot or a backoff: no call was lost, so everything before
        // `token` can be sealed and nothing is fetched twice on resume.
        if (stop.aborted) {
          await seal(token, false);
          return { status: 'paused', checkpoint };
        }
        throw error;
      }
      if (next.done) break;
      const page = next.value;
      if (page.users.length > 0) {
        if (part === null) {
          const seq = checkpoint.fileSeq;
          await checkpoints.reserveFile(shard.id, epoch, seq);
          part = await PartFile.open(sink, dataFileKey(run, shard.id, seq, spec.gzip), { gzip: spec.gzip, gzipLevel: spec.gzipLevel });
        }
        const records = page.users.map((user) => toUserRecord(user, recordContext));
        await part.append(encodeNdjson(records), records.length);
      }
      token = page.nextToken;
      await progress.page(page.users.length, part?.records ?? 0);
      if (token === undefined) break;
      if (lost?.aborted) throw fenced();
      if (stop.aborted) {
        await seal(token, false);
        return { status: 'paused', checkpoint };
      }
      if (part !== null && part.records >= spec.fileMaxRecords) await seal(token, false);
    }
    await seal(undefined, true);
    return { status: 'done', checkpoint };
  } finally {
    // Anything still open failed half-way: publish nothing under its key.
    if (part !== null) await part.discard();
    await pages.return(undefined);
  }
}
