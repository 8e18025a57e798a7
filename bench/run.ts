import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/app-config.js';
import { buildRunSpec } from '../src/runs/export-request.js';
import { ExportRuntime } from '../jobs/export-runtime.js';
import { createLogger } from '../src/ops/logger.js';
import { connectRedis } from '../src/redis/redis-connection.js';
import { rateLimitKey } from '../src/redis/redis-keys.js';
import type { ShardCount } from '../src/runs/shard-plan.js';
import { ExportQueues } from '../jobs/queues.js';
import { requestExport } from '../jobs/request-export.js';
import { waitForRun } from '../jobs/wait-for-run.js';
import { startCli, type MeasuredProcess } from './cli-process.js';
import { startEmulatorProcess, type EmulatorProcess } from './emulator-process.js';
import { benchPipeline, sampleUsers, type PipelineResult } from './pipeline-bench.js';
import { benchPublish, type PublishResult } from './publish-bench.js';
import { groupsTable, runGroupsBench, type GroupsBenchResult } from './groups-bench.js';
import { diffTable, runDiffBench, type DiffResult } from './diff-bench.js';
import { formatTable, runFormatBench, type FormatResult } from './format-bench.js';
import { restoreTable, runRestoreBench, type RestoreBenchResult } from './restore-bench.js';
import { LATENCY_BASE, LATENCY_JITTER, limiterTable, runLimiterBench, type LimiterBenchResult } from './limiter-bench.js';
import { rateChart } from './rate-chart.js';

/** One export measured end to end. */
interface ScenarioResult {
  readonly name: string;
  readonly users: number;
  readonly wallSeconds: number;
  readonly usersPerSecond: number;
  /** ListUsers calls/s between 10% and 90% of the run's calls (start-up and tail excluded). */
  readonly callsPerSecond: number;
  /** Calls/s as a percentage of the emulated quota (null when the quota is off). */
  readonly quotaPercent: number | null;
  readonly throttledPercent: number;
  readonly workerCpuSecondsPer100k: number;
  readonly peakRssMiB: number;
}

interface Scenario {
  readonly name: string;
  readonly poolId: string;
  readonly users: number;
  readonly shards: ShardCount;
  readonly workers: number;
  readonly rateLimit: number;
  readonly quota: number | null;
  /** Node flags for the workers, e.g. a heap cap as the Dockerfile sets. */
  readonly nodeFlags?: readonly string[];
}

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '100000' },
    'sequential-users': { type: 'string' },
    'latency-ms': { type: 'string', default: '150' },
    'jitter-ms': { type: 'string', default: '50' },
    quota: { type: 'string', default: '30' },
    'big-users': { type: 'string', default: '1000000' },
    'pipeline-users': { type: 'string', default: '200000' },
    // Users of the snapshot written as NDJSON and as Parquet (the formats part).
    'format-users': { type: 'string', default: '1000000' },
    // Users of the snapshot the restore part restores, and the factor its write quotas are scaled by.
    'restore-users': { type: 'string', default: '100000' },
    'restore-scale': { type: 'string', default: '10' },
    'skip-memory': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    save: { type: 'boolean', default: false },
    // Users of the two snapshots the change-table diff compares, comma-separated.
    'diff-users': { type: 'string', default: '1000000,2000000' },
    // Comma-separated parts to run: throughput, groups, memory, changes, pipeline, formats, restore, limiter (default: all).
    only: { type: 'string' },
    // Comma-separated limiter scenarios (1 to 4) to run (default: all).
    'limiter-scenarios': { type: 'string' },
  },
});

const PARTS = ['throughput', 'groups', 'memory', 'changes', 'pipeline', 'formats', 'restore', 'limiter'] as const;
const parts = new Set((args.only ?? PARTS.join(',')).split(',').map((g) => g.trim()));
for (const part of parts) {
  if (!(PARTS as readonly string[]).includes(part)) {
    process.stderr.write(`bench: --only: expected some of ${PARTS.join(', ')}, got \`${part}\`\n`);
    process.exit(2);
  }
}
if (args['skip-memory']) parts.delete('memory');

