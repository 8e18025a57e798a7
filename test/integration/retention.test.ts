import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/storage/s3-client.js';
import { loadConfig } from '../../src/config/app-config.js';
import { FileSink } from '../../src/storage/file-sink.js';
import type { LatestPointer, Manifest } from '../../src/storage/manifest.js';
import type { ObjectSink } from '../../src/storage/object-sink.js';
import { dataFileKey, latestKey, manifestKey, TABLES, type RunLocation } from '../../src/storage/output-layout.js';
import { applyRetention } from '../../src/storage/retention.js';
import { S3Sink } from '../../src/storage/s3-sink.js';
import { newSnapshotId } from '../../src/storage/snapshot-id.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';

const POOL = 'eu-west-1_AbC';
const NONE: ReadonlySet<string> = new Set();

let s3: S3TestServer;
let s3Client: S3Client;
let scratch: string;

beforeAll(async () => {
  s3 = await startS3TestServer();
  s3Client = createS3Client(loadConfig({ AWS_REGION: 'us-east-1', S3_FORCE_PATH_STYLE: 'true' }), s3.overrides);
  scratch = await mkdtemp(join(tmpdir(), 'ce-retention-'));
});

afterAll(async () => {
  s3Client.destroy();
  await s3.stop();
  await rm(scratch, { recursive: true, force: true });
});

/**
 * s3rver encrypts its continuation tokens with DES, which OpenSSL 3 has only in its legacy provider:
 * without `NODE_OPTIONS=--openssl-legacy-provider` a listing of more than 1000 keys fails there.
 */
const S3RVER_CAN_PAGE = (() => {
  try {
    createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
    return true;
  } catch {
    return false;
  }
})();

/** Each test gets a fresh destination: its own directory, or its own key prefix in the bucket. */
const SINKS: readonly { kind: string; open: () => Promise<ObjectSink> }[] = [
  { kind: 'FileSink', open: async () => new FileSink(await mkdtemp(join(scratch, 'dest-'))) },
  { kind: 'S3Sink', open: () => Promise.resolve(new S3Sink(s3Client, s3.bucket, `dest-${randomBytes(4).toString('hex')}`)) },
];

/** A run started `day` days after 2026-03-01 (plus `ms` milliseconds). */
function run(day: number, ms = 0, userPoolId = POOL): RunLocation {
  const startedAt = new Date(Date.UTC(2026, 2, 1 + day, 12, 0, 0, 0) + ms);
  return { userPoolId, snapshotId: newSnapshotId(startedAt), startedAt };
}

/** Writes a run's data files (small fake ones) and, when `complete`, its manifest. Returns the keys written. */
async function writeRun(sink: ObjectSink, location: RunLocation, { complete = true, files = 2 } = {}): Promise<string[]> {
  const keys = Array.from({ length: files }, (_, i) => dataFileKey(location, i.toString(16), 0, 'ndjson.gz'));
  await Promise.all(keys.map((key) => sink.putText(key, `{"key":"${key}"}\n`, 'application/x-ndjson')));
  if (!complete) return keys;
  const manifest: Manifest = {
    schema_version: 1,
    user_pool_id: location.userPoolId,
    snapshot_id: location.snapshotId,
    region: 'eu-west-1',
    started_at: location.startedAt.toISOString(),
    completed_at: new Date(location.startedAt.getTime() + 60_000).toISOString(),
    record_count: files,
    shards: 16,
    dataset: 'pool',
    pointer: 'latest.json',
    changes_since: null,
    changes_reason: 'no previous complete snapshot of this dataset',
    tables: {},
    filter: null,
    attributes: null,
    format: 'ndjson',
    compression: 'gzip',
    files: keys.map((key) => ({ url: sink.urlOf(key), records: 1, bytes: 20, sha256: '0'.repeat(64) })),
  };
  await sink.putText(manifestKey(location), `${JSON.stringify(manifest, null, 2)}\n`, 'application/json');
  return [...keys, manifestKey(location)];
}

async function writeLatest(sink: ObjectSink, location: RunLocation): Promise<void> {
  const pointer: LatestPointer = {
    schema_version: 1,
    user_pool_id: location.userPoolId,
    snapshot_id: location.snapshotId,
    manifest_url: sink.urlOf(manifestKey(location)),
    completed_at: location.startedAt.toISOString(),
    record_count: 2,
  };
  await sink.putText(latestKey(location.userPoolId), JSON.stringify(pointer), 'application/json');
}

