import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { CognitoIdentityProviderClient, ListUsersInGroupCommand } from '@aws-sdk/client-cognito-identity-provider';
import { loadConfig } from '../src/config/app-config.js';
import { createLogger } from '../src/ops/logger.js';
import { connectRedis } from '../src/redis/redis-connection.js';
import { rateLimitKey } from '../src/redis/redis-keys.js';
import { buildRunSpec } from '../src/runs/export-request.js';
import { ExportRuntime } from '../jobs/export-runtime.js';
import { ExportQueues } from '../jobs/queues.js';
import { requestExport } from '../jobs/request-export.js';
import { waitForRun } from '../jobs/wait-for-run.js';
import { startCli } from './cli-process.js';
import type { EmulatorProcess } from './emulator-process.js';

/** Calls a page holds: ListUsers, ListGroups and ListUsersInGroup all return at most 60. */
const PAGE = 60;
/** Round trips measured before the run, one after the other, for the bound's chain term. */
const ROUND_TRIPS = 40;

/** One export of a pool with groups, against the bound on its calls and on its time. */
export interface GroupsBenchResult {
  readonly users: number;
  readonly groups: number;
  readonly memberships: number;
  readonly largestGroup: number;
  /** Calls the run made, by operation (throttled ones included). */
  readonly calls: Record<string, number>;
  readonly totalCalls: number;
  /** ⌈users/60⌉ + ⌈groups/60⌉ + Σ max(1, ⌈members/60⌉). */
  readonly minimumCalls: number;
  readonly throttledPercent: number;
  /** Calls/s over the run (first call to completion) against the emulated quota. */
  readonly quotaPercent: number;
  readonly rateLimit: number;
  /** Mean of {@link ROUND_TRIPS} sequential ListUsersInGroup calls through the SDK, measured first. */
  readonly roundTripMs: number;
  /** The minimum calls at the rate limit. */
  readonly callsBoundSeconds: number;
  /** The largest group's pages × the round trip: its walk cannot be split. */
  readonly chainBoundSeconds: number;
  /** From the trigger to `completed` (the finalizer included). */
  readonly wallSeconds: number;
}

export interface GroupsBenchOptions {
  readonly emulator: EmulatorProcess;
  readonly redisUrl: string;
  readonly users: number;
  readonly groups: number;
  /** Share of the users in the biggest group. */
  readonly bigGroupShare: number;
  /** Memberships of the other groups, as a share of the users. */
  readonly tailShare: number;
  readonly rateLimit: number;
  readonly quota: number;
  readonly log: (line: string) => void;
}

const pages = (records: number): number => Math.max(1, Math.ceil(records / PAGE));

/** Counts memberships per group in a run's `group_memberships` files (NDJSON, gzipped or not). */
async function membershipsPerGroup(directory: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const entries = await readdir(join(directory, 'group_memberships'), { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile() || !/\.ndjson(\.gz)?$/.test(entry.name)) continue;
    const raw = await readFile(join(entry.parentPath, entry.name));
    const text = (entry.name.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const record = JSON.parse(line) as { group_name: string };
      counts.set(record.group_name, (counts.get(record.group_name) ?? 0) + 1);
    }
  }
  return counts;
}

/** The mean round trip of one ListUsersInGroup call on `group`, sequential, through the SDK. */
async function roundTrip(emulator: EmulatorProcess, poolId: string, group: string): Promise<number> {
  const client = new CognitoIdentityProviderClient({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    maxAttempts: 1,
  });
  try {
    let token: string | undefined;
    const started = performance.now();
    for (let i = 0; i < ROUND_TRIPS; i++) {
      const page = await client.send(new ListUsersInGroupCommand({ UserPoolId: poolId, GroupName: group, Limit: PAGE, NextToken: token }));
      token = page.NextToken;
    }
    return (performance.now() - started) / ROUND_TRIPS;
  } finally {
    client.destroy();
  }
}

/**
 * Exports a pool with groups (one big group, a long tail) with one worker process at the emulated
 * quota, and compares the run with what bounds it: every call at the rate limit, and the largest
 * group's walk at one page per round trip.
 */
