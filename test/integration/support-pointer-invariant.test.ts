import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectPointersWhole, pointerProblems } from '../support/pointer-invariant.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';

const POOL = 'us-east-1_Inv4riant';

/** A destination the test writes by hand: a local folder or a prefix in the S3 test server. */
interface Destination {
  readonly url: string;
  urlOf(key: string): string;
  put(key: string, body: Buffer | string): Promise<void>;
  remove(key: string): Promise<void>;
}

let s3: S3TestServer;
const folders: string[] = [];
let n = 0;

beforeAll(async () => {
  s3 = await startS3TestServer('invariant');
});

afterAll(async () => {
  await s3.stop();
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

async function fileDestination(): Promise<Destination> {
  const root = await mkdtemp(join(tmpdir(), 'ce-invariant-'));
  folders.push(root);
  return {
    url: pathToFileURL(root).href,
    urlOf: (key) => pathToFileURL(join(root, key)).href,
    async put(key, body) {
      await mkdir(dirname(join(root, key)), { recursive: true });
      await writeFile(join(root, key), body);
    },
    remove: (key) => rm(join(root, key)),
  };
}

function s3Destination(): Destination {
  const prefix = `team/exports-${++n}`;
  return {
    url: `s3://${s3.bucket}/${prefix}`,
    urlOf: (key) => `s3://${s3.bucket}/${prefix}/${key}`,
    async put(key, body) {
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/${key}`, Body: body }));
    },
    async remove(key) {
      await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/${key}` }));
    },
  };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The keys of one hand-made snapshot. */
interface Snapshot {
  readonly snapshotId: string;
  readonly manifestKey: string;
  readonly usersKey: string;
  readonly groupsKey: string;
  readonly manifest: Record<string, unknown>;
}

/** Writes a snapshot (a users file, a groups file, its manifest) and, if named, a pointer to it. */
async function writeSnapshot(destination: Destination, snapshotId: string, pointer?: string): Promise<Snapshot> {
  const run = `dt=2024-05-01/run=${snapshotId}`;
  const usersKey = `users/user_pool_id=${POOL}/${run}/part-0-00000.ndjson.gz`;
  const groupsKey = `groups/user_pool_id=${POOL}/${run}/part-all-00000.ndjson.gz`;
  const users = gzipSync(`${JSON.stringify({ user_pool_id: POOL, snapshot_id: snapshotId, username: 'ada' })}\n`);
  const groups = gzipSync(`${JSON.stringify({ user_pool_id: POOL, snapshot_id: snapshotId, group_name: 'admins' })}\n`);
  await destination.put(usersKey, users);
  await destination.put(groupsKey, groups);
  const usersFiles = [{ url: destination.urlOf(usersKey), records: 1, bytes: users.length, sha256: sha256(users) }];
  const groupsFiles = [{ url: destination.urlOf(groupsKey), records: 1, bytes: groups.length, sha256: sha256(groups) }];
  const manifest = {
    schema_version: 1,
    user_pool_id: POOL,
    snapshot_id: snapshotId,
    record_count: 1,
    files: usersFiles,
    tables: { users: { record_count: 1, files: usersFiles }, groups: { record_count: 1, files: groupsFiles } },
  };
  const manifestKey = `manifests/user_pool_id=${POOL}/${run}.json`;
  await destination.put(manifestKey, `${JSON.stringify(manifest, null, 2)}\n`);
  if (pointer) await writePointer(destination, pointer, snapshotId, destination.urlOf(manifestKey));
  return { snapshotId, manifestKey, usersKey, groupsKey, manifest };
}

async function writePointer(destination: Destination, pointer: string, snapshotId: string, manifestUrl: string): Promise<void> {
  await destination.put(`manifests/user_pool_id=${POOL}/${pointer}`, JSON.stringify({ schema_version: 1, user_pool_id: POOL, snapshot_id: snapshotId, manifest_url: manifestUrl }));
}

