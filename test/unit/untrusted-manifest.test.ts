import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSink } from '../../src/storage/file-sink.js';
import { manifestOfPointer } from '../../src/storage/manifest.js';
import { dataFileKey, manifestKey } from '../../src/storage/output-layout.js';
import { keyOfUrl } from '../../src/storage/record-lines.js';

let scratch: string;
let sink: FileSink;
const POOL = 'eu-west-1_Tenant1';
const OTHER = 'eu-west-1_Tenant2';
const SNAPSHOT = '20260101T000000000Z-abc123';
const run = { userPoolId: POOL, snapshotId: SNAPSHOT, startedAt: new Date('2026-01-01T00:00:00.000Z') };
const SECRET = 'SECRET-BYTES-7f3a9c';

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ce-untrusted-'));
  sink = new FileSink(join(scratch, 'dest'));
  await sink.preflight();
  await mkdir(join(scratch, 'other'), { recursive: true });
  await writeFile(join(scratch, 'other', 'secret.txt'), `${SECRET}\n`);
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A manifest of POOL's SNAPSHOT listing `urls` as its users files, planted where the layout keeps it; returns the pointer's text. */
async function plant(urls: readonly string[], overrides: Record<string, unknown> = {}): Promise<string> {
  const files = urls.map((url) => ({ url, records: 1, bytes: 1, sha256: '0' }));
  const manifest = { schema_version: 1, user_pool_id: POOL, snapshot_id: SNAPSHOT, started_at: run.startedAt.toISOString(), filter: null, attributes: null, files, tables: { users: { record_count: files.length, files } }, ...overrides };
  await sink.putText(manifestKey(run), JSON.stringify(manifest));
  return JSON.stringify({ schema_version: 1, user_pool_id: POOL, snapshot_id: SNAPSHOT, manifest_url: sink.urlOf(manifestKey(run)) });
}

const reasonOf = async (pointerText: string, pool = POOL): Promise<string> => {
  const found = await manifestOfPointer(sink, pointerText, 'latest.json', pool);
  expect('reason' in found, JSON.stringify(found)).toBe(true);
  const reason = (found as { reason: string }).reason;
  expect(reason.split('\n')).toHaveLength(1);
  return reason;
};

describe('keys of file URLs read back from a manifest', () => {
  it('are plain keys under the root or nothing', () => {
    expect(keyOfUrl(sink, sink.urlOf('users/a/part-0-00000.ndjson'))).toBe('users/a/part-0-00000.ndjson');
    for (const key of ['users/../../other/secret.txt', 'users/%2e%2e/x', 'users/./x', 'users//x', 'users/a%2fb', 'users/a\\..\\b', 'users/\u0000']) {
      expect(keyOfUrl(sink, sink.urlOf(key)), key).toBeUndefined();
    }
    expect(keyOfUrl(sink, 'file:///etc/passwd')).toBeUndefined();
  });
});

