import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSink } from '../../src/storage/file-sink.js';
import { manifestOfPointer } from '../../src/storage/manifest.js';

let directory: string;
let sink: FileSink;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'ce-pointer-'));
  sink = new FileSink(directory);
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('the manifest a pointer names', () => {
  it('is read with its key, or says why there is none to compare with', async () => {
    // A manifest where the layout puts it, naming its own pool and snapshot.
    const pool = 'eu-west-1_AbC';
    const id = '20261201T000000000Z-aaaaaa';
    const key = `manifests/user_pool_id=${pool}/dt=2026-12-01/run=${id}.json`;
    const manifest = { user_pool_id: pool, snapshot_id: id, started_at: '2026-12-01T00:00:00.000Z', files: [], tables: {} };
    await sink.putText(key, JSON.stringify(manifest));
    const goneKey = `manifests/user_pool_id=${pool}/dt=2026-12-01/run=20261201T000000000Z-bbbbbb.json`;
    const brokenKey = `manifests/user_pool_id=${pool}/dt=2026-12-01/run=20261201T000000000Z-cccccc.json`;
    await sink.putText(brokenKey, '{"snapshot_');
    const pointer = (url: string, snapshotId = id) => JSON.stringify({ user_pool_id: pool, snapshot_id: snapshotId, manifest_url: url });
    expect(await manifestOfPointer(sink, pointer(sink.urlOf(key)), 'latest.json')).toEqual({ manifest, key });
    // The pool can come from the caller instead of the pointer; a pointer of another pool is refused.
    expect(await manifestOfPointer(sink, JSON.stringify({ snapshot_id: id, manifest_url: sink.urlOf(key) }), 'latest.json', pool)).toEqual({ manifest, key });
    expect(await manifestOfPointer(sink, pointer(sink.urlOf(key)), 'latest.json', 'eu-west-1_Other')).toEqual({ reason: 'latest.json is not a pointer of pool eu-west-1_Other' });
    // A manifest elsewhere is untrusted: it is not read as the previous snapshot.
    await sink.putText('manifests/m.json', '{"snapshot_id":"A"}');
    const notUnder = `the previous snapshot ${id}'s manifest named by latest.json is not under this destination's manifests of pool ${pool}`;
    expect(await manifestOfPointer(sink, pointer(sink.urlOf('manifests/m.json')), 'latest.json')).toEqual({ reason: notUnder });
    expect(await manifestOfPointer(sink, pointer('s3://elsewhere/m.json'), 'latest.json')).toEqual({ reason: notUnder });
    expect(await manifestOfPointer(sink, undefined, 'latest.json')).toEqual({ reason: 'no previous complete snapshot of this dataset' });
    expect(await manifestOfPointer(sink, '{oops', 'latest.json')).toEqual({ reason: 'latest.json could not be read as JSON' });
    expect(await manifestOfPointer(sink, JSON.stringify({ snapshot_id: id }), 'latest.json')).toEqual({ reason: 'latest.json names no valid user pool' });
    expect(await manifestOfPointer(sink, pointer(sink.urlOf(goneKey), '20261201T000000000Z-bbbbbb'), 'latest.json')).toEqual({ reason: `the previous snapshot's manifest ${sink.urlOf(goneKey)} is gone` });
    expect(await manifestOfPointer(sink, pointer(sink.urlOf(brokenKey), '20261201T000000000Z-cccccc'), 'latest.json')).toEqual({ reason: `the previous snapshot's manifest ${sink.urlOf(brokenKey)} could not be read as JSON` });
  });
});