export async function runGroupsBench(options: GroupsBenchOptions): Promise<GroupsBenchResult> {
  const { emulator, log } = options;
  const poolId = await emulator.createPool(options.users, 3, { groups: options.groups, bigGroupShare: options.bigGroupShare, tailShare: options.tailShare });
  // The seeder's biggest group is `everyone`; sequential calls stay far under the quota.
  const roundTripMs = await roundTrip(emulator, poolId, 'everyone');
  await new Promise((resolve) => setTimeout(resolve, 1500)); // the quota's burst refills
  const account = `bench-${randomBytes(4).toString('hex')}`;
  const directory = join(tmpdir(), `ce-bench-groups-${randomBytes(4).toString('hex')}`);
  const env = {
    REDIS_URL: options.redisUrl,
    REDIS_KEY_PREFIX: `{bench-${randomBytes(4).toString('hex')}}`,
    AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: emulator.url,
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_REGION: 'us-east-1',
    COGNITO_RATE_LIMIT_RPS: String(options.rateLimit),
    AWS_ACCOUNT_ID: account,
    ADMIN_PORT: 'off',
    LOG_LEVEL: 'info',
  };
  const worker = startCli(['worker'], env);
  const config = loadConfig(env);
  const redis = await connectRedis(config.redisUrl);
  const runtime = new ExportRuntime(config, redis, createLogger('warn', { pretty: false }));
  const queues = new ExportQueues(runtime);
  try {
    await worker.waitFor(/worker started/, 'stderr');
    await emulator.resetStats();
    log(`running: ${options.users} users, ${options.groups} groups, round trip ${roundTripMs.toFixed(0)} ms`);
    const started = performance.now();
    const spec = buildRunSpec({ userPoolId: poolId, destination: pathToFileURL(directory).href, trigger: 'cli' }, config);
    const { snapshotId } = await requestExport(runtime, queues, spec);
    const status = await waitForRun(runtime, queues, snapshotId, { intervalMs: 100 });
    const wallSeconds = (performance.now() - started) / 1000;
    if (status.state !== 'completed') throw new Error(`groups bench: run ${status.state}: ${status.error}`);
    const stats = await emulator.stats();
    const operations = ['ListUsers', 'ListGroups', 'ListUsersInGroup'];
    const calls = Object.fromEntries(operations.map((operation) => [operation, stats.calls[operation] ?? 0]));
    const totalCalls = Object.values(calls).reduce((sum, n) => sum + n, 0);
    const throttled = operations.reduce((sum, operation) => sum + (stats.throttled[operation] ?? 0), 0);
    const perGroup = await membershipsPerGroup(directory);
    const groups = status.tables.groups?.durable ?? 0;
    const members = [...perGroup.values()];
    const memberships = members.reduce((sum, n) => sum + n, 0);
    if (memberships !== (status.tables.group_memberships?.durable ?? -1)) throw new Error(`groups bench: ${memberships} memberships in the files, the run says ${status.tables.group_memberships?.durable}`);
    // Groups without members have no records but still cost one call each.
    const minimumCalls = pages(status.durableUsers) + pages(groups) + members.reduce((sum, n) => sum + pages(n), 0) + (groups - perGroup.size);
    const largestGroup = Math.max(0, ...members);
    return {
      users: status.durableUsers,
      groups,
      memberships,
      largestGroup,
      calls,
      totalCalls,
      minimumCalls,
      throttledPercent: totalCalls === 0 ? 0 : (throttled / totalCalls) * 100,
      quotaPercent: ((stats.calls.ListUsers ?? 0) + (stats.calls.ListUsersInGroup ?? 0)) / wallSeconds / options.quota * 100,
      rateLimit: options.rateLimit,
      roundTripMs,
      callsBoundSeconds: minimumCalls / options.rateLimit,
      chainBoundSeconds: (pages(largestGroup) * roundTripMs) / 1000,
      wallSeconds,
    };
  } finally {
    await worker.stop();
    await queues.close();
    await redis.del(rateLimitKey(`${account}:us-east-1`));
    runtime.destroy();
    redis.disconnect();
    await rm(directory, { recursive: true, force: true });
  }
}

const fixed = (n: number, digits = 1): string => n.toFixed(digits);

/** The groups bench as one table row, with the ratios its targets are about. */
export function groupsTable(r: GroupsBenchResult): string {
  const bound = Math.max(r.callsBoundSeconds, r.chainBoundSeconds);
  const head = ['groups scenario', 'calls', 'minimum', 'calls / min', '% of quota', 'throttled %', 'wall s', 'bound s', 'time / bound'];
  const row = [
    `${r.users / 1000}k users, ${r.groups} groups, ${r.memberships} memberships (largest ${r.largestGroup})`,
    String(r.totalCalls),
    String(r.minimumCalls),
    fixed(r.totalCalls / r.minimumCalls, 3),
    fixed(r.quotaPercent),
    fixed(r.throttledPercent, 2),
    fixed(r.wallSeconds),
    fixed(bound),
    fixed(r.wallSeconds / bound, 3),
  ];
  const widths = head.map((h, i) => Math.max(h.length, (row[i] ?? '').length));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const bounds =
    `bound: max(${r.minimumCalls} calls at ${r.rateLimit}/s = ${fixed(r.callsBoundSeconds)} s, ` +
    `the largest group's ${pages(r.largestGroup)} pages × ${fixed(r.roundTripMs, 0)} ms = ${fixed(r.chainBoundSeconds)} s); ` +
    `calls by operation: ${Object.entries(r.calls).map(([operation, n]) => `${operation} ${n}`).join(', ')}`;
  return [line(head), `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`, line(row), bounds].join('\n');
}
