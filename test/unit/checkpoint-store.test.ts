import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointDivergedError, FencedError } from '../../src/limits/export-errors.js';
import { redisKeys } from '../../src/redis/redis-keys.js';
import type { StagedLocation } from '../../src/storage/object-sink.js';
import { CheckpointStore, counterFields, INITIAL_CHECKPOINT, tableOfUnit, type ShardCheckpoint } from '../../src/walk/checkpoint-store.js';
import type { SealedPart } from '../../src/walk/part-file.js';
import { deletePrefix, TEST_REDIS_URL, testPrefix } from '../support/redis-test-prefix.js';

/**
 * The Redis checkpoint store against a real Redis (127.0.0.1:6379, or REDIS_URL): its scripts are
 * the fencing and the compare-and-set every walk relies on.
 */

let redis: Redis;
const prefix = testPrefix();
const keys = redisKeys(prefix);
let n = 0;
/** A store for a fresh run, so tests never share a checkpoint or a run hash. */
const fresh = (ttlMs?: number) => {
  const snapshotId = `run-${++n}`;
  return { snapshotId, store: new CheckpointStore(redis, keys, snapshotId, ...(ttlMs === undefined ? [] : [ttlMs])) };
};

const part = (seq: number, records = 10, bytes = 100): SealedPart => ({
  key: `users/x/part-0-${seq}.ndjson`,
  url: `file:///out/users/x/part-0-${seq}.ndjson`,
  bytes,
  sha256: 'ab'.repeat(32),
  records,
  location: { kind: 'file', path: `/out/_staging/x/users/part-0-${seq}.ndjson` },
});

const checkpoint = (fileSeq: number, records: number, bytes: number, done = false): ShardCheckpoint => ({ nextToken: done ? null : `t${fileSeq}`, fileSeq, records, bytes, walk: 0, done });

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  redis.disconnect();
  await deletePrefix(prefix);
});

describe('claiming a shard', () => {
  it('starts a shard at the initial checkpoint, and each claim takes a new epoch and returns the stored state', async () => {
    const { store } = fresh();
    const first = await store.claim('0');
    expect(first).toEqual({ epoch: 1, stored: '', checkpoint: INITIAL_CHECKPOINT });
    const stored = await store.commit('0', 1, '', checkpoint(1, 10, 100), part(0), 0);
    const second = await store.claim('0');
    expect(second).toEqual({ epoch: 2, stored, checkpoint: checkpoint(1, 10, 100) });
  });

  it('keeps a checkpoint a week by default, or the TTL it is given', async () => {
    const week = fresh();
    await week.store.claim('0');
    const ttl = await redis.pttl(keys.checkpoint(week.snapshotId, '0'));
    expect(ttl).toBeGreaterThan(7 * 24 * 3600 * 1000 - 60_000);
    expect(ttl).toBeLessThanOrEqual(7 * 24 * 3600 * 1000);
    const short = fresh(50_000);
    const { epoch } = await short.store.claim('0');
    await redis.persist(keys.checkpoint(short.snapshotId, '0'));
    await short.store.commit('0', epoch, '', checkpoint(0, 0, 0), null, 0);
    const after = await redis.pttl(keys.checkpoint(short.snapshotId, '0'));
    expect(after).toBeGreaterThan(40_000);
    expect(after).toBeLessThanOrEqual(50_000);
  });
});

