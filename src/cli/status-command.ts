import { InvalidArgumentError, type Command } from 'commander';
import { isEnded, type PoolHistory, type RunChanges, type RunStatus } from '../runs/run-store.js';
import { changesSummary, runProgress, tableLabel, uncountedLabel } from '../runs/run-views.js';
import { runRole } from '../runs/run-spec.js';
import type { LimiterState } from '../limits/rate-limiter.js';
import { reconcileRun } from '../../jobs/run-liveness.js';
import { CliError, EXIT_FAILURE, openContext, quietUnlessAsked, readConfig, type CliContext } from './cli-context.js';
import { textTable } from './text-table.js';

interface StatusFlags {
  userPoolId?: string;
  json?: boolean;
  watch?: boolean;
  interval: number;
}

/** A run in flight, as `status` shows it (snake_case, like every file and the HTTP API). */
export interface ActiveRunView {
  readonly snapshot_id: string;
  readonly state: string;
  readonly users: number;
  readonly estimated_users: number | null;
  readonly percent: number | null;
  readonly eta_seconds: number | null;
  /** Why there is no ETA yet: a first run has not counted its groups or memberships (Cognito tells no size before a walk). */
  readonly eta_unknown_until: string | null;
  readonly throttles: number;
  /** Shards of the users table finished so far, of `shards`. */
  readonly shards_done: number;
  readonly shards: number;
  /** `latest.json` (the pool's own dataset), `latest-<name>.json`, or null (a partial run without a pointer). */
  readonly pointer: string | null;
  readonly queued_behind: string | null;
  /** Records fetched so far per table (users, groups, group_memberships). */
  readonly tables: Record<string, number>;
  /** Time the run's calls waited for rate-limit slots, summed over its shards. */
  readonly slot_wait_seconds: number;
  /** The shared rate limit the run draws on (its AWS account and region), if it could be read. */
  readonly limiter: LimiterView | null;
}

/** The shared bucket of a run's account and region, as `status` shows it. */
export interface LimiterView {
  readonly scope: string;
  readonly rate_rps: number;
  readonly ceiling_rps: number | null;
  readonly max_rps: number;
  readonly throttles_per_minute: number;
}

/** One pool's view: its run in flight, last good snapshot (of its own dataset and partial) and last failure. */
export interface PoolStatus {
  readonly user_pool_id: string;
  readonly active: ActiveRunView | null;
  /** The newest complete snapshot of the pool's own dataset: what `latest.json` names. */
  readonly last_success: { snapshot_id: string; completed_at: string; records: number; manifest_url: string; changes: RunChanges | null } | null;
  /** The newest complete partial snapshot (a filter, other attributes), which never moves `latest.json`. */
  readonly last_partial: { snapshot_id: string; completed_at: string; records: number; manifest_url: string; pointer: string | null } | null;
  readonly last_failure: { snapshot_id: string; failed_at: string; reason: string; trigger: string } | null;
  readonly last_cancelled: { snapshot_id: string; cancelled_at: string } | null;
  /** True when the pool's last scheduled run failed: `status` then exits non-zero. */
  readonly last_scheduled_failed: boolean;
}

/** Reads the status of one pool or of every pool the deployment knows. */
export async function readStatus(context: CliContext, userPoolId?: string): Promise<PoolStatus[]> {
  const pools = userPoolId ? [userPoolId] : await context.runtime.runs.pools();
  const active = await context.runtime.runs.activeRuns();
  const result: PoolStatus[] = [];
  for (const pool of pools) {
    const activeId = active[pool];
    const run = activeId ? await reconcileRun(context.runtime, context.queues, activeId) : undefined;
    const live = run && !isEnded(run.state) ? run : undefined;
    const history = await context.runtime.runs.history(pool);
    // A pool whose history was forgotten (its committed heads kept) has nothing to show.
    if (!userPoolId && !live && !hasHistory(history)) continue;
    result.push(poolView(pool, live, live ? await limiterView(context, live) : null, history));
  }
  return result;
}

function hasHistory(history: PoolHistory): boolean {
  return Boolean(history.lastSuccess ?? history.lastPartial ?? history.lastFailure ?? history.lastCancelled ?? history.lastScheduled);
}

