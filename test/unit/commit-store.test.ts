import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FencedError } from '../../src/limits/export-errors.js';
import { redisKeys } from '../../src/redis/redis-keys.js';
import { CommitStore, type CommittedHead, type DatasetRef, type StoredHead } from '../../src/runs/commit-store.js';
import { deletePrefix, TEST_REDIS_URL, testPrefix } from '../support/redis-test-prefix.js';

/**
 * The run's commit record against a real Redis (127.0.0.1:6379, or REDIS_URL): the finalizer's
 * epoch, the commit point, the commit order and each dataset's committed head.
 */

let redis: Redis;
const prefix = testPrefix();
const keys = redisKeys(prefix);
let n = 0;
/** A fresh run and pool, so tests never share a hash. */
const fresh = () => {
  n++;
  return { store: new CommitStore(redis, keys), snapshotId: `run-${n}`, pool: `eu-west-1_p${n}` };
};

const dataset = (pool: string, destination = 's3://bucket/exports/', pointer = 'latest.json'): DatasetRef => ({ userPoolId: pool, destination, pointer });
const head = (pool: string, snapshotId: string, commitSeq?: number): CommittedHead => ({
  schema_version: 1,
  user_pool_id: pool,
  snapshot_id: snapshotId,
  manifest_url: `s3://bucket/exports/manifests/user_pool_id=${pool}/${snapshotId}.json`,
  completed_at: '2026-12-07T10:00:00.000Z',
  record_count: 3,
  ...(commitSeq === undefined ? {} : { commit_seq: commitSeq }),
});
const stored = (ref: DatasetRef, h: CommittedHead): StoredHead => ({ ...ref, head: h });

/** A run in `state` whose finalizer holds the epoch returned. */
async function runIn(store: CommitStore, snapshotId: string, state: string): Promise<number> {
  await redis.hset(keys.run(snapshotId), 'state', state);
  return store.claimFinalizer(snapshotId);
}

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  redis.disconnect();
  await deletePrefix(prefix);
});

describe('the finalizer epoch', () => {
  it('is a new one for every attempt', async () => {
    const { store, snapshotId } = fresh();
    expect(await store.claimFinalizer(snapshotId)).toBe(1);
    expect(await store.claimFinalizer(snapshotId)).toBe(2);
    expect(await redis.hget(keys.run(snapshotId), 'fin_epoch')).toBe('2');
  });
});

