import { describe, expect, it } from 'vitest';
import type { ObjectSink } from '../../src/storage/object-sink.js';
import { dataFileKey, latestKey, manifestKey, TABLES, type RunLocation } from '../../src/storage/output-layout.js';
import { applyRetention, planRetention, type ManifestPlace, type RetentionGuards, type RetentionListing } from '../../src/storage/retention.js';
import { newSnapshotId } from '../../src/storage/snapshot-id.js';
import { MemoryStore } from '../support/memory-sink.js';

const POOL = 'eu-west-1_AbC';

/** A run started `day` days after 2026-01-01 (plus `ms`), with a fixed random part. */
function run(day: number, ms = 0, random = '0a0b0c', userPoolId = POOL): RunLocation {
  const startedAt = new Date(Date.UTC(2026, 0, 1 + day, 23, 59, 59, 0) + ms);
  return { userPoolId, snapshotId: newSnapshotId(startedAt, () => Buffer.from(random, 'hex')), startedAt };
}

/** Builds a listing from runs: each with two data files, and a manifest when `complete`. */
function listing(
  runs: readonly { run: RunLocation; complete: boolean }[],
  extra: Partial<RetentionListing> = {},
): RetentionListing {
  return {
    userPoolId: POOL,
    manifestKeys: [latestKey(POOL), ...runs.filter((r) => r.complete).map((r) => manifestKey(r.run))].sort(),
    dataKeys: runs.flatMap((r) => [dataFileKey(r.run, '0', 0, 'ndjson.gz'), dataFileKey(r.run, '1', 0, 'ndjson.gz')]).sort(),
    places: new Map(runs.filter((r) => r.complete).map((r) => [r.run.snapshotId, { dataset: 'latest.json', seq: 0 }])),
    protectedSnapshotIds: new Set(),
    activeSnapshotIds: new Set(),
    ...extra,
  };
}

const [a, b, c, d, e] = [0, 1, 2, 3, 4].map((day) => run(day)) as [RunLocation, RunLocation, RunLocation, RunLocation, RunLocation];
const ids = (...runs: RunLocation[]): string[] => runs.map((r) => r.snapshotId);
const allComplete = [a, b, c, d, e].map((r) => ({ run: r, complete: true }));

