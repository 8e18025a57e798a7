import type { Command } from 'commander';
import { isEnded, type PoolHistory, type RunStatus } from '../runs/run-store.js';
import { reconcileRun } from '../../jobs/run-liveness.js';
import { CliError, EXIT_FAILURE, openContext, readConfig, type CliContext } from './cli-context.js';

interface StatusFlags {
  userPoolId?: string;
  json?: boolean;
}

/** A run in flight, as `status` shows it (snake_case, like every file and the HTTP API). */
export interface ActiveRunView {
  readonly snapshot_id: string;
  readonly state: string;
  readonly users: number;
  readonly estimated_users: number | null;
  readonly percent: number | null;
  readonly eta_seconds: number | null;
  readonly throttles: number;
  readonly shards: string;
  /** `latest.json` (the pool's own dataset), `latest-<name>.json`, or null (a partial run without a pointer). */
  readonly pointer: string | null;
  readonly queued_behind: string | null;
  /** Records fetched so far per table (users, groups, group_memberships). */
  readonly tables: Record<string, number>;
}

/** One pool's view: its run in flight, last good snapshot (of its own dataset and partial) and last failure. */
export interface PoolStatus {
  readonly user_pool_id: string;
  readonly active: ActiveRunView | null;
  /** The newest complete snapshot of the pool's own dataset: what `latest.json` names. */
  readonly last_success: { snapshot_id: string; completed_at: string; records: number; manifest_url: string } | null;
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
    result.push(poolView(pool, run && !isEnded(run.state) ? run : undefined, await context.runtime.runs.history(pool)));
  }
  return result;
}

function poolView(pool: string, run: RunStatus | undefined, history: PoolHistory): PoolStatus {
  const s = history.lastSuccess;
  const p = history.lastPartial;
  const f = history.lastFailure;
  return {
    user_pool_id: pool,
    active: run ? activeView(run) : null,
    last_success: s ? { snapshot_id: s.snapshotId, completed_at: s.completedAt, records: s.records, manifest_url: s.manifestUrl } : null,
    last_partial: p ? { snapshot_id: p.snapshotId, completed_at: p.completedAt, records: p.records, manifest_url: p.manifestUrl, pointer: p.pointer } : null,
    last_failure: f ? { snapshot_id: f.snapshotId, failed_at: f.failedAt, reason: f.reason, trigger: f.trigger } : null,
    last_cancelled: history.lastCancelled ? { snapshot_id: history.lastCancelled.snapshotId, cancelled_at: history.lastCancelled.cancelledAt } : null,
    last_scheduled_failed: history.lastScheduled?.state === 'failed',
  };
}

function activeView(run: RunStatus): ActiveRunView {
  const total = run.estimatedUsers;
  const elapsed = (Date.now() - Date.parse(run.spec.startedAt)) / 1000;
  const percent = total ? Math.min(100, (run.users / total) * 100) : undefined;
  const eta = total && run.users > 0 && total > run.users ? ((total - run.users) * elapsed) / run.users : undefined;
  return {
    snapshot_id: run.spec.snapshotId,
    state: run.state,
    users: run.users,
    estimated_users: total ?? null,
    percent: percent === undefined ? null : Math.round(percent * 10) / 10,
    eta_seconds: eta === undefined ? null : Math.round(eta),
    throttles: run.throttles,
    shards: `${run.shardsDone}/${run.spec.shards}`,
    pointer: run.spec.pointer === undefined ? 'latest.json' : run.spec.pointer,
    queued_behind: run.behind ?? null,
    tables: Object.fromEntries(Object.entries(run.tables).map(([table, progress]) => [table, progress.records])),
  };
}

/** Adds `status`: runs in flight with progress, the last snapshot and failure per pool. */
export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('show runs in flight and the last snapshot per pool; exits 1 if a pool\'s last scheduled run failed')
    .option('--user-pool-id <id>', 'only this pool')
    .option('--json', 'print JSON')
    .action(async (flags: StatusFlags) => {
      const context = await openContext(readConfig());
      try {
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
      const eta = a.eta_seconds === null ? '' : ` eta ${a.eta_seconds}s`;
      const behind = a.queued_behind ? `, waiting for ${a.queued_behind} to end` : '';
      const others = Object.entries(a.tables).filter(([table]) => table !== 'users').map(([table, records]) => `, ${records} ${table.replace('group_', '')}`).join('');
      lines.push(
        `  ${a.state.padEnd(9)} ${a.snapshot_id}: ${a.users}${a.estimated_users ? `/~${a.estimated_users}` : ''} users${pct}${eta}${others}, shards ${a.shards}, throttles ${a.throttles} (${kindOf(a.pointer)})${behind}`,
      );
    }
    const s = pool.last_success;
    lines.push(s ? `  last good ${s.snapshot_id} at ${s.completed_at}: ${s.records} users, ${s.manifest_url}` : '  last good none');
    const p = pool.last_partial;
    if (p) lines.push(`  partial   ${p.snapshot_id} at ${p.completed_at}: ${p.records} users, ${p.manifest_url} (${kindOf(p.pointer)})`);
    const f = pool.last_failure;
    if (f) lines.push(`  last fail ${f.snapshot_id} at ${f.failed_at} (${f.trigger}): ${f.reason}`);
    const c = pool.last_cancelled;
    if (c) lines.push(`  cancelled ${c.snapshot_id} at ${c.cancelled_at}`);
  }
  return `${lines.join('\n')}\n`;
}
