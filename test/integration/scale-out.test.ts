import { hostname } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { RunStatus } from '../../src/runs/run-store.js';
import { toUserRecord } from '../../src/tables/user-record.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { eventually, spawnCli, type CliProcess } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
const harnesses: ExportHarness[] = [];
const children: CliProcess[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
});

afterEach(async () => {
  emulator.setFaults({ latencyMs: 0, jitterMs: 0, quotaRps: null });
  for (const child of children.splice(0)) child.child.kill('SIGKILL');
  for (const harness of harnesses.splice(0)) await harness.close();
});

afterAll(async () => {
  await emulator.stop();
  await s3.stop();
});

async function harness(env: Record<string, string> = {}, worker = false): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, s3, worker, env });
  harnesses.push(h);
  return h;
}

/** Starts `count` worker processes on the harness's Redis prefix, waiting until each is up. */
async function workers(h: ExportHarness, count: number, env: Record<string, string> = {}): Promise<CliProcess[]> {
  const started = Array.from({ length: count }, () => spawnCli(['worker'], { ...h.childEnv, WORKER_LOCK_DURATION_MS: '2000', LOG_LEVEL: 'info', ...env }));
  children.push(...started);
  await Promise.all(started.map((child) => eventually(() => Promise.resolve(/worker started/.test(child.stderr()) ? true : undefined), 20_000, 'a worker to start')));
  return started;
}

async function expectExactlyOnce(poolId: string, status: RunStatus): Promise<void> {
  expect(status.error).toBeUndefined();
  expect(status.state).toBe('completed');
  const manifest = await readManifest(status.manifestUrl ?? '', s3);
  const records = await readManifestRecords(manifest, s3);
  const context = { userPoolId: poolId, snapshotId: manifest.snapshot_id, attributes: null };
  const bySub = (a: { sub: string | null }, b: { sub: string | null }) => (a.sub ?? '').localeCompare(b.sub ?? '');
  expect(records.sort(bySub)).toEqual(emulator.listAllUsers(poolId).map((u) => toUserRecord(u, context)).sort(bySub));
}