describe('the commit point', () => {
  it('moves a running run to committing once, with the next place in its dataset’s order', async () => {
    const { store, snapshotId, pool } = fresh();
    const ref = dataset(pool);
    const epoch = await runIn(store, snapshotId, 'running');
    expect(await store.commitPoint(snapshotId, pool, ref, epoch, 0)).toEqual({ kind: 'committed', seq: 1 });
    expect(await redis.hget(keys.run(snapshotId), 'state')).toBe('committing');
    expect(await redis.hget(keys.pool(pool), `commit_seq:${ref.destination}|${ref.pointer}`)).toBe('1');
    // The same finalizer coming back gets the same place.
    expect(await store.commitPoint(snapshotId, pool, ref, epoch, 0)).toEqual({ kind: 'committed', seq: 1 });
    await redis.hset(keys.run(snapshotId), 'state', 'completed');
    expect(await store.commitPoint(snapshotId, pool, ref, epoch, 0)).toEqual({ kind: 'committed', seq: 1 });

    const next = fresh().snapshotId;
    const nextEpoch = await runIn(store, next, 'running');
    expect(await store.commitPoint(next, pool, ref, nextEpoch, 0)).toEqual({ kind: 'committed', seq: 2 });
  });

  it('numbers each dataset on its own, and never at or below the floor a pointer showed', async () => {
    const { store, pool } = fresh();
    const commit = async (ref: DatasetRef | null, floor: number) => {
      const { snapshotId } = fresh();
      return store.commitPoint(snapshotId, pool, ref, await runIn(store, snapshotId, 'running'), floor);
    };
    expect(await commit(dataset(pool), 0)).toEqual({ kind: 'committed', seq: 1 });
    expect(await commit(dataset(pool, 'file:///data/'), 0)).toEqual({ kind: 'committed', seq: 1 });
    expect(await commit(dataset(pool, 's3://bucket/exports/', 'latest-eu.json'), 0)).toEqual({ kind: 'committed', seq: 1 });
    expect(await commit(dataset(pool), 7)).toEqual({ kind: 'committed', seq: 8 });
    expect(await commit(dataset(pool), 0)).toEqual({ kind: 'committed', seq: 9 });
    expect(await commit(null, 0)).toEqual({ kind: 'committed', seq: 1 });
    expect(await commit(null, 0)).toEqual({ kind: 'committed', seq: 2 });
    expect(await redis.hget(keys.pool(pool), 'commit_seq:')).toBe('2');
  });

  it('says a run ended before its commit point, and refuses a finalizer that is no longer the run’s', async () => {
    const { store, snapshotId, pool } = fresh();
    for (const state of ['cancelled', 'failed'] as const) {
      const epoch = await runIn(store, snapshotId, state);
      expect(await store.commitPoint(snapshotId, pool, dataset(pool), epoch, 0)).toEqual({ kind: 'ended', state });
    }
    const queued = fresh().snapshotId;
    const epoch = await store.claimFinalizer(queued);
    expect(await store.commitPoint(queued, pool, dataset(pool), epoch, 0)).toEqual({ kind: 'ended', state: 'queued' });
    await redis.hset(keys.run(queued), 'state', 'running');
    expect(await store.commitPoint(queued, pool, dataset(pool), epoch - 1, 0)).toEqual({ kind: 'fenced' });
    expect(await redis.hget(keys.run(queued), 'state')).toBe('running');
  });
});

describe('fenced writes', () => {
  it('let the finalizer holding the committing run write, and no one else', async () => {
    const { store, snapshotId, pool } = fresh();
    const epoch = await runIn(store, snapshotId, 'running');
    await expect(store.assertFinalizer(snapshotId, epoch)).rejects.toThrow(FencedError);
    await store.commitPoint(snapshotId, pool, dataset(pool), epoch, 0);
    await expect(store.assertFinalizer(snapshotId, epoch)).resolves.toBeUndefined();
    await expect(store.assertFinalizer(snapshotId, epoch - 1)).rejects.toThrow(`another finalizer now holds run ${snapshotId}`);
    await expect(store.markPublished(snapshotId, epoch - 1)).rejects.toThrow(FencedError);
    const ref = dataset(pool);
    await expect(store.advanceHead(snapshotId, epoch - 1, stored(ref, head(pool, snapshotId, 1)))).rejects.toThrow(`another finalizer now holds run ${snapshotId}`);
    expect(await store.head(ref)).toBeUndefined();
    expect(await redis.hget(keys.run(snapshotId), 'published_at')).toBeNull();
  });

  it('marks the point of no return once', async () => {
    const { store, snapshotId, pool } = fresh();
    const epoch = await runIn(store, snapshotId, 'running');
    await store.commitPoint(snapshotId, pool, dataset(pool), epoch, 0);
    await store.markPublished(snapshotId, epoch, new Date('2026-12-07T10:00:00Z'));
    await store.markPublished(snapshotId, epoch, new Date('2026-12-07T11:00:00Z'));
    expect(await redis.hget(keys.run(snapshotId), 'published_at')).toBe('2026-12-07T10:00:00.000Z');
    const other = fresh().snapshotId;
    const otherEpoch = await runIn(store, other, 'running');
    await store.commitPoint(other, pool, dataset(pool), otherEpoch, 0);
    const before = Date.now();
    await store.markPublished(other, otherEpoch);
    const at = Date.parse((await redis.hget(keys.run(other), 'published_at')) ?? '');
    expect(at).toBeGreaterThanOrEqual(before - 1000);
    expect(at).toBeLessThanOrEqual(Date.now());
  });
});

