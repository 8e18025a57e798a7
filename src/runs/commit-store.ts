import type { RedisClient } from '../redis/redis-connection.js';
import { FencedError } from '../limits/export-errors.js';
import type { RedisKeys } from '../redis/redis-keys.js';
import type { LatestPointer } from '../storage/manifest.js';
import type { RunState } from './run-views.js';

/**
 * The end of a run as one transaction, in Redis (Iceberg's commit, Hadoop's job committer): the
 * finalizer's fencing epoch, the commit point that moves a run from running to committing, the
 * commit sequence that orders a dataset's runs (Redis's, never a requester's clock), and each
 * dataset's committed head, which pointers follow and are repaired to.
 */

/** What a dataset's pointer names, as Redis holds it: the pointer file's own JSON. */
export type CommittedHead = LatestPointer;

/** Where a dataset lives: a destination and the pointer file under the pool's manifests folder. */
export interface DatasetRef {
  readonly userPoolId: string;
  readonly destination: string;
  readonly pointer: string;
}

/** A head as the worker keeps it: with where its pointer lives, so any worker can repair it. */
export interface StoredHead extends DatasetRef {
  readonly head: CommittedHead;
  /** The S3 role the run wrote through (and its external id), to repair its pointer the same way. */
  readonly s3RoleArn?: string | undefined;
  readonly externalId?: string | undefined;
}

/** How a commit point attempt went. */
export type CommitOutcome =
  | { readonly kind: 'committed'; readonly seq: number }
  /** The run ended before its commit point (cancelled, failed): nothing visible may be written. */
  | { readonly kind: 'ended'; readonly state: RunState }
  /** Another finalizer has claimed the run since: this one stops. */
  | { readonly kind: 'fenced' };

const datasetField = (ref: DatasetRef): string => `${ref.destination}|${ref.pointer}`;

// KEYS[1] run hash, KEYS[2] pool hash. ARGV: epoch, the dataset's sequence field, the sequence floor
// (the highest sequence any pointer of the dataset was seen with). Running → committing, once, by
// the finalizer holding the run's current epoch; a finalizer coming back to a committing run it
// holds gets the same sequence. Returns {1, seq} | {0, state} (ended) | {-1} (fenced).
const COMMIT_POINT = `
local state = redis.call('HGET', KEYS[1], 'state') or 'queued'
if redis.call('HGET', KEYS[1], 'fin_epoch') ~= ARGV[1] then return {-1} end
if state == 'committing' or state == 'completed' then return {1, tonumber(redis.call('HGET', KEYS[1], 'commit_seq'))} end
if state ~= 'running' then return {0, state} end
local seq = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
if seq <= tonumber(ARGV[3]) then
  seq = tonumber(ARGV[3]) + 1
  redis.call('HSET', KEYS[2], ARGV[2], seq)
end
redis.call('HSET', KEYS[1], 'state', 'committing', 'commit_seq', seq)
return {1, seq}`;

// KEYS[1] run hash. ARGV: epoch. 1 while the epoch holds the committing run, else 0.
const FENCE = `
if redis.call('HGET', KEYS[1], 'fin_epoch') ~= ARGV[1] then return 0 end
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'committing' and state ~= 'completed' then return 0 end`;

const CHECK = `${FENCE}
return 1`;

// ARGV: epoch, now. The point of no return: from here on no error fails the run.
const PUBLISHED = `${FENCE}
redis.call('HSETNX', KEYS[1], 'published_at', ARGV[2])
return 1`;

// KEYS[1] run hash, KEYS[2] pool hash. ARGV: epoch, head field, head json, its sequence. A head only
// moves forward.
const ADVANCE = `${FENCE}
local current = redis.call('HGET', KEYS[2], ARGV[2])
if current then
  local seq = tonumber(cjson.decode(current).head.commit_seq) or 0
  if seq >= tonumber(ARGV[4]) then return 1 end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1`;

