import { describe, expect, it } from 'vitest';
import { buildManifest, commitSeqOf, manifestPrivacy, movePointer, parsePointer, pointerTo, readLatest, writeManifest, type LatestPointer, type ManifestFile, type ManifestRun, type TableFiles } from '../../src/storage/manifest.js';
import type { ObjectSink } from '../../src/storage/object-sink.js';
import { latestKey, manifestKey } from '../../src/storage/output-layout.js';
import { MemoryStore } from '../support/memory-sink.js';

/** The manifest and pointer a reader trusts: how they are built, written and moved. */

const POOL = 'eu-west-1_AbC';
const ID = '20261201T103000000Z-aaaaaa';

const spec: ManifestRun = {
  userPoolId: POOL,
  snapshotId: ID,
  region: 'eu-west-1',
  startedAt: '2026-12-01T10:30:00.000Z',
  shards: 4,
  filter: null,
  attributes: ['email'],
  gzip: true,
};

/** A data file as a table's checkpoints list it: more than the manifest keeps of it. */
const file = (name: string, records: number): ManifestFile & { key: string } => ({ url: `file:///d/${name}`, records, bytes: records * 10, sha256: name.repeat(4), key: name });
const listed = ({ url, records, bytes, sha256 }: ManifestFile): ManifestFile => ({ url, records, bytes, sha256 });

describe('the privacy block', () => {
  it('lists what the run dropped and pseudonymized, and names the key only when it pseudonymized something', () => {
    expect(manifestPrivacy({})).toEqual({ excluded_attributes: [], pseudonymized: [], key_id: null });
    expect(manifestPrivacy({ excludeAttributes: ['phone_number'], pseudonymize: ['email', 'sub'], pseudonymizationKeyId: 'k1' })).toEqual({
      excluded_attributes: ['phone_number'],
      pseudonymized: ['email', 'sub'],
      key_id: 'k1',
    });
    expect(manifestPrivacy({ pseudonymize: [], pseudonymizationKeyId: 'k1' })).toEqual({ excluded_attributes: [], pseudonymized: [], key_id: null });
    expect(manifestPrivacy({ pseudonymize: ['email'] })).toEqual({ excluded_attributes: [], pseudonymized: ['email'], key_id: null });
  });
});

