import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { toUserRecord } from '../../src/tables/user-record.js';
import type { Manifest } from '../../src/storage/manifest.js';
import { applyChanges } from '../support/change-apply.js';
import { readManifest, readManifestRecords, readObject, startHarness, type ExportHarness } from '../support/export-harness.js';
import { NO_FAULTS, startS3FaultProxy, type S3FaultProxy } from '../support/s3-fault-proxy.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { expectPointersWhole } from '../support/pointer-invariant.js';
import { eventually } from '../support/worker-process.js';
import { cancelRun } from '../../jobs/cancel-run.js';

/** The manifest with every file copied out of S3 into a local directory (DuckDB reads local paths). */
async function localCopy(manifest: Manifest): Promise<Manifest> {
  const directory = await mkdtemp(join(tmpdir(), 'ce-s3-faults-'));
  scratch.push(directory);
  const tables: Record<string, Manifest['tables'][string]> = {};
  for (const [name, table] of Object.entries(manifest.tables)) {
    const files = [];
    for (const [i, file] of table.files.entries()) {
      const path = join(directory, `${name}-${i}-${file.url.split('/').pop() ?? ''}`);
      await writeFile(path, await readObject(file.url, s3));
      files.push({ ...file, url: pathToFileURL(path).href });
    }
    tables[name] = { ...table, files };
  }
  return { ...manifest, tables, files: tables.users?.files ?? [] };
}

const scratch: string[] = [];
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
  for (const directory of scratch) await rm(directory, { recursive: true, force: true });
});

// A test that fails before it lifts its faults must not leave them on for the next one.
afterEach(() => {
  proxy.setFaults(NO_FAULTS);
});

