import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { Manifest } from '../../src/storage/manifest.js';
import { toUserRecord } from '../../src/tables/user-record.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3AwsChecksums, type S3AwsChecksums } from '../support/s3-aws-checksums.js';
import { startS3RequestLog, type S3RequestLog } from '../support/s3-request-log.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';

/**
 * The finalizer's verification of each published file as it runs against AWS S3: by the composite
 * SHA-256 checksum S3 keeps of a checksummed multipart upload, or (an S3 without checksums) by the
 * multipart ETag; never by reading the file back. s3rver has neither, so a proxy answers them as
 * AWS does (see s3-aws-checksums.ts), behind a request log:
 * harness → request log → AWS-checksums proxy → s3rver.
 */

let emulator: CognitoEmulator;
let s3: S3TestServer;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
});

afterAll(async () => {
  await s3.stop();
  await emulator.stop();
});

/** One AWS flavour: the proxy, its request log and a harness that exports through both. */
interface Stack {
  readonly aws: S3AwsChecksums;
  readonly log: S3RequestLog;
  readonly harness: ExportHarness;
}

async function openStack(options: { checksums: boolean }): Promise<Stack> {
  const aws = await startS3AwsChecksums(s3.endpoint, { checksums: options.checksums, multipartEtags: true });
  const log = await startS3RequestLog(aws.endpoint);
  const harness = await startHarness({ cognitoEndpoint: emulator.url, s3: { ...s3, endpoint: log.endpoint, overrides: { ...s3.overrides, endpoint: log.endpoint } } });
  return { aws, log, harness };
}

async function closeStack(stack: Stack | undefined): Promise<void> {
  await stack?.harness.close();
  await stack?.log.stop();
  await stack?.aws.stop();
}

/** The bucket key of a manifest's file URL. */
const keyOf = (url: string): string => url.slice(`s3://${s3.bucket}/`.length);

/** Every data file a manifest lists, all tables, as bucket keys. */
const dataKeysOf = (manifest: Manifest): string[] =>
  Object.values(manifest.tables)
    .flatMap((table) => table.files)
    .map((file) => keyOf(file.url))
    .sort();

/** The bucket key a logged request is about. */
const requestKey = (url: string): string => decodeURIComponent(new URL(url, 'http://s3').pathname).split('/').slice(2).join('/');

const isDataKey = (key: string): boolean => /\/run=[^/]+\/part-[^/]+\.ndjson(\.gz)?$/.test(key);

function expectExactUsers(poolId: string, manifest: Manifest, records: { sub: string | null }[]): void {
  const context = { userPoolId: poolId, snapshotId: manifest.snapshot_id, attributes: null };
  const bySub = (a: { sub: string | null }, b: { sub: string | null }) => (a.sub ?? '').localeCompare(b.sub ?? '');
  expect(records.sort(bySub)).toEqual(emulator.listAllUsers(poolId).map((user) => toUserRecord(user, context)).sort(bySub));
}

/**
 * A run whose only change against the previous one is that the store kept one byte of one part
 * wrong: the finalizer must fail it before its manifest, and take back everything it published.
 */
async function expectCorruptionRefused(stack: Stack, destinationPrefix: string, seed: number, message: (url: string, stored: { etag: string; checksum: string | undefined; sentEtag: string; sentChecksum: string | undefined }) => string) {
  const { aws, harness } = stack;
  const poolId = emulator.createPoolWithUsers({ users: 600, seed });
  const destination = `s3://${s3.bucket}/${destinationPrefix}`;
  const good = await harness.run({ userPoolId: poolId, destination });
  expect(good.state).toBe('completed');
  const goodManifest = await readManifest(good.manifestUrl ?? '', s3);

  // The second run's first users part that reaches the store is kept with one byte changed.
  let corrupted = 0;
  aws.setFaults({ corruptStoredPart: ({ key }) => key.startsWith(`${destinationPrefix}/users/user_pool_id=${poolId}/`) && !key.includes(good.spec.snapshotId) && corrupted++ === 0 });
  const before = aws.completed().length;
  const bad = await harness.run({ userPoolId: poolId, destination });
  aws.setFaults({ corruptStoredPart: null });
  expect(aws.stats().corruptedParts).toBeGreaterThanOrEqual(1);

  // Exactly one object was completed from a corrupted part; the finalizer named it, and why.
  const mismatched = aws.completed().slice(before).filter((object) => object.etag !== object.sentEtag);
  expect(mismatched).toHaveLength(1);
  const [object] = mismatched;
  if (!object) throw new Error('unreachable');
  expect(bad.state).toBe('failed');
  expect(bad.error).toBe(message(`s3://${s3.bucket}/${object.key}`, object));

  // Nothing of the failed run is left: not the bad file, not any other file, no manifest; the
  // pointer still names the good run (and the harness checked that every pointer is whole).
  expect(await s3.listKeys(`${destinationPrefix}/`)).toEqual(
    [...dataKeysOf(goodManifest), keyOf(good.manifestUrl ?? ''), `${destinationPrefix}/manifests/user_pool_id=${poolId}/latest.json`].sort(),
  );
  const latest = JSON.parse((await s3.getObject(`${destinationPrefix}/manifests/user_pool_id=${poolId}/latest.json`)).toString('utf8')) as { snapshot_id: string };
  expect(latest.snapshot_id).toBe(good.spec.snapshotId);
  // A failure no retry mends: the finalizer ran once.
  const finalizer = await harness.queues.runs.getJob(`run-${bad.spec.snapshotId}`);
  expect(finalizer?.attemptsMade).toBe(1);
}

