import type { RedisClient } from '../redis/redis-connection.js';
import type { RedisKeys } from '../redis/redis-keys.js';
import { LATEST_POINTER, runPointer, type PoolDataset, type RunSpec } from './run-spec.js';
import { parsePoolHistory, parseRunStatus, type PoolHistory, type RunChanges, type RunState, type RunStatus } from './run-views.js';

export type { PoolHistory, RunChanges, RunState, RunStatus } from './run-views.js';

/** What a pool's config file entry says its own dataset is: a run of exactly this moves `latest.json`. */
export { isEnded } from './run-views.js';

/** How an attempt to end a run went: whether this call ended it, and the state the run is in now. */
export interface EndResult {
  readonly ended: boolean;
  readonly state: RunState;
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
// mode, finalizer epoch, then field/value pairs for the run hash, then '|', then pairs for the pool hash.
// Modes: 'end' (failed or cancelled) only from queued or running: after the commit point nobody but
// the run's finalizer ends it; 'complete' only from committing, by the finalizer holding the run's
// epoch; 'abort' (failed) only from committing, by that finalizer, before it moved any pointer.
// A run that fails or is cancelled is marked "withdrawal pending" in the same step (in the run hash
// and the pool's), so whoever comes next finishes taking its files off the destination.
// Returns {1, state} when this call ended the run (or it had completed already, for 'complete'),
// else {0, the state it is in}.
const FINISH = `
local state = redis.call('HGET', KEYS[2], 'state') or 'queued'
local mode = ARGV[4]
if mode == 'complete' then
  if state == 'completed' then return {1, state} end
  if state ~= 'committing' or redis.call('HGET', KEYS[2], 'fin_epoch') ~= ARGV[5] then return {0, state} end
elseif mode == 'abort' then
  if state ~= 'committing' or redis.call('HGET', KEYS[2], 'fin_epoch') ~= ARGV[5] then return {0, state} end
  if redis.call('HEXISTS', KEYS[2], 'published_at') == 1 then return {0, state} end
elseif state ~= 'queued' and state ~= 'running' then
  return {0, state}
end
local i = 6
local run = {'state', ARGV[3]}
while ARGV[i] ~= '|' do table.insert(run, ARGV[i]); table.insert(run, ARGV[i + 1]); i = i + 2 end
redis.call('HSET', KEYS[2], unpack(run))
i = i + 1
if i <= #ARGV then
  local pool = {}
  while i <= #ARGV do table.insert(pool, ARGV[i]); table.insert(pool, ARGV[i + 1]); i = i + 2 end
  redis.call('HSET', KEYS[3], unpack(pool))
end
if ARGV[3] ~= 'completed' then
  redis.call('HSET', KEYS[2], 'withdrawal', 'pending')
  redis.call('HSET', KEYS[3], 'withdrawal:' .. ARGV[2], '1')
end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
redis.call('PEXPIRE', KEYS[2], 30 * 24 * 3600 * 1000)
return {1, ARGV[3]}`;

// KEYS[1] run hash, KEYS[2] pool hash. ARGV: snapshot id, now. A withdrawal is done only once it
// succeeded: the pending marks go, the time is kept.
const WITHDRAWN = `
redis.call('HDEL', KEYS[2], 'withdrawal:' .. ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], 'withdrawal')
redis.call('HSET', KEYS[1], 'withdrawn_at', ARGV[2])
return 1`;

// KEYS[1] run hash. ARGV: shard, users fetched, the shard's durable records, its open records, ms
// its calls waited for rate-limit slots. The shard's count (durable + open) only ever grows: a shard
// resumed from its checkpoint fetches some users again, and the progress a user watches must not go
// backwards. Returns the run's state.
const PAGE = `
redis.call('HINCRBY', KEYS[1], 'pages', 1)
redis.call('HINCRBY', KEYS[1], 'fetched', ARGV[2])
if tonumber(ARGV[5]) > 0 then redis.call('HINCRBY', KEYS[1], 'slot_wait_ms', ARGV[5]) end
local seen = tonumber(ARGV[3]) + tonumber(ARGV[4])
if seen > tonumber(redis.call('HGET', KEYS[1], 'seen:' .. ARGV[1]) or '0') then
  redis.call('HSET', KEYS[1], 'seen:' .. ARGV[1], seen)
end
return redis.call('HGET', KEYS[1], 'state')`;

// KEYS[1] run hash, KEYS[2] pools set. ARGV: pool, spec json, now ms, the run it waits behind.
// A run queued behind the pool's run in flight (--queue): registered, not yet active.
const ENQUEUE = `
redis.call('HSET', KEYS[1], 'spec', ARGV[2], 'state', 'queued', 'created_at', ARGV[3], 'behind', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[1])
return 1`;

// KEYS[1] active-runs, KEYS[2] pool hash, KEYS[3] pools set. ARGV: pool. Deletes the pool's history
// fields (last_*) unless it has a run in flight; keeps the rest (committed heads, commit sequences,
// pending withdrawals) and drops the pool from the set only once its hash is gone. Returns
// {'active', id} | {'unknown', 0} | {'forgotten', fields kept}.
const FORGET = `
local active = redis.call('HGET', KEYS[1], ARGV[1])
if active then return {'active', active} end
local history = {}
for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
  if string.sub(field, 1, 5) == 'last_' then table.insert(history, field) end
end
if #history == 0 then return {'unknown', 0} end
redis.call('HDEL', KEYS[2], unpack(history))
local kept = redis.call('HLEN', KEYS[2])
if kept == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
return {'forgotten', kept}`;

/** KEYS[1] the run's hash; ARGV[1] a key id. Sets key_id once, only in a hash that exists; returns it (nil: no run). */
const RECORD_KEY_ID = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSETNX', KEYS[1], 'key_id', ARGV[1])
return redis.call('HGET', KEYS[1], 'key_id')
`;

// KEYS[1] run hash. ARGV: field, value pairs. Sets state running (and the fields) only from queued
// or running; returns the state the run is in afterwards (nil: the run is gone).
const MARK_RUNNING = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return nil end
if state ~= 'queued' and state ~= 'running' then return state end
redis.call('HSET', KEYS[1], 'state', 'running', unpack(ARGV))
return 'running'`;

/** Runs and pool histories in Redis: one active run per pool, progress, and how runs ended. */
export class RunStore {
  constructor(
    private readonly redis: RedisClient,
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
    const [spec, keyId] = await this.redis.hmget(this.keys.run(snapshotId), 'spec', 'key_id');
    if (!spec) return undefined;
    const parsed = JSON.parse(spec) as RunSpec;
    // The key id is the starting worker's (recordKeyId); a run requested by an older version carries its own.
    return keyId !== null && parsed.pseudonymizationKeyId === undefined ? { ...parsed, pseudonymizationKeyId: keyId } : parsed;
  }