describe('the manifest a pointer names, read as untrusted input', () => {
  it('is taken when it is the pool’s snapshot and lists only that snapshot’s files', async () => {
    const found = await manifestOfPointer(sink, await plant([sink.urlOf(dataFileKey(run, '0', 0, 'ndjson.gz'))]), 'latest.json', POOL);
    expect(found).toMatchObject({ key: manifestKey(run), manifest: { snapshot_id: SNAPSHOT } });
  });

  it('is refused when a file URL steps out with .. or %2e%2e, without quoting it', async () => {
    for (const url of [`${sink.urlOf('users')}/../../other/secret.txt`, `${sink.urlOf('users')}/%2e%2e/%2e%2e/other/secret.txt`, `${sink.rootUrl}/../other/secret.txt`, 'file:///etc/passwd']) {
      const reason = await reasonOf(await plant([url]));
      expect(reason).toMatch(/lists a users file outside .*: not compared$/);
      expect(reason).not.toContain('secret');
      expect(reason).not.toContain('passwd');
    }
  });

  it('is refused when a file sits in another table’s, snapshot’s or pool’s folder', async () => {
    const elsewhere = [
      dataFileKey(run, '0', 0, 'ndjson.gz', 'groups'),
      dataFileKey({ ...run, snapshotId: '20250101T000000000Z-000000' }, '0', 0, 'ndjson.gz'),
      dataFileKey({ ...run, userPoolId: OTHER }, '0', 0, 'ndjson.gz'),
      `${dataFileKey(run, '0', 0, 'ndjson.gz')}.extra`,
    ];
    for (const key of elsewhere) expect(await reasonOf(await plant([sink.urlOf(key)])), key).toMatch(/lists a users file outside/);
  });

  it('is refused when it is another pool’s, or its pointer names another pool', async () => {
    expect(await reasonOf(await plant([], { user_pool_id: OTHER }))).toMatch(/is not a snapshot of pool eu-west-1_Tenant1: not compared$/);
    const pointer = JSON.stringify({ user_pool_id: OTHER, snapshot_id: SNAPSHOT, manifest_url: sink.urlOf(manifestKey({ ...run, userPoolId: OTHER })) });
    expect(await reasonOf(pointer)).toBe('latest.json is not a pointer of pool eu-west-1_Tenant1');
    const elsewhere = JSON.stringify({ user_pool_id: POOL, snapshot_id: SNAPSHOT, manifest_url: `${sink.rootUrl}/../other/secret.txt` });
    expect(await reasonOf(elsewhere)).toMatch(/is not under this destination's manifests of pool/);
  });

  it('never quotes a non-JSON manifest', async () => {
    await sink.putText(manifestKey(run), `${SECRET} not json`);
    const reason = await reasonOf(JSON.stringify({ user_pool_id: POOL, snapshot_id: SNAPSHOT, manifest_url: sink.urlOf(manifestKey(run)) }));
    expect(reason).toMatch(/could not be read as JSON$/);
    expect(reason).not.toContain(SECRET);
    expect(await reasonOf(`${SECRET}{`)).not.toContain(SECRET);
  });
});

describe('every reason a manifest or its pointer is refused', () => {
  const what = () => `the previous snapshot's manifest (${sink.urlOf(manifestKey(run))})`;
  const pointerText = (fields: Record<string, unknown> = {}) => JSON.stringify({ user_pool_id: POOL, snapshot_id: SNAPSHOT, manifest_url: sink.urlOf(manifestKey(run)), ...fields });
  const users = (name: string) => ({ url: sink.urlOf(`${dataFileKey(run, '0', 0, 'ndjson.gz').replace(/[^/]+$/, '')}${name}`), records: 1, bytes: 1, sha256: '0' });

  it('names what is wrong with the manifest itself', async () => {
    for (const text of ['[1]', 'null', '"x"', '7']) {
      await sink.putText(manifestKey(run), text);
      expect(await reasonOf(pointerText()), text).toBe(`${what()} is not a JSON object: not compared`);
    }
    expect(await reasonOf(await plant([], { snapshot_id: '20260101T000000000Z-abc124' }))).toBe(`${what()} is not snapshot ${SNAPSHOT}, as its pointer says: not compared`);
    for (const startedAt of [undefined, 'not a date', 20260101]) {
      expect(await reasonOf(await plant([], { started_at: startedAt })), String(startedAt)).toBe(`${what()} has no valid started_at: not compared`);
    }
    expect(await reasonOf(await plant([], { started_at: '2026-01-02T00:00:00.000Z' }))).toBe(`${what()} is not where snapshot ${SNAPSHOT} of pool ${POOL} keeps its manifest: not compared`);
    for (const tables of [null, [], 'users']) {
      expect(await reasonOf(await plant([], { tables })), JSON.stringify(tables)).toBe(`${what()} has no valid tables: not compared`);
    }
    expect(await reasonOf(await plant([], { tables: { users: { files: [] }, secrets: { files: [] } } }))).toBe(`${what()} lists a table this tool does not write: not compared`);
    expect(await reasonOf(await plant([], { files: 'x' }))).toBe(`${what()} has no valid file list for users: not compared`);
    expect(await reasonOf(await plant([], { tables: { groups: { files: {} } } }))).toBe(`${what()} has no valid file list for groups: not compared`);
  });

  it('takes a manifest without tables, or with a table without files, and lists only published file names', async () => {
    expect(await manifestOfPointer(sink, await plant([], { tables: undefined, files: undefined }), 'latest.json', POOL)).toMatchObject({ key: manifestKey(run) });
    expect(await manifestOfPointer(sink, await plant([], { tables: { groups: null, group_memberships: {} } }), 'latest.json', POOL)).toMatchObject({ key: manifestKey(run) });
    const groupsFile = { url: sink.urlOf(dataFileKey(run, 'all', 3, 'ndjson', 'groups')), records: 1, bytes: 1, sha256: '0' };
    expect(await manifestOfPointer(sink, await plant([], { files: [users('part-a1-00012.ndjson')], tables: { groups: { files: [groupsFile] } } }), 'latest.json', POOL)).toMatchObject({ key: manifestKey(run) });
    const outside = `${what()} lists a users file outside ${sink.urlOf(dataFileKey(run, '0', 0, 'ndjson.gz').replace(/[^/]+$/, ''))} (another folder, another root or a path with . or .. segments): not compared`;
    for (const name of ['part-0-0001.ndjson', 'part-0-00001.ndjson.zip', 'part-0-00001.json', 'part-A-00001.ndjson', 'xpart-0-00001.ndjson', 'sub/part-0-00001.ndjson']) {
      expect(await reasonOf(await plant([], { files: [users(name)] })), name).toBe(outside);
    }
    for (const entry of [null, {}, { url: 7 }]) expect(await reasonOf(await plant([], { files: [entry] })), JSON.stringify(entry)).toBe(outside);
    expect(await reasonOf(await plant([], { tables: { groups: { files: [users('part-0-00001.ndjson')] } } }))).toMatch(/lists a groups file outside /);
  });

  it('names what is wrong with the pointer', async () => {
    await plant([]);
    for (const pool of [7, '', '../eu-west-1_x', 'eu-west-1_A/B', 'EU-west-1_A', 'eu-west-1_', 'xeu-west-1_A']) {
      expect(await manifestOfPointer(sink, pointerText({ user_pool_id: pool }), 'latest-x.json'), String(pool)).toEqual({ reason: 'latest-x.json names no valid user pool' });
    }
    for (const snapshotId of [undefined, 7, 'x', `${SNAPSHOT}/..`, `x${SNAPSHOT}`, SNAPSHOT.toUpperCase()]) {
      expect(await reasonOf(pointerText({ snapshot_id: snapshotId })), String(snapshotId)).toBe('latest.json names no valid snapshot id');
    }
    const notUnder = `the previous snapshot ${SNAPSHOT}'s manifest named by latest.json is not under this destination's manifests of pool ${POOL}`;
    for (const url of [undefined, 7, sink.urlOf(`manifests/user_pool_id=${POOL}/run=${SNAPSHOT}.json`), sink.urlOf(`manifests/user_pool_id=${POOL}/dt=2026-01-01/run=20260101T000000000Z-abc124.json`), sink.urlOf(`manifests/user_pool_id=${OTHER}/dt=2026-01-01/run=${SNAPSHOT}.json`)]) {
      expect(await reasonOf(pointerText({ manifest_url: url })), String(url)).toBe(notUnder);
    }
    // A region of three parts (GovCloud) is a valid pool id: refused further on, for where its manifest is.
    const gov = 'us-gov-west-1_AbC';
    expect(await manifestOfPointer(sink, pointerText({ user_pool_id: gov }), 'latest.json')).toEqual({
      reason: `the previous snapshot ${SNAPSHOT}'s manifest named by latest.json is not under this destination's manifests of pool ${gov}`,
    });
    // With the pool from the pointer, not the caller.
    expect(await manifestOfPointer(sink, pointerText(), 'latest.json')).toMatchObject({ key: manifestKey(run) });
    expect(await manifestOfPointer(sink, 'null', 'latest.json')).toEqual({ reason: 'latest.json names no valid user pool' });
    // JSON that is not an object is refused for what it lacks, never thrown on, whoever names the pool.
    for (const text of ['null', '7', '"x"']) expect(await manifestOfPointer(sink, text, 'latest.json', POOL), text).toEqual({ reason: 'latest.json names no valid snapshot id' });
  });
});

describe('reads of a FileSink', () => {
  it('refuse a symlink that leads out of the destination, and keys with dot segments', async () => {
    const key = dataFileKey(run, '1', 0, 'ndjson');
    await mkdir(join(scratch, 'dest', ...key.split('/').slice(0, -1)), { recursive: true });
    await symlink(join(scratch, 'other', 'secret.txt'), join(scratch, 'dest', ...key.split('/')));
    await expect(sink.getText(key)).rejects.toThrow(/resolves outside .* \(a symbolic link\): refused/);
    await expect(sink.readStream(key)).rejects.toThrow(/resolves outside/);
    await expect(sink.getText('users/../../other/secret.txt')).rejects.toThrow(/a key with \. or \.\. segments/);
    await expect(sink.readStream('users/../../other/secret.txt')).rejects.toThrow(/a key with \. or \.\. segments/);
    // A link that stays inside the destination is fine.
    await sink.putText('inside.txt', 'ok');
    await symlink(join(scratch, 'dest', 'inside.txt'), join(scratch, 'dest', 'link.txt'));
    expect(await sink.getText('link.txt')).toBe('ok');
  });
});
