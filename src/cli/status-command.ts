import type { Command } from 'commander';
import type { RunStatus } from '../runs/run-store.js';
import type { LimiterState } from '../limits/rate-limiter.js';
import { reconcileRun } from '../../jobs/run-liveness.js';
import { CliError, EXIT_FAILURE, openContext, readConfig, type CliContext } from './cli-context.js';

interface StatusFlags {
  userPoolId?: string;
  json?: boolean;
}

/** One pool's view: its run in flight, last good snapshot and last failure. */
export interface PoolStatus {
  readonly userPoolId: string;
  readonly active?: {
    snapshotId: string;
    state: string;
    users: number;
    estimatedUsers?: number | undefined;
    percent?: number | undefined;
    etaSeconds?: number | undefined;
    throttles: number;
    shards: string;
    /** Time the run's calls waited for rate-limit slots, summed over its shards. */
    slotWaitSeconds: number;
    /** The shared rate limit the run draws on (its AWS account and region), if it could be read. */
    limiter?: LimiterView | undefined;
  };
  readonly lastSuccess?: { snapshotId: string; completedAt: string; records: number; manifestUrl: string };
  readonly lastFailure?: { snapshotId: string; failedAt: string; reason: string; trigger: string };
  /** True when the pool's last scheduled run failed: `status` then exits non-zero. */
  readonly lastScheduledFailed: boolean;
}

/** The shared bucket of a run's account and region, as `status` shows it. */
export interface LimiterView {
  readonly scope: string;
  readonly rateRps: number;
  readonly ceilingRps: number | null;
  readonly maxRps: number;
  readonly throttlesPerMinute: number;
}

/** Reads the status of one pool or of every pool the deployment knows. */
export async function readStatus(context: CliContext, userPoolId?: string): Promise<PoolStatus[]> {
  const pools = userPoolId ? [userPoolId] : await context.runtime.runs.pools();
  const active = await context.runtime.runs.activeRuns();
  const result: PoolStatus[] = [];
  for (const pool of pools) {
    const activeId = active[pool];
    const run = activeId ? await reconcileRun(context.runtime, context.queues, activeId) : undefined;
    const history = await context.runtime.runs.history(pool);
    result.push({
      userPoolId: pool,
      ...(run && (run.state === 'queued' || run.state === 'running') ? { active: { ...activeView(run), limiter: await limiterView(context, run) } } : {}),
      ...(history.lastSuccess ? { lastSuccess: history.lastSuccess } : {}),
      ...(history.lastFailure ? { lastFailure: history.lastFailure } : {}),
      lastScheduledFailed: history.lastScheduled?.state === 'failed',
    });
  }
  return result;
}

function activeView(run: RunStatus): NonNullable<PoolStatus['active']> {
  const total = run.estimatedUsers;
  const elapsed = (Date.now() - Date.parse(run.spec.startedAt)) / 1000;
  const percent = total ? Math.min(100, (run.users / total) * 100) : undefined;
  const eta = total && run.users > 0 && total > run.users ? ((total - run.users) * elapsed) / run.users : undefined;
  return {
    snapshotId: run.spec.snapshotId,
    state: run.state,
    users: run.users,
    estimatedUsers: total,
    percent: percent === undefined ? undefined : Math.round(percent * 10) / 10,
    etaSeconds: eta === undefined ? undefined : Math.round(eta),
    throttles: run.throttles,
    shards: `${run.shardsDone}/${run.spec.shards}`,
    slotWaitSeconds: Math.round(run.slotWaitMs / 100) / 10,
  };
}

/** The bucket of the run's account and region; undefined when it holds nothing or the account cannot be told. */
async function limiterView(context: CliContext, run: RunStatus): Promise<LimiterView | undefined> {
  let read: { scope: string; state: LimiterState | undefined };
  try {
    read = await context.runtime.limiterState(run.spec.region);
  } catch {
    return undefined;
  }
  const { scope, state } = read;
  if (!state) return undefined;
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    scope,
    rateRps: round(state.rateRps),
    ceilingRps: state.ceilingRps === null ? null : round(state.ceilingRps),
    maxRps: state.maxRps,
    throttlesPerMinute: round(state.throttlesPerMinute),
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
        const failed = pools.filter((pool) => pool.lastScheduledFailed).map((pool) => pool.userPoolId);
        if (failed.length > 0) throw new CliError(`last scheduled export failed for ${failed.join(', ')}`, EXIT_FAILURE);
      } finally {
        await context.close();
      }
    });
}

/** The human-readable status table. */
export function renderStatus(pools: readonly PoolStatus[]): string {
  if (pools.length === 0) return 'no exports yet\n';
  const lines: string[] = [];
  for (const pool of pools) {
    lines.push(pool.userPoolId);
    const a = pool.active;
    if (a) {
      const pct = a.percent === undefined ? '' : ` (${a.percent}%)`;
      const eta = a.etaSeconds === undefined ? '' : ` eta ${a.etaSeconds}s`;
      lines.push(`  running   ${a.snapshotId}: ${a.users}${a.estimatedUsers ? `/~${a.estimatedUsers}` : ''} users${pct}${eta}, shards ${a.shards}, throttles ${a.throttles}`);
      const l = a.limiter;
      const limiter = l
        ? `${l.rateRps} calls/s now (max ${l.maxRps}${l.ceilingRps === null ? '' : `, ceiling ${l.ceilingRps}`}), ${l.throttlesPerMinute} throttles/min in ${l.scope}; `
        : '';
      lines.push(`  limiter   ${limiter}shards waited ${a.slotWaitSeconds} s for slots`);
    }
    const s = pool.lastSuccess;
    lines.push(s ? `  last good ${s.snapshotId} at ${s.completedAt}: ${s.records} users, ${s.manifestUrl}` : '  last good none');
    const f = pool.lastFailure;
    if (f) lines.push(`  last fail ${f.snapshotId} at ${f.failedAt} (${f.trigger}): ${f.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