  /**
   * Records the id of the key a pseudonymizing run hashes with: the first worker to start the run
   * sets it (from its own PSEUDONYMIZATION_KEY, so whoever requested the run never needs the key);
   * returns the recorded id, which every later worker must match; undefined when the run is gone
   * (its hash expired or forgotten: nothing is written, so no hash without its TTL is left behind).
   */
  async recordKeyId(snapshotId: string, keyId: string): Promise<string | undefined> {
    return ((await this.redis.eval(RECORD_KEY_ID, 1, this.keys.run(snapshotId), keyId)) ?? undefined) as string | undefined;
  }

  /**
   * Marks a queued run as walking, with the pool's estimated size; returns the run's state afterwards
   * (`running`, or the state that kept it from running: a cancel that came first; undefined: gone).
   */
  async markRunning(snapshotId: string, estimatedUsers: number | undefined, estimatedRecords: Readonly<Record<string, number>> = {}): Promise<RunState | undefined> {
    const fields: (string | number)[] = ['running_at', new Date().toISOString()];
    if (estimatedUsers !== undefined) fields.push('estimated_users', estimatedUsers);
    for (const [table, records] of Object.entries(estimatedRecords)) fields.push(`estimated:${table}`, records);
    // Only from queued (or running, for a start job retried after it): a start job paused after its
    // state check must not turn a run cancelled meanwhile back into a running one.
    return ((await this.redis.eval(MARK_RUNNING, 1, this.keys.run(snapshotId), ...fields)) ?? undefined) as RunState | undefined;
  }