describe('the manifest of a run', () => {
  const users = [file('u0', 3), file('u1', 4)];
  const groups = [file('g0', 2)];
  const memberships = [file('m0', 5), file('m1', 1)];
  const tables = new Map<string, TableFiles>([
    ['users', { files: users }],
    ['groups', { files: groups }],
    ['group_memberships', { files: memberships, groupsSkipped: ['gone'] }],
    ['user_changes', { files: [file('c0', 6)], counts: { insert: 4, update: 1, delete: 1 } }],
  ]);

  it('describes the users table at the top and every table below, with only what a reader needs of each file', () => {
    const manifest = buildManifest(spec, tables, '2026-12-01T10:40:00.000Z', { since: '20261130T103000000Z-bbbbbb', reason: null }, 7);
    expect(manifest).toEqual({
      schema_version: 1,
      user_pool_id: POOL,
      snapshot_id: ID,
      region: 'eu-west-1',
      started_at: '2026-12-01T10:30:00.000Z',
      completed_at: '2026-12-01T10:40:00.000Z',
      record_count: 7,
      shards: 4,
      filter: null,
      attributes: ['email'],
      format: 'ndjson',
      compression: 'gzip',
      dataset: 'pool',
      pointer: 'latest.json',
      files: users.map(listed),
      changes_since: '20261130T103000000Z-bbbbbb',
      changes_reason: null,
      privacy: { excluded_attributes: [], pseudonymized: [], key_id: null },
      commit_seq: 7,
      tables: {
        users: { record_count: 7, files: users.map(listed) },
        groups: { record_count: 2, files: groups.map(listed) },
        group_memberships: { record_count: 6, files: memberships.map(listed), groups_skipped: ['gone'] },
        user_changes: { record_count: 6, counts: { insert: 4, update: 1, delete: 1 }, files: [listed(file('c0', 6))] },
      },
    });
    expect(Object.keys(manifest.tables.users ?? {})).toEqual(['record_count', 'files']);
  });

  it('says change tables are off unless told otherwise, and has no commit_seq without one', () => {
    const manifest = buildManifest({ ...spec, gzip: false, filter: 'email ^= "a"', attributes: null }, new Map(), '2026-12-01T10:40:00.000Z');
    expect(manifest).toMatchObject({ record_count: 0, files: [], tables: {}, compression: 'none', filter: 'email ^= "a"', attributes: null });
    expect(manifest.changes_since).toBeNull();
    expect(manifest.changes_reason).toBe('change tables are turned off for this run (--no-changes)');
    expect('commit_seq' in manifest).toBe(false);
    expect(buildManifest(spec, new Map(), 'x', undefined, 0).commit_seq).toBe(0);
  });

  it('is the pool’s dataset only for a run that moves latest.json', () => {
    const place = (pointer: string | null | undefined) => {
      const manifest = buildManifest({ ...spec, pointer }, tables, 'x');
      return [manifest.dataset, manifest.pointer];
    };
    expect(place(undefined)).toEqual(['pool', 'latest.json']);
    expect(place('latest.json')).toEqual(['pool', 'latest.json']);
    expect(place('latest-eu.json')).toEqual(['partial', 'latest-eu.json']);
    // A partial run that moves no pointer names none.
    expect(place(null)[1]).toBeNull();
  });

  it('keeps its own copies of what it was given', () => {
    const counts = { insert: 1 };
    const skipped = ['g'];
    const manifest = buildManifest(spec, new Map([['group_memberships', { files: [], groupsSkipped: skipped, counts }]]), 'x');
    counts.insert = 9;
    skipped.push('h');
    expect(manifest.tables.group_memberships).toEqual({ record_count: 0, counts: { insert: 1 }, files: [], groups_skipped: ['g'] });
  });

  it('is written where the layout puts it, as indented JSON with a newline, and its URL returned', async () => {
    const store = new MemoryStore();
    const puts: [string, string, string][] = [];
    const inner = store.sink('finalizer');
    const sink: ObjectSink = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'putText')
          return (key: string, text: string, contentType: string) => {
            puts.push([key, text, contentType]);
            return target.putText(key, text, contentType);
          };
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const manifest = buildManifest(spec, tables, '2026-12-01T10:40:00.000Z');
    const key = manifestKey({ userPoolId: POOL, snapshotId: ID, startedAt: new Date(spec.startedAt) });
    expect(key).toBe(`manifests/user_pool_id=${POOL}/dt=2026-12-01/run=${ID}.json`);
    expect(await writeManifest(sink, manifest)).toBe(`file:///memory/${key}`);
    expect(puts).toEqual([[key, `${JSON.stringify(manifest, null, 2)}\n`, 'application/json']]);
  });
});