describe('on AWS S3: composite SHA-256 checksums', () => {
  let stack: Stack | undefined;
  beforeAll(async () => {
    stack = await openStack({ checksums: true });
  });
  afterAll(async () => {
    await closeStack(stack);
  });

  it('verifies every published file by its checksum, a file of two parts too, without reading any back', async () => {
    const { aws, log, harness } = stack!;
    const poolId = emulator.createPoolWithUsers({ users: 12_000, seed: 41 });
    const big = await harness.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/checksums`, shards: 1, gzip: false });
    expect(big.error).toBeUndefined();
    expect(big.state).toBe('completed');
    const small = await harness.run({ userPoolId: emulator.createPoolWithUsers({ users: 900, seed: 42 }), destination: `s3://${s3.bucket}/checksums`, fileMaxRecords: 100 });
    expect(small.state).toBe('completed');

    const manifests = [await readManifest(big.manifestUrl ?? '', s3), await readManifest(small.manifestUrl ?? '', s3)];
    expectExactUsers(poolId, manifests[0]!, await readManifestRecords(manifests[0]!, s3));
    const dataKeys = manifests.flatMap(dataKeysOf).sort();
    expect(dataKeys.length).toBeGreaterThan(10);

    // Every data file was completed from parts the store kept as sent, with a composite checksum;
    // the big one from two parts.
    const completed = new Map(aws.completed().map((object) => [object.key, object]));
    expect([...completed.keys()].sort()).toEqual(dataKeys);
    for (const object of completed.values()) {
      expect(object.checksum).toMatch(/^[A-Za-z0-9+/]{43}=-\d+$/);
      expect(object.checksum).toBe(object.sentChecksum);
    }
    expect(completed.get(keyOf(manifests[0]!.files[0]?.url ?? ''))?.parts).toBe(2);

    // Each was verified by one HEAD answered with its checksum, and none was read back.
    const requests = log.requests();
    const heads = requests.filter((r) => r.operation === 'HEAD object').map((r) => requestKey(r.url)).filter(isDataKey).sort();
    expect(heads).toEqual(dataKeys);
    expect(aws.stats().checksumsAnswered).toEqual({ HEAD: dataKeys.length });
    expect(requests.filter((r) => r.operation === 'GET object' && isDataKey(requestKey(r.url)))).toEqual([]);
  });

  it('fails a run one of whose files the store kept with one byte changed, before its manifest, and withdraws it', async () => {
    await expectCorruptionRefused(
      stack!,
      'checksum-corrupt',
      43,
      (url, object) => `${url} has SHA-256 checksum ${object.checksum ?? ''}, not ${object.sentChecksum ?? ''} after publishing its staged upload: run the export again`,
    );
  });

  it('fails a run whose file S3 answers a wrong checksum for', async () => {
    const { aws, harness } = stack!;
    const poolId = emulator.createPoolWithUsers({ users: 300, seed: 44 });
    const prefix = 'checksum-wrong';
    let wrong = 0;
    aws.setFaults({ wrongChecksum: (key) => key.startsWith(`${prefix}/users/`) && wrong++ === 0 });
    const before = aws.completed().length;
    const status = await harness.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/${prefix}` });
    aws.setFaults({ wrongChecksum: null });
    expect(aws.stats().wrongChecksums).toBe(1);
    expect(status.state).toBe('failed');
    const match = /^s3:\/\/[^/]+\/(\S+) has SHA-256 checksum (\S+), not (\S+) after publishing its staged upload: run the export again$/.exec(status.error ?? '');
    expect(match, status.error).not.toBeNull();
    const object = aws.completed().slice(before).find((o) => o.key === match?.[1]);
    expect(match?.[3]).toBe(object?.checksum);
    expect(match?.[2]).not.toBe(object?.checksum);
    expect(await s3.listKeys(`${prefix}/`)).toEqual([]);
  });
});

describe('on an S3 without checksums: multipart ETags', () => {
  let stack: Stack | undefined;
  beforeAll(async () => {
    stack = await openStack({ checksums: false });
  });
  afterAll(async () => {
    await closeStack(stack);
  });

  it('verifies every published file by its multipart ETag, without reading any back', async () => {
    const { aws, log, harness } = stack!;
    const status = await harness.run({ userPoolId: emulator.createPoolWithUsers({ users: 900, seed: 45 }), destination: `s3://${s3.bucket}/etags`, fileMaxRecords: 100 });
    expect(status.state).toBe('completed');
    const manifest = await readManifest(status.manifestUrl ?? '', s3);
    const dataKeys = dataKeysOf(manifest);
    expect(dataKeys.length).toBeGreaterThan(5);
    const completed = aws.completed();
    expect(completed.map((object) => object.key).sort()).toEqual(dataKeys);
    for (const object of completed) {
      expect(object.checksum).toBeUndefined();
      expect(object.etag).toMatch(/^[0-9a-f]{32}-1$/);
      expect(object.etag).toBe(object.sentEtag);
    }
    const requests = log.requests();
    expect(requests.filter((r) => r.operation === 'HEAD object').map((r) => requestKey(r.url)).filter(isDataKey).sort()).toEqual(dataKeys);
    expect(aws.stats().multipartEtagsAnswered).toEqual({ HEAD: dataKeys.length });
    expect(aws.stats().checksumsAnswered).toEqual({});
    expect(requests.filter((r) => r.operation === 'GET object' && isDataKey(requestKey(r.url)))).toEqual([]);
  });

  it('fails a run one of whose files the store kept with one byte changed, before its manifest, and withdraws it', async () => {
    await expectCorruptionRefused(
      stack!,
      'etag-corrupt',
      46,
      (url, object) => `${url} has ETag ${object.etag}, not ${object.sentEtag} after publishing its staged upload: run the export again`,
    );
  });
});