function poolView(pool: string, run: RunStatus | undefined, limiter: LimiterView | null, history: PoolHistory): PoolStatus {
  const s = history.lastSuccess;
  const p = history.lastPartial;
  const f = history.lastFailure;
  return {
    user_pool_id: pool,
    active: run ? activeView(run, limiter) : null,
    last_success: s ? { snapshot_id: s.snapshotId, completed_at: s.completedAt, records: s.records, manifest_url: s.manifestUrl, changes: s.changes ?? null } : null,
    last_partial: p ? { snapshot_id: p.snapshotId, completed_at: p.completedAt, records: p.records, manifest_url: p.manifestUrl, pointer: p.pointer } : null,
    last_failure: f ? { snapshot_id: f.snapshotId, failed_at: f.failedAt, reason: f.reason, trigger: f.trigger } : null,
    last_cancelled: history.lastCancelled ? { snapshot_id: history.lastCancelled.snapshotId, cancelled_at: history.lastCancelled.cancelledAt } : null,
    last_scheduled_failed: history.lastScheduled?.state === 'failed',
  };
}

function activeView(run: RunStatus, limiter: LimiterView | null): ActiveRunView {
  const total = run.estimatedUsers;
  const elapsed = (Date.now() - Date.parse(run.spec.startedAt)) / 1000;
  // Over every table whose size is known: users, and the groups and memberships the last snapshot held.
  const progress = runProgress(run);
  // Before a first run has counted its groups and memberships, a share of the run is not known.
  const known = progress.uncounted.length === 0;
  const percent = known && progress.total ? Math.min(100, (progress.done / progress.total) * 100) : undefined;
  const eta = known && progress.total && progress.done > 0 && progress.total > progress.done ? ((progress.total - progress.done) * elapsed) / progress.done : undefined;
  return {
    snapshot_id: run.spec.snapshotId,
    state: run.state,
    users: run.users,
    estimated_users: total ?? null,
    percent: percent === undefined ? null : Math.round(percent * 10) / 10,
    eta_seconds: eta === undefined ? null : Math.round(eta),
    eta_unknown_until: known ? null : `${uncountedLabel(progress.uncounted)} are counted`,
    throttles: run.throttles,
    shards_done: run.shardsDone,
    shards: run.spec.shards,
    pointer: run.spec.pointer === undefined ? 'latest.json' : run.spec.pointer,
    queued_behind: run.behind ?? null,
    tables: Object.fromEntries(Object.entries(run.tables).map(([table, progress]) => [table, progress.records])),
    slot_wait_seconds: Math.round(run.slotWaitMs / 100) / 10,
    limiter,
  };
}

/** The bucket of the run's account and region; null when it holds nothing or the account cannot be told. */
async function limiterView(context: CliContext, run: RunStatus): Promise<LimiterView | null> {
  let read: { scope: string; state: LimiterState | undefined };
  try {
    read = await context.runtime.limiterState(run.spec.region, runRole(run.spec));
  } catch {
    return null;
  }
  const { scope, state } = read;
  if (!state) return null;
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    scope,
    rate_rps: round(state.rateRps),
    ceiling_rps: state.ceilingRps === null ? null : round(state.ceilingRps),
    max_rps: state.maxRps,
    throttles_per_minute: round(state.throttlesPerMinute),
  };
}

/** Adds `status`: runs in flight with progress, the last snapshot and failure per pool. */
export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('show runs in flight and the last snapshot per pool; exits 1 if a pool\'s last scheduled run failed')
    .option('--user-pool-id <id>', 'only this pool')
    .option('--json', 'print JSON')
    .option('--watch', 'keep showing the runs in flight, redrawn in place on a terminal, until Ctrl-C (with --json: one JSON line per read)')
    .option('--interval <seconds>', 'seconds between reads with --watch', seconds, 2)
    .action(async (flags: StatusFlags) => {
      const context = await openContext(quietUnlessAsked(readConfig()));
      try {
        if (flags.watch) {
          await watchStatus(context, flags);
          return;
        }
        const pools = await readStatus(context, flags.userPoolId);
        if (flags.json) process.stdout.write(`${JSON.stringify(pools, null, 2)}\n`);
        else process.stdout.write(renderStatus(pools));
        const failed = pools.filter((pool) => pool.last_scheduled_failed).map((pool) => pool.user_pool_id);
        if (failed.length > 0) throw new CliError(`last scheduled export failed for ${failed.join(', ')}`, EXIT_FAILURE);
      } finally {
        await context.close();
      }
    });
}

/** A number of seconds from 0.2 to 3600. */
function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.2 || n > 3600) throw new InvalidArgumentError(`expected seconds from 0.2 to 3600, got ${JSON.stringify(value)}`);
  return n;
}

/**
 * `status --watch`: reads the status every `interval` seconds until SIGINT or SIGTERM (exit 0). On a
 * terminal the table of runs in flight is redrawn in place; elsewhere each read is printed after the
 * last, under a line with its time; with --json each read is one line of JSON.
 */
