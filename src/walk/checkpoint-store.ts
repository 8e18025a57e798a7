import type { Redis } from 'ioredis';
import { FencedError } from '../limits/export-errors.js';
import type { SealedPart } from './part-file.js';
import type { RedisKeys } from '../redis/redis-keys.js';

/**
 * Where a shard's walk stands. Written only after the file holding every page before `nextToken`
 * is durable, so resuming means: start file `fileSeq` again from `nextToken`.
 */
export interface ShardCheckpoint {
  /** Token of the first page not yet in a durable file; null at the start of a walk or when done. */
  readonly nextToken: string | null;
  /** Sequence number of the next file to write. */
  readonly fileSeq: number;
  /** Records in durable files. */
  readonly records: number;
  /** Stored bytes of durable files. */
  readonly bytes: number;
  /** How many times the walk restarted from the beginning (after a rejected token). */
  readonly walk: number;
  /** True once the last page is in a durable file. */
  readonly done: boolean;
}

/** A shard's checkpoint together with the fencing epoch of the worker that claimed it. */
export interface ClaimedShard {
  readonly epoch: number;
  readonly checkpoint: ShardCheckpoint;
}

/** Where a shard starts: nothing fetched, nothing written. */
export const INITIAL_CHECKPOINT: ShardCheckpoint = Object.freeze({
  nextToken: null,
  fileSeq: 0,
  records: 0,
  bytes: 0,
  walk: 0,
  done: false,
});

// Every write checks the epoch first: a worker that lost its job to another has a stale epoch and
// must not touch the checkpoint (fencing). KEYS[1] is the checkpoint hash, ARGV[1] the epoch.
const FENCE = `if tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0') ~= tonumber(ARGV[1]) then return 0 end`;

const CLAIM = `
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {epoch, redis.call('HGET', KEYS[1], 'state') or false}`;

// ARGV: epoch, state json, file seq (or -1), file json, run counters delta: records, bytes, files;
// shard id (its live progress field is reset: those records are now durable), TTL ms. KEYS[2]: run hash.
const COMMIT = `${FENCE}
redis.call('HSET', KEYS[1], 'state', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
if tonumber(ARGV[3]) >= 0 then redis.call('HSET', KEYS[1], 'file:' .. ARGV[3], ARGV[4]) end
redis.call('HINCRBY', KEYS[2], 'records', ARGV[5])
redis.call('HINCRBY', KEYS[2], 'bytes', ARGV[6])
redis.call('HINCRBY', KEYS[2], 'files', ARGV[7])
redis.call('HDEL', KEYS[2], 'open:' .. ARGV[8])
return 1`;

const RESERVE = `${FENCE}
if tonumber(redis.call('HGET', KEYS[1], 'high_seq') or '-1') < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'high_seq', ARGV[2])
end
return 1`;

// A restarted walk forgets its durable files (they will be overwritten or deleted) and takes what
// it had counted back out of the run's totals, reading both from the stored state so the two can
// never disagree. Returns the new walk number. ARGV: epoch, shard id.
const RESTART = `${FENCE}
local state = cjson.decode(redis.call('HGET', KEYS[1], 'state') or '{"records":0,"bytes":0,"walk":0}')
local files = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 5) == 'file:' then
    redis.call('HDEL', KEYS[1], field)
    files = files + 1
  end
end
local walk = (tonumber(state.walk) or 0) + 1
redis.call('HSET', KEYS[1], 'state', '{"nextToken":null,"fileSeq":0,"records":0,"bytes":0,"walk":' .. walk .. ',"done":false}')
redis.call('HINCRBY', KEYS[2], 'records', string.format('%d', 0 - (tonumber(state.records) or 0)))
redis.call('HINCRBY', KEYS[2], 'bytes', string.format('%d', 0 - (tonumber(state.bytes) or 0)))
redis.call('HINCRBY', KEYS[2], 'files', string.format('%d', 0 - files))
redis.call('HDEL', KEYS[2], 'open:' .. ARGV[2])
return walk`;

const CHECK = `${FENCE}
return 1`;

/**
 * What a shard walk does with its checkpoint: every write is fenced by the epoch `claim` returned,
 * so a worker that lost the shard to another can no longer move it.
 */
