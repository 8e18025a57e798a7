import type { RunStatus } from '../src/runs/run-store.js';
import { waitForRun } from '../jobs/wait-for-run.js';
import type { EmulatorProcess } from './emulator-process.js';
import { perSecond, sampler, whenCalls, windowOf, type RateSeries, type Sample } from './emulator-sampler.js';
import { deploy, RATE, request } from './limiter-deployment.js';

/**
 * The limiter as a neighbour on the account's UserList quota (30/s in the emulator), four scenarios:
 * no app; an app steady at 8/s; an app bursting to 20/s for 10 s every 30 s; two runs of one account
 * side by side, 1 shard and 256 shards. Every scenario gets a bucket of its own (AWS_ACCOUNT_ID names
 * it), so nothing one learned carries over to the next. Rates are per-second counts from the
 * emulator's stats, sampled four times a second.
 */

/** One row of the limiter table. */
export interface LimiterRow {
  readonly name: string;
  /** What the exporter could use: its configured rate, or what the app leaves of the quota if less (calls/s). */
  readonly availableRps: number;
  /** The exporter's answered (not throttled) ListUsers calls/s over the measured window. */
  readonly exporterRps: number;
  /** exporterRps as a percentage of availableRps (for the two-run scenario: the smaller run's share of all calls, %). */
  readonly sharePercent: number;
  readonly exporterThrottledPercent: number;
  /** The app's calls the quota refused, % of its calls (null without an app). */
  readonly appThrottledPercent: number | null;
  /** Scenario 3: the longest time after a burst until the exporter was back above 95% of its rate (s). */
  readonly recoverySeconds?: number;
  /** Scenario 4: each run's share of the calls while both ran (%). */
  readonly shares?: Record<string, number>;
  readonly seconds: number;
  readonly target: string;
  readonly met: boolean;
}

/** What the limiter group produced. */
export interface LimiterBenchResult {
  readonly rows: LimiterRow[];
  /** Scenario 3, per second. */
  readonly burstSeries: RateSeries | null;
}

/** Settings of the group. */
export interface LimiterBenchOptions {
  readonly emulator: EmulatorProcess;
  readonly redisUrl: string;
  readonly quota: number;
  readonly quick: boolean;
  readonly log: (line: string) => void;
  /** Which of the four to run. @default all */
  readonly scenarios?: ReadonlySet<number>;
}

/** One export of `poolId` with the emulator's app set to `app`; the app starts when the walk does. */
async function soloRun(
  options: LimiterBenchOptions,
  poolId: string,
  app: Record<string, unknown> | null,
  appStopAfterSeconds?: number,
): Promise<{ samples: Sample[]; walkStart: number; appStart: number; appStop: number; end: number }> {
  const { emulator } = options;
  const d = await deploy(emulator, options.redisUrl, 1);
  try {
    await emulator.setFaults({ appRps: null });
    await emulator.resetStats();
    const sampling = sampler(emulator);
    const snapshotId = await request(d, poolId, 16);
    let appStart = 0;
    let appStop = Number.POSITIVE_INFINITY;
    let stopTimer: NodeJS.Timeout | undefined;
    const following = waitForRun(d.runtime, d.queues, snapshotId, {
      intervalMs: 100,
      onProgress: (status) => {
        if (app === null || appStart !== 0 || status.pages === 0) return;
        appStart = sampling.samples.at(-1)?.t ?? 0;
        void emulator.setFaults(app);
        if (appStopAfterSeconds !== undefined) {
          stopTimer = setTimeout(() => {
            appStop = sampling.samples.at(-1)?.t ?? 0;
            void emulator.setFaults({ appRps: null });
          }, appStopAfterSeconds * 1000);
        }
      },
    });
    const status = await following;
    clearTimeout(stopTimer);
    await emulator.setFaults({ appRps: null });
    await new Promise((resolve) => setTimeout(resolve, 300));
    sampling.stop();
    if (status.state !== 'completed') throw new Error(`limiter bench: run ${status.state}: ${status.error}`);
    const samples = sampling.samples;
    const total = samples.at(-1)?.calls ?? 0;
    return { samples, walkStart: whenCalls(samples, 1), appStart, appStop, end: whenCalls(samples, total) };
  } finally {
    await d.close();
  }
}

/** Scenario 1: no app. */
async function noApp(options: LimiterBenchOptions, poolId: string): Promise<LimiterRow> {
  const { samples } = await soloRun(options, poolId, null);
  const total = samples.at(-1)?.calls ?? 0;
  const w = windowOf(samples, whenCalls(samples, total * 0.1), whenCalls(samples, total * 0.9));
  const share = (w.exporterRps / RATE) * 100;
  return {
    name: `1. quota ${options.quota}/s, no app`,
    availableRps: RATE,
    exporterRps: w.exporterRps,
    sharePercent: share,
    exporterThrottledPercent: w.exporterThrottledPercent,
    appThrottledPercent: null,
    seconds: w.seconds,
    target: 'exporter ≥ 98% of 25/s, 0 throttles',
    met: share >= 98 && w.exporterThrottledPercent === 0,
  };
}

