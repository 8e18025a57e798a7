import type { RedisClient } from '../redis/redis-connection.js';
import { CheckpointDivergedError, FencedError } from '../limits/export-errors.js';
import type { RedisKeys } from '../redis/redis-keys.js';
import type { StagedLocation } from '../storage/object-sink.js';
import { USERS_TABLE } from '../storage/output-layout.js';
import type { SealedPart } from './part-file.js';

/**
 * Where a shard's walk stands. Written only after the file holding every page before `nextToken`
 * is durably staged, so resuming means: stage file `fileSeq` again from `nextToken`.
 */
export interface ShardCheckpoint {
  /** Cursor of the first page not yet in a durable file; null at the start of a walk or when done. */
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
  /**
   * The checkpoint exactly as Redis holds it ('' when there is none): every write names the state
   * it follows, and Redis refuses it if that is not the state it holds.
   */
  readonly stored: string;
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

// Every write checks the epoch first. A stored epoch above ours: another worker has claimed the
// shard since (we are fenced, 0); so are we when the checkpoint is gone (the run was published or
// abandoned). Below ours: Redis lost our claim (a restart from an AOF that had not yet synced it),
// and the checkpoint may be older than we think (diverged, -1).
// KEYS[1] is the checkpoint hash, ARGV[1] the epoch.
const FENCE = `
local stored_epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
if stored_epoch == 0 or stored_epoch > tonumber(ARGV[1]) then return 0 end
if stored_epoch < tonumber(ARGV[1]) then return -1 end`;

const CLAIM = `
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {epoch, redis.call('HGET', KEYS[1], 'state') or ''}`;

// ARGV: epoch, the state this commit follows, the new state, file seq (or -1), file json, run
// counters delta: records, bytes, files; shard id (its live progress field is reset: those records
// are now durable), TTL ms, then the run-hash fields of the table's counters (records, bytes,
// files). KEYS[2]: run hash. Compare-and-set on the state makes the commit
// linearizable whatever Redis lost; applying it twice (a command resent after a reconnect) is a no-op.
const COMMIT = `${FENCE}
local current = redis.call('HGET', KEYS[1], 'state') or ''
if current == ARGV[3] then return 1 end
if current ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], 'state', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[10])
if tonumber(ARGV[4]) >= 0 then redis.call('HSET', KEYS[1], 'file:' .. ARGV[4], ARGV[5]) end
redis.call('HINCRBY', KEYS[2], ARGV[11], ARGV[6])
redis.call('HINCRBY', KEYS[2], ARGV[12], ARGV[7])
redis.call('HINCRBY', KEYS[2], ARGV[13], ARGV[8])
redis.call('HDEL', KEYS[2], 'open:' .. ARGV[9])
return 1`;

// ARGV: epoch, staged id, location json. Every staged file is recorded before its data lands, so
// the finalizer (or a failed run's cleanup) can remove the ones no checkpoint lists.
const RECORD_STAGED = `${FENCE}
redis.call('HSET', KEYS[1], 'staged:' .. ARGV[2], ARGV[3])
return 1`;

// A restarted walk forgets its durable files (the finalizer will sweep them) and takes what it had
// counted back out of the run's totals, reading both from the stored state so the two can never
// disagree. ARGV: epoch, the state this follows, shard id, the table's counter fields (records,
// bytes, files). Returns the new state.
const RESTART = `${FENCE}
local current = redis.call('HGET', KEYS[1], 'state') or ''
if current ~= ARGV[2] then return -1 end
local state = cjson.decode(current ~= '' and current or '{"records":0,"bytes":0,"walk":0}')
local files = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 5) == 'file:' then
    redis.call('HDEL', KEYS[1], field)
    files = files + 1
  end
end
local walk = (tonumber(state.walk) or 0) + 1
local fresh = '{"nextToken":null,"fileSeq":0,"records":0,"bytes":0,"walk":' .. walk .. ',"done":false}'
redis.call('HSET', KEYS[1], 'state', fresh)
redis.call('HINCRBY', KEYS[2], ARGV[4], string.format('%d', 0 - (tonumber(state.records) or 0)))
redis.call('HINCRBY', KEYS[2], ARGV[5], string.format('%d', 0 - (tonumber(state.bytes) or 0)))
redis.call('HINCRBY', KEYS[2], ARGV[6], string.format('%d', 0 - files))
redis.call('HDEL', KEYS[2], 'open:' .. ARGV[3])
return fresh`;

const CHECK = `${FENCE}
return 1`;

/**
 * What a shard walk does with its checkpoint. Every write is fenced by the epoch `claim` returned
 * (a worker that lost the shard to another can no longer move it) and names the state it follows
 * (a worker whose view Redis no longer holds is told so, and claims again).
 */
export interface ShardCheckpoints {
  /** Takes ownership of a shard (a new epoch) and returns where its walk stands. */
  claim(shard: string): Promise<ClaimedShard>;
  /** Records a staged file before its data lands, for the sweep. */
  recordStaged(shard: string, epoch: number, location: StagedLocation): Promise<void>;
  /** Throws a FencedError unless `epoch` still owns the shard. */
  assertOwner(shard: string, epoch: number): Promise<void>;
  /**
   * Records a durably staged file (if any) and the new checkpoint, atomically, if Redis still holds
   * `stored`; returns the new stored state.
   */
  commit(shard: string, epoch: number, stored: string, checkpoint: ShardCheckpoint, file: SealedPart | null, seq: number): Promise<string>;
  /** Starts the shard's walk over, forgetting its files; returns the fresh checkpoint and its stored state. */
  restart(shard: string, epoch: number, stored: string): Promise<{ checkpoint: ShardCheckpoint; stored: string }>;
}

/** Checkpoints of one run's shards, in Redis. */
export class CheckpointStore implements ShardCheckpoints {
  constructor(
    private readonly redis: RedisClient,
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
    const [epoch, stored] = (await this.redis.eval(CLAIM, 1, this.key(shard), this.ttlMs)) as [number, string];
    return { epoch, stored, checkpoint: stored ? (JSON.parse(stored) as ShardCheckpoint) : INITIAL_CHECKPOINT };
  }