  /**
   * Records a page of a shard (`durableRecords` already in its checkpointed files, `openRecords` in
   * the file it is writing) and the time its calls waited for rate-limit slots since the last one;
   * returns the run's state so a shard can stop when the run has ended.
   */
  async recordPage(snapshotId: string, shard: string, fetched: number, durableRecords: number, openRecords: number, slotWaitMs = 0): Promise<RunState | undefined> {
    const state = await this.redis.eval(PAGE, 1, this.keys.run(snapshotId), shard, fetched, durableRecords, openRecords, Math.round(slotWaitMs));
    return (state ?? undefined) as RunState | undefined;
  }

  /**
   * Records how many membership shards the groups walk planned (the first plan is kept: a retried
   * planner makes the same one).
   */
  async setMembershipBatches(snapshotId: string, batches: number): Promise<void> {
    await this.redis.hsetnx(this.keys.run(snapshotId), 'membership_batches', batches);
  }

  /** The number of membership shards, once the groups walk has planned them. */
  async membershipBatches(snapshotId: string): Promise<number | undefined> {
    const value = await this.redis.hget(this.keys.run(snapshotId), 'membership_batches');
    return value === null ? undefined : Number(value);
  }

  /**
   * The run's change plan: `plan` is called by the first finalizer attempt only; every later one,
   * and every diff job, gets the plan it stored.
   */
  async changePlan<Plan>(snapshotId: string, plan: () => Promise<Plan>): Promise<Plan> {
    const key = this.keys.run(snapshotId);
    const stored = await this.redis.hget(key, 'change_plan');
    if (stored !== null) return JSON.parse(stored) as Plan;
    await this.redis.hsetnx(key, 'change_plan', JSON.stringify(await plan()));
    return JSON.parse((await this.redis.hget(key, 'change_plan')) ?? 'null') as Plan;
  }

  /** The change plan the finalizer stored, or undefined before it made one. */
  async storedChangePlan<Plan>(snapshotId: string): Promise<Plan | undefined> {
    const stored = await this.redis.hget(this.keys.run(snapshotId), 'change_plan');
    return stored === null ? undefined : (JSON.parse(stored) as Plan);
  }

  /** What the run's change tables hold (shown by status and `--wait`), recorded before it completes. */
  async recordChanges(snapshotId: string, changes: RunChanges): Promise<void> {
    await this.redis.hset(this.keys.run(snapshotId), 'changes', JSON.stringify(changes));
  }

  /** A group deleted between ListGroups and its ListUsersInGroup: skipped (counted once, however often walked). */
  async recordSkippedGroup(snapshotId: string, group: string): Promise<void> {
    await this.redis.hset(this.keys.run(snapshotId), `skipped-group:${group}`, '1');
  }

  /** The groups the membership walk skipped because they were deleted mid-walk. */
  async skippedGroups(snapshotId: string): Promise<string[]> {
    const fields = await this.redis.hkeys(this.keys.run(snapshotId));
    return fields.filter((field) => field.startsWith('skipped-group:')).map((field) => field.slice('skipped-group:'.length)).sort();
  }

  /** The run's state alone (cheap, for shards checking whether to go on). */
  async state(snapshotId: string): Promise<RunState | undefined> {
    return ((await this.redis.hget(this.keys.run(snapshotId), 'state')) ?? undefined) as RunState | undefined;
  }

  /** Registers a run that waits behind the pool's run in flight (`--queue`); it becomes active when it starts. */
  async enqueue(spec: RunSpec, behind: string): Promise<void> {
    await this.redis.eval(ENQUEUE, 2, this.keys.run(spec.snapshotId), this.keys.pools, spec.userPoolId, JSON.stringify(spec), Date.now(), behind);
  }

