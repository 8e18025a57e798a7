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
    const found = await manifestOfPointer(sink, await plant([sink.urlOf(dataFileKey(run, '0', 0, true))]), 'latest.json', POOL);
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
      dataFileKey(run, '0', 0, true, 'groups'),
      dataFileKey({ ...run, snapshotId: '20250101T000000000Z-000000' }, '0', 0, true),
      dataFileKey({ ...run, userPoolId: OTHER }, '0', 0, true),
      `${dataFileKey(run, '0', 0, true)}.extra`,
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

describe('reads of a FileSink', () => {
  it('refuse a symlink that leads out of the destination, and keys with dot segments', async () => {
    const key = dataFileKey(run, '1', 0, false);
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
