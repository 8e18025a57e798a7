import { describe, expect, it } from 'vitest';
import { dataFileKey, latestKey, manifestKey, type RunLocation } from '../../src/storage/output-layout.js';
import { planRetention, type ManifestPlace, type RetentionListing } from '../../src/storage/retention.js';
import { newSnapshotId } from '../../src/storage/snapshot-id.js';

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
    dataKeys: runs.flatMap((r) => [dataFileKey(r.run, '0', 0, true), dataFileKey(r.run, '1', 0, true)]).sort(),
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
    expect(plan.dataKeys).toEqual([c, b, a].flatMap((r) => [dataFileKey(r, '0', 0, true), dataFileKey(r, '1', 0, true)]));
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
    expect(plan.dataKeys).not.toContain(dataFileKey(activeOld, '0', 0, true));
    expect(plan.dataKeys).toContain(dataFileKey(orphanOld, '1', 0, true));
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
    expect(plan.dataKeys).toContain(dataFileKey(a, '0', 0, true));
    for (const key of [...strays.manifestKeys, ...strays.dataKeys]) {
      expect([...plan.manifestKeys, ...plan.dataKeys]).not.toContain(key);
    }
  });

  it('recognizes every data file name the layout writes', () => {
    const orphan = run(0);
    const files = [
      dataFileKey(orphan, 'all', 0, false),
      dataFileKey(orphan, 'ff', 123456, true),
      dataFileKey(orphan, '7', 3, true),
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