/** Scenario 2: an app steady at 8/s, measured over the whole walk (at least two minutes). */
async function steadyApp(options: LimiterBenchOptions, poolId: string): Promise<LimiterRow> {
  const { samples, appStart, end } = await soloRun(options, poolId, { appRps: 8, appPattern: 'steady' });
  const w = windowOf(samples, appStart, end);
  const available = Math.min(RATE, options.quota - 8);
  const share = (w.exporterRps / available) * 100;
  const appThrottled = w.appThrottledPercent ?? 0;
  return {
    name: `2. quota ${options.quota}/s, app steady 8/s`,
    availableRps: available,
    exporterRps: w.exporterRps,
    sharePercent: share,
    exporterThrottledPercent: w.exporterThrottledPercent,
    appThrottledPercent: appThrottled,
    seconds: w.seconds,
    target: `app throttled ≤ 1%, exporter ≥ 90% of ${available}/s, over ≥ 120 s`,
    met: appThrottled <= 1 && share >= 90 && (options.quick || w.seconds >= 120),
  };
}

/** Scenario 3: an app bursting to 20/s for 10 s every 30 s; stopped after four bursts. */
async function burstingApp(options: LimiterBenchOptions, poolId: string): Promise<{ row: LimiterRow; series: RateSeries }> {
  const bursts = options.quick ? 2 : 4;
  const app = { appRps: 20, appPattern: 'burst', appBurstSeconds: 10, appPeriodSeconds: 30 };
  const { samples, appStart, appStop, end } = await soloRun(options, poolId, app, (bursts - 1) * 30 + 10);
  const windows: [number, number][] = Array.from({ length: bursts }, (_, i) => [appStart + i * 30, appStart + i * 30 + 10]);
  // Recovery: from each burst's end until a second with the exporter above 95% of its rate.
  const bySecond = perSecond(samples, appStart, end);
  const recoveries = windows.map(([, burstEnd]) => {
    const from = Math.ceil(burstEnd - appStart);
    const i = bySecond.exporter.slice(from).findIndex((calls) => calls >= 0.95 * RATE);
    return i < 0 ? Number.POSITIVE_INFINITY : i + 1;
  });
  const measuredTo = Math.min(end, appStop + 30);
  const w = windowOf(samples, appStart, measuredTo);
  const appMean = (20 * 10) / 30;
  const available = Math.min(RATE, options.quota - appMean);
  const share = (w.exporterRps / available) * 100;
  const recovery = Math.max(...recoveries);
  const appThrottled = w.appThrottledPercent ?? 0;
  const series: RateSeries = { ...perSecond(samples, 0, end), bursts: windows };
  return {
    row: {
      name: `3. quota ${options.quota}/s, app 20/s bursts`,
      availableRps: available,
      exporterRps: w.exporterRps,
      sharePercent: share,
      exporterThrottledPercent: w.exporterThrottledPercent,
      appThrottledPercent: appThrottled,
      recoverySeconds: recovery,
      seconds: w.seconds,
      target: 'app throttled ≤ 2%, back above 95% of 25/s ≤ 30 s after each burst',
      met: appThrottled <= 2 && recovery <= 30,
    },
    series,
  };
}