describe('sub-prefix shards', () => {
  it.each([16, 256] as const)('cover a pool with skewed subs exactly with %i shards', async (shards) => {
    const h = await harness({}, true);
    const poolId = emulator.createPoolWithUsers({ users: 4000, seed: 40 + shards, subSkew: 0.6 });
    const zeros = emulator.listAllUsers(poolId).filter((u) => u.Attributes?.find((a) => a.Name === 'sub')?.Value?.startsWith('0')).length;
    expect(zeros).toBeGreaterThan(2000);
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/skew-${shards}`, shards, fileMaxRecords: 500 });
    await expectExactlyOnce(poolId, status);
    const manifest = await readManifest(status.manifestUrl ?? '', s3);
    expect(manifest.shards).toBe(shards);
  });
});

describe('several worker processes on one Redis', () => {
  it('share one rate limit: 3 processes together stay within 10% of 30 calls/s over 5 s', async () => {
    const h = await harness({ COGNITO_RATE_LIMIT_RPS: '30' });
    const poolId = emulator.createPoolWithUsers({ users: 15_000, seed: 50 });
    emulator.setFaults({ latencyMs: 20, jitterMs: 20 });
    await workers(h, 3, { COGNITO_RATE_LIMIT_RPS: '30', WORKER_CONCURRENCY: '6' });
    emulator.resetStats();
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/rate`, shards: 16 });
    const calls = () => emulator.stats().calls.ListUsers ?? 0;
    await eventually(() => Promise.resolve(calls() > 30 ? true : undefined), 20_000, 'the walk to be under way');
    const from = calls();
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const rate = (calls() - from) / ((performance.now() - started) / 1000);
    expect(rate).toBeGreaterThan(27);
    expect(rate).toBeLessThan(33);
    // Every worker took part.
    const status = await h.wait(snapshotId, 60_000);
    await expectExactlyOnce(poolId, status);
    for (const child of children) expect(child.stderr()).toMatch(/shard done/);
  });

  it('finish a run exactly once when one of 3 is killed (-9) mid-run', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 12_000, seed: 51 });
    emulator.setFaults({ latencyMs: 10 });
    const [victim] = await workers(h, 3, { COGNITO_RATE_LIMIT_RPS: '150', WORKER_CONCURRENCY: '6' });
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/three`, shards: 16, fileMaxRecords: 200 });
    // Kill it a quarter of the way in, while it holds a shard in flight (so that shard must move).
    const victimName = `${hostname()}:${victim?.child.pid ?? 0}`;
    await eventually(async () => {
      const status = await h.runtime.runs.status(snapshotId);
      if (!status || status.durableUsers < 3000) return undefined;
      const held = (await h.queues.shards.getActive()).filter((job) => job.processedBy === victimName);
      return held.length > 0 ? held : undefined;
    }, 30_000, 'the run to be a quarter done with a shard on the victim', 10);
    victim?.child.kill('SIGKILL');
    const status = await h.wait(snapshotId, 90_000);
    await expectExactlyOnce(poolId, status);
  });

  it('back off together when Cognito throttles: the first throttle slows every worker under the real quota', async () => {
    const h = await harness({ COGNITO_RATE_LIMIT_RPS: '60' });
    // 500 pages: about 3 s at 60/s before the quota, then well over 10 s under it.
    const poolId = emulator.createPoolWithUsers({ users: 30_000, seed: 52 });
    emulator.setFaults({ latencyMs: 10 });
    const started = await workers(h, 2, { COGNITO_RATE_LIMIT_RPS: '60', WORKER_CONCURRENCY: '8' });
    // Each worker's own count of the ListUsers calls it made, from its /metrics.
    const admins = started.map((child) => {
      const line = child.stderr().split('\n').find((l) => l.includes('worker started')) ?? '{}';
      return ((JSON.parse(line) as { admin?: string }).admin ?? '').replace('0.0.0.0', '127.0.0.1');
    });
    const perWorker = async (): Promise<{ at: number; calls: number[] }> => {
      const calls = await Promise.all(
        admins.map(async (admin) => {
          const text = await (await fetch(`${admin}/metrics`)).text();
          const line = text.split('\n').find((l) => l.startsWith(`cognito_export_list_users_calls_total{user_pool_id="${poolId}"}`));
          return Number(line?.split(' ').at(-1) ?? 0);
        }),
      );
      return { at: performance.now(), calls };
    };
    const rates = (from: { at: number; calls: number[] }, to: { at: number; calls: number[] }) =>
      to.calls.map((n, i) => (n - (from.calls[i] ?? 0)) / ((to.at - from.at) / 1000));
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    emulator.resetStats();
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/backoff`, shards: 16 });
    const stats = () => emulator.stats();
    await eventually(() => Promise.resolve((stats().calls.ListUsers ?? 0) > 20 ? true : undefined), 20_000, 'the walk to be under way');
    // Before any throttle: the shared 60/s, split between the two workers.
    const before0 = await perWorker();
    await sleep(2500);
    const before1 = await perWorker();
    const before = rates(before0, before1);
    expect(stats().throttled.ListUsers ?? 0).toBe(0);
    // Now the real quota, 20/s: asking 60/s, its burst runs out within a second and the first throttle comes.
    emulator.setFaults({ quotaRps: 20 });
    const [callsAtQuota, quotaAt] = [stats().calls.ListUsers ?? 0, performance.now()];
    await eventually(() => Promise.resolve((stats().throttled.ListUsers ?? 0) > 0 ? true : undefined), 10_000, 'the first throttle', 10);
    // A second for the cut to settle, then each worker's own rate for 4 s.
    await sleep(1000);
    const after0 = await perWorker();
    const fromAfter = stats();
    await sleep(4000);
    const after1 = await perWorker();
    const toAfter = stats();
    const after = rates(after0, after1);
    for (const [i, rate] of after.entries()) {
      // Every worker took part before, and every worker is slowed: each one's own rate falls well
      // below what it made before the throttle, and their sum under the quota.
      expect(before[i], `worker ${i} before the throttle`).toBeGreaterThan(10);
      expect(rate, `worker ${i}: ${rate.toFixed(1)}/s after, ${before[i]?.toFixed(1)}/s before`).toBeLessThan(0.6 * (before[i] ?? 0));
      expect(rate).toBeLessThan(20);
    }
    const window = (after1.at - after0.at) / 1000;
    const callsAfter = (toAfter.calls.ListUsers ?? 0) - (fromAfter.calls.ListUsers ?? 0);
    expect(callsAfter / window).toBeLessThan(20);
    const status = await h.wait(snapshotId, 90_000);
    const seconds = (performance.now() - quotaAt) / 1000;
    await expectExactlyOnce(poolId, status);
    const end = stats();
    const calls = (end.calls.ListUsers ?? 0) - callsAtQuota;
    // Under the quota from then on, but not needlessly slow: the limit climbs back towards it.
    expect(calls / seconds).toBeLessThan(20);
    expect(calls / seconds).toBeGreaterThan(6);
    const throttled = end.throttled.ListUsers ?? 0;
    // The throttles that follow the first cut the shared rate for both workers at once, well under the
    // quota. Without that, about two calls in three would be throttled.
    expect(throttled).toBeGreaterThan(0);
    expect(throttled / calls).toBeLessThan(0.05);
    expect(status.throttles).toBe(Object.values(end.throttled).reduce((sum, n) => sum + n, 0));
  }, 120_000);
});