describe('fencing', () => {
  it('refuses a worker whose epoch another claim has passed (fenced) or Redis has lost (diverged)', async () => {
    const { store, snapshotId } = fresh();
    await store.claim('0');
    const { epoch } = await store.claim('0');
    await expect(store.assertOwner('0', epoch)).resolves.toBeUndefined();
    await expect(store.assertOwner('0', epoch - 1)).rejects.toThrow(FencedError);
    await expect(store.assertOwner('0', epoch - 1)).rejects.toThrow(`another worker now owns this shard of run ${snapshotId}`);
    await expect(store.assertOwner('0', epoch + 1)).rejects.toThrow(CheckpointDivergedError);
    await expect(store.assertOwner('0', epoch + 1)).rejects.toThrow(`the checkpoint of a shard of run ${snapshotId} is not the one this worker last wrote`);
    const location: StagedLocation = { kind: 'file', path: '/out/_staging/a' };
    await expect(store.recordStaged('0', epoch - 1, location)).rejects.toThrow(FencedError);
    await expect(store.recordStaged('0', epoch + 1, location)).rejects.toThrow(CheckpointDivergedError);
    await expect(store.commit('0', epoch - 1, '', checkpoint(1, 1, 1), part(0), 0)).rejects.toThrow(FencedError);
    await expect(store.restart('0', epoch - 1, '')).rejects.toThrow(FencedError);
    await expect(store.restart('0', epoch + 1, '')).rejects.toThrow(CheckpointDivergedError);
    expect(await store.staged('0')).toEqual([]);
    expect(await store.peek('0')).toBeUndefined();
  });

  it('fences every writer once the checkpoint is removed (the run was published or abandoned)', async () => {
    const { store } = fresh();
    const { epoch } = await store.claim('0');
    await store.claim('1');
    await store.remove(['0', '1']);
    await store.remove([]);
    await expect(store.assertOwner('0', epoch)).rejects.toThrow(FencedError);
    await expect(store.assertOwner('1', epoch)).rejects.toThrow(FencedError);
    expect(await store.files('0')).toEqual([]);
  });
});

describe('committing a checkpoint', () => {
  it('records the file and the state atomically and moves the counts into the run totals', async () => {
    const { store, snapshotId } = fresh();
    const { epoch } = await store.claim('3');
    await redis.hset(keys.run(snapshotId), 'open:3', '7', 'open:4', '2');
    const next = checkpoint(1, 10, 100);
    const stored = await store.commit('3', epoch, '', next, part(0, 10, 100), 0);
    expect(stored).toBe(JSON.stringify(next));
    expect(await redis.hget(keys.checkpoint(snapshotId, '3'), 'state')).toBe(stored);
    expect(await store.peek('3')).toEqual(next);
    expect(await store.files('3')).toEqual([part(0, 10, 100)]);
    expect(await redis.hgetall(keys.run(snapshotId))).toEqual({ records: '10', bytes: '100', files: '1', 'open:4': '2' });

    // A checkpoint without a file moves the state only.
    const done = checkpoint(1, 10, 100, true);
    const last = await store.commit('3', epoch, stored, done, null, 1);
    expect(await store.peek('3')).toEqual(done);
    expect(await store.files('3')).toEqual([part(0, 10, 100)]);
    expect(await redis.hgetall(keys.run(snapshotId))).toEqual({ records: '10', bytes: '100', files: '1', 'open:4': '2' });

    // Applied twice (resent after a reconnect): no-op. Following a state Redis does not hold: diverged.
    await expect(store.commit('3', epoch, stored, done, null, 1)).resolves.toBe(last);
    expect(await redis.hget(keys.run(snapshotId), 'records')).toBe('10');
    await expect(store.commit('3', epoch, stored, checkpoint(2, 20, 200), part(1), 1)).rejects.toThrow(CheckpointDivergedError);
  });

  it('counts another table’s files under its own fields', async () => {
    const { store, snapshotId } = fresh();
    const { epoch } = await store.claim('groups.all');
    await store.commit('groups.all', epoch, '', checkpoint(1, 4, 40), part(0, 4, 40), 0);
    expect(await redis.hgetall(keys.run(snapshotId))).toEqual({ 'groups:records': '4', 'groups:bytes': '40', 'groups:files': '1' });
  });

  it('lists the files in sequence order, first to last or last to first', async () => {
    const { store } = fresh();
    const { epoch } = await store.claim('0');
    let stored = '';
    for (let seq = 0; seq < 12; seq++) stored = await store.commit('0', epoch, stored, checkpoint(seq + 1, (seq + 1) * 10, (seq + 1) * 100), part(seq), seq);
    await store.recordStaged('0', epoch, { kind: 'file', path: '/out/_staging/zz' });
    const files = await store.files('0');
    expect(files.map((file) => file.key)).toEqual(Array.from({ length: 12 }, (_, seq) => part(seq).key));
    const fromLast: SealedPart[] = [];
    for await (const file of store.filesFromLast('0')) fromLast.push(file);
    expect(fromLast).toEqual([...files].reverse());
  });

  it('reads files from the last only as far as they are there, and none without a checkpoint', async () => {
    const { store, snapshotId } = fresh();
    const { epoch } = await store.claim('0');
    let stored = '';
    for (let seq = 0; seq < 3; seq++) stored = await store.commit('0', epoch, stored, checkpoint(seq + 1, 1, 1), part(seq), seq);
    await redis.hdel(keys.checkpoint(snapshotId, '0'), 'file:1');
    const fromLast: SealedPart[] = [];
    for await (const file of store.filesFromLast('0')) fromLast.push(file);
    expect(fromLast).toEqual([part(2)]);
    for await (const file of store.filesFromLast('9')) throw new Error(`unexpected ${file.key}`);
  });
});