/** The keys a sink lists under `prefix`. */
async function keysOfSink(sink: ObjectSink, prefix: string): Promise<string[]> {
  return (await sink.listObjects(prefix)).map((object) => object.key);
}

/** Every object of the destination with its text, to prove what stayed is untouched. */
async function contents(sink: ObjectSink): Promise<Map<string, string | undefined>> {
  const keys = await keysOfSink(sink, '');
  return new Map(await Promise.all(keys.map(async (key) => [key, await sink.getText(key)] as const)));
}

function without(before: Map<string, string | undefined>, gone: readonly string[]): Map<string, string | undefined> {
  const after = new Map(before);
  for (const key of gone) expect(after.delete(key), `${key} existed`).toBe(true);
  return after;
}

/** Wraps a sink to count calls, optionally failing `deleteObjects` from call `failDeleteFrom` on (a crash). */
function spy(sink: ObjectSink, failDeleteFrom = Number.POSITIVE_INFINITY) {
  const calls = { listKeys: [] as string[], deleteObjects: [] as string[][] };
  const wrapped: ObjectSink = {
    rootUrl: sink.rootUrl,
    urlOf: (key) => sink.urlOf(key),
    preflight: () => sink.preflight(),
    openStaged: (key, stagingKey, contentType) => sink.openStaged(key, stagingKey, contentType),
    publish: (file) => sink.publish(file),
    discardStaged: (location) => sink.discardStaged(location),
    sweepStaged: (scope, known) => sink.sweepStaged(scope, known),
    putText: (key, text, contentType) => sink.putText(key, text, contentType),
    getText: (key) => sink.getText(key),
    getVersioned: (key) => sink.getVersioned(key),
    putIfVersion: (key, text, contentType, version) => sink.putIfVersion(key, text, contentType, version),
    honoursConditions: () => sink.honoursConditions(),
    readStream: (key) => sink.readStream(key),
    listObjects: (prefix) => {
      calls.listKeys.push(prefix);
      return sink.listObjects(prefix);
    },
    deleteObjects: async (keys) => {
      calls.deleteObjects.push([...keys]);
      if (calls.deleteObjects.length >= failDeleteFrom) throw new Error('simulated crash');
      await sink.deleteObjects(keys);
    },
  };
  return { sink: wrapped, calls };
}

const ids = (...runs: RunLocation[]): string[] => runs.map((r) => r.snapshotId);