describe('an S3 that slows down, fails and drops answers', () => {
  it('completes exactly with 30% of writes answered SlowDown, 5% InternalError and a lost CompleteMultipartUpload answer, using no job attempt', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 90 });
    // Two part uploads answered InternalError for certain, besides the 5% at random (which can be none).
    let forced = 0;
    const internalError = { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' };
    const respond = (request: { method: string; url: string }) => (request.method === 'PUT' && request.url.includes('partNumber=') && forced < 2 ? (forced++, internalError) : undefined);
    proxy.setFaults({ slowDownRate: 0.3, internalErrorRate: 0.05, dropCompleteResponses: 1, respond });
    const status = await harness.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/faulty`, fileMaxRecords: 100 });
    proxy.setFaults({ slowDownRate: 0, internalErrorRate: 0, dropCompleteResponses: 0 });
    expect(status.error).toBeUndefined();
    expect(status.state).toBe('completed');

    const faults = proxy.stats();
    // The faults really happened, and often: about 0.3 × (create + part + complete + manifest) writes.
    expect(faults.slowDowns).toBeGreaterThan(20);
    expect(forced).toBe(2);
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

  it('survives reads answered SlowDown, reset, and cut mid-body: the change tables against the previous snapshot and retention come out exact', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 1500, seed: 92 });
    const prefix = 'read-faults';
    const destination = `s3://${s3.bucket}/${prefix}`;
    // Plain NDJSON: a data file cut short is not caught by gzip's own check.
    const request = { userPoolId: poolId, destination, gzip: false, fileMaxRecords: 200, keepLast: 2 };
    const first = await harness.run(request);
    expect(first.state).toBe('completed');
    const second = await harness.run(request);
    expect(second.state).toBe('completed');
    const previous = await readManifest(second.manifestUrl ?? '', s3);
    // What changed since: 40 users deleted, 25 added.
    for (const user of emulator.listAllUsers(poolId).slice(0, 40)) emulator.deleteUser(poolId, user.Username ?? '');
    for (let i = 0; i < 25; i++) emulator.addUser(poolId, { username: `read-fault-${i}`, attributes: { email: `read-fault-${i}@example.com` } });

    // Cut mid-body: reads of the previous snapshot's data files, which only the diff jobs make.
    const previousFile = (request: { url: string }) => new RegExp(`/run=${second.spec.snapshotId}/part-[^/?]+\\.ndjson(\\?|$)`).test(decodeURIComponent(request.url));
    proxy.setFaults({ readSlowDownRate: 0.25, readResetRate: 0.05, readBodyResets: 3, readBodyResetsOn: previousFile });
    const third = await harness.run(request);
    proxy.setFaults({ readSlowDownRate: 0, readResetRate: 0, readBodyResets: 0, readBodyResetsOn: null });
    expect(third.error).toBeUndefined();
    expect(third.state).toBe('completed');

    // The faults hit every kind of read: objects (pointer, manifests, data files), HEADs and listings.
    const after = proxy.stats();
    const faulted = (counter: Record<string, number>, operation: string) => counter[operation] ?? 0;
    expect(faulted(after.readSlowDowns, 'GET object') + faulted(after.readResets, 'GET object')).toBeGreaterThan(0);
    expect(faulted(after.readSlowDowns, 'HEAD object') + faulted(after.readResets, 'HEAD object')).toBeGreaterThan(0);
    expect(faulted(after.readSlowDowns, 'GET list') + faulted(after.readResets, 'GET list')).toBeGreaterThan(0);
    expect(after.readBodyResets).toEqual({ 'GET object': 3 });

    // Exact: the users, and the change table applied to the previous snapshot gives this one.
    const current = await readManifest(third.manifestUrl ?? '', s3);
    const records = await readManifestRecords(current, s3);
    const context = { userPoolId: poolId, snapshotId: current.snapshot_id, attributes: null };
    const bySub = (a: { sub: string | null }, b: { sub: string | null }) => (a.sub ?? '').localeCompare(b.sub ?? '');
    expect(records.sort(bySub)).toEqual(emulator.listAllUsers(poolId).map((user) => toUserRecord(user, context)).sort(bySub));
    expect(current.changes_since).toBe(previous.snapshot_id);
    const [users] = await applyChanges(await localCopy(previous), await localCopy(current), ['users']);
    expect(users).toMatchObject({ table: 'users', differences: 0, applied: 1485, current: 1485, counts: { insert: 25, delete: 40 } });
    expect(current.tables.user_changes?.counts).toEqual({ insert: 25, update: 0, delete: 40 });

    // Retention kept the newest two snapshots, exactly: their files, manifests and the pointer.
    const keysOf = (manifest: Manifest) => [
      ...Object.values(manifest.tables).flatMap((table) => table.files.map((file) => file.url.slice(`s3://${s3.bucket}/`.length))),
    ];
    const manifestKey = (status: typeof third) => (status.manifestUrl ?? '').slice(`s3://${s3.bucket}/`.length);
    expect(await s3.listKeys(`${prefix}/`)).toEqual(
      [...keysOf(previous), ...keysOf(current), manifestKey(second), manifestKey(third), `${prefix}/manifests/user_pool_id=${poolId}/latest.json`].sort(),
    );
    expect((await s3.listKeys(`${prefix}/`)).some((key) => key.includes(first.spec.snapshotId))).toBe(false);
    await expectPointersWhole(destination, poolId, s3);

    // The read faults inside a request were retried there; a data file cut mid-body was resumed
    // where it stopped (a ranged GET of the same version): no diff job lost an attempt to it.
    const diffJobs = (await harness.queues.shards.getJobs(['completed'])).filter(
      (job) => (job.data as { snapshotId: string; table?: string }).snapshotId === third.spec.snapshotId && (job.data as { table?: string }).table === 'user_changes',
    );
    expect(diffJobs.length).toBeGreaterThan(0);
    expect(diffJobs.map((job) => job.attemptsMade).reduce((sum, n) => sum + n, 0)).toBe(diffJobs.length);
    expect(proxy.stats().rangedGets).toBeGreaterThanOrEqual(3);
  });
});