describe('pointers', () => {
  const manifest = buildManifest(spec, new Map([['users', { files: [file('u0', 3)] }]]), '2026-12-01T10:40:00.000Z', undefined, 5);

  it('name a manifest with its snapshot, completion, size and commit order', () => {
    expect(pointerTo(manifest, 'file:///m.json')).toEqual({
      schema_version: 1,
      user_pool_id: POOL,
      snapshot_id: ID,
      manifest_url: 'file:///m.json',
      completed_at: '2026-12-01T10:40:00.000Z',
      record_count: 3,
      commit_seq: 5,
    });
    const old = pointerTo(buildManifest(spec, new Map(), 'x'), 'file:///m.json');
    expect('commit_seq' in old).toBe(false);
    expect(commitSeqOf(old)).toBe(0);
    expect(commitSeqOf({ commit_seq: 3 })).toBe(3);
    expect(commitSeqOf({ commit_seq: '3' as unknown as number })).toBe(0);
  });

  it('are read only when they name a snapshot and a manifest', () => {
    const pointer = pointerTo(manifest, 'file:///m.json');
    expect(parsePointer(JSON.stringify(pointer))).toEqual(pointer);
    expect(parsePointer(undefined)).toBeUndefined();
    expect(parsePointer('{"snapshot_id":')).toBeUndefined();
    expect(parsePointer('null')).toBeUndefined();
    expect(parsePointer(JSON.stringify({ snapshot_id: ID }))).toBeUndefined();
    expect(parsePointer(JSON.stringify({ manifest_url: 'file:///m.json' }))).toBeUndefined();
    expect(parsePointer(JSON.stringify({ snapshot_id: 5, manifest_url: 'file:///m.json' }))).toBeUndefined();
    expect(parsePointer(JSON.stringify({ snapshot_id: ID, manifest_url: 5 }))).toBeUndefined();
  });

  it('are read from the pool’s manifests folder, latest.json unless another is named', async () => {
    const store = new MemoryStore();
    const sink = store.sink('reader');
    const pointer = pointerTo(manifest, 'file:///m.json');
    expect(await readLatest(sink, POOL)).toBeUndefined();
    await sink.putText(latestKey(POOL), JSON.stringify(pointer), 'application/json');
    await sink.putText(latestKey(POOL, 'latest-eu.json'), JSON.stringify({ ...pointer, snapshot_id: 'other' }), 'application/json');
    expect(await readLatest(sink, POOL)).toEqual(pointer);
    expect(await readLatest(sink, POOL, 'latest-eu.json')).toEqual({ ...pointer, snapshot_id: 'other' });
    await sink.putText(latestKey(POOL), 'garbage', 'application/json');
    expect(await readLatest(sink, POOL)).toBeUndefined();
  });
});

