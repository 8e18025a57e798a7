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
    const poolId = emulator.createPoolWithUsers({ users: 12_000, seed: 52 });
    emulator.setFaults({ latencyMs: 10, quotaRps: 20 });
    await workers(h, 2, { COGNITO_RATE_LIMIT_RPS: '60', WORKER_CONCURRENCY: '8' });
    emulator.resetStats();
    const started = performance.now();
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/backoff`, shards: 16 });
    const seconds = (performance.now() - started) / 1000;
    await expectExactlyOnce(poolId, status);
    const stats = emulator.stats();
    const calls = stats.calls.ListUsers ?? 0;
    const throttled = stats.throttled.ListUsers ?? 0;
    // Asking for 60/s against 20/s: the quota's burst runs out within a second, and the throttles
    // that follow cut the shared rate for both workers at once, well under the quota. Without that,
    // about two calls in three would be throttled.
    expect(throttled).toBeGreaterThan(0);
    expect(throttled / calls).toBeLessThan(0.05);
    expect(calls / seconds).toBeLessThan(20);
    expect(calls / seconds).toBeGreaterThan(6);
    expect(status.throttles).toBe(Object.values(stats.throttled).reduce((sum, n) => sum + n, 0));
  });
});
