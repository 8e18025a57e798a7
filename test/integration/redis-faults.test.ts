import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { RunStatus } from '../../src/runs/run-store.js';
import { toUserRecord } from '../../src/tables/user-record.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startTestRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { eventually } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
let redis: TestRedisServer;
let harness: ExportHarness | undefined;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0, faults: { latencyMs: 10 } });
  s3 = await startS3TestServer();
});

afterEach(async () => {
  redis.resume();
  await harness?.close();
  harness = undefined;
  await redis.stop();
});

afterAll(async () => {
  await s3.stop();
  await emulator.stop();
});

/** A harness whose Redis is a server of the test's own, with a short job lock so takeovers happen within the test. */
async function open(): Promise<ExportHarness> {
  redis = await startTestRedisServer();
  harness = await startHarness({
    cognitoEndpoint: emulator.url,
    s3,
    env: { REDIS_URL: redis.url, COGNITO_RATE_LIMIT_RPS: '40' },
    worker: { lockDurationMs: 3000 },
  });
  return harness;
}

async function midRun(h: ExportHarness, snapshotId: string): Promise<void> {
  await eventually(async () => {
    const status = await h.runtime.runs.status(snapshotId);
    return status && status.durableUsers >= 2000 ? status : undefined;
  }, 30_000, 'the run to be under way');
}

async function expectExact(poolId: string, status: RunStatus): Promise<void> {
  expect(status.error).toBeUndefined();
  expect(status.state).toBe('completed');
  const manifest = await readManifest(status.manifestUrl ?? '', s3);
  const records = await readManifestRecords(manifest, s3);
  const context = { userPoolId: poolId, snapshotId: manifest.snapshot_id, attributes: null };
  const bySub = (a: { sub: string | null }, b: { sub: string | null }) => (a.sub ?? '').localeCompare(b.sub ?? '');
  expect(records.sort(bySub)).toEqual(emulator.listAllUsers(poolId).map((user) => toUserRecord(user, context)).sort(bySub));
  expect(await s3.listKeys(`${manifest.files[0]?.url.split('/')[3]}/users/user_pool_id=${poolId}/`)).toEqual(
    manifest.files.map((f) => f.url.slice(`s3://${s3.bucket}/`.length)).sort(),
  );
}

describe('Redis failing under a run', () => {
  it('completes exactly after Redis is killed (-9) mid-run and restarted from its AOF', async () => {
    const h = await open();
    const poolId = emulator.createPoolWithUsers({ users: 8000, seed: 120 });
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/redis-kill`, fileMaxRecords: 120 });
    await midRun(h, snapshotId);
    await redis.kill();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await redis.restart();
    await expectExact(poolId, await h.wait(snapshotId, 120_000));
  });

  it('completes exactly after Redis stops answering for 30 s mid-run (SIGSTOP), with no failed job', async () => {
    const h = await open();
    const poolId = emulator.createPoolWithUsers({ users: 8000, seed: 121 });
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/redis-pause`, fileMaxRecords: 120 });
    await midRun(h, snapshotId);
    redis.pause();
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    redis.resume();
    const status = await h.wait(snapshotId, 120_000);
    await expectExact(poolId, status);
    const failed = (await h.queues.shards.getJobs(['failed'])).filter((job) => (job.data as { snapshotId: string }).snapshotId === snapshotId);
    expect(failed).toEqual([]);
  }, 120_000);
});
