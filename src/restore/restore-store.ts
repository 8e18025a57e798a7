import type { RedisClient } from '../redis/redis-connection.js';
import type { RedisKeys } from '../redis/redis-keys.js';
import type { RestoreMemory } from './restore-units.js';

/** What a restore is asked to do, fixed when it is requested. */
export interface RestoreSpec {
  readonly restoreId: string;
  /** The pool written to. */
  readonly targetPoolId: string;
  readonly region: string;
  /** The snapshot restored: its manifest's URL, its pool and id, and the destination it is at. */
  readonly manifestUrl: string;
  readonly sourcePoolId: string;
  readonly snapshotId: string;
  readonly destination: string;
  /** Update users and groups the target held with other values. */
  readonly merge: boolean;
  /** Delete the target's users absent from the snapshot (a sync). */
  readonly deleteMissing: boolean;
  /** Compare the target with the snapshot once restored, in the report. */
  readonly verify?: boolean | undefined;
  /** ISO 8601 UTC; also the `dt=` of the restore's tables. */
  readonly startedAt: string;
  /** Run in the asking process, in queues of its own. */
  readonly inline?: boolean | undefined;
}

export type RestoreState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/** A restore as `restore --wait` and its report see it. */
export interface RestoreStatus {
  readonly spec: RestoreSpec;
  readonly state: RestoreState;
  readonly error?: string | undefined;
  readonly reportUrl?: string | undefined;
  /** Records of the restore's tables in durable files (users, groups, memberships), as the walk commits them. */
  readonly durable: Readonly<Record<string, number>>;
}

/** How long an `--inline` restore's process may be silent before its target is free again. */
const OWNER_TTL_MS = 15_000;

/** How long a restore's state outlives it. */
const TTL_MS = 30 * 24 * 3600 * 1000;

/** The parts of a restore's memory (see RestoreMemory). */
const HAD_USERS = 'had-users';
const HAD_GROUPS = 'had-groups';
const HAD_MEMBERS = 'had-members';
const FEDERATED = 'federated';
const TO_DELETE = 'to-delete';
const NOT_RESTORED = 'not-restored';
const UPDATED = 'updated';

/**
 * A restore's state in Redis: its spec and state in the hash a run has (`run:<id>`, where the
 * walk's checkpoints add their counters), what the target held when it began, and the one restore
 * in flight per target pool.
 */