/** Other load on the machine skews CPU and wall-clock figures (not the ratios): recorded with the result. */
const loadAverageAtStart = loadavg();
/** The code measured: the commit when the bench started (built into dist/ by `npm run bench`). */
const commitAtStart = sourceCommit();
const quick = args.quick ?? false;
const users = quick ? 20_000 : Number(args.users);
// One sequential walk at 150 ms a call takes minutes per 100k users; a fifth of the pool measures its rate as well.
const sequentialUsers = Number(args['sequential-users'] ?? Math.max(2000, Math.round(users / 5)));
const latency = Number(args['latency-ms']);
const jitter = Number(args['jitter-ms']);
const quota = Number(args.quota);
const bigUsers = quick ? 200_000 : Number(args['big-users']);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The heap cap the Dockerfile gives workers (NODE_OPTIONS): V8 otherwise grows the heap with the allocation rate. */
const HEAP_CAP_MB = 160;
const HEAP_CAP = [`--max-old-space-size=${HEAP_CAP_MB}`];

async function runScenario(emulator: EmulatorProcess, scenario: Scenario): Promise<ScenarioResult> {
  const prefix = `{bench-${randomBytes(4).toString('hex')}}`;
  // A rate-limit bucket of its own (it is named by the account): nothing one scenario learned carries over.
  const account = `bench-${randomBytes(4).toString('hex')}`;
  const directory = join(tmpdir(), `ce-bench-${randomBytes(4).toString('hex')}`);
  const env = {
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: emulator.url,
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_REGION: 'us-east-1',
    COGNITO_RATE_LIMIT_RPS: String(scenario.rateLimit),
    AWS_ACCOUNT_ID: account,
    ADMIN_PORT: 'off',
    LOG_LEVEL: 'info',
  };
  const workers: MeasuredProcess[] = Array.from({ length: scenario.workers }, () => startCli(['worker'], env, scenario.nodeFlags));
  await Promise.all(workers.map((w) => w.waitFor(/worker started/, 'stderr')));
  const config = loadConfig(env);
  const redis = await connectRedis(config.redisUrl);
  const runtime = new ExportRuntime(config, redis, createLogger('warn', { pretty: false }));
  const queues = new ExportQueues(runtime);
  await emulator.resetStats();
  const samples: { t: number; calls: number }[] = [];
  const sampler = setInterval(() => {
    void emulator.stats().then((s) => samples.push({ t: performance.now(), calls: s.calls.ListUsers ?? 0 }));
  }, 200);
  const started = performance.now();
  const spec = buildRunSpec(
    { userPoolId: scenario.poolId, destination: pathToFileURL(directory).href, shards: scenario.shards, trigger: 'cli' },
    config,
  );
  const { snapshotId } = await requestExport(runtime, queues, spec);
  const status = await waitForRun(runtime, queues, snapshotId, { intervalMs: 100 });
  const wallSeconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  if (status.state !== 'completed') throw new Error(`${scenario.name}: run ${status.state}: ${status.error}`);
  const stats = await emulator.stats();
  const calls = stats.calls.ListUsers ?? 0;
  const cpu = workers.reduce((sum, w) => sum + w.cpuSeconds(), 0);
  const rss = Math.max(...workers.map((w) => w.peakRssMiB()));
  await Promise.all(workers.map((w) => w.stop()));
  await queues.close();
  await redis.del(rateLimitKey(`${account}:us-east-1`));
  runtime.destroy();
  redis.disconnect();
  await rm(directory, { recursive: true, force: true });
  const callsPerSecond = steadyRate(samples, calls);
  return {
    name: scenario.name,
    users: status.durableUsers,
    wallSeconds,
    usersPerSecond: status.durableUsers / wallSeconds,
    callsPerSecond,
    quotaPercent: scenario.quota === null ? null : (callsPerSecond / scenario.quota) * 100,
    throttledPercent: calls === 0 ? 0 : ((stats.throttled.ListUsers ?? 0) / calls) * 100,
    workerCpuSecondsPer100k: (cpu / status.durableUsers) * 100_000,
    peakRssMiB: rss,
  };
}