/** Scenario 4: a 1-shard run and a 256-shard run of one account at once; each run's share while both walk. */
async function twoRuns(options: LimiterBenchOptions, smallPool: string, bigPool: string): Promise<LimiterRow> {
  const { emulator } = options;
  // Short calls, so one walk could use more than half of the rate: fairness only shows when both want more.
  await emulator.setFaults({ appRps: null, latencyMs: 15, jitterMs: 10 });
  const d = await deploy(emulator, options.redisUrl, 2, { WORKER_CONCURRENCY: '24' });
  try {
    await emulator.resetStats();
    const sampling = sampler(emulator);
    // The single shard first, and walking, so its job is not queued behind the 256.
    const single = await request(d, smallPool, 1);
    for (;;) {
      if (((await d.runtime.runs.status(single))?.pages ?? 0) > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const many = await request(d, bigPool, 256);
    const calls = (s: RunStatus | undefined) => (s ? s.pages + s.throttles + s.retries : 0);
    const ended = (s: RunStatus | undefined) => s?.state === 'completed' || s?.state === 'failed';
    const points: { t: number; single: number; many: number }[] = [];
    const started = sampling.startedAt;
    // Until either run ends: the shares count only while both walk.
    for (;;) {
      const [a, b] = await Promise.all([d.runtime.runs.status(single), d.runtime.runs.status(many)]);
      if (ended(a) || ended(b)) break;
      points.push({ t: (performance.now() - started) / 1000, single: calls(a), many: calls(b) });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // Stop the big run: the measurement is over.
    const bigSpec = await d.runtime.runs.spec(many);
    if (bigSpec) await d.runtime.runs.fail(bigSpec, 'bench: measured');
    sampling.stop();
    const bothFrom = points.find((p) => p.single > 0 && p.many > 0);
    const last = points.at(-1);
    if (!bothFrom || !last) throw new Error('limiter bench: the two runs never walked at once');
    // Skip the first seconds (the 256 shards' jobs start).
    const from = points.find((p) => p.t >= bothFrom.t + 3) ?? bothFrom;
    const singleCalls = last.single - from.single;
    const manyCalls = last.many - from.many;
    const seconds = last.t - from.t;
    const shareSingle = (singleCalls / (singleCalls + manyCalls)) * 100;
    const w = windowOf(sampling.samples, from.t, last.t);
    return {
      name: '4. two runs, 1 and 256 shards',
      availableRps: RATE,
      exporterRps: w.exporterRps,
      sharePercent: shareSingle,
      exporterThrottledPercent: w.exporterThrottledPercent,
      appThrottledPercent: null,
      shares: { '1 shard': shareSingle, '256 shards': 100 - shareSingle },
      seconds,
      target: 'each run 40–60% of the calls',
      met: shareSingle >= 40 && shareSingle <= 60,
    };
  } finally {
    await d.close();
    await emulator.setFaults({ latencyMs: LATENCY_BASE, jitterMs: LATENCY_JITTER });
  }
}

/** The emulator's latency in the other scenarios: 150 ms ± 25. */
export const LATENCY_BASE = 125;
export const LATENCY_JITTER = 50;

/** Runs the four scenarios on `options.emulator` (quota on, latency 150 ms ± 25). */
export async function runLimiterBench(options: LimiterBenchOptions): Promise<LimiterBenchResult> {
  const { emulator, log, quick } = options;
  // Pool sizes: at about 22 calls/s, 200,000 users take two and a half minutes.
  const big = quick ? 60_000 : 200_000;
  const pools = {
    solo: await emulator.createPool(quick ? 20_000 : 60_000, 11),
    long: await emulator.createPool(big, 12),
    small: await emulator.createPool(quick ? 12_000 : 40_000, 13),
  };
  const rows: LimiterRow[] = [];
  const wanted = (n: number) => options.scenarios?.has(n) ?? true;
  let burstSeries: RateSeries | null = null;
  if (wanted(1)) {
    log('running: limiter 1, no app');
    rows.push(await noApp(options, pools.solo));
  }
  if (wanted(2)) {
    log('running: limiter 2, app steady 8/s (about two and a half minutes)');
    rows.push(await steadyApp(options, pools.long));
  }
  if (wanted(3)) {
    log('running: limiter 3, app bursting to 20/s (about two and a half minutes)');
    const burst = await burstingApp(options, pools.long);
    rows.push(burst.row);
    burstSeries = burst.series;
  }
  if (wanted(4)) {
    log('running: limiter 4, two runs side by side');
    rows.push(await twoRuns(options, pools.small, pools.long));
  }
  return { rows, burstSeries };
}

const fixed = (n: number | null | undefined, digits = 1): string => (n === null || n === undefined ? '—' : n.toFixed(digits));

/** The limiter table, one row a scenario. */
export function limiterTable(rows: readonly LimiterRow[]): string {
  const head = ['limiter scenario', 'available/s', 'exporter/s', 'exporter share %', 'exporter throttled %', 'app throttled %', 'recovery s', 'target', 'met'];
  const cells = rows.map((r) => [
    r.name,
    fixed(r.availableRps),
    fixed(r.exporterRps, 2),
    r.shares ? Object.entries(r.shares).map(([k, v]) => `${k}: ${fixed(v)}`).join(', ') : fixed(r.sharePercent),
    fixed(r.exporterThrottledPercent, 2),
    fixed(r.appThrottledPercent, 2),
    r.recoverySeconds === undefined ? '—' : fixed(r.recoverySeconds, 0),
    r.target,
    r.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((row) => (row[i] ?? '').length)));
  const left = new Set([0, 7, 8]);
  const line = (c: readonly string[]) => `| ${c.map((x, i) => (left.has(i) ? x.padEnd(widths[i] ?? 0) : x.padStart(widths[i] ?? 0))).join(' | ')} |`;
  return [line(head), `| ${widths.map((w, i) => (left.has(i) ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`, ...cells.map(line)].join('\n');
}