describe.each(SINKS)('retention on a $kind', ({ kind, open }) => {
  let sink: ObjectSink;
  const [a, b, c, d, e] = [0, 1, 2, 3, 4].map((day) => run(day)) as [RunLocation, RunLocation, RunLocation, RunLocation, RunLocation];
  const written = new Map<string, string[]>();

  beforeEach(async () => {
    sink = await open();
    written.clear();
  });

  async function writeRuns(...runs: RunLocation[]): Promise<void> {
    for (const r of runs) written.set(r.snapshotId, await writeRun(sink, r));
  }
  const keysOf = (...runs: RunLocation[]): string[] => runs.flatMap((r) => written.get(r.snapshotId) ?? []);

  it('keeps the 2 newest of 5 complete runs untouched and deletes the 3 oldest, manifests and data', async () => {
    await writeRuns(a, b, c, d, e);
    await writeLatest(sink, e);
    const before = await contents(sink);

    const result = await applyRetention(sink, POOL, 2, { activeSnapshotIds: NONE });

    expect(result).toEqual({ kept: ids(e, d), deleted: ids(c, b, a), orphansDeleted: [], objects: 9 });
    expect(await contents(sink)).toEqual(without(before, keysOf(a, b, c)));
  });

  it('keeps the run latest.json names in addition when it is not among the newest', async () => {
    // d and e have manifests but latest.json was not moved past b (a crash between the two writes).
    await writeRuns(a, b, c, d, e);
    await writeLatest(sink, b);
    const before = await contents(sink);

    const result = await applyRetention(sink, POOL, 2, { activeSnapshotIds: NONE });

    expect(result).toEqual({ kept: ids(e, d, b), deleted: ids(c, a), orphansDeleted: [], objects: 6 });
    expect(await contents(sink)).toEqual(without(before, keysOf(a, c)));
  });

  it('never touches an active run folder, older or newer than the kept runs', async () => {
    const activeOld = run(0, 1);
    const activeNew = run(9);
    await writeRuns(c, d, e);
    await writeLatest(sink, e);
    await writeRun(sink, activeOld, { complete: false });
    await writeRun(sink, activeNew, { complete: false });
    const before = await contents(sink);

    const result = await applyRetention(sink, POOL, 1, { activeSnapshotIds: new Set(ids(activeOld, activeNew)) });

    expect(result).toEqual({ kept: ids(e), deleted: ids(d, c), orphansDeleted: [], objects: 6 });
    expect(await contents(sink)).toEqual(without(before, keysOf(c, d)));
  });

  it('deletes an orphan run folder older than the oldest kept run, but not one newer', async () => {
    const orphanOld = run(0, 1);
    const orphanNew = run(9);
    await writeRuns(b, c, d, e);
    await writeLatest(sink, e);
    const orphanKeys = await writeRun(sink, orphanOld, { complete: false, files: 3 });
    await writeRun(sink, orphanNew, { complete: false });
    const before = await contents(sink);

    const result = await applyRetention(sink, POOL, 2, { activeSnapshotIds: NONE });

    expect(result).toEqual({ kept: ids(e, d), deleted: ids(c, b), orphansDeleted: ids(orphanOld), objects: 9 });
    expect(await contents(sink)).toEqual(without(before, [...keysOf(b, c), ...orphanKeys]));
  });

  it("leaves other pools' objects alone, including a pool whose id starts with this one's", async () => {
    await writeRuns(a, b, c);
    await writeLatest(sink, c);
    for (const pool of [`${POOL}d`, 'us-east-1_Other']) {
      for (const day of [0, 1, 2]) await writeRun(sink, run(day, 0, pool));
      await writeLatest(sink, run(2, 0, pool));
    }
    const before = await contents(sink);

    const result = await applyRetention(sink, POOL, 1, { activeSnapshotIds: NONE });

    expect(result.deleted).toEqual(ids(b, a));
    expect(await contents(sink)).toEqual(without(before, keysOf(a, b)));
  });

  it('leaves keys that do not match the layout alone, even inside a deleted run folder', async () => {
    await writeRuns(a, b, c);
    await writeLatest(sink, c);
    const strays = [
      `users/user_pool_id=${POOL}/dt=2026-03-01/run=${a.snapshotId}/notes.txt`,
      `users/user_pool_id=${POOL}/dt=2026-03-01/run=${a.snapshotId}/nested/part-0-00000.ndjson.gz`,
      `users/user_pool_id=${POOL}/dt=2026-03-02/run=${a.snapshotId}/part-0-00000.ndjson.gz`,
      `users/user_pool_id=${POOL}/dt=2026-03-01/run=manual-copy/part-0-00000.ndjson.gz`,
      `users/user_pool_id=${POOL}/README.md`,
      `manifests/user_pool_id=${POOL}/dt=2026-03-01/run=${a.snapshotId}.json.bak`,
      `manifests/user_pool_id=${POOL}/dt=2026-03-01/run=20260301T120000000Z.json`,
      `manifests/user_pool_id=${POOL}/notes.json`,
      'elsewhere/part-0-00000.ndjson.gz',
    ];
    for (const key of strays) await sink.putText(key, 'not ours\n', 'text/plain');
    const before = await contents(sink);

    const result = await applyRetention(sink, POOL, 1, { activeSnapshotIds: NONE });

    expect(result).toEqual({ kept: ids(c), deleted: ids(b, a), orphansDeleted: [], objects: 6 });
    expect(await contents(sink)).toEqual(without(before, keysOf(a, b)));
  });

  it('deletes nothing the second time', async () => {
    await writeRuns(a, b, c, d, e);
    await writeLatest(sink, e);
    await writeRun(sink, run(0, 1), { complete: false });
    await applyRetention(sink, POOL, 2, { activeSnapshotIds: NONE });
    const before = await contents(sink);

    const result = await applyRetention(sink, POOL, 2, { activeSnapshotIds: NONE });

    expect(result).toEqual({ kept: ids(e, d), deleted: [], orphansDeleted: [], objects: 0 });
    expect(await contents(sink)).toEqual(before);
  });

  it('deletes nothing when keepLast is larger than the number of runs, orphans included', async () => {
    await writeRuns(b, c, d);
    await writeLatest(sink, d);
    await writeRun(sink, a, { complete: false });
    const before = await contents(sink);

    const result = await applyRetention(sink, POOL, 10, { activeSnapshotIds: NONE });

    expect(result).toEqual({ kept: ids(d, c, b), deleted: [], orphansDeleted: [], objects: 0 });
    expect(await contents(sink)).toEqual(before);
  });

  it.each([0, -1, 2.5, Number.NaN])('refuses keepLast %s before touching anything', async (keepLast) => {
    await writeRuns(a, b);
    await writeLatest(sink, b);
    const { sink: watched, calls } = spy(sink);

    await expect(applyRetention(watched, POOL, keepLast, { activeSnapshotIds: NONE })).rejects.toThrow(
      new RangeError(`Expected \`keepLast\` to be an integer from 1, got \`${keepLast}\``),
    );
    expect(calls).toEqual({ listKeys: [], deleteObjects: [] });
  });

  it('deletes nothing when latest.json exists but cannot be read', async () => {
    await writeRuns(a, b, c);
    await sink.putText(latestKey(POOL), '{"schema_version":1,', 'application/json');
    const before = await contents(sink);

    await expect(applyRetention(sink, POOL, 1, { activeSnapshotIds: NONE })).rejects.toThrow(/latest\.json cannot be read/);
    expect(await contents(sink)).toEqual(before);
  });

  it('deletes manifests before data, and a pass cut short after the manifests is finished by the next', async () => {
    await writeRuns(a, b, c, d);
    await writeLatest(sink, d);
    const before = await contents(sink);
    const { sink: crashing, calls } = spy(sink, 2);

    await expect(applyRetention(crashing, POOL, 2, { activeSnapshotIds: NONE })).rejects.toThrow('simulated crash');
    expect(calls.deleteObjects[0]).toEqual([manifestKey(b), manifestKey(a)]);
    expect(await contents(sink)).toEqual(without(before, [manifestKey(a), manifestKey(b)]));

    const result = await applyRetention(sink, POOL, 2, { activeSnapshotIds: NONE });
    expect(result).toEqual({ kept: ids(d, c), deleted: [], orphansDeleted: ids(b, a), objects: 4 });
    expect(await contents(sink)).toEqual(without(before, keysOf(a, b)));
  });

  it("lists each table's data folder and the manifest folder once each, however many runs there are", async () => {
    const runs = Array.from({ length: 40 }, (_, i) => run(Math.floor(i / 4), (i % 4) * 1000));
    await Promise.all(runs.map((r) => writeRun(sink, r, { files: 1 })));
    const newest = runs[runs.length - 1] as RunLocation;
    await writeLatest(sink, newest);
    const { sink: watched, calls } = spy(sink);

    const result = await applyRetention(watched, POOL, 3, { activeSnapshotIds: NONE });

    expect(result.kept).toEqual(ids(...runs.slice(-3).reverse()));
    expect(result.deleted).toEqual(ids(...runs.slice(0, -3).reverse()));
    expect(result.objects).toBe(2 * 37);
    expect(calls.listKeys).toEqual([...TABLES.map((table) => `${table}/user_pool_id=${POOL}/`), `manifests/user_pool_id=${POOL}/`]);
    expect(calls.deleteObjects.map((keys) => keys.length)).toEqual([37, 37]);
    expect(await keysOfSink(sink, '')).toEqual([...keysOf(), ...runs.slice(-3).flatMap((r) => [dataFileKey(r, '0', 0, 'ndjson.gz'), manifestKey(r)]), latestKey(POOL)].sort());
  });

  it.skipIf(kind === 'S3Sink' && !S3RVER_CAN_PAGE)('deletes a run of more than 1000 files, which S3 lists and deletes in pages', async () => {
    const big = run(0);
    await writeRun(sink, big, { complete: false, files: 0 });
    const keys = Array.from({ length: 1_100 }, (_, i) => dataFileKey(big, 'all', i, 'ndjson.gz'));
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((key) => sink.putText(key, '{}\n', 'application/x-ndjson')));
    }
    await writeRuns(b, c);
    await writeLatest(sink, c);

    const result = await applyRetention(sink, POOL, 2, { activeSnapshotIds: NONE });

    expect(result).toEqual({ kept: ids(c, b), deleted: [], orphansDeleted: ids(big), objects: 1_100 });
    expect(await keysOfSink(sink, `users/user_pool_id=${POOL}/dt=2026-03-01/`)).toEqual([]);
  });
});
