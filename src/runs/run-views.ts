import type { RunSpec } from './run-spec.js';
import { GROUP_MEMBERSHIPS_TABLE, GROUPS_TABLE } from '../storage/output-layout.js';

/**
 * Runs and pools as `status`, `--wait` and the admin port show them, read from their Redis hashes
 * (written by RunStore). Pure.
 */

/**
 * Lifecycle of a run: queued → running → committing → completed, or failed | cancelled before its
 * commit point. A committing run only rolls forward (its finalizer may still fail it, if an error
 * no retry mends comes before it moved any pointer).
 */
export type RunState = 'queued' | 'running' | 'committing' | 'completed' | 'failed' | 'cancelled';

/** The states a run never leaves. */
export const ENDED_STATES: readonly RunState[] = ['completed', 'failed', 'cancelled'];

/** True once a run has completed, failed or been cancelled. */
export function isEnded(state: RunState | undefined): boolean {
  return state !== undefined && ENDED_STATES.includes(state);
}

/**
 * What a finished run's change tables say: the snapshot they are relative to and each one's counts
 * by op (`since` null: none, and `reason` says why).
 */
export interface RunChanges {
  readonly since: string | null;
  readonly reason: string | null;
  readonly counts: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/** How a change table is named in a summary, and whether it has updates. */
const SUMMARIZED: readonly [string, string, boolean][] = [
  ['user_changes', 'users', true],
  ['group_changes', 'groups', true],
  ['group_membership_changes', 'memberships', false],
];

/**
 * One line for people: `users +120 inserted, 31 updated, 4 deleted since <id>; groups …;
 * memberships +3 inserted, 1 deleted`, or why there are no change tables. Pure.
 */
export function changesSummary(changes: RunChanges): string {
  if (changes.since === null) return `no change tables: ${changes.reason ?? 'none were planned'}`;
  const parts = SUMMARIZED.filter(([table]) => changes.counts[table] !== undefined).map(([table, name, updates]) => {
    const count = (op: string) => changes.counts[table]?.[op] ?? 0;
    const ops = [`+${count('insert')} inserted`, ...(updates ? [`${count('update')} updated`] : []), `${count('delete')} deleted`];
    return `${name} ${ops.join(', ')}${table === 'user_changes' ? ` since ${changes.since}` : ''}`;
  });
  return parts.join('; ');
}

/** A table as progress lines name it: `memberships` for `group_memberships`, every other by its folder. */
export function tableLabel(table: string): string {
  return table === 'group_memberships' ? 'memberships' : table;
}

/** Files written so far over every table of a run (users, groups, memberships, change tables). */
export function filesOfRun(status: Pick<RunStatus, 'tables'>): number {
  return Object.values(status.tables).reduce((sum, table) => sum + table.files, 0);
}

/** A run as status and `--wait` show it. */
export interface RunStatus {
  readonly spec: RunSpec;
  readonly state: RunState;
  /**
   * Users fetched so far: each shard's durable records plus those in its open file, never less than
   * that shard showed before (a shard resumed from its checkpoint fetches some again), so the count
   * never goes backwards.
   */
  readonly users: number;
  /** Users in durable files only. */
  readonly durableUsers: number;
  /** Every table's progress: records fetched (durable and open, never going back), durable records, durable files. */
  readonly tables: Readonly<Record<string, { readonly records: number; readonly durable: number; readonly files: number }>>;
  readonly pages: number;
  readonly files: number;
  readonly bytes: number;
  readonly throttles: number;
  readonly retries: number;
  /** Time the run's calls spent waiting for a rate-limit slot, summed over its shards (ms). */
  readonly slotWaitMs: number;
  /** The users table's shards finished so far (of `spec.shards`). */
  readonly shardsDone: number;
  /** DescribeUserPool's EstimatedNumberOfUsers at the start, if known. */
  readonly estimatedUsers: number | undefined;
  /** Records expected in the other tables (groups, memberships): what the previous snapshot held. */
  readonly estimatedRecords: Readonly<Record<string, number>>;
  /** Tables other than users whose walk is finished (`groups`; `group_memberships` once every batch is done): their counts are exact. */
  readonly counted: readonly string[];
  readonly error: string | undefined;
  readonly manifestUrl: string | undefined;
  readonly completedAt: string | undefined;
  /** When its shards were enqueued (it left `queued`), if they were: before that nothing can be staged. */
  readonly runningAt: string | undefined;
  /** When its finalizer began publishing, if it has. */
  readonly finalizingAt: string | undefined;
  /** For a failed or cancelled run: its files have been taken off the destination. */
  readonly withdrawn: boolean;
  /** For a failed or cancelled run: taking its files off the destination is not finished yet. */
  readonly withdrawalPending: boolean;
  /** The run's place in its dataset's commit order, issued by Redis at its commit point. */
  readonly commitSeq: number | undefined;
  /** A run queued behind another (`--queue`): that run's id, until this one starts. */
  readonly behind: string | undefined;
  /** When the run was registered (ms since epoch). */
  readonly createdAt: number;
  /** A finished run's change tables, once its finalizer recorded them. */
  readonly changes: RunChanges | undefined;
}

/**
 * How far a run is, over every table it walks: users (DescribeUserPool's estimate), and groups and
 * memberships, counted exactly once their walk is done, else as the previous snapshot held them.
 * A table with neither (a pool's first run: Cognito tells no group's size before it is walked) is
 * `uncounted`: its records are in `done` and `total` alike, and no percentage or ETA over the run
 * means anything until it is counted. `total` is undefined without a users estimate; it never falls
 * below what is done. Pure.
 */
export function runProgress(
  status: Pick<RunStatus, 'users' | 'estimatedUsers' | 'estimatedRecords' | 'tables' | 'counted'> & { readonly spec: Pick<RunSpec, 'groups'> },
): { done: number; total: number | undefined; uncounted: string[] } {
  let done = status.users;
  let total = status.estimatedUsers === undefined ? undefined : Math.max(status.estimatedUsers, status.users);
  const uncounted: string[] = [];
  const walked = status.spec.groups ? [GROUPS_TABLE, GROUP_MEMBERSHIPS_TABLE] : [];
  for (const table of walked) {
    const records = status.tables[table]?.records ?? 0;
    const estimate = status.estimatedRecords[table];
    done += records;
    if (status.counted.includes(table)) {
      if (total !== undefined) total += records;
    } else if (estimate !== undefined) {
      if (total !== undefined) total += Math.max(estimate, records);
    } else {
      uncounted.push(table);
      if (total !== undefined) total += records;
    }
  }
  return { done, total, uncounted };
}

/** "the memberships" / "the groups and memberships": what a first run's ETA waits for. */
export function uncountedLabel(tables: readonly string[]): string {
  return `the ${tables.map(tableLabel).join(' and ')}`;
}

/** A pool's history: its last good snapshot of the pool's dataset, last partial one, and last failure. */
export interface PoolHistory {
  readonly userPoolId: string;
  /** The newest complete snapshot of the pool's own dataset: the one `latest.json` names. */
  readonly lastSuccess?: { snapshotId: string; completedAt: string; records: number; manifestUrl: string; changes: RunChanges | undefined };
  /** The newest complete partial snapshot (a filter, other attributes): it moves only its own pointer, if any. */
  readonly lastPartial?: { snapshotId: string; completedAt: string; records: number; manifestUrl: string; pointer: string | null };
  readonly lastFailure?: { snapshotId: string; failedAt: string; reason: string; trigger: string };
  /** The last run an operator cancelled. */
  readonly lastCancelled?: { snapshotId: string; cancelledAt: string };
  /** State of the last run a schedule started: lets `status` exit non-zero for monitors. */
  readonly lastScheduled?: { snapshotId: string; state: RunState };
}

/** A run's state and progress from its hash, or undefined if the hash holds no run. */
export function parseRunStatus(h: Record<string, string>): RunStatus | undefined {
  if (!h.spec) return undefined;
  const n = (field: string): number => Number(h[field] ?? 0);
  const durable = n('records');
  let shardsDone = 0;
  const unitsDone: Record<string, number> = {};
  const tables: Record<string, { records: number; durable: number; files: number }> = {};
  const table = (name: string) => (tables[name] ??= { records: 0, durable: 0, files: 0 });
  table('users');
  for (const [field, value] of Object.entries(h)) {
    if (field.startsWith('seen:')) {
      // seen:<unit>: a users shard is a bare id, another table's unit is <table>.<shard>.
      const unit = field.slice('seen:'.length);
      table(unit.includes('.') ? unit.slice(0, unit.indexOf('.')) : 'users').records += Number(value);
    } else if (field.startsWith('done:')) {
      // The users table's shards (bare ids): what `shards x/16` counts; other tables' units by table.
      const unit = field.slice('done:'.length);
      if (!unit.includes('.')) shardsDone += 1;
      else unitsDone[unit.slice(0, unit.indexOf('.'))] = (unitsDone[unit.slice(0, unit.indexOf('.'))] ?? 0) + 1;
    }
    else if (field.endsWith(':records')) table(field.slice(0, -':records'.length)).durable = Number(value);
    else if (field.endsWith(':files')) table(field.slice(0, -':files'.length)).files = Number(value);
  }
  const users = table('users');
  users.durable = durable;
  users.files = n('files');
  for (const entry of Object.values(tables)) entry.records = Math.max(entry.records, entry.durable);
  const seen = users.records;
  return {
    spec: JSON.parse(h.spec) as RunSpec,
    state: (h.state ?? 'queued') as RunState,
    users: Math.max(durable, seen),
    durableUsers: durable,
    tables,
    pages: n('pages'),
    files: n('files'),
    bytes: n('bytes'),
    throttles: n('throttles'),
    retries: n('retries'),
    slotWaitMs: n('slot_wait_ms'),
    shardsDone,
    estimatedUsers: h.estimated_users === undefined ? undefined : Number(h.estimated_users),
    estimatedRecords: Object.fromEntries(
      Object.entries(h)
        .filter(([field]) => field.startsWith('estimated:'))
        .map(([field, value]) => [field.slice('estimated:'.length), Number(value)]),
    ),
    counted: [
      ...(unitsDone[GROUPS_TABLE] ? [GROUPS_TABLE] : []),
      ...(h.membership_batches !== undefined && (unitsDone[GROUP_MEMBERSHIPS_TABLE] ?? 0) >= Number(h.membership_batches) ? [GROUP_MEMBERSHIPS_TABLE] : []),
    ],
    error: h.error,
    manifestUrl: h.manifest_url,
    completedAt: h.completed_at,
    runningAt: h.running_at,
    finalizingAt: h.finalizing_at,
    withdrawn: h.withdrawn_at !== undefined,
    withdrawalPending: h.withdrawal === 'pending',
    commitSeq: h.commit_seq === undefined ? undefined : Number(h.commit_seq),
    behind: h.behind,
    createdAt: n('created_at'),
    changes: h.changes === undefined ? undefined : (JSON.parse(h.changes) as RunChanges),
  };
}

/** A pool's history from its hash. */
export function parsePoolHistory(userPoolId: string, h: Record<string, string>): PoolHistory {
  return {
    userPoolId,
    ...(h.last_success_id && {
      lastSuccess: {
        snapshotId: h.last_success_id,
        completedAt: h.last_success_at ?? '',
        records: Number(h.last_success_records ?? 0),
        manifestUrl: h.last_success_manifest ?? '',
        changes: h.last_success_changes ? (JSON.parse(h.last_success_changes) as RunChanges) : undefined,
      },
    }),
    ...(h.last_partial_id && {
      lastPartial: {
        snapshotId: h.last_partial_id,
        completedAt: h.last_partial_at ?? '',
        records: Number(h.last_partial_records ?? 0),
        manifestUrl: h.last_partial_manifest ?? '',
        pointer: h.last_partial_pointer || null,
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
    ...(h.last_cancelled_id && { lastCancelled: { snapshotId: h.last_cancelled_id, cancelledAt: h.last_cancelled_at ?? '' } }),
    ...(h.last_scheduled_id && {
      lastScheduled: { snapshotId: h.last_scheduled_id, state: (h.last_scheduled_state ?? 'running') as RunState },
    }),
  };
}
