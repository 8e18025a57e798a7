import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.js';
import type { RunSpec } from './run-spec.js';

/** Lifecycle of a run: queued → running → completed | failed. */
export type RunState = 'queued' | 'running' | 'completed' | 'failed';

/** A run as status and `--wait` show it. */
export interface RunStatus {
  readonly spec: RunSpec;
  readonly state: RunState;
  /** Users in durable files plus users in files still being written. */
  readonly users: number;
  /** Users in durable files only. */
  readonly durableUsers: number;
  readonly pages: number;
  readonly files: number;
  readonly bytes: number;
  readonly throttles: number;
  readonly retries: number;
  /** Time the run's calls spent waiting for a rate-limit slot, summed over its shards (ms). */
  readonly slotWaitMs: number;
  /** Shards finished so far. */
  readonly shardsDone: number;
  /** DescribeUserPool's EstimatedNumberOfUsers at the start, if known. */
  readonly estimatedUsers: number | undefined;
  readonly error: string | undefined;
  readonly manifestUrl: string | undefined;
  readonly completedAt: string | undefined;
  /** When the run was registered (ms since epoch). */
  readonly createdAt: number;
}

/** A pool's history: its last good snapshot and last failure. */
export interface PoolHistory {
  readonly userPoolId: string;
  readonly lastSuccess?: { snapshotId: string; completedAt: string; records: number; manifestUrl: string };
  readonly lastFailure?: { snapshotId: string; failedAt: string; reason: string; trigger: string };
  /** State of the last run a schedule started: lets `status` exit non-zero for monitors. */
  readonly lastScheduled?: { snapshotId: string; state: RunState };
}

// KEYS[1] active-runs hash, KEYS[2] run hash, KEYS[3] pools set. ARGV: pool, snapshot id, spec json,
// now ms, id allowed to be replaced ('' for none). Returns the id of the pool's active run.
const REGISTER = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and current ~= ARGV[5] then return current end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], 'spec', ARGV[3], 'state', 'queued', 'created_at', ARGV[4])
redis.call('SADD', KEYS[3], ARGV[1])
return ARGV[2]`;

// KEYS[1] active-runs, KEYS[2] run hash, KEYS[3] pool hash. ARGV: pool, snapshot id, final state,
// then field/value pairs for the run hash, then '|', then pairs for the pool hash.
// Only the first end counts: a run that already ended is not ended again.
const FINISH = `
local state = redis.call('HGET', KEYS[2], 'state')
if state == 'completed' or state == 'failed' then return 0 end
local i = 4
local run = {'state', ARGV[3]}
while ARGV[i] ~= '|' do table.insert(run, ARGV[i]); table.insert(run, ARGV[i + 1]); i = i + 2 end
redis.call('HSET', KEYS[2], unpack(run))
i = i + 1
if i <= #ARGV then
  local pool = {}
  while i <= #ARGV do table.insert(pool, ARGV[i]); table.insert(pool, ARGV[i + 1]); i = i + 2 end
  redis.call('HSET', KEYS[3], unpack(pool))