export interface ShardCheckpoints {
  /** Takes ownership of a shard (a new epoch) and returns where its walk stands. */
  claim(shard: string): Promise<ClaimedShard>;
  /** Records that file `seq` is about to be written. */
  reserveFile(shard: string, epoch: number, seq: number): Promise<void>;
  /** Throws a FencedError unless `epoch` still owns the shard. */
  assertOwner(shard: string, epoch: number): Promise<void>;
  /** Records a durable file (if any) and the new checkpoint, atomically. */
  commit(shard: string, epoch: number, checkpoint: ShardCheckpoint, file: SealedPart | null, seq: number): Promise<void>;
  /** Starts the shard's walk over, forgetting its files. */
  restart(shard: string, epoch: number): Promise<ShardCheckpoint>;
  /** Highest file sequence ever started, durable or not; -1 if none. */
  highSeq(shard: string): Promise<number>;
}

/** Checkpoints of one run's shards, in Redis. */
export class CheckpointStore implements ShardCheckpoints {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly snapshotId: string,
    /** Checkpoints outlive a crashed run this long, so a late retry can still resume. */
    private readonly ttlMs: number = 7 * 24 * 3600 * 1000,
  ) {}

  /**
   * Takes ownership of a shard: bumps its fencing epoch (so a previous owner's writes are refused)
   * and returns where the walk stands.
   */
  async claim(shard: string): Promise<ClaimedShard> {
    const [epoch, state] = (await this.redis.eval(CLAIM, 1, this.key(shard), this.ttlMs)) as [number, string | null];
    return { epoch, checkpoint: state ? (JSON.parse(state) as ShardCheckpoint) : INITIAL_CHECKPOINT };
  }

  /** Records that file `seq` is about to be written, so a restarted walk can clean it up. Fenced. */
  async reserveFile(shard: string, epoch: number, seq: number): Promise<void> {
    this.fenced(await this.redis.eval(RESERVE, 1, this.key(shard), epoch, seq));
  }

  /** Throws {@link FencedError} unless `epoch` still owns the shard. */
  async assertOwner(shard: string, epoch: number): Promise<void> {
    this.fenced(await this.redis.eval(CHECK, 1, this.key(shard), epoch));
  }

  /**
   * Atomically records a durable file (if any) and the new checkpoint, and moves its records from
   * the shard's live progress into the run's totals. Fenced.
   */
  async commit(shard: string, epoch: number, checkpoint: ShardCheckpoint, file: SealedPart | null, seq: number): Promise<void> {
    const entry = file ? JSON.stringify(file) : '';
    const result = await this.redis.eval(
      COMMIT,
      2,
      this.key(shard),
      this.keys.run(this.snapshotId),
      epoch,
      JSON.stringify(checkpoint),
      file ? seq : -1,
      entry,
      file?.records ?? 0,
      file?.bytes ?? 0,
      file ? 1 : 0,
      shard,
      this.ttlMs,
    );
    this.fenced(result);
  }

  /** Starts the shard's walk over: forgets its files and counts. Fenced. */
  async restart(shard: string, epoch: number): Promise<ShardCheckpoint> {
    const walk = await this.redis.eval(RESTART, 2, this.key(shard), this.keys.run(this.snapshotId), epoch, shard);
    if (walk === 0) this.fenced(walk);
    return { ...INITIAL_CHECKPOINT, walk: Number(walk) };
  }

  /** Highest file sequence ever started in this run, durable or not; -1 if none. */
  async highSeq(shard: string): Promise<number> {
    return Number((await this.redis.hget(this.key(shard), 'high_seq')) ?? -1);
  }

  /** The durable files of a shard's current walk, in sequence order. */
  async files(shard: string): Promise<SealedPart[]> {
    const all = await this.redis.hgetall(this.key(shard));
    return Object.entries(all)
      .filter(([field]) => field.startsWith('file:'))
      .map(([field, value]) => ({ seq: Number(field.slice(5)), part: JSON.parse(value) as SealedPart }))
      .sort((a, b) => a.seq - b.seq)
      .map(({ part }) => part);
  }

  /** The checkpoint without claiming the shard (for status and the run's finalizer). */
  async peek(shard: string): Promise<ShardCheckpoint | undefined> {
    const state = await this.redis.hget(this.key(shard), 'state');
    return state ? (JSON.parse(state) as ShardCheckpoint) : undefined;
  }

  /** Removes the checkpoints of the given shards (after the run is published or abandoned). */
  async remove(shards: readonly string[]): Promise<void> {
    if (shards.length > 0) await this.redis.del(...shards.map((shard) => this.key(shard)));
  }

  private key(shard: string): string {
    return this.keys.checkpoint(this.snapshotId, shard);
  }

  private fenced(result: unknown): void {
    if (result !== 1) throw new FencedError(`another worker now owns this shard of run ${this.snapshotId}`);
  }
}