describe('staged files', () => {
  it('records every staged file under its own id: an upload id, a staging path', async () => {
    const { store, snapshotId } = fresh();
    const { epoch } = await store.claim('0');
    const locations: StagedLocation[] = [
      { kind: 's3-upload', key: 'users/x/part-0-0.ndjson', uploadId: 'up-1', parts: [] },
      { kind: 's3-upload', key: 'users/x/part-0-0.ndjson', uploadId: 'up-2', parts: [] },
      { kind: 'file', path: '/out/_staging/x/a' },
      { kind: 'file', path: '/out/_staging/x/b' },
    ];
    for (const location of locations) await store.recordStaged('0', epoch, location);
    await store.commit('0', epoch, '', checkpoint(1, 1, 1), part(0), 0);
    const fields = Object.keys(await redis.hgetall(keys.checkpoint(snapshotId, '0'))).sort();
    expect(fields).toEqual(['epoch', 'file:0', 'staged:/out/_staging/x/a', 'staged:/out/_staging/x/b', 'staged:up-1', 'staged:up-2', 'state']);
    const staged = await store.staged('0');
    expect(staged).toHaveLength(4);
    expect(staged).toEqual(expect.arrayContaining(locations));
  });
});

describe('restarting a walk', () => {
  it('forgets the walk’s files, takes its counts back out of the run totals, and counts the walk', async () => {
    const { store, snapshotId } = fresh();
    const { epoch } = await store.claim('groups.all');
    let stored = await store.commit('groups.all', epoch, '', checkpoint(1, 4, 40), part(0, 4, 40), 0);
    stored = await store.commit('groups.all', epoch, stored, checkpoint(2, 7, 70), part(1, 3, 30), 1);
    await redis.hset(keys.run(snapshotId), 'open:groups.all', '5');
    const restarted = await store.restart('groups.all', epoch, stored);
    const expected = { nextToken: null, fileSeq: 0, records: 0, bytes: 0, walk: 1, done: false };
    expect(restarted.checkpoint).toEqual(expected);
    expect(JSON.parse(restarted.stored)).toEqual(expected);
    expect(await store.peek('groups.all')).toEqual(expected);
    expect(await store.files('groups.all')).toEqual([]);
    expect(await redis.hgetall(keys.run(snapshotId))).toEqual({ 'groups:records': '0', 'groups:bytes': '0', 'groups:files': '0' });
    await expect(store.restart('groups.all', epoch, stored)).rejects.toThrow(CheckpointDivergedError);
    const again = await store.restart('groups.all', epoch, restarted.stored);
    expect(again.checkpoint.walk).toBe(2);
  });
});

describe('counter fields', () => {
  it('counts the users table’s shards under the run’s own fields, and another table’s under its name', () => {
    expect(tableOfUnit('0')).toBe('users');
    expect(tableOfUnit('all')).toBe('users');
    expect(tableOfUnit('groups.all')).toBe('groups');
    expect(tableOfUnit('group_memberships.3')).toBe('group_memberships');
    expect(counterFields('a')).toEqual(['records', 'bytes', 'files']);
    expect(counterFields('users.0')).toEqual(['records', 'bytes', 'files']);
    expect(counterFields('group_memberships.3')).toEqual(['group_memberships:records', 'group_memberships:bytes', 'group_memberships:files']);
  });
});