end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
redis.call('PEXPIRE', KEYS[2], 30 * 24 * 3600 * 1000)
return 1`;

// KEYS[1] run hash. ARGV: shard, users fetched, open records, ms waited for rate-limit slots. Returns the run's state.
const PAGE = `
redis.call('HINCRBY', KEYS[1], 'pages', 1)
redis.call('HINCRBY', KEYS[1], 'fetched', ARGV[2])
if tonumber(ARGV[4]) > 0 then redis.call('HINCRBY', KEYS[1], 'slot_wait_ms', ARGV[4]) end
if tonumber(ARGV[3]) > 0 then redis.call('HSET', KEYS[1], 'open:' .. ARGV[1], ARGV[3])
else redis.call('HDEL', KEYS[1], 'open:' .. ARGV[1]) end
return redis.call('HGET', KEYS[1], 'state')`;

/** Runs and pool histories in Redis: one active run per pool, progress, and how runs ended. */
export class RunStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Registers a run unless the pool already has one in flight; returns the active run's id, which is
   * `spec.snapshotId` when this call registered it. `replace` names an active run known to be dead
   * that may be replaced.
   */
  async register(spec: RunSpec, replace?: string): Promise<string> {
    return (await this.redis.eval(
      REGISTER,
      3,
      this.keys.activeRuns,
      this.keys.run(spec.snapshotId),
      this.keys.pools,
      spec.userPoolId,
      spec.snapshotId,
      JSON.stringify(spec),
      Date.now(),
      replace ?? '',
    )) as string;
  }

  /** The snapshot id of the pool's run in flight, if any. */
  async activeRun(userPoolId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.activeRuns, userPoolId)) ?? undefined;
  }

  /** Every pool's run in flight: pool id → snapshot id. */
  async activeRuns(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.activeRuns);
  }

  /** Every pool this deployment has exported or tried to. */
  async pools(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.pools)).sort();
  }

  /** The run's parameters, or undefined if the run is unknown (or expired). */
  async spec(snapshotId: string): Promise<RunSpec | undefined> {
    const spec = await this.redis.hget(this.keys.run(snapshotId), 'spec');
    return spec ? (JSON.parse(spec) as RunSpec) : undefined;
  }

  /** Marks a queued run as walking, with the pool's estimated size. */
  async markRunning(snapshotId: string, estimatedUsers: number | undefined): Promise<void> {
    const fields: (string | number)[] = ['state', 'running'];
    if (estimatedUsers !== undefined) fields.push('estimated_users', estimatedUsers);
    await this.redis.hset(this.keys.run(snapshotId), ...fields);
  }

  /**
   * Records a page of a shard, and the time its calls waited for rate-limit slots since the last one;
   * returns the run's state so a shard can stop when the run has failed.
   */
  async recordPage(snapshotId: string, shard: string, fetched: number, openRecords: number, slotWaitMs = 0): Promise<RunState | undefined> {
    const state = await this.redis.eval(PAGE, 1, this.keys.run(snapshotId), shard, fetched, openRecords, Math.round(slotWaitMs));
    return (state ?? undefined) as RunState | undefined;
  }

  /** Counts a retried call. */
  async recordRetry(snapshotId: string, throttled: boolean): Promise<void> {
    await this.redis.hincrby(this.keys.run(snapshotId), throttled ? 'throttles' : 'retries', 1);
  }

  /** Marks a shard finished (once, however often its job is retried). */
  async recordShardDone(snapshotId: string, shard: string): Promise<void> {
    await this.redis.hsetnx(this.keys.run(snapshotId), `done:${shard}`, '1');
  }

  /** Marks the run as publishing (once: a retried finalizer keeps the first time). */
  async markFinalizing(snapshotId: string, now: Date = new Date()): Promise<void> {
    await this.redis.hsetnx(this.keys.run(snapshotId), 'finalizing_at', now.toISOString());
  }

  /**
   * What the pool's `latest.json` said before this run's finalizer first touched it, so a
   * publication that has to be withdrawn can put it back: `read` is called by the first attempt
   * only, later attempts (and a rollback) get the same text. Undefined when there was none.
   */
  async previousPointer(snapshotId: string, read: () => Promise<string | undefined>): Promise<string | undefined> {
    const key = this.keys.run(snapshotId);
    const stored = await this.redis.hget(key, 'previous_latest');
    if (stored !== null) return stored === '' ? undefined : stored;
    await this.redis.hsetnx(key, 'previous_latest', (await read()) ?? '');
    const kept = (await this.redis.hget(key, 'previous_latest')) ?? '';
    return kept === '' ? undefined : kept;
  }

  /** The text `previousPointer` kept, without reading the destination (for a rollback); undefined if none was kept. */
  async keptPointer(snapshotId: string): Promise<{ text: string | undefined } | undefined> {
    const stored = await this.redis.hget(this.keys.run(snapshotId), 'previous_latest');
    return stored === null ? undefined : { text: stored === '' ? undefined : stored };
  }

  /**
   * The completion time of a run being finalized: set by the first attempt and reused by retries,
   * so a manifest written twice is written identically.
   */
  async completionTime(snapshotId: string, now: Date = new Date()): Promise<string> {
    const key = this.keys.run(snapshotId);
    await this.redis.hsetnx(key, 'completed_at', now.toISOString());
    return (await this.redis.hget(key, 'completed_at')) ?? now.toISOString();
  }

  /**
   * Ends a run successfully: frees the pool for the next run and records its last good snapshot.
   * Returns false if the run had already ended (failed or cancelled while it was being published).
   */
  async complete(spec: RunSpec, manifestUrl: string, records: number, completedAt: string): Promise<boolean> {
    const pool = ['last_success_id', spec.snapshotId, 'last_success_at', completedAt, 'last_success_records', records, 'last_success_manifest', manifestUrl];
    if (spec.trigger === 'schedule') pool.push('last_scheduled_id', spec.snapshotId, 'last_scheduled_state', 'completed');
    if (await this.finish(spec, 'completed', ['manifest_url', manifestUrl, 'completed_at', completedAt], pool)) return true;
    // Already ended: by an earlier (or concurrent) finalizer of this run, which is success too.
    return (await this.redis.hget(this.keys.run(spec.snapshotId), 'state')) === 'completed';
  }

  /** Ends a run as failed (only the first failure counts); returns false if it had already ended. */
  async fail(spec: RunSpec, reason: string, now: Date = new Date()): Promise<boolean> {
    const at = now.toISOString();
    const pool = ['last_failure_id', spec.snapshotId, 'last_failure_at', at, 'last_failure_reason', reason, 'last_failure_trigger', spec.trigger];
    if (spec.trigger === 'schedule') pool.push('last_scheduled_id', spec.snapshotId, 'last_scheduled_state', 'failed');
    return this.finish(spec, 'failed', ['error', reason, 'failed_at', at], pool);
  }

  /** The run's state and progress, or undefined if unknown. */
  async status(snapshotId: string): Promise<RunStatus | undefined> {
    const h = await this.redis.hgetall(this.keys.run(snapshotId));
    if (!h.spec) return undefined;
    const n = (field: string): number => Number(h[field] ?? 0);
    const durable = n('records');
    let open = 0;
    let shardsDone = 0;
    for (const [field, value] of Object.entries(h)) {
      if (field.startsWith('open:')) open += Number(value);
      else if (field.startsWith('done:')) shardsDone += 1;
    }
    return {
      spec: JSON.parse(h.spec) as RunSpec,
      state: (h.state ?? 'queued') as RunState,
      users: durable + open,
      durableUsers: durable,
      pages: n('pages'),
      files: n('files'),
      bytes: n('bytes'),
      throttles: n('throttles'),
      retries: n('retries'),
      slotWaitMs: n('slot_wait_ms'),
      shardsDone,
      estimatedUsers: h.estimated_users === undefined ? undefined : Number(h.estimated_users),
      error: h.error,
      manifestUrl: h.manifest_url,
      completedAt: h.completed_at,
      createdAt: n('created_at'),
    };
  }

  /** A pool's last good snapshot and last failure. */
  async history(userPoolId: string): Promise<PoolHistory> {
    const h = await this.redis.hgetall(this.keys.pool(userPoolId));
    return {
      userPoolId,
      ...(h.last_success_id && {
        lastSuccess: {
          snapshotId: h.last_success_id,
          completedAt: h.last_success_at ?? '',
          records: Number(h.last_success_records ?? 0),
          manifestUrl: h.last_success_manifest ?? '',
        },
      }),
      ...(h.last_failure_id && {
        lastFailure: {
          snapshotId: h.last_failure_id,
          failedAt: h.last_failure_at ?? '',
          reason: h.last_failure_reason ?? '',
          trigger: h.last_failure_trigger ?? '',
        },
      }),
      ...(h.last_scheduled_id && {
        lastScheduled: { snapshotId: h.last_scheduled_id, state: (h.last_scheduled_state ?? 'running') as RunState },
      }),
    };
  }

  private async finish(spec: RunSpec, state: RunState, run: (string | number)[], pool: (string | number)[]): Promise<boolean> {
    const result = await this.redis.eval(
      FINISH,
      3,
      this.keys.activeRuns,
      this.keys.run(spec.snapshotId),
      this.keys.pool(spec.userPoolId),
      spec.userPoolId,
      spec.snapshotId,
      state,
      ...run,
      '|',
      ...pool,
    );
    return result === 1;
  }
}
