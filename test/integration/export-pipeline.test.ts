import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { toUserRecord, type UserRecord } from '../../src/tables/user-record.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3RequestLog } from '../support/s3-request-log.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import type { S3Client } from '@aws-sdk/client-s3';
import { ExportRuntime, runSink, type RuntimeOptions } from '../../jobs/export-runtime.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
let harness: ExportHarness | undefined;
let scratch: string;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
  scratch = await mkdtemp(join(tmpdir(), 'ce-export-'));
});

afterEach(async () => {
  emulator.setFaults({ latencyMs: 0, jitterMs: 0, quotaRps: null, throttleRate: 0, internalErrorRate: 0, dropConnectionRate: 0, shortPageRate: 0, emptyPageRate: 0, tokenTtlSeconds: null, forcedErrors: {}, allowedAccessKeyIds: null });
  await harness?.close();
  harness = undefined;
});

afterAll(async () => {
  await emulator.stop();
  await s3.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function open(runtime?: RuntimeOptions): Promise<ExportHarness> {
  harness = await startHarness({ cognitoEndpoint: emulator.url, s3, ...(runtime ? { runtime } : {}) });
  return harness;
}

/** The records the emulator's users should become in `snapshotId`, keyed by sub. */
function expectedRecords(poolId: string, snapshotId: string): Map<string, UserRecord> {
  const context = { userPoolId: poolId, snapshotId, attributes: null };
  return new Map(emulator.listAllUsers(poolId).map((user) => {
    const record = toUserRecord(user, context);
    return [record.sub ?? '', record];
  }));
}

/** Asserts the run's files hold every user exactly once, each identical to the emulator's. */
async function expectExactExport(poolId: string, manifestUrl: string): Promise<UserRecord[]> {
  const manifest = await readManifest(manifestUrl, s3);
  const records = await readManifestRecords(manifest, s3);
  const expected = expectedRecords(poolId, manifest.snapshot_id);
  const subs = records.map((r) => r.sub ?? '');
  expect(new Set(subs).size).toBe(subs.length);
  expect(records.length).toBe(expected.size);
  expect(manifest.record_count).toBe(expected.size);
  for (const record of records) expect(record).toEqual(expected.get(record.sub ?? ''));
  return records;
}

describe('exporting a whole pool', () => {
  it.each([
    [0, 16],
    [1, 16],
    [60, 1],
    [61, 1],
    [61, 16],
  ])('exports a pool of %i users with %i shards, every user exactly once', async (users, shards) => {
    const h = await open();
    const poolId = emulator.createPoolWithUsers({ users, seed: users + shards });
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/exact-${users}-${shards}`, shards, fileMaxRecords: 50 });
    expect(status.error).toBeUndefined();
    expect(status.state).toBe('completed');
    await expectExactExport(poolId, status.manifestUrl ?? '');
  });

  it('exports 10,000 users over 16 shards in many files, and the data folder holds exactly the listed files', async () => {
    const h = await open();
    const poolId = emulator.createPoolWithUsers({ users: 10_000, seed: 7 });
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/big`, fileMaxRecords: 200 });
    expect(status.state).toBe('completed');
    await expectExactExport(poolId, status.manifestUrl ?? '');
    const manifest = await readManifest(status.manifestUrl ?? '', s3);
    expect(manifest.files.length).toBeGreaterThan(16);
    expect(manifest.shards).toBe(16);
    const listed = manifest.files.map((f) => f.url.slice(`s3://${s3.bucket}/`.length)).sort();
    const stored = await s3.listKeys(`big/users/user_pool_id=${poolId}/`);
    expect(stored).toEqual(listed);
    const latest = JSON.parse((await s3.getObject(`big/manifests/user_pool_id=${poolId}/latest.json`)).toString('utf8')) as { manifest_url: string };
    expect(latest.manifest_url).toBe(status.manifestUrl);
  });

  it('round-trips unicode, quotes, backslashes, newlines and IdP usernames through NDJSON and gzip', async () => {
    const h = await open();
    const poolId = emulator.createPoolWithUsers({ users: 2000, seed: 11 });
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/tricky`, shards: 1 });
    const records = await expectExactExport(poolId, status.manifestUrl ?? '');
    const values = records.flatMap((r) => [r.username, ...Object.values(r.attributes)]);
    // The seed really contains the hard cases, so the comparison above covered them.
    expect(values.some((v) => /[^\p{ASCII}]/u.test(v))).toBe(true);
    expect(values.some((v) => v.includes('"'))).toBe(true);
    expect(values.some((v) => v.includes('\\'))).toBe(true);
    expect(values.some((v) => v.includes('\n'))).toBe(true);
    expect(records.some((r) => r.username.startsWith('Google_'))).toBe(true);
    expect(records.some((r) => r.username.startsWith('SignInWithApple_'))).toBe(true);
  });

  it('writes plain NDJSON with --no-gzip and keeps only the selected attributes', async () => {
    const h = await open();
    const poolId = emulator.createPoolWithUsers({ users: 150, seed: 5 });
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/plain`, gzip: false, attributes: 'email,custom:tenant' });
    const manifest = await readManifest(status.manifestUrl ?? '', s3);
    expect(manifest.compression).toBe('none');
    expect(manifest.files.every((f) => f.url.endsWith('.ndjson'))).toBe(true);
    const records = await readManifestRecords(manifest, s3);
    expect(records).toHaveLength(150);
    // Every user as the emulator holds them, with exactly the selected attributes each one has.
    const selected = new Set(['email', 'custom:tenant']);
    const expected = new Map(
      [...expectedRecords(poolId, manifest.snapshot_id)].map(([sub, record]) => [
        sub,
        { ...record, attributes: Object.fromEntries(Object.entries(record.attributes).filter(([name]) => selected.has(name))) },
      ]),
    );
    for (const record of records) expect(record).toEqual(expected.get(record.sub ?? ''));
    expect(new Set(records.map((r) => r.sub))).toEqual(new Set(expected.keys()));
    // The seed gives most users both, so the comparison above did check values.
    expect(records.filter((r) => r.attributes.email !== undefined && r.attributes['custom:tenant'] !== undefined).length).toBeGreaterThan(50);
  });

  it("on AWS without AWS_REGION, a run's S3 client is in its pool's region; with AWS_REGION, in that one", async () => {
    harness = await startHarness({ cognitoEndpoint: emulator.url, s3 });
    const spec = { ...(await harness.request({ userPoolId: emulator.createPoolWithUsers({ users: 1, seed: 2 }), destination: 's3://bucket-elsewhere/x' })).spec, region: 'eu-west-1' };
    // The product's runtime as on AWS: no S3 endpoint override (no request is sent; the client's region is read).
    const regionOf = async (awsRegion: string | undefined) => {
      const runtime = new ExportRuntime({ ...harness!.config, awsRegion, s3Endpoint: undefined }, harness!.runtime.redis, harness!.runtime.log);
      try {
        const client = (runSink(runtime, spec) as unknown as { client: S3Client }).client;
        return await client.config.region();
      } finally {
        runtime.destroy();
      }
    };
    expect(await regionOf(undefined)).toBe('eu-west-1');
    expect(await regionOf('ap-southeast-2')).toBe('ap-southeast-2');
  });

  // On AWS, without AWS_REGION, the pool's region (s3RegionOf, unit-tested); an S3-compatible endpoint, as here, keeps us-east-1.
  it.each([
    ['', 'us-east-1'],
    ['ap-southeast-2', 'ap-southeast-2'],
  ])('signs S3 for AWS_REGION when it is set, and for us-east-1 on an S3-compatible endpoint without it, whatever the pool (AWS_REGION=%j)', async (awsRegion, signedFor) => {
    const log = await startS3RequestLog(s3.endpoint);
    const irish = await CognitoEmulator.start({ port: 0, region: 'eu-west-1' });
    try {
      harness = await startHarness({ cognitoEndpoint: irish.url, s3: { ...s3, overrides: { ...s3.overrides, endpoint: log.endpoint } }, env: { AWS_REGION: awsRegion } });
      const poolId = irish.createPoolWithUsers({ users: 50, seed: 5 });
      const status = await harness.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/regional-${signedFor}`, shards: 1 });
      expect(status.state).toBe('completed');
      const regions = new Set(log.requests().map((request) => request.region));
      expect(log.requests().length).toBeGreaterThan(3);
      expect([...regions]).toEqual([signedFor]);
    } finally {
      await log.stop();
      await irish.stop();
    }
  });

  it('streams a file bigger than one 5 MiB part to S3 as a multipart upload of 5 MiB parts', async () => {
    const log = await startS3RequestLog(s3.endpoint);
    try {
      harness = await startHarness({ cognitoEndpoint: emulator.url, s3: { ...s3, overrides: { ...s3.overrides, endpoint: log.endpoint } } });
      const poolId = emulator.createPoolWithUsers({ users: 12_000, seed: 13 });
      const status = await harness.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/multipart`, shards: 1, gzip: false });
      const manifest = await readManifest(status.manifestUrl ?? '', s3);
      expect(manifest.files).toHaveLength(1);
      const file = manifest.files[0];
      expect(file?.bytes).toBeGreaterThan(6 * 1024 * 1024);
      await expectExactExport(poolId, status.manifestUrl ?? '');
      // The parts of the file's upload: each but the last is one part size plus at most the rest of
      // the page that filled it (a page of users is far below 256 KiB); together they are the file.
      const dataKey = new URL(file?.url ?? '').pathname;
      const parts = log.requests().filter((r) => r.operation === 'PUT part' && decodeURIComponent(new URL(r.url, 'http://s3').pathname).endsWith(dataKey)).map((r) => r.bytes);
      const partSize = 5 * 1024 * 1024;
      expect(parts.length, `part sizes ${JSON.stringify(parts)}`).toBeGreaterThanOrEqual(2);
      for (const bytes of parts.slice(0, -1)) {
        expect(bytes).toBeGreaterThanOrEqual(partSize);
        expect(bytes).toBeLessThan(partSize + 256 * 1024);
      }
      expect(parts.at(-1)).toBeGreaterThan(0);
      expect(parts.reduce((sum, bytes) => sum + bytes, 0)).toBe(file?.bytes);
    } finally {
      await log.stop();
    }
  });

  it('exports only the users a server-side filter selects, as one shard', async () => {
    const h = await open();
    const poolId = emulator.createPoolWithUsers({ users: 600, seed: 9 });
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/filtered`, filter: 'status = "Disabled"' });
    const manifest = await readManifest(status.manifestUrl ?? '', s3);
    const records = await readManifestRecords(manifest, s3);
    const disabled = emulator.listAllUsers(poolId).filter((u) => u.Enabled === false).length;
    expect(disabled).toBeGreaterThan(0);
    expect(manifest.shards).toBe(1);
    expect(manifest.filter).toBe('status = "Disabled"');
    expect(records).toHaveLength(disabled);
    expect(records.every((r) => !r.enabled)).toBe(true);
  });

  it('writes the same layout to a local directory, and DuckDB reads it with typed timestamps', async () => {
    const h = await open();
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 3 });
    const directory = join(scratch, 'duck');
    const status = await h.run({ userPoolId: poolId, destination: pathToFileURL(directory).href, fileMaxRecords: 400 });
    expect(status.state).toBe('completed');
    const dataDir = join(directory, 'users', `user_pool_id=${poolId}`);
    expect((await readdir(dataDir)).every((d) => d.startsWith('dt='))).toBe(true);
    const manifest = await readManifest(status.manifestUrl ?? '');
    const files = manifest.files.map((f) => new URL(f.url).pathname);
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    const list = files.map((f) => `'${f}'`).join(', ');
    const reader = await connection.runAndReadAll(
      `SELECT count(*)::INTEGER AS n, count(DISTINCT sub)::INTEGER AS subs, any_value(typeof(created_at)) AS t
       FROM read_ndjson([${list}], timestampformat = '%Y-%m-%dT%H:%M:%S.%gZ')`,
    );
    expect(reader.getRowObjects()[0]).toEqual({ n: 3000, subs: 3000, t: 'TIMESTAMP' });
    connection.closeSync();
  });
});

describe('surviving a hostile Cognito', () => {
  it('completes exactly with 50% of calls throttled and 5% internal errors', async () => {
    // Throttles at random, whatever the rate, would cut the shared rate to its minimum: keep a floor.
    const h = await open({ rateLimit: { minRps: 200 } });
    // Enough calls (about 400) that the share of throttles is near 50% by more than four deviations.
    const poolId = emulator.createPoolWithUsers({ users: 6000, seed: 21 });
    emulator.setFaults({ throttleRate: 0.5, internalErrorRate: 0.05 });
    emulator.resetStats();
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/hostile`, fileMaxRecords: 600 });
    expect(status.error).toBeUndefined();
    expect(status.state).toBe('completed');
    await expectExactExport(poolId, status.manifestUrl ?? '');
    const stats = emulator.stats();
    const calls = stats.calls.ListUsers ?? 0;
    // About half the calls were throttled, and every one of them was retried.
    expect((stats.throttled.ListUsers ?? 0) / calls).toBeGreaterThan(0.4);
    // Every throttle of the run's calls (ListUsers, and the groups walk's) was counted.
    expect(status.throttles).toBe(Object.values(stats.throttled).reduce((sum, n) => sum + n, 0));
    expect(status.retries).toBeGreaterThan(0);
  });

  it('completes exactly with short and empty pages that still carry a token', async () => {
    const h = await open();
    const poolId = emulator.createPoolWithUsers({ users: 1500, seed: 22 });
    emulator.setFaults({ shortPageRate: 0.3, emptyPageRate: 0.2 });
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/short`, shards: 1 });
    expect(status.state).toBe('completed');
    await expectExactExport(poolId, status.manifestUrl ?? '');
  });

  it('completes exactly when connections are dropped', async () => {
    const h = await open();
    const poolId = emulator.createPoolWithUsers({ users: 1500, seed: 23 });
    emulator.setFaults({ dropConnectionRate: 0.1 });
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/dropped` });
    expect(status.state).toBe('completed');
    await expectExactExport(poolId, status.manifestUrl ?? '');
  });
});
