import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { toUserRecord } from '../../src/tables/user-record.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3FaultProxy, type S3FaultProxy } from '../support/s3-fault-proxy.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { expectPointersWhole } from '../support/pointer-invariant.js';
import { eventually } from '../support/worker-process.js';
import { cancelRun } from '../../jobs/cancel-run.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
let proxy: S3FaultProxy;
let harness: ExportHarness;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
  proxy = await startS3FaultProxy(s3.endpoint);
  // The exporter talks to S3 through the proxy; the test reads what is stored directly.
  harness = await startHarness({
    cognitoEndpoint: emulator.url,
    s3: { ...s3, endpoint: proxy.endpoint, overrides: { ...s3.overrides, endpoint: proxy.endpoint } },
  });
});

afterAll(async () => {
  await harness.close();
  await proxy.stop();
  await s3.stop();
  await emulator.stop();
});

describe('an S3 that slows down, fails and drops answers', () => {
  it('completes exactly with 30% of writes answered SlowDown, 5% InternalError and a lost CompleteMultipartUpload answer, using no job attempt', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 90 });
    proxy.setFaults({ slowDownRate: 0.3, internalErrorRate: 0.05, dropCompleteResponses: 1 });
    const status = await harness.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/faulty`, fileMaxRecords: 100 });
    proxy.setFaults({ slowDownRate: 0, internalErrorRate: 0, dropCompleteResponses: 0 });
    expect(status.error).toBeUndefined();
    expect(status.state).toBe('completed');

    const faults = proxy.stats();
    // The faults really happened, and often: about 0.3 × (create + part + complete + manifest) writes.
    expect(faults.slowDowns).toBeGreaterThan(20);
    expect(faults.internalErrors).toBeGreaterThan(0);
    expect(faults.droppedCompletes).toBe(1);

    const manifest = await readManifest(status.manifestUrl ?? '', s3);
    const records = await readManifestRecords(manifest, s3);
    const context = { userPoolId: poolId, snapshotId: manifest.snapshot_id, attributes: null };
    const bySub = (a: { sub: string | null }, b: { sub: string | null }) => (a.sub ?? '').localeCompare(b.sub ?? '');
    expect(records.sort(bySub)).toEqual(emulator.listAllUsers(poolId).map((user) => toUserRecord(user, context)).sort(bySub));
    expect(await s3.listKeys(`faulty/users/user_pool_id=${poolId}/`)).toEqual(manifest.files.map((f) => f.url.slice(`s3://${s3.bucket}/`.length)).sort());

    // Throttles and transient errors were retried inside each call: every job ran once, in one
    // attempt (BullMQ counts the successful attempt too).
    const jobs = [
      ...(await harness.queues.shards.getJobs(['completed'])).filter((job) => (job.data as { snapshotId: string }).snapshotId === status.spec.snapshotId),
      ...(await harness.queues.groups.getJobs(['completed'])).filter((job) => (job.data as { snapshotId: string }).snapshotId === status.spec.snapshotId),
      ...(await harness.queues.runs.getJobs(['completed'])).filter((job) => (job.data as { snapshotId?: string }).snapshotId === status.spec.snapshotId),
    ];
    // 16 users shards, the groups walk (no groups, so no membership shards), start and finalize.
    expect(jobs.length).toBe(16 + 1 + 2);
    expect(jobs.map((job) => [job.attemptsStarted, job.attemptsMade])).toEqual(jobs.map(() => [1, 1]));
  });

  it('rolls a run forward whose latest.json cannot be written after its manifest was: committing, a cancel refused, complete once the pointer can be written', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 600, seed: 91 });
    const destination = `s3://${s3.bucket}/pointer`;
    const good = await harness.run({ userPoolId: poolId, destination });
    expect(good.state).toBe('completed');
    const latestKey = `pointer/manifests/user_pool_id=${poolId}/latest.json`;
    proxy.setFaults({ deny: (request) => request.method === 'PUT' && decodeURIComponent(request.url).includes('/latest.json') });
    const { snapshotId } = await harness.request({ userPoolId: poolId, destination });
    // Past its point of no return (the manifest is written): the finalizer fails, and is retried.
    await eventually(async () => ((await harness.queues.runs.getJob(`run-${snapshotId}`))?.attemptsMade ? true : undefined), 60_000, 'a failed attempt');
    expect((await harness.runtime.runs.status(snapshotId))?.state).toBe('committing');
    expect((await cancelRun(harness.runtime, snapshotId)).kind).toBe('committing');
    proxy.setFaults({ deny: null });
    const done = await harness.wait(snapshotId, 60_000);
    expect(done.state).toBe('completed');
    expect((JSON.parse((await s3.getObject(latestKey)).toString('utf8')) as { snapshot_id: string }).snapshot_id).toBe(snapshotId);
    expect((await harness.runtime.runs.history(poolId)).lastSuccess?.snapshotId).toBe(snapshotId);
    await expectPointersWhole(destination, poolId, s3);
  });
});