describe('retention plan', () => {
  it('keeps the newest N complete runs and deletes the older ones, manifests and data', () => {
    const plan = planRetention(listing(allComplete, { protectedSnapshotIds: new Set([e.snapshotId]) }), 2);
    expect(plan.kept).toEqual(ids(e, d));
    expect(plan.deleted).toEqual(ids(c, b, a));
    expect(plan.orphansDeleted).toEqual([]);
    expect(plan.manifestKeys).toEqual([c, b, a].map((r) => manifestKey(r)));
    expect(plan.dataKeys).toEqual([c, b, a].flatMap((r) => [dataFileKey(r, '0', 0, 'ndjson.gz'), dataFileKey(r, '1', 0, 'ndjson.gz')]));
    expect(plan.objects).toBe(9);
  });

  it('keeps the run latest.json names in addition to the newest N, and still deletes runs between', () => {
    const plan = planRetention(listing(allComplete, { protectedSnapshotIds: new Set([b.snapshotId]) }), 2);
    expect(plan.kept).toEqual(ids(e, d, b));
    expect(plan.deleted).toEqual(ids(c, a));
  });

  it('never deletes the run latest.json names even when it has no manifest', () => {
    const runs = [{ run: a, complete: false }, ...allComplete.slice(1)];
    const plan = planRetention(listing(runs, { protectedSnapshotIds: new Set([a.snapshotId]) }), 1);
    expect(plan.orphansDeleted).toEqual([]);
    expect(plan.deleted).toEqual(ids(d, c, b));
  });

  it('deletes orphan folders older than the oldest kept run, never newer ones, never active ones', () => {
    const orphanOld = run(0, 1);
    const activeOld = run(0, 2);
    const orphanNew = run(9);
    const activeNew = run(10);
    const runs = [
      ...[orphanOld, activeOld, orphanNew, activeNew].map((r) => ({ run: r, complete: false })),
      ...[c, d, e].map((r) => ({ run: r, complete: true })),
    ];
    const plan = planRetention(listing(runs, { activeSnapshotIds: new Set(ids(activeOld, activeNew)) }), 2);
    expect(plan.kept).toEqual(ids(e, d));
    expect(plan.deleted).toEqual(ids(c));
    expect(plan.orphansDeleted).toEqual(ids(orphanOld));
    expect(plan.dataKeys).not.toContain(dataFileKey(activeOld, '0', 0, 'ndjson.gz'));
    expect(plan.dataKeys).toContain(dataFileKey(orphanOld, '1', 0, 'ndjson.gz'));
  });

  it('never deletes an active run, even one that has written its manifest', () => {
    const plan = planRetention(listing(allComplete, { activeSnapshotIds: new Set(ids(a)) }), 2);
    expect(plan.kept).toEqual(ids(e, d, a));
    expect(plan.deleted).toEqual(ids(c, b));
  });

  it('deletes nothing while there are fewer complete runs than keepLast, orphans included', () => {
    const runs = [{ run: a, complete: false }, { run: b, complete: true }, { run: c, complete: true }];
    const plan = planRetention(listing(runs), 3);
    expect(plan).toMatchObject({ kept: ids(c, b), deleted: [], orphansDeleted: [], objects: 0, manifestKeys: [], dataKeys: [] });
    expect(planRetention(listing([{ run: a, complete: false }]), 1).objects).toBe(0);
  });

  it('orders runs by their commit sequence, not by the clock in their ids', () => {
    // b was requested on a clock 2 minutes behind a's, but committed after it.
    const behind = run(0, -120_000, '0b0b0b');
    const places = new Map<string, ManifestPlace>([
      [a.snapshotId, { dataset: 'latest.json', seq: 1 }],
      [behind.snapshotId, { dataset: 'latest.json', seq: 2 }],
    ]);
    const plan = planRetention({ ...listing([{ run: a, complete: true }, { run: behind, complete: true }]), places }, 1);
    expect(plan.kept).toEqual(ids(behind));
    expect(plan.deleted).toEqual(ids(a));
  });

  it("counts keepLast per dataset: partial runs neither count among the pool dataset's newest nor lose their own", () => {
    const places = new Map<string, ManifestPlace>([
      [a.snapshotId, { dataset: 'latest.json', seq: 1 }],
      [b.snapshotId, { dataset: 'latest-active.json', seq: 1 }],
      [c.snapshotId, { dataset: 'latest.json', seq: 2 }],
      [d.snapshotId, { dataset: null, seq: 1 }],
      [e.snapshotId, { dataset: 'latest-active.json', seq: 2 }],
    ]);
    const plan = planRetention({ ...listing(allComplete), places }, 1);
    expect(plan.kept).toEqual(ids(e, d, c));
    expect(plan.deleted).toEqual(ids(b, a));
  });

  it('never deletes a snapshot a named pointer or a committed head protects, whatever its dataset', () => {
    const places = new Map<string, ManifestPlace>([
      [a.snapshotId, { dataset: 'latest-active.json', seq: 1 }],
      [b.snapshotId, { dataset: 'latest-active.json', seq: 2 }],
      [c.snapshotId, { dataset: 'latest.json', seq: 1 }],
    ]);
    const runs = [a, b, c].map((r) => ({ run: r, complete: true }));
    const plan = planRetention({ ...listing(runs), places, protectedSnapshotIds: new Set(ids(a)) }, 1);
    expect(plan.deleted).toEqual([]);
    expect(plan.kept).toEqual(ids(c, b, a));
  });

  it('keeps a complete run whose manifest could not be read, and does not count it', () => {
    const places = new Map<string, ManifestPlace>([
      [b.snapshotId, { dataset: 'latest.json', seq: 1 }],
      [c.snapshotId, { dataset: 'latest.json', seq: 2 }],
    ]);
    const plan = planRetention({ ...listing([a, b, c].map((r) => ({ run: r, complete: true }))), places }, 1);
    expect(plan.deleted).toEqual(ids(b));
    expect(plan.kept).toEqual(ids(c, a));
  });

  it('deletes an orphan folder only when its run is known dead', () => {
    const orphan = run(0, 1);
    const runs = [{ run: orphan, complete: false }, ...[c, d, e].map((r) => ({ run: r, complete: true }))];
    expect(planRetention({ ...listing(runs), deadSnapshotIds: new Set() }, 2).orphansDeleted).toEqual([]);
    expect(planRetention({ ...listing(runs), deadSnapshotIds: new Set(ids(orphan)) }, 2).orphansDeleted).toEqual(ids(orphan));
  });

  it('deletes an orphan between a deleted run and the oldest kept one, and a run with no data file left', () => {
    const orphan = run(1, 1);
    const runs = [{ run: orphan, complete: false }, ...[a, c, d].map((r) => ({ run: r, complete: true }))];
    const base = listing(runs);
    const plan = planRetention({ ...base, dataKeys: base.dataKeys.filter((key) => !key.includes(a.snapshotId)) }, 2);
    expect(plan.deleted).toEqual(ids(a));
    expect(plan.orphansDeleted).toEqual(ids(orphan));
    expect(plan.dataKeys).toEqual([dataFileKey(orphan, '0', 0, 'ndjson.gz'), dataFileKey(orphan, '1', 0, 'ndjson.gz')]);
    expect(plan.objects).toBe(3);
  });

  it('deletes an orphan only below the oldest run any dataset keeps', () => {
    const orphan = run(1, 1);
    const places = new Map<string, ManifestPlace>([
      [a.snapshotId, { dataset: 'latest-x.json', seq: 1 }],
      [c.snapshotId, { dataset: 'latest.json', seq: 1 }],
      [d.snapshotId, { dataset: 'latest.json', seq: 2 }],
    ]);
    const runs = [{ run: orphan, complete: false }, ...[a, c, d].map((r) => ({ run: r, complete: true }))];
    const plan = planRetention({ ...listing(runs), places }, 1);
    expect(plan.deleted).toEqual(ids(c));
    expect(plan.orphansDeleted).toEqual([]);
  });

  it('never takes a folder whose id newSnapshotId could not have made for a run (an odd number of hex digits)', () => {
    const odd = `${a.snapshotId.slice(0, -1)}`;
    const oddRun: RunLocation = { ...a, snapshotId: odd };
    const runs = [c, d, e].map((r) => ({ run: r, complete: true }));
    const base = listing(runs);
    const plan = planRetention({ ...base, dataKeys: [...base.dataKeys, dataFileKey(oddRun, '0', 0, 'ndjson.gz')] }, 2);
    expect(plan.orphansDeleted).toEqual([]);
    expect(plan.dataKeys).not.toContain(dataFileKey(oddRun, '0', 0, 'ndjson.gz'));
  });

  it('orders runs of the same millisecond by their id', () => {
    const first = run(5, 0, '000001');
    const second = run(5, 0, '000002');
    const plan = planRetention(listing([{ run: first, complete: true }, { run: second, complete: true }]), 1);
    expect(plan.kept).toEqual(ids(second));
    expect(plan.deleted).toEqual(ids(first));
  });

  it('ignores keys that do not match the layout exactly', () => {
    const id = a.snapshotId;
    const strays = {
      manifestKeys: [
        `manifests/user_pool_id=${POOL}/dt=2026-01-01/run=${id}.json.bak`,
        `manifests/user_pool_id=${POOL}/dt=2026-01-02/run=${id}.json`, // dt is not the id's date
        `manifests/user_pool_id=${POOL}/dt=2026-02-30/run=20260230T000000000Z-0a0b0c.json`, // no such date
        `manifests/user_pool_id=${POOL}/dt=2026-03-02/run=20260230T000000000Z-0a0b0c.json`, // rolled over
        `manifests/user_pool_id=${POOL}/dt=2026-01-01/run=20260101T235959000Z-0A0B0C.json`, // uppercase hex
        `manifests/user_pool_id=${POOL}/dt=2026-01-01/run=${id}/extra.json`,
        `manifests/user_pool_id=${POOL}/notes.json`,
        `manifests/user_pool_id=${POOL}x/dt=2026-01-01/run=${id}.json`, // another pool
      ],
      dataKeys: [
        `users/user_pool_id=${POOL}/dt=2026-01-01/run=${id}/notes.txt`,
        `users/user_pool_id=${POOL}/dt=2026-01-01/run=${id}/nested/part-0-00000.ndjson.gz`,
        `users/user_pool_id=${POOL}/dt=2026-01-01/run=${id}/part-0-0.ndjson.gz`,
        `users/user_pool_id=${POOL}/dt=2026-01-02/run=${id}/part-0-00000.ndjson.gz`,
        `users/user_pool_id=${POOL}/dt=2026-01-01/run=not-an-id/part-0-00000.ndjson.gz`,
        `users/user_pool_id=${POOL}/dt=2026-01-01/part-0-00000.ndjson.gz`,
        `users/user_pool_id=${POOL}/README`,
        `users/user_pool_id=${POOL}x/dt=2026-01-01/run=${id}/part-0-00000.ndjson.gz`,
      ],
    };
    // Run a is an orphan here: its real data file goes, the look-alikes beside it stay.
    const base = listing([{ run: a, complete: false }, ...allComplete.slice(1)]);
    const plan = planRetention(
      { ...base, manifestKeys: [...base.manifestKeys, ...strays.manifestKeys], dataKeys: [...base.dataKeys, ...strays.dataKeys] },
      1,
    );
    expect(plan.deleted).toEqual(ids(d, c, b));
    expect(plan.orphansDeleted).toEqual(ids(a));
    expect(plan.dataKeys).toContain(dataFileKey(a, '0', 0, 'ndjson.gz'));
    for (const key of [...strays.manifestKeys, ...strays.dataKeys]) {
      expect([...plan.manifestKeys, ...plan.dataKeys]).not.toContain(key);
    }
  });

  it('recognizes every data file name the layout writes', () => {
    const orphan = run(0);
    const files = [
      dataFileKey(orphan, 'all', 0, 'ndjson'),
      dataFileKey(orphan, 'ff', 123456, 'ndjson.gz'),
      dataFileKey(orphan, '7', 3, 'ndjson.gz'),
    ];
    const base = listing([{ run: e, complete: true }]);
    const plan = planRetention({ ...base, dataKeys: [...files, ...base.dataKeys].sort() }, 1);
    expect(plan.orphansDeleted).toEqual(ids(orphan));
    expect([...plan.dataKeys].sort()).toEqual([...files].sort());
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses keepLast %s', (keepLast) => {
    expect(() => planRetention(listing(allComplete), keepLast)).toThrow(RangeError);
    expect(() => planRetention(listing(allComplete), keepLast)).toThrow(`Expected \`keepLast\` to be an integer from 1, got \`${keepLast}\``);
  });
});