/** Calls/s between the moments 10% and 90% of all calls had been made. */
function steadyRate(samples: readonly { t: number; calls: number }[], total: number): number {
  const at = (fraction: number): number => {
    const target = total * fraction;
    const i = samples.findIndex((s) => s.calls >= target);
    const after = samples[Math.max(i, 0)];
    const before = samples[Math.max(i - 1, 0)];
    if (!after || !before || after.calls === before.calls) return after?.t ?? 0;
    return before.t + ((target - before.calls) / (after.calls - before.calls)) * (after.t - before.t);
  };
  const seconds = (at(0.9) - at(0.1)) / 1000;
  return seconds > 0 ? (total * 0.8) / seconds : 0;
}

const fixed = (n: number | null, digits = 1): string => (n === null ? '—' : n.toFixed(digits));

function table(results: readonly ScenarioResult[]): string {
  const head = ['scenario', 'users', 'wall s', 'users/s', 'calls/s', '% of quota', 'throttled %', 'worker CPU s/100k', 'peak RSS MiB'];
  const rows = results.map((r) => [
    r.name,
    String(r.users),
    fixed(r.wallSeconds),
    fixed(r.usersPerSecond, 0),
    fixed(r.callsPerSecond),
    fixed(r.quotaPercent),
    fixed(r.throttledPercent, 2),
    fixed(r.workerCpuSecondsPer100k, 2),
    fixed(r.peakRssMiB, 0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  return [line(head), `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const results: ScenarioResult[] = [];
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const base = Math.max(0, latency - jitter / 2);
  log(`bench: ${users} users, latency ${latency} ms ± ${jitter / 2}, emulated quota ${quota}/s, on ${cpus().length} cores`);

  let limiter: LimiterBenchResult | null = null;
  let groupsResult: GroupsBenchResult | null = null;
  if (parts.has('throughput') || parts.has('limiter') || parts.has('groups')) {
    const seeded = parts.has('throughput') ? users : 0;
    const emulator = await startEmulatorProcess(seeded, ['--latency-ms', String(base), '--jitter-ms', String(jitter), '--quota-rps', String(quota)]);
    try {
      if (parts.has('throughput')) {
        const small = await emulator.createPool(sequentialUsers, 2);
        const scenarios: Scenario[] = [
          { name: '1 shard, 1 worker, limiter 30/s', poolId: small, users: sequentialUsers, shards: 1, workers: 1, rateLimit: 30, quota },
          { name: '16 shards, 1 worker, limiter 30/s', poolId: emulator.poolId, users, shards: 16, workers: 1, rateLimit: 30, quota },
          { name: '16 shards, 3 workers, limiter 30/s', poolId: emulator.poolId, users, shards: 16, workers: 3, rateLimit: 30, quota },
          { name: '16 shards, 3 workers, limiter 25/s', poolId: emulator.poolId, users, shards: 16, workers: 3, rateLimit: 25, quota },
        ];
        for (const scenario of scenarios) {
          log(`running: ${scenario.name} (${scenario.users} users)`);
          results.push(await runScenario(emulator, scenario));
        }
      }
      if (parts.has('groups')) {
        // 100,000 users, 50 groups: `everyone` of 80%, a Zipf tail of 70% more memberships (about 150,000 in all).
        groupsResult = await runGroupsBench({ emulator, redisUrl, users, groups: 50, bigGroupShare: 0.8, tailShare: 0.7, rateLimit: 30, quota, log });
      }
      if (parts.has('limiter')) {
        if (base !== LATENCY_BASE || jitter !== LATENCY_JITTER) log('limiter: its scenarios assume the default latency (150 ms ± 25)');
        const picked = args['limiter-scenarios']?.split(',').map(Number);
        limiter = await runLimiterBench({ emulator, redisUrl, quota, quick, log, ...(picked ? { scenarios: new Set(picked) } : {}) });
      }
    } finally {
      await emulator.stop();
    }
  }

  let publish: PublishResult | undefined;
  if (parts.has('memory')) {
    // Memory: no latency, no quota, so the worker runs flat out and holds as much in flight as it ever will.
    const big = await startEmulatorProcess(bigUsers);
    try {
      const hundredK = await big.createPool(Math.min(100_000, bigUsers), 4);
      const small = Math.min(100_000, bigUsers);
      for (const [name, poolId, count, nodeFlags] of [
        [`${small / 1000}k users flat out, heap cap ${HEAP_CAP_MB} MB`, hundredK, small, HEAP_CAP],
        [`${bigUsers / 1000}k users flat out, heap cap ${HEAP_CAP_MB} MB`, big.poolId, bigUsers, HEAP_CAP],
        [`${bigUsers / 1000}k users flat out, V8 default heap`, big.poolId, bigUsers, []],
      ] as const) {
        log(`running: ${name}`);
        results.push(await runScenario(big, { name, poolId, users: count, shards: 16, workers: 1, rateLimit: 10_000, quota: null, nodeFlags }));
      }
      log(`running: publishing a ${bigUsers / 1000}k-user run to S3`);
      publish = await benchPublish(big, big.poolId, redisUrl, HEAP_CAP);
    } finally {
      await big.stop();
    }
  }

  let diffs: DiffResult[] = [];
  if (parts.has('changes')) {
    const sizes = (quick ? '100000,200000' : (args['diff-users'] ?? '')).split(',').map(Number);
    // The diff runs in a worker: measured with the heap cap the Dockerfile gives workers.
    diffs = await runDiffBench(sizes, log, HEAP_CAP);
  }

  const pipelines: PipelineResult[] = [];
  if (parts.has('pipeline')) {
    log('running: pipeline alone');
    const sample = await sampleUsers();
    await benchPipeline(sample, 60_000, 6); // warm-up: JIT and zlib
    for (const level of [6, 1, null]) pipelines.push(await benchPipeline(sample, Number(args['pipeline-users']), level));
  }
  const pipeline = pipelines[0];

  let restoreResult: RestoreBenchResult | undefined;
  if (parts.has('restore')) {
    restoreResult = await runRestoreBench(quick ? 10_000 : Number(args['restore-users']), Number(args['restore-scale']), redisUrl, log);
  }

  let formats: FormatResult[] = [];
  if (parts.has('formats')) {
    const formatUsers = quick ? 100_000 : Number(args['format-users']);
    formats = await runFormatBench(await sampleUsers(), formatUsers, log);
  }

  const find = (prefix: string) => results.find((r) => r.name.startsWith(prefix));
  const sequential = find('1 shard');
  const sharded = find('16 shards, 1 worker');
  const three30 = find('16 shards, 3 workers, limiter 30');
  const three25 = find('16 shards, 3 workers, limiter 25');
  const mem = results.filter((r) => r.name.includes('heap cap'));
  const ratios = {
    shardedVsSequential: sharded && sequential ? sharded.usersPerSecond / sequential.usersPerSecond : null,
    shardedQuotaPercent: sharded?.quotaPercent ?? null,
    threeWorkersQuotaPercent: three30?.quotaPercent ?? null,
    threeWorkersAt25CallsPerSecond: three25?.callsPerSecond ?? null,
    pipelineUsersPerCoreSecond: pipeline?.usersPerCpuSecond ?? null,
    coreShareAtCeiling: pipeline ? (1800 / pipeline.usersPerCpuSecond) * 100 : null,
    rssGrowthBigVsSmallMiB: mem.length === 2 ? (mem[1]?.peakRssMiB ?? 0) - (mem[0]?.peakRssMiB ?? 0) : null,
  };

  const out = [
    results.length > 0 ? `${table(results)}\n` : '',
    ...pipelines.map(
      (p) =>
        `pipeline alone (records → NDJSON → ${p.gzipLevel === null ? 'no gzip' : `gzip level ${p.gzipLevel}`} → file): ` +
        `${fixed(p.usersPerCpuSecond, 0)} users/s per core, ${fixed(p.bytes / p.users, 0)} bytes/user`,
    ),
    ...(parts.has('throughput')
      ? [
          `16 shards vs 1 shard: ${fixed(ratios.shardedVsSequential, 2)}× the users/s`,
          `16 shards, limiter 30/s: ${fixed(ratios.shardedQuotaPercent)}% of the ${quota}/s quota (1 worker), ${fixed(ratios.threeWorkersQuotaPercent)}% (3 workers)`,
          `limiter 25/s shared by 3 workers: ${fixed(ratios.threeWorkersAt25CallsPerSecond, 2)} calls/s combined`,
        ]
      : []),
    ratios.coreShareAtCeiling === null ? '' : `at the 1,800 users/s ceiling the pipeline (gzip level 6) needs ${fixed(ratios.coreShareAtCeiling, 2)}% of a core`,
    ratios.rssGrowthBigVsSmallMiB === null ? '' : `peak RSS, ${bigUsers / 1000}k vs 100k users: ${ratios.rssGrowthBigVsSmallMiB >= 0 ? '+' : ''}${fixed(ratios.rssGrowthBigVsSmallMiB, 0)} MiB`,
    publish === undefined
      ? ''
      : `publishing a ${publish.users / 1000}k-user run to S3 (s3rver): ${publish.files} files, finalizer ${fixed(publish.finalizerSeconds, 2)} s; ` +
        `S3 requests per file: ${Object.entries(publish.requestsPerFile).map(([operation, n]) => `${operation} ${fixed(n, 2)}`).join(', ')}`,
    groupsResult ? `\n${groupsTable(groupsResult)}` : '',
    diffs.length > 0 ? `\n${diffTable(diffs, `heap cap ${HEAP_CAP_MB} MB`)}` : '',
    restoreResult ? `\n${restoreTable(restoreResult)}` : '',
    formats.length > 0 ? `\nthe users table of a ${(formats[0]?.users ?? 0) / 1000}k-user snapshot in each format (written on one core, scanned by DuckDB):\n${formatTable(formats)}` : '',
    limiter ? `\n${limiterTable(limiter.rows)}` : '',
  ]
    .filter((line) => line !== '')
    .join('\n');
  process.stdout.write(`${out}\n`);

  // Kept results (quoted in docs/benchmarks.md) only with --save; other runs go to a git-ignored folder.
  const resultsDir = join(process.cwd(), 'bench', 'results', ...(args.save ? [] : ['unsaved']));
  await mkdir(resultsDir, { recursive: true });
  const stem = join(resultsDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const file = `${stem}.json`;
  const machine = { node: process.version, cores: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), loadAverageAtStart, loadAverageAtEnd: loadavg() };
  const settings = { users, sequentialUsers, latency, jitter, quota, bigUsers, pipelineUsers: Number(args['pipeline-users']), formatUsers: Number(args['format-users']), restoreUsers: Number(args['restore-users']), restoreScale: Number(args['restore-scale']), quick, parts: [...parts] };
  // The README quotes `printed` verbatim and names `commit` (test/unit/readme-bench.test.ts checks it).
  const record = { date: new Date().toISOString(), commit: commitAtStart, machine, settings, printed: out, results, pipelines, ratios, publish, groups: groupsResult, diffs, formats, restore: restoreResult, limiter };
  await writeFile(file, `${JSON.stringify(record, null, 2)}\n`);
  process.stderr.write(`written ${file}\n`);
  if (limiter?.burstSeries) {
    const title = `Scenario 3: the exporter (limit 25/s) beside an app bursting to 20/s, quota ${quota}/s`;
    await writeFile(`${stem}-limiter.svg`, rateChart(limiter.burstSeries, { title, quota, configured: 25 }));
    process.stderr.write(`written ${stem}-limiter.svg\n`);
  }
}

await main();

/** The commit the bench ran, with `-dirty` when the tree had changes (such a result is not quotable). */
function sourceCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}