async function watchStatus(context: CliContext, flags: StatusFlags, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!stop.signal.aborted) {
      const pools = await readStatus(context, flags.userPoolId);
      const now = new Date();
      if (flags.json) out.write(`${JSON.stringify(pools)}\n`);
      else {
        const table = renderWatch(pools, now, flags.interval);
        out.write(out.isTTY ? `\u001b[H\u001b[2J${table}` : `${table}\n`);
      }
      // One listener a wait, removed after it: a watch of hours adds none.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          stop.signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, flags.interval * 1000);
        stop.signal.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The table `status --watch` shows: one row per run in flight, and what the limiter they draw on does. Pure. */
export function renderWatch(pools: readonly PoolStatus[], now: Date, interval: number): string {
  const header = `runs in flight at ${now.toISOString()} (every ${interval} s; Ctrl-C to stop)`;
  const active = pools.filter((pool) => pool.active !== null);
  if (active.length === 0) return `${header}\nnone\n`;
  const rows = active.map(({ user_pool_id: pool, active: a }) => {
    const run = a as ActiveRunView;
    const others = Object.entries(run.tables)
      .filter(([table]) => table !== 'users')
      .map(([table, records]) => `${records} ${tableLabel(table)}`)
      .join(', ');
    return [
      pool,
      run.snapshot_id,
      run.state,
      `${run.users}${run.estimated_users ? `/~${run.estimated_users}` : ''}`,
      run.percent === null ? '–' : `${run.percent}%`,
      run.eta_seconds !== null ? `${run.eta_seconds}s` : run.eta_unknown_until ? 'unknown' : '–',
      `${run.shards_done}/${run.shards}`,
      String(run.throttles),
      run.limiter ? `${run.limiter.rate_rps}/${run.limiter.max_rps}` : '–',
      others || '–',
    ];
  });
  const columns = ['POOL', 'RUN', 'STATE', 'USERS', 'DONE', 'ETA', 'SHARDS', 'THROTTLES', 'CALLS/S', 'OTHER TABLES'];
  return `${header}\n${textTable(columns, rows)}`;
}

/** What a run's pointer means, in words. */
function kindOf(pointer: string | null): string {
  if (pointer === 'latest.json') return "the pool's dataset, moves latest.json";
  return pointer ? `partial, moves ${pointer}` : 'partial, moves no pointer';
}

/** The human-readable status table. */
export function renderStatus(pools: readonly PoolStatus[]): string {
  if (pools.length === 0) return 'no exports yet\n';
  const lines: string[] = [];
  for (const pool of pools) {
    lines.push(pool.user_pool_id);
    const a = pool.active;
    if (a) {
      const pct = a.percent === null ? '' : ` (${a.percent}%)`;
      const eta = a.eta_seconds !== null ? ` eta ${a.eta_seconds}s` : a.eta_unknown_until ? `, eta unknown until ${a.eta_unknown_until}` : '';
      const behind = a.queued_behind ? `, waiting for ${a.queued_behind} to end` : '';
      const others = Object.entries(a.tables).filter(([table]) => table !== 'users').map(([table, records]) => `, ${records} ${tableLabel(table)}`).join('');
      lines.push(
        `  ${a.state.padEnd(9)} ${a.snapshot_id}: ${a.users}${a.estimated_users ? `/~${a.estimated_users}` : ''} users${pct}${eta}${others}, shards ${a.shards_done}/${a.shards}, throttles ${a.throttles} (${kindOf(a.pointer)})${behind}`,
      );
      const l = a.limiter;
      const limiter = l
        ? `${l.rate_rps} calls/s now (max ${l.max_rps}${l.ceiling_rps === null ? '' : `, ceiling ${l.ceiling_rps}`}), ${l.throttles_per_minute} throttles/min in ${l.scope}; `
        : '';
      lines.push(`  limiter   ${limiter}shards waited ${a.slot_wait_seconds} s for slots, summed over the run's shards`);
    }
    const s = pool.last_success;
    lines.push(s ? `  last good ${s.snapshot_id} at ${s.completed_at}: ${s.records} users, ${s.manifest_url}` : '  last good none');
    if (s?.changes) lines.push(`  changes   ${changesSummary(s.changes)}`);
    const p = pool.last_partial;
    if (p) lines.push(`  partial   ${p.snapshot_id} at ${p.completed_at}: ${p.records} users, ${p.manifest_url} (${kindOf(p.pointer)})`);
    const f = pool.last_failure;
    if (f) lines.push(`  last fail ${f.snapshot_id} at ${f.failed_at} (${f.trigger}): ${f.reason}`);
    const c = pool.last_cancelled;
    if (c) lines.push(`  cancelled ${c.snapshot_id} at ${c.cancelled_at}`);
  }
  return `${lines.join('\n')}\n`;
}