/** The finalizer's side of a run's commit, and every dataset's committed head. */
export class CommitStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * A new finalizer epoch for the run: every finalizer attempt takes one, and from then on any
   * earlier attempt (a paused worker that comes back) is refused at its next write.
   */
  async claimFinalizer(snapshotId: string): Promise<number> {
    return this.redis.hincrby(this.keys.run(snapshotId), 'fin_epoch', 1);
  }

  /**
   * The commit point: moves the run from running to committing in one atomic step, if `epoch` is
   * its finalizer's, and issues its place in the dataset's commit order (above `seqFloor`, the
   * highest any pointer of the dataset showed: a Redis that lost its counter never reuses one).
   */
  async commitPoint(snapshotId: string, userPoolId: string, dataset: DatasetRef | null, epoch: number, seqFloor: number): Promise<CommitOutcome> {
    const field = dataset ? `commit_seq:${datasetField(dataset)}` : 'commit_seq:';
    const result = (await this.redis.eval(COMMIT_POINT, 2, this.keys.run(snapshotId), this.keys.pool(userPoolId), epoch, field, seqFloor)) as [number, number | string];
    if (result[0] === 1) return { kind: 'committed', seq: Number(result[1]) };
    if (result[0] === 0) return { kind: 'ended', state: result[1] as RunState };
    return { kind: 'fenced' };
  }

  /** Throws a FencedError unless `epoch` still holds the committing run: called right before every visible write. */
  async assertFinalizer(snapshotId: string, epoch: number): Promise<void> {
    if ((await this.redis.eval(CHECK, 1, this.keys.run(snapshotId), epoch)) !== 1) throw fenced(snapshotId);
  }

  /**
   * Marks the point of no return, just before the first pointer moves: from then on the run only
   * rolls forward, whatever fails. Fenced.
   */
  async markPublished(snapshotId: string, epoch: number, now: Date = new Date()): Promise<void> {
    if ((await this.redis.eval(PUBLISHED, 1, this.keys.run(snapshotId), epoch, now.toISOString())) !== 1) throw fenced(snapshotId);
  }

  /** Moves the dataset's committed head to `head` unless it already names a later commit. Fenced by the run's finalizer epoch. */
  async advanceHead(snapshotId: string, epoch: number, stored: StoredHead): Promise<void> {
    const result = await this.redis.eval(
      ADVANCE,
      2,
      this.keys.run(snapshotId),
      this.keys.pool(stored.userPoolId),
      epoch,
      `head:${datasetField(stored)}`,
      JSON.stringify(stored),
      stored.head.commit_seq ?? 0,
    );
    if (result !== 1) throw fenced(snapshotId);
  }

  /** The committed head of a dataset, if Redis holds one. */
  async head(ref: DatasetRef): Promise<StoredHead | undefined> {
    const text = await this.redis.hget(this.keys.pool(ref.userPoolId), `head:${datasetField(ref)}`);
    return text === null ? undefined : (JSON.parse(text) as StoredHead);
  }

  /** Every committed head of a pool's datasets (for the repair of their pointers). */
  async heads(userPoolId: string): Promise<StoredHead[]> {
    const all = await this.redis.hgetall(this.keys.pool(userPoolId));
    return Object.entries(all)
      .filter(([field]) => field.startsWith('head:'))
      .map(([, text]) => JSON.parse(text) as StoredHead);
  }

  /**
   * What the run's dataset held when the run started (its change tables' "previous", never the run
   * itself) and the highest commit sequence seen: `read` is called by the first caller only; every
   * later one, a finalizer after a Redis restart included, gets what it stored.
   */
  async capturePrevious(snapshotId: string, read: () => Promise<{ previous: CommittedHead | undefined; seqFloor: number }>): Promise<{ previous: CommittedHead | undefined; seqFloor: number }> {
    const key = this.keys.run(snapshotId);
    const stored = await this.redis.hget(key, 'previous_head');
    if (stored !== null) return parseCaptured(stored);
    await this.redis.hsetnx(key, 'previous_head', JSON.stringify(await read()));
    return parseCaptured((await this.redis.hget(key, 'previous_head')) ?? '{}');
  }
}

function parseCaptured(text: string): { previous: CommittedHead | undefined; seqFloor: number } {
  const parsed = JSON.parse(text) as { previous?: CommittedHead; seqFloor?: number };
  return { previous: parsed.previous ?? undefined, seqFloor: Number(parsed.seqFloor ?? 0) };
}

function fenced(snapshotId: string): FencedError {
  return new FencedError(`another finalizer now holds run ${snapshotId}`);
}