describe.each([
  ['file://', fileDestination],
  ['s3://bucket/prefix', async () => Promise.resolve(s3Destination())],
])('pointerProblems / expectPointersWhole on a %s destination', (_kind, open) => {
  /** Two snapshots: the pool's latest.json on one, a named pointer on the other, and an older run no pointer names. */
  async function whole(): Promise<{ destination: Destination; latest: Snapshot; named: Snapshot }> {
    const destination = await open();
    await writeSnapshot(destination, '20240501T000000Z-old');
    const latest = await writeSnapshot(destination, '20240501T010000Z-aaaa', 'latest.json');
    const named = await writeSnapshot(destination, '20240501T020000Z-bbbb', 'latest-tenant.json');
    return { destination, latest, named };
  }

  it('finds nothing wrong in a whole destination', async () => {
    const { destination } = await whole();
    expect(await pointerProblems(destination.url, POOL, s3)).toEqual([]);
    await expectPointersWhole(destination.url, POOL, s3);
  });

  it('finds nothing to check where there are no pointers', async () => {
    const destination = await open();
    await writeSnapshot(destination, '20240501T000000Z-none');
    expect(await pointerProblems(destination.url, POOL, s3)).toEqual([]);
  });

  it('names a deleted data file of any table', async () => {
    const { destination, latest, named } = await whole();
    await destination.remove(latest.groupsKey);
    await destination.remove(named.usersKey);
    const problems = await pointerProblems(destination.url, POOL, s3);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain(`manifests/user_pool_id=${POOL}/latest-tenant.json`);
    expect(problems[0]).toContain('files[0], tables.users.files[0]');
    expect(problems[0]).toContain(`${destination.urlOf(named.usersKey)} does not exist`);
    expect(problems[1]).toContain(`manifests/user_pool_id=${POOL}/latest.json`);
    expect(problems[1]).toContain(`tables.groups.files[0]: ${destination.urlOf(latest.groupsKey)} does not exist`);
    await expect(expectPointersWhole(destination.url, POOL, s3)).rejects.toThrow(/not whole[\s\S]*latest-tenant\.json[\s\S]*latest\.json/);
  });

  it('names a wrong sha256 and a wrong size', async () => {
    const { destination, latest, named } = await whole();
    const tables = latest.manifest.tables as Record<string, { files: { sha256: string }[] }>;
    tables.groups!.files[0]!.sha256 = '0'.repeat(64);
    await destination.put(latest.manifestKey, JSON.stringify(latest.manifest));
    await destination.put(named.groupsKey, 'not the bytes the manifest lists');
    const problems = await pointerProblems(destination.url, POOL, s3);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/latest-tenant\.json: .*tables\.groups\.files\[0\]: .* has \d+ bytes, the manifest says \d+/);
    expect(problems[1]).toMatch(new RegExp(`latest\\.json: .*tables\\.groups\\.files\\[0\\]: .* has sha256 [0-9a-f]{64}, the manifest says ${'0'.repeat(64)}`));
  });

  it('names changed bytes of the same size (sha256 only)', async () => {
    const { destination, latest } = await whole();
    const tables = latest.manifest.tables as Record<string, { files: { bytes: number }[] }>;
    await destination.put(latest.groupsKey, Buffer.alloc(tables.groups!.files[0]!.bytes, 7));
    const problems = await pointerProblems(destination.url, POOL, s3);
    expect(problems).toEqual([expect.stringMatching(/latest\.json: .*tables\.groups\.files\[0\]: .* has sha256/)]);
  });

  it('names a pointer to a missing manifest, and one whose manifest is of another snapshot', async () => {
    const { destination, latest, named } = await whole();
    await destination.remove(latest.manifestKey);
    await writePointer(destination, 'latest-tenant.json', '20240501T030000Z-cccc', destination.urlOf(named.manifestKey));
    const problems = await pointerProblems(destination.url, POOL, s3);
    expect(problems).toEqual([
      `manifests/user_pool_id=${POOL}/latest-tenant.json: (snapshot 20240501T030000Z-cccc, manifest ${destination.urlOf(named.manifestKey)}) the manifest's snapshot_id is "${named.snapshotId}"`,
      `manifests/user_pool_id=${POOL}/latest.json: (snapshot ${latest.snapshotId}, manifest ${destination.urlOf(latest.manifestKey)}) the manifest does not exist`,
    ]);
    await expect(expectPointersWhole(destination.url, POOL, s3)).rejects.toThrow('the manifest does not exist');
  });

  it('names a pointer that is not JSON', async () => {
    const { destination } = await whole();
    await destination.put(`manifests/user_pool_id=${POOL}/latest.json`, '{"snapshot_id": "trunc');
    expect(await pointerProblems(destination.url, POOL, s3)).toEqual([`manifests/user_pool_id=${POOL}/latest.json: is not a JSON object`]);
  });
});