export class RestoreStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  private hash(restoreId: string): string {
    return this.keys.run(restoreId);
  }

  private part(restoreId: string, part: string): string {
    return this.keys.restore(restoreId, part);
  }

  /**
   * Registers a restore unless its target has one in flight; returns the one in flight, if any.
   * Atomic: two requests for one target make one restore.
   */
  async create(spec: RestoreSpec): Promise<string | undefined> {
    // The active restore's keys are only known inside the script: they are built from the
    // deployment's prefix, whose hash tag keeps them in one Redis Cluster slot with KEYS[1].
    const result = (await this.redis.eval(
      `local active = redis.call('HGET', KEYS[1], ARGV[1])
if active then
  local hash = ARGV[5] .. active
  local state = redis.call('HGET', hash, 'state')
  if state == 'queued' or state == 'running' then
    local inline = redis.call('HGET', hash, 'inline')
    if inline ~= '1' or redis.call('EXISTS', ARGV[6] .. active .. ':owner') == 1 then return active end
    redis.call('HSET', hash, 'state', 'failed', 'error', 'its --inline process stopped before it ended')
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], 'kind', 'restore', 'restore_spec', ARGV[3], 'state', 'queued', 'inline', ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
-- An --inline restore is held from the start: a request between this and its process's first hold must follow it.
if ARGV[7] == '1' then redis.call('SET', ARGV[6] .. ARGV[2] .. ':owner', '1', 'PX', ARGV[8]) end
return false`,
      2,
      this.keys.activeRestores,
      this.hash(spec.restoreId),
      spec.targetPoolId,
      spec.restoreId,
      JSON.stringify(spec),
      TTL_MS,
      this.keys.run(''),
      this.keys.restore('', '').slice(0, -1),
      spec.inline ? '1' : '0',
      OWNER_TTL_MS,
    )) as string | null;
    return result ?? undefined;
  }

  /**
   * Holds an `--inline` restore for the process running it: while held (refreshed every few
   * seconds) a request for its target follows it; once its process is gone, a new restore replaces
   * it. Returns the release.
   */
  hold(restoreId: string): () => Promise<void> {
    const key = this.part(restoreId, 'owner');
    const refresh = () => this.redis.set(key, '1', 'PX', OWNER_TTL_MS).catch(() => undefined);
    void refresh();
    const timer = setInterval(() => void refresh(), OWNER_TTL_MS / 3);
    return async () => {
      clearInterval(timer);
      await this.redis.del(key).catch(() => undefined);
    };
  }

  /** The restore in flight into `targetPoolId`, if any is recorded (it may have ended). */
  async activeOf(targetPoolId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.activeRestores, targetPoolId)) ?? undefined;
  }

  async spec(restoreId: string): Promise<RestoreSpec | undefined> {
    const text = await this.redis.hget(this.hash(restoreId), 'restore_spec');
    return text ? (JSON.parse(text) as RestoreSpec) : undefined;
  }

  async status(restoreId: string): Promise<RestoreStatus | undefined> {
    const fields = await this.redis.hgetall(this.hash(restoreId));
    if (!fields.restore_spec) return undefined;
    const durable: Record<string, number> = {};
    for (const [field, value] of Object.entries(fields)) {
      const table = /^(restore_[a-z]+):records$/.exec(field)?.[1];
      if (table) durable[table] = Number(value);
    }
    return {
      spec: JSON.parse(fields.restore_spec) as RestoreSpec,
      state: (fields.state ?? 'queued') as RestoreState,
      ...(fields.error ? { error: fields.error } : {}),
      ...(fields.report_url ? { reportUrl: fields.report_url } : {}),
      durable,
    };
  }

  /** Moves a restore on; an ended restore stays ended (false). */
  async setState(restoreId: string, state: RestoreState, extra: Record<string, string> = {}): Promise<boolean> {
    const moved = (await this.redis.eval(
      `local state = redis.call('HGET', KEYS[1], 'state')
if state == false or state == 'completed' or state == 'failed' or state == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`,
      1,
      this.hash(restoreId),
      state,
      TTL_MS,
      ...Object.entries(extra).flat(),
    )) as number;
    return moved === 1;
  }

  /** Whether what the target held at the start is recorded (see {@link recordBaseline}). */
  async hasBaseline(restoreId: string): Promise<boolean> {
    return (await this.redis.hget(this.hash(restoreId), 'baseline')) === 'done';
  }

  /**
   * Records what the target holds before the restore writes anything: its usernames, group names
   * and memberships (`group\0username`), given in batches; then marks the baseline done. Started
   * again from scratch if a worker died half-way (nothing was written to the target yet).
   */
  async recordBaseline(restoreId: string, fill: (add: (part: 'users' | 'groups' | 'members', values: readonly string[]) => Promise<void>) => Promise<void>): Promise<void> {
    const parts = { users: HAD_USERS, groups: HAD_GROUPS, members: HAD_MEMBERS } as const;
    await this.redis.del(...Object.values(parts).map((part) => this.part(restoreId, part)));
    await fill(async (part, values) => {
      if (values.length === 0) return;
      const key = this.part(restoreId, parts[part]);
      await this.redis.sadd(key, ...values);
      await this.redis.pexpire(key, TTL_MS);
    });
    await this.redis.hset(this.hash(restoreId), 'baseline', 'done');
  }

  /** The restore's memory, for its units. */
  memory(restoreId: string): RestoreMemory {
    const member = async (part: string, value: string) => (await this.redis.sismember(this.part(restoreId, part), value)) === 1;
    return {
      hadUser: (username) => member(HAD_USERS, username),
      hadGroup: (name) => member(HAD_GROUPS, name),
      hadMembership: (key) => member(HAD_MEMBERS, key),
      addFederated: async (usernames) => {
        const key = this.part(restoreId, FEDERATED);
        await this.redis.sadd(key, ...usernames);
        await this.redis.pexpire(key, TTL_MS);
      },
      isFederated: (username) => member(FEDERATED, username),
      addNotRestored: async (username) => {
        const key = this.part(restoreId, NOT_RESTORED);
        await this.redis.sadd(key, username);
        await this.redis.pexpire(key, TTL_MS);
      },
      isNotRestored: (username) => member(NOT_RESTORED, username),
      markUpdated: async (kind, name) => {
        const key = this.part(restoreId, UPDATED);
        await this.redis.sadd(key, `${kind}\u0000${name}`);
        await this.redis.pexpire(key, TTL_MS);
      },
      wasUpdated: (kind, name) => member(UPDATED, `${kind}\u0000${name}`),
    };
  }

  /** The target's users to delete (`--delete-missing`), listed once: undefined until {@link setDeletions}. */
  async deletions(restoreId: string): Promise<string[] | undefined> {
    if ((await this.redis.hget(this.hash(restoreId), 'deletions')) !== 'listed') return undefined;
    return this.redis.lrange(this.part(restoreId, TO_DELETE), 0, -1);
  }

  async setDeletions(restoreId: string, usernames: readonly string[]): Promise<void> {
    const key = this.part(restoreId, TO_DELETE);
    await this.redis.del(key);
    for (let i = 0; i < usernames.length; i += 1000) await this.redis.rpush(key, ...usernames.slice(i, i + 1000));
    await this.redis.pexpire(key, TTL_MS);
    await this.redis.hset(this.hash(restoreId), 'deletions', 'listed');
  }

  /** Forgets the restore's working sets (its hash stays, with its report URL, until its TTL). */
  async forgetMemory(restoreId: string): Promise<void> {
    await this.redis.del(...[HAD_USERS, HAD_GROUPS, HAD_MEMBERS, FEDERATED, TO_DELETE, NOT_RESTORED, UPDATED].map((part) => this.part(restoreId, part)));
  }
}