describe('moving a pointer', () => {
  const head = (snapshotId: string, seq?: number, url = `file:///memory/manifests/${snapshotId}.json`): LatestPointer => ({
    schema_version: 1,
    user_pool_id: POOL,
    snapshot_id: snapshotId,
    manifest_url: url,
    completed_at: '2026-12-01T10:40:00.000Z',
    record_count: 3,
    ...(seq === undefined ? {} : { commit_seq: seq }),
  });
  const text = (pointer: LatestPointer) => `${JSON.stringify(pointer, null, 2)}\n`;
  const KEY = latestKey(POOL);

  /** A store and a view of it that counts the fence and every conditional write. */
  function setup(failWrites = 0) {
    const store = new MemoryStore();
    const inner = store.sink('finalizer');
    const writes: (string | null)[] = [];
    const contentTypes: string[] = [];
    let failures = failWrites;
    const sink: ObjectSink = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'putIfVersion')
          return (key: string, body: string, contentType: string, version: string | null) => {
            writes.push(version);
            contentTypes.push(contentType);
            if (failures-- > 0) return Promise.resolve(false);
            return target.putIfVersion(key, body, contentType, version);
          };
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    let fences = 0;
    const fence = () => {
      fences++;
      return Promise.resolve();
    };
    return { store, sink, writes, contentTypes, fence, fences: () => fences };
  }

  it('creates a pointer that is not there, fenced, only if it is still not there', async () => {
    const { store, sink, writes, contentTypes, fence, fences } = setup();
    expect(await movePointer(sink, head('s2', 2), 'latest.json', fence)).toBe('moved');
    expect(store.text(KEY)).toBe(text(head('s2', 2)));
    expect(writes).toEqual([null]);
    expect(contentTypes).toEqual(['application/json']);
    expect(fences()).toBe(1);
  });

  it('replaces an older pointer at the version it read, and names the pointer it is given', async () => {
    const { store, sink, writes } = setup();
    await movePointer(sink, head('s1', 1), 'latest.json');
    const version = store.objects.get(KEY)?.version;
    expect(await movePointer(sink, head('s2', 2), 'latest.json')).toBe('moved');
    expect(writes).toEqual([null, version]);
    expect(store.text(KEY)).toBe(text(head('s2', 2)));
    expect(await movePointer(sink, head('s3', 3), 'latest-eu.json')).toBe('moved');
    expect(store.text(latestKey(POOL, 'latest-eu.json'))).toBe(text(head('s3', 3)));
    expect(store.text(KEY)).toBe(text(head('s2', 2)));
  });

  it('leaves a pointer that already names the head, and writes nothing', async () => {
    const { store, sink, writes, fence, fences } = setup();
    await movePointer(sink, head('s2', 2), 'latest.json');
    expect(await movePointer(sink, head('s2', 2), 'latest.json', fence)).toBe('current');
    expect(writes).toHaveLength(1);
    expect(fences()).toBe(0);
    // Pointers from before commit sequences name the same head as one with 0.
    await store.sink('x').putText(KEY, JSON.stringify(head('s3')), 'application/json');
    expect(await movePointer(sink, head('s3', 0), 'latest.json')).toBe('current');
  });

  it('rewrites a pointer naming the head’s snapshot with another manifest or order', async () => {
    const { store, sink } = setup();
    await movePointer(sink, head('s2', 2, 'file:///memory/old.json'), 'latest.json');
    expect(await movePointer(sink, head('s2', 2), 'latest.json')).toBe('moved');
    expect(store.text(KEY)).toBe(text(head('s2', 2)));
    expect(await movePointer(sink, head('s2', 1), 'latest.json')).toBe('moved');
    expect(store.text(KEY)).toBe(text(head('s2', 1)));
  });

  it('never moves a pointer back to an earlier commit, or sideways to another at the same place', async () => {
    const { store, sink, fence, fences } = setup();
    await movePointer(sink, head('s5', 5), 'latest.json');
    expect(await movePointer(sink, head('s4', 4), 'latest.json', fence)).toBe('newer');
    expect(await movePointer(sink, head('s6', 5), 'latest.json', fence)).toBe('newer');
    expect(fences()).toBe(0);
    expect(store.text(KEY)).toBe(text(head('s5', 5)));
    expect(await movePointer(sink, head('s6', 6), 'latest.json')).toBe('moved');
  });

  it('overwrites a pointer it cannot read', async () => {
    const { store, sink } = setup();
    await store.sink('x').putText(KEY, 'garbage', 'application/json');
    expect(await movePointer(sink, head('s1', 1), 'latest.json')).toBe('moved');
    expect(store.text(KEY)).toBe(text(head('s1', 1)));
  });

  it('reads again and retries while another writer moves it meanwhile, fenced before each write', async () => {
    const { store, sink, writes, fence, fences } = setup(3);
    expect(await movePointer(sink, head('s1', 1), 'latest.json', fence)).toBe('moved');
    expect(writes).toEqual([null, null, null, null]);
    expect(fences()).toBe(4);
    expect(store.text(KEY)).toBe(text(head('s1', 1)));
  });

  it('gives up after 50 attempts', async () => {
    const { sink, writes } = setup(Number.POSITIVE_INFINITY);
    await expect(movePointer(sink, head('s1', 1), 'latest.json')).rejects.toThrow(`file:///memory/${KEY} kept changing while it was being moved to s1: try the export again`);
    expect(writes).toHaveLength(50);
  });

  it('writes nothing when the fence refuses', async () => {
    const { store, sink } = setup();
    await expect(movePointer(sink, head('s1', 1), 'latest.json', () => Promise.reject(new Error('fenced')))).rejects.toThrow('fenced');
    expect(store.text(KEY)).toBeUndefined();
  });
});