describe('committed heads', () => {
  it('move only forward, per dataset, and list every dataset of the pool', async () => {
    const { store, snapshotId, pool } = fresh();
    const epoch = await runIn(store, snapshotId, 'running');
    await store.commitPoint(snapshotId, pool, dataset(pool), epoch, 0);
    const ref = dataset(pool);
    const otherRef = dataset(pool, 'file:///data/', 'latest.json');
    await store.advanceHead(snapshotId, epoch, stored(ref, head(pool, 's2', 2)));
    expect(await store.head(ref)).toEqual(stored(ref, head(pool, 's2', 2)));
    await store.advanceHead(snapshotId, epoch, stored(ref, head(pool, 's1', 1)));
    await store.advanceHead(snapshotId, epoch, stored(ref, head(pool, 's2b', 2)));
    expect(await store.head(ref)).toEqual(stored(ref, head(pool, 's2', 2)));
    await store.advanceHead(snapshotId, epoch, stored(ref, head(pool, 's3', 3)));
    expect(await store.head(ref)).toEqual(stored(ref, head(pool, 's3', 3)));
    expect(await redis.hget(keys.pool(pool), `head:${ref.destination}|${ref.pointer}`)).toBe(JSON.stringify(stored(ref, head(pool, 's3', 3))));

    expect(await store.head(otherRef)).toBeUndefined();
    // A head from before commit sequences counts as 0.
    const withRole: StoredHead = { ...stored(otherRef, head(pool, 's0')), s3RoleArn: 'arn:aws:iam::123456789012:role/x', externalId: 'e' };
    await store.advanceHead(snapshotId, epoch, withRole);
    await store.advanceHead(snapshotId, epoch, stored(otherRef, head(pool, 's0b')));
    expect(await store.head(otherRef)).toEqual(withRole);

    await redis.hset(keys.pool(pool), 'commit_seq:x', '4', 'other', '{}');
    const heads = await store.heads(pool);
    expect(heads.sort((a, b) => a.destination.localeCompare(b.destination))).toEqual([withRole, stored(ref, head(pool, 's3', 3))]);
    expect(await store.heads(fresh().pool)).toEqual([]);
  });
});

describe('the previous head a run started from', () => {
  it('is read by the first caller only; every later one gets what it stored', async () => {
    const { store, snapshotId, pool } = fresh();
    const previous = head(pool, 's1', 4);
    let reads = 0;
    const read = () => {
      reads++;
      return Promise.resolve({ previous, seqFloor: 4 });
    };
    expect(await store.capturePrevious(snapshotId, read)).toEqual({ previous, seqFloor: 4 });
    expect(await store.capturePrevious(snapshotId, () => Promise.resolve({ previous: head(pool, 's9', 9), seqFloor: 9 }))).toEqual({ previous, seqFloor: 4 });
    expect(await store.capturePrevious(snapshotId, read)).toEqual({ previous, seqFloor: 4 });
    expect(reads).toBe(1);
  });

  it('keeps a dataset without a previous snapshot as none, and a record without a floor as 0', async () => {
    const { store, snapshotId } = fresh();
    expect(await store.capturePrevious(snapshotId, () => Promise.resolve({ previous: undefined, seqFloor: 0 }))).toEqual({ previous: undefined, seqFloor: 0 });
    expect(await store.capturePrevious(snapshotId, () => Promise.reject(new Error('read again')))).toEqual({ previous: undefined, seqFloor: 0 });
    const old = fresh().snapshotId;
    await redis.hset(keys.run(old), 'previous_head', '{}');
    const captured = await store.capturePrevious(old, () => Promise.reject(new Error('read again')));
    expect(captured).toEqual({ previous: undefined, seqFloor: 0 });
    expect(Object.keys(captured)).toContain('previous');
  });
});