  async recordStaged(shard: string, epoch: number, location: StagedLocation): Promise<void> {
    const id = location.kind === 's3-upload' ? location.uploadId : location.path;
    this.check(await this.redis.eval(RECORD_STAGED, 1, this.key(shard), epoch, id, JSON.stringify(location)));
  }

  /** Throws {@link FencedError} unless `epoch` still owns the shard. */
  async assertOwner(shard: string, epoch: number): Promise<void> {
    this.check(await this.redis.eval(CHECK, 1, this.key(shard), epoch));
  }

  /**
   * Atomically records a durable file (if any) and the new checkpoint, and moves its records from
   * the shard's live progress into the run's totals. Fenced, and only if Redis still holds `stored`.
   */
  async commit(shard: string, epoch: number, stored: string, checkpoint: ShardCheckpoint, file: SealedPart | null, seq: number): Promise<string> {
    const next = JSON.stringify(checkpoint);
    const result = await this.redis.eval(
      COMMIT,
      2,
      this.key(shard),
      this.keys.run(this.snapshotId),
      epoch,
      stored,
      next,
      file ? seq : -1,
      file ? JSON.stringify(file) : '',
      file?.records ?? 0,
      file?.bytes ?? 0,
      file ? 1 : 0,
      shard,
      this.ttlMs,
      ...counterFields(shard),
    );
    this.check(result);
    return next;
  }

  /** Starts the shard's walk over: forgets its files and counts. Fenced, and only if Redis still holds `stored`. */
  async restart(shard: string, epoch: number, stored: string): Promise<{ checkpoint: ShardCheckpoint; stored: string }> {
    const result = await this.redis.eval(RESTART, 2, this.key(shard), this.keys.run(this.snapshotId), epoch, stored, shard, ...counterFields(shard));
    if (typeof result !== 'string') this.check(result);
    const fresh = String(result);
    return { checkpoint: JSON.parse(fresh) as ShardCheckpoint, stored: fresh };
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

  /**
   * The durable files of a shard's current walk, last first, read one at a time: a resumed walk
   * reads back only as far as it needs (see `tailKeys`), without holding every file's record at once.
   */
  async *filesFromLast(shard: string): AsyncGenerator<SealedPart, void, undefined> {
    const checkpoint = await this.peek(shard);
    for (let seq = (checkpoint?.fileSeq ?? 0) - 1; seq >= 0; seq--) {
      const value = await this.redis.hget(this.key(shard), `file:${seq}`);
      // Gone: the run was published or abandoned meanwhile (the walk's next write is fenced).
      if (value === null) return;
      yield JSON.parse(value) as SealedPart;
    }
  }

  /** Every staged file the shard's writers ever recorded, committed or not (for the sweep). */
  async staged(shard: string): Promise<StagedLocation[]> {
    const all = await this.redis.hgetall(this.key(shard));
    return Object.entries(all)
      .filter(([field]) => field.startsWith('staged:'))
      .map(([, value]) => JSON.parse(value) as StagedLocation);
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

  private check(result: unknown): void {
    if (result === 1) return;
    if (result === -1) throw new CheckpointDivergedError(`the checkpoint of a shard of run ${this.snapshotId} is not the one this worker last wrote`);
    throw new FencedError(`another worker now owns this shard of run ${this.snapshotId}`);
  }
}

/**
 * The run-hash fields a unit's durable files count in: `records`, `bytes`, `files` for the users
 * table's shards (`0`…`f`, `all`), `<table>:records`… for another table's (`groups.all`).
 */
export function counterFields(unit: string): [string, string, string] {
  const table = tableOfUnit(unit);
  if (table === USERS_TABLE) return ['records', 'bytes', 'files'];
  return [`${table}:records`, `${table}:bytes`, `${table}:files`];
}

/** The table a checkpoint unit walks: the part before its dot, or users for a bare shard id. */
export function tableOfUnit(unit: string): string {
  const dot = unit.indexOf('.');
  return dot === -1 ? USERS_TABLE : unit.slice(0, dot);
}