  /**
   * Makes a queued run the pool's active one if the pool is free (or its active run is `replace`,
   * known dead); returns the active run's id (this run's when it took the pool).
   */
  async activate(spec: RunSpec, replace?: string): Promise<string> {
    const active = await this.register(spec, replace);
    if (active === spec.snapshotId) await this.redis.hdel(this.keys.run(spec.snapshotId), 'behind');
    return active;
  }

  /** The pool's own dataset as its config file entry says (attributes kept), or undefined when the file does not name the pool. */
  async poolDataset(userPoolId: string): Promise<PoolDataset | undefined> {
    const text = await this.redis.hget(this.keys.poolConfig, userPoolId);
    return text ? (JSON.parse(text) as PoolDataset) : undefined;
  }

  /** Records each pool's dataset from the config file (replacing what an older file said). */
  async setPoolDatasets(datasets: ReadonlyMap<string, PoolDataset>): Promise<void> {
    const multi = this.redis.multi().del(this.keys.poolConfig);
    for (const [pool, dataset] of datasets) multi.hset(this.keys.poolConfig, pool, JSON.stringify(dataset));
    await multi.exec();
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
   * The completion time of a run being finalized: set by the first attempt and reused by retries,
   * so a manifest written twice is written identically.
   */
  async completionTime(snapshotId: string, now: Date = new Date()): Promise<string> {
    const key = this.keys.run(snapshotId);
    await this.redis.hsetnx(key, 'completed_at', now.toISOString());
    return (await this.redis.hget(key, 'completed_at')) ?? now.toISOString();
  }

  /**
   * Ends a committing run successfully, if `epoch` is still its finalizer's: frees the pool for the
   * next run and records its last good snapshot (of the pool's dataset, or partial). True when the
   * run is completed (by this call or an earlier one); false when another finalizer holds the run.
   */
  async complete(spec: RunSpec, epoch: number, manifestUrl: string, records: number, completedAt: string, changes?: RunChanges): Promise<boolean> {
    const kind = runPointer(spec) === LATEST_POINTER ? 'success' : 'partial';
    const pool: (string | number)[] = [`last_${kind}_id`, spec.snapshotId, `last_${kind}_at`, completedAt, `last_${kind}_records`, records, `last_${kind}_manifest`, manifestUrl];
    pool.push(`last_${kind}_changes`, changes ? JSON.stringify(changes) : '');
    if (kind === 'partial') pool.push('last_partial_pointer', spec.pointer ?? '');
    if (spec.trigger === 'schedule') pool.push('last_scheduled_id', spec.snapshotId, 'last_scheduled_state', 'completed');
    return (await this.finish(spec, 'completed', 'complete', epoch, ['manifest_url', manifestUrl, 'completed_at', completedAt], pool)).ended;
  }

  /**
   * Ends a run as failed (only the first end counts, and only before its commit point); `ended` is
   * false, with the state it is in, when it had already ended or is committing.
   */
  async fail(spec: RunSpec, reason: string, now: Date = new Date()): Promise<EndResult> {
    return this.finish(spec, 'failed', 'end', 0, ...this.failure(spec, reason, now));
  }

  /**
   * Fails a committing run whose finalizer (holding `epoch`) met an error no retry can mend, before
   * it moved any pointer: nothing of the run is named by a pointer yet, so it can still be withdrawn.
   */
  async abortCommit(spec: RunSpec, epoch: number, reason: string, now: Date = new Date()): Promise<EndResult> {
    return this.finish(spec, 'failed', 'abort', epoch, ...this.failure(spec, reason, now));
  }

  /** Ends a run as cancelled by an operator, only before its commit point (see {@link fail}). */
  async cancel(spec: RunSpec, now: Date = new Date()): Promise<EndResult> {
    const at = now.toISOString();
    const pool = ['last_cancelled_id', spec.snapshotId, 'last_cancelled_at', at];
    if (spec.trigger === 'schedule') pool.push('last_scheduled_id', spec.snapshotId, 'last_scheduled_state', 'cancelled');
    return this.finish(spec, 'cancelled', 'end', 0, ['error', 'cancelled', 'cancelled_at', at], pool);
  }

  /** Whether a failed or cancelled run's files still have to be taken off its destination. */
  async withdrawalPending(snapshotId: string): Promise<boolean> {
    return (await this.redis.hget(this.keys.run(snapshotId), 'withdrawal')) === 'pending';
  }

  /** The runs of a pool whose withdrawal has not been finished. */
  async pendingWithdrawals(userPoolId: string): Promise<string[]> {
    const fields = await this.redis.hkeys(this.keys.pool(userPoolId));
    return fields.filter((field) => field.startsWith('withdrawal:')).map((field) => field.slice('withdrawal:'.length));
  }

  /** Records that a failed or cancelled run's files were taken off its destination: call only once that succeeded. */
  async markWithdrawn(spec: Pick<RunSpec, 'snapshotId' | 'userPoolId'>, now: Date = new Date()): Promise<void> {
    await this.redis.eval(WITHDRAWN, 2, this.keys.run(spec.snapshotId), this.keys.pool(spec.userPoolId), spec.snapshotId, now.toISOString());
  }

  /** The run's state and progress, or undefined if unknown. */
  async status(snapshotId: string): Promise<RunStatus | undefined> {
    return parseRunStatus(await this.redis.hgetall(this.keys.run(snapshotId)));
  }

  /** A pool's last good snapshot, last partial one and last failure. */
  async history(userPoolId: string): Promise<PoolHistory> {
    return parsePoolHistory(userPoolId, await this.redis.hgetall(this.keys.pool(userPoolId)));
  }

  /**
   * Forgets a pool's history (`cognito-export forget`): its last good, partial, failed, cancelled and
   * scheduled runs, so `status` no longer lists it. Refused (`active`) while the pool has a run in
   * flight. What the commit protocol needs is kept: the committed heads and commit sequences of its
   * datasets and any withdrawal still pending, so the reconciler still repairs its pointers and
   * finishes its withdrawals, and its next run orders after its last; the pool leaves the set of
   * pools only once nothing of it is left. `unknown` when there is no history to forget.
   */
  async forget(userPoolId: string): Promise<{ readonly kind: 'forgotten'; readonly kept: boolean } | { readonly kind: 'active'; readonly snapshotId: string } | { readonly kind: 'unknown' }> {
    const [kind, detail] = (await this.redis.eval(FORGET, 3, this.keys.activeRuns, this.keys.pool(userPoolId), this.keys.pools, userPoolId)) as [string, string | number];
    if (kind === 'active') return { kind, snapshotId: String(detail) };
    if (kind === 'unknown') return { kind };
    return { kind: 'forgotten', kept: Number(detail) > 0 };
  }

  private failure(spec: RunSpec, reason: string, now: Date): [(string | number)[], (string | number)[]] {
    const at = now.toISOString();
    const pool = ['last_failure_id', spec.snapshotId, 'last_failure_at', at, 'last_failure_reason', reason, 'last_failure_trigger', spec.trigger];
    if (spec.trigger === 'schedule') pool.push('last_scheduled_id', spec.snapshotId, 'last_scheduled_state', 'failed');
    return [['error', reason, 'failed_at', at], pool];
  }

  private async finish(spec: RunSpec, state: RunState, mode: 'end' | 'abort' | 'complete', epoch: number, run: (string | number)[], pool: (string | number)[]): Promise<EndResult> {
    const [ended, now] = (await this.redis.eval(
      FINISH,
      3,
      this.keys.activeRuns,
      this.keys.run(spec.snapshotId),
      this.keys.pool(spec.userPoolId),
      spec.userPoolId,
      spec.snapshotId,
      state,
      mode,
      epoch,
      ...run,
      '|',
      ...pool,
    )) as [number, string];
    return { ended: ended === 1, state: now as RunState };
  }
}
