import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { RunStatus } from '../../src/runs/run-store.js';
import { toUserRecord } from '../../src/tables/user-record.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { eventually, spawnCli, type CliProcess } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
let scratch: string;
const harnesses: ExportHarness[] = [];
const children: CliProcess[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0, faults: { latencyMs: 15 } });
  s3 = await startS3TestServer();
  scratch = await mkdtemp(join(tmpdir(), 'ce-lifecycle-'));
});

afterEach(async () => {
  for (const child of children.splice(0)) child.child.kill('SIGKILL');
  for (const harness of harnesses.splice(0)) await harness.close();
});

afterAll(async () => {
  await emulator.stop();
  await s3.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function harness(worker: boolean, env: Record<string, string> = {}): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, s3, worker, env });
  harnesses.push(h);
  return h;
}

function worker(h: ExportHarness): CliProcess {
  const child = spawnCli(['worker'], { ...h.childEnv, WORKER_LOCK_DURATION_MS: '2000', LOG_LEVEL: 'info' });
  children.push(child);
  return child;
}

/** The run's status, failing the test at once if the run failed. */
async function running(h: ExportHarness, snapshotId: string): Promise<RunStatus> {
  const status = await h.runtime.runs.status(snapshotId);
  if (!status || status.state === 'failed') throw new Error(`run ${snapshotId} failed: ${status?.error}; ${children.map((c) => c.stderr()).join('\n')}`);
  return status;
}

/** ListUsers calls an undisturbed export of the pool makes. */
async function baselineCalls(poolId: string, shards: 1 | 16, fileMaxRecords: number): Promise<number> {
  const h = await harness(true);
  emulator.resetStats();
  const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/baseline-${poolId}-${shards}`, shards, fileMaxRecords });
  expect(status.state).toBe('completed');
  return emulator.stats().calls.ListUsers ?? 0;
}

/** Asserts every user is in the run's files exactly once, and the run's folder holds nothing else. */
async function expectExactlyOnce(h: ExportHarness, poolId: string, manifestUrl: string, destination: string): Promise<void> {
  const manifest = await readManifest(manifestUrl, s3);
  const records = await readManifestRecords(manifest, s3);
  const folder = (await h.runtime.sink(destination).listObjects(`users/user_pool_id=${poolId}/`)).map((o) => o.key);
  expect(folder).toEqual(manifest.files.map((f) => f.url.slice(destination.length + 1)).sort());
  const context = { userPoolId: poolId, snapshotId: manifest.snapshot_id, attributes: null };
  const expected = emulator.listAllUsers(poolId).map((user) => toUserRecord(user, context));
  const bySub = (a: { sub: string | null }, b: { sub: string | null }) => (a.sub ?? '').localeCompare(b.sub ?? '');
  expect(records.sort(bySub)).toEqual(expected.sort(bySub));
}

describe('worker processes that die or are stopped', () => {
  it.each(['s3', 'file'] as const)('resume after kill -9 without duplicates, fetching at most one file of pages twice (%s destination)', async (kind) => {
    const poolId = emulator.createPoolWithUsers({ users: 6000, seed: kind === 's3' ? 101 : 103 });
    const fileMaxRecords = 600; // 10 pages a file
    const baseline = await baselineCalls(poolId, 1, fileMaxRecords);
    const destination = kind === 's3' ? `s3://${s3.bucket}/kill9` : pathToFileURL(join(scratch, 'kill9')).href;

    const h = await harness(false);
    emulator.resetStats();
    const first = worker(h);
    const { snapshotId } = await h.request({ userPoolId: poolId, destination, shards: 1, fileMaxRecords });
    // Kill it once two files are durable and a third is being written.
    await eventually(async () => {
      const status = await running(h, snapshotId);
      return status.durableUsers >= 1200 && status.users > status.durableUsers ? status : undefined;
    }, 30_000, 'the export to be mid-file');
    first.child.kill('SIGKILL');
    expect(await first.exited()).toBe('SIGKILL');
    const killedAt = await h.runtime.runs.status(snapshotId);
    expect(killedAt?.state).toBe('running');

    worker(h);
    const status = await h.wait(snapshotId, 60_000);
    expect(status.error).toBeUndefined();
    expect(status.state).toBe('completed');
    await expectExactlyOnce(h, poolId, status.manifestUrl ?? '', destination);
    // The open file's pages (at least one: the kill came mid-file) were fetched again, and no more
    // than one file's worth.
    const refetched = (emulator.stats().calls.ListUsers ?? 0) - baseline;
    expect(refetched).toBeGreaterThanOrEqual(1);
    expect(refetched).toBeLessThanOrEqual(fileMaxRecords / 60);
  });

  it('stops cleanly on SIGTERM, and the resumed run fetches no page twice', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 8000, seed: 102 });
    const fileMaxRecords = 300;
    const baseline = await baselineCalls(poolId, 16, fileMaxRecords);

    // 40 calls/s: about 3 s of walking, so the stop lands mid-run however busy the machine is.
    const h = await harness(false, { COGNITO_RATE_LIMIT_RPS: '40' });
    emulator.resetStats();
    const first = worker(h);
    const destination = `s3://${s3.bucket}/sigterm`;
    const { snapshotId } = await h.request({ userPoolId: poolId, destination, shards: 16, fileMaxRecords });
    await eventually(async () => {
      const status = await running(h, snapshotId);
      return status.users >= 2000 ? status : undefined;
    }, 30_000, 'the export to be under way');
    const stoppedAt = Date.now();
    first.child.kill('SIGTERM');
    expect(await first.exited()).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(first.stderr()).not.toMatch(/at .*\.js:\d+/); // no stack traces
    const paused = await h.runtime.runs.status(snapshotId);
    expect(paused?.state).toBe('running');
    // Every record fetched so far is in a sealed, checkpointed file.
    expect(paused?.users).toBe(paused?.durableUsers);
    expect(paused?.users).toBeLessThan(8000);

    worker(h);
    const status = await h.wait(snapshotId, 60_000);
    expect(status.state).toBe('completed');
    await expectExactlyOnce(h, poolId, status.manifestUrl ?? '', destination);
    expect(emulator.stats().calls.ListUsers).toBe(baseline);
  });

  it('stops cleanly on SIGTERM while shards still wait for their first call, and loses none of them', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 104 });
    // Two calls a second for 16 shards: most shards are still waiting for the limiter when stopped.
    const h = await harness(false, { COGNITO_RATE_LIMIT_RPS: '2' });
    const first = worker(h);
    const destination = `s3://${s3.bucket}/sigterm-early`;
    const { snapshotId } = await h.request({ userPoolId: poolId, destination, shards: 16 });
    await eventually(async () => ((await running(h, snapshotId)).pages >= 2 ? true : undefined), 30_000, 'the first pages');
    first.child.kill('SIGTERM');
    expect(await first.exited()).toBe(0);
    const paused = await h.runtime.runs.status(snapshotId);
    expect(paused?.shardsDone).toBe(0);

    const second = spawnCli(['worker'], { ...h.childEnv, WORKER_LOCK_DURATION_MS: '2000', COGNITO_RATE_LIMIT_RPS: '500' });
    children.push(second);
    const status = await h.wait(snapshotId, 60_000);
    expect(status.error).toBeUndefined();
    await expectExactlyOnce(h, poolId, status.manifestUrl ?? '', destination);
  });
});