describe('a retention pass on a destination', () => {
  /** A store holding complete runs (manifest and a file in two tables) and run folders without a manifest. */
  function destination(complete: readonly { run: RunLocation; manifest?: Record<string, unknown> | string }[], orphans: readonly RunLocation[] = []) {
    const store = new MemoryStore();
    const put = (key: string, text = 'x') => store.write('writer', 'put', key, Buffer.from(text));
    for (const r of [...complete.map((c) => c.run), ...orphans]) {
      put(dataFileKey(r, '0', 0, 'ndjson.gz'));
      put(dataFileKey(r, 'all', 0, 'ndjson', 'groups'));
    }
    for (const { run: r, manifest } of complete) put(manifestKey(r), typeof manifest === 'string' ? manifest : JSON.stringify({ snapshot_id: r.snapshotId, pointer: 'latest.json', ...manifest }));
    return { store, put };
  }
  /** A view that records the calls a pass makes, with some replaced. */
  function recording(store: MemoryStore, overrides: Partial<ObjectSink> = {}) {
    const calls: string[] = [];
    const inner = store.sink('retention');
    const sink: ObjectSink = new Proxy(inner, {
      get(target, property, receiver) {
        const override = overrides[property as keyof ObjectSink];
        const value = (override ?? Reflect.get(target, property, receiver)) as unknown;
        if (typeof value !== 'function' || property === 'urlOf') return value;
        return (...args: unknown[]) => {
          calls.push(`${String(property)} ${args.map((arg) => (Array.isArray(arg) ? `[${arg.length}]` : String(arg))).join(' ')}`);
          return (value as (...a: unknown[]) => unknown).apply(override ? undefined : target, args);
        };
      },
    });
    return { sink, calls };
  }
  const runKeys = (r: RunLocation) => [dataFileKey(r, '0', 0, 'ndjson.gz'), dataFileKey(r, 'all', 0, 'ndjson', 'groups')];
  const guards = (extra: Partial<RetentionGuards> = {}): RetentionGuards => ({ activeSnapshotIds: new Set(), ...extra });

  it('keeps each dataset’s newest runs in commit order, deletes the rest manifests first, each delete fenced', async () => {
    // b committed after c (its clock was behind): by commit order c is the older.
    const { store } = destination(
      [
        { run: a, manifest: { commit_seq: 1 } },
        { run: b, manifest: { commit_seq: 4 } },
        { run: c, manifest: { commit_seq: 3 } },
        { run: d, manifest: { commit_seq: 5 } },
        { run: e, manifest: { pointer: 'latest-eu.json', commit_seq: 1 } },
      ],
      [run(0, -1)],
    );
    const { sink, calls } = recording(store);
    let fences = 0;
    const result = await applyRetention(sink, POOL, 2, guards({ beforeDelete: () => Promise.resolve(void fences++) }));
    expect(result).toEqual({ kept: ids(e, d, b), deleted: ids(c, a), orphansDeleted: ids(run(0, -1)), objects: 2 + 4 + 2 });
    expect(Object.keys(result)).toEqual(['kept', 'deleted', 'orphansDeleted', 'objects']);
    expect(store.keys()).toEqual([...[b, d, e].flatMap(runKeys), ...[b, d, e].map((r) => manifestKey(r))].sort());
    expect(fences).toBe(2);
    // Every table's folder and the manifests folder listed once, data first; then manifests deleted before data.
    const lists = calls.filter((call) => call.startsWith('listObjects'));
    expect(lists).toEqual([...TABLES.map((table) => `listObjects ${table}/user_pool_id=${POOL}/`), `listObjects manifests/user_pool_id=${POOL}/`]);
    expect(calls.filter((call) => call.startsWith('deleteObjects'))).toEqual(['deleteObjects [2]', 'deleteObjects [6]']);
  });

  it('tells beforeDeleteRuns every snapshot it is about to delete, first; when that throws, deletes nothing', async () => {
    const { store } = destination([{ run: a, manifest: { commit_seq: 1 } }, { run: b, manifest: { commit_seq: 2 } }, { run: c, manifest: { commit_seq: 3 } }], [run(0, -1)]);
    const before = store.keys();
    const told: string[][] = [];
    const refused = applyRetention(store.sink('r'), POOL, 1, guards({ beforeDeleteRuns: (ids) => Promise.reject(new Error(`catalog refused ${ids.length}`)) }));
    await expect(refused).rejects.toThrow('catalog refused 3');
    expect(store.keys()).toEqual(before);
    const result = await applyRetention(store.sink('r'), POOL, 1, guards({ beforeDeleteRuns: (ids) => Promise.resolve(void told.push([...ids])) }));
    expect(told).toEqual([[...ids(b, a), ...ids(run(0, -1))]]);
    expect(result.deleted).toEqual(ids(b, a));
    // Nothing to delete: not called at all.
    await applyRetention(store.sink('r'), POOL, 1, guards({ beforeDeleteRuns: () => Promise.reject(new Error('called')) }));
  });

  it('never deletes what a pointer or a committed head names, nor an active run', async () => {
    const { store, put } = destination([a, b, c, d].map((r) => ({ run: r })));
    put(latestKey(POOL), JSON.stringify({ snapshot_id: a.snapshotId, manifest_url: 'file:///m.json' }));
    put(latestKey(POOL, 'latest-eu.json'), JSON.stringify({ snapshot_id: b.snapshotId, manifest_url: 'file:///m.json' }));
    const result = await applyRetention(recording(store).sink, POOL, 1, guards({ protectedSnapshotIds: new Set(ids(c)), activeSnapshotIds: new Set() }));
    expect(result.deleted).toEqual([]);
    const active = await applyRetention(store.sink('r'), POOL, 1, guards({ activeSnapshotIds: new Set(ids(c)) }));
    expect(active.deleted).toEqual([]);
    expect(active.kept).toEqual(ids(d, c, b, a));
  });

  it('deletes nothing, and says why, while a pointer cannot be read', async () => {
    const { store, put } = destination([a, b, c].map((r) => ({ run: r })));
    put(latestKey(POOL, 'latest-eu.json'), '{"snapshot_id":');
    const before = store.keys();
    await expect(applyRetention(store.sink('r'), POOL, 1, guards())).rejects.toThrow(
      `file:///memory/${latestKey(POOL, 'latest-eu.json')} cannot be read: retention deletes nothing until the next run rewrites it`,
    );
    expect(store.keys()).toEqual(before);
  });

  it('keeps, without counting it, a run whose manifest cannot be read or parsed; and reads a manifest’s dataset from before `pointer`', async () => {
    const { store } = destination([
      { run: a, manifest: '{"snapshot_id"' },
      { run: b, manifest: { commit_seq: 1 } },
      // Written before `pointer`: its `dataset` says which dataset it was.
      { run: c, manifest: JSON.stringify({ snapshot_id: c.snapshotId, dataset: 'partial' }) },
      { run: d, manifest: JSON.stringify({ snapshot_id: d.snapshotId, dataset: 'pool', commit_seq: '9' }) },
      { run: e, manifest: { commit_seq: 2 } },
    ]);
    const unreadable = manifestKey(b);
    const { sink } = recording(store, { getText: (key: string) => (key === unreadable ? Promise.reject(new Error('timeout')) : store.sink('r').getText(key)) });
    const result = await applyRetention(sink, POOL, 1, guards());
    // Counted: d (pool, seq 0) and e (pool, seq 2), c alone in the unnamed partial dataset; a and b not counted, kept.
    expect(result.deleted).toEqual(ids(d));
    expect(result.kept).toEqual(ids(e, c, b, a));
  });

  it('asks which manifest-less runs are dead, and deletes only those below every kept run', async () => {
    const [old1, old2] = [run(0, -2), run(0, -1)];
    const { store, put } = destination([c, d].map((r) => ({ run: r })), [old1, old2, run(9)]);
    put(`users/user_pool_id=${POOL}/notes.txt`);
    const asked: (readonly string[])[] = [];
    const result = await applyRetention(store.sink('r'), POOL, 1, {
      activeSnapshotIds: new Set(),
      deadSnapshotIds: (candidates) => {
        asked.push([...candidates].sort());
        return Promise.resolve(new Set(ids(old2, run(9))));
      },
    });
    expect(asked).toEqual([ids(old1, old2, run(9)).sort()]);
    expect(result.orphansDeleted).toEqual(ids(old2));
    expect(result.deleted).toEqual(ids(c));
  });

  it('deletes nothing, and takes no fence, when nothing is due', async () => {
    const { store } = destination([a, b].map((r) => ({ run: r })));
    const { sink, calls } = recording(store);
    let fences = 0;
    expect(await applyRetention(sink, POOL, 2, guards({ beforeDelete: () => Promise.resolve(void fences++) }))).toEqual({ kept: ids(b, a), deleted: [], orphansDeleted: [], objects: 0 });
    expect(fences).toBe(0);
    expect(calls.filter((call) => call.startsWith('deleteObjects'))).toEqual([]);
  });

  it('finishes a pass cut short after the manifests: the data left behind goes as orphans', async () => {
    const { store } = destination([a, b, c].map((r) => ({ run: r })));
    let fences = 0;
    const cut = () => (++fences === 2 ? Promise.reject(new Error('killed')) : Promise.resolve());
    await expect(applyRetention(store.sink('r'), POOL, 1, guards({ beforeDelete: cut }))).rejects.toThrow('killed');
    expect(store.keys()).toEqual([...[a, b, c].flatMap(runKeys), manifestKey(c)].sort());
    const next = await applyRetention(store.sink('r'), POOL, 1, guards());
    expect(next).toEqual({ kept: ids(c), deleted: [], orphansDeleted: ids(b, a), objects: 4 });
    expect(store.keys()).toEqual([...runKeys(c), manifestKey(c)].sort());
  });

  it('leaves another pool alone, even one whose id starts with this one’s', async () => {
    const other = (r: RunLocation): RunLocation => ({ ...r, userPoolId: `${POOL}x` });
    const { store, put } = destination([a, b].map((r) => ({ run: r })));
    for (const r of [a, b].map(other)) {
      put(dataFileKey(r, '0', 0, 'ndjson.gz'));
      put(manifestKey(r), JSON.stringify({ pointer: 'latest.json' }));
    }
    expect((await applyRetention(store.sink('r'), POOL, 1, guards())).deleted).toEqual(ids(a));
    expect(store.keys(`users/user_pool_id=${POOL}x/`)).toHaveLength(2);
  });

  it.each(['', 'eu-west-1_A/B'])('refuses the pool id %j', async (userPoolId) => {
    await expect(applyRetention(new MemoryStore().sink('r'), userPoolId, 1, guards())).rejects.toThrow(`Expected \`userPoolId\` to be a user pool id, got \`${userPoolId}\``);
  });

  it('refuses a bad keepLast before it lists anything', async () => {
    const { sink, calls } = recording(new MemoryStore());
    await expect(applyRetention(sink, POOL, 0, guards())).rejects.toThrow(RangeError);
    expect(calls).toEqual([]);
  });
});
