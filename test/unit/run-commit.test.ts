import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FatalExportError } from '../../src/limits/export-errors.js';
import type { ObjectSink, StagedLocation, StagingScope } from '../../src/storage/object-sink.js';
import { dataFileKey, GROUPS_TABLE, runDataPrefix, runStagingPrefix, USER_CHANGES_TABLE, USERS_TABLE, type RunLocation } from '../../src/storage/output-layout.js';
import type { SealedPart } from '../../src/walk/part-file.js';
import { publishRunFiles, withdrawRunFiles, type RunScope } from '../../src/walk/run-commit.js';
import { MemoryStore } from '../support/memory-sink.js';

/** The finalizer's publication of a run's staged files, on the in-memory destination. */

const run: RunLocation = { userPoolId: 'eu-west-1_abc', snapshotId: 'snap-1', startedAt: new Date('2026-12-07T10:00:00Z') };
const other: RunLocation = { ...run, snapshotId: 'snap-0' };

/** A staged file of `run` in `table`, staged in `store` under the run's staging folder. */
function staged(store: MemoryStore, table: string, seq: number, text = `{"n":${seq}}\n`): SealedPart {
  const bytes = Buffer.from(text);
  const path = `${runStagingPrefix(run)}${table}/part-0-${seq}.ndjson`;
  store.stage(path, bytes);
  const key = dataFileKey(run, '0', seq, 'ndjson', table);
  return { key, url: `file:///memory/${key}`, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), records: 1, location: { kind: 'file', path } };
}

/** A view of the store that records every sweep and delete it is asked for, with some calls replaced. */
function recording(store: MemoryStore, overrides: Partial<ObjectSink> = {}) {
  const sweeps: { scope: StagingScope; known: readonly StagedLocation[] }[] = [];
  const deletes: (readonly string[])[] = [];
  const inner = store.sink('finalizer');
  const sink: ObjectSink = new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'sweepStaged')
        return (scope: StagingScope, known: readonly StagedLocation[]) => {
          sweeps.push({ scope, known });
          return target.sweepStaged(scope, known);
        };
      if (property === 'deleteObjects')
        return (keys: readonly string[]) => {
          deletes.push(keys);
          return target.deleteObjects(keys);
        };
      const override = overrides[property as keyof ObjectSink];
      if (override !== undefined) return override;
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  return { sink, sweeps, deletes };
}

const put = (store: MemoryStore, key: string, text = 'x') => store.write('hand', 'put', key, Buffer.from(text));

describe('publishing a run', () => {
  it('publishes exactly the committed files, sweeps every other staged file of the run, and deletes strays in its table folders', async () => {
    const store = new MemoryStore();
    const committed = [staged(store, USERS_TABLE, 0), staged(store, USERS_TABLE, 1), staged(store, GROUPS_TABLE, 0)];
    const zombie: StagedLocation = { kind: 'file', path: `${runStagingPrefix(run)}users/part-0-1.zombie.ndjson` };
    store.stage(zombie.path, Buffer.from('z'));
    const unlisted = `${runStagingPrefix(run)}users/part-3-0.ndjson`;
    store.stage(unlisted, Buffer.from('u'));
    const stray = `${runDataPrefix(run, USERS_TABLE)}part-9-00000.ndjson`;
    put(store, stray);
    const otherRuns = [`${runDataPrefix(other, USERS_TABLE)}part-0-00000.ndjson`, `${runDataPrefix(run, USER_CHANGES_TABLE)}part-all-00000.ndjson`];
    for (const key of otherRuns) put(store, key);
    const { sink, sweeps, deletes } = recording(store);
    let fences = 0;
    const report = await publishRunFiles(sink, { run, tables: [USERS_TABLE, GROUPS_TABLE] }, committed, [...committed.map((file) => file.location), zombie], () => {
      fences++;
      return Promise.resolve();
    });
    expect(report).toEqual({ swept: { removed: 2, listed: true }, strays: [stray] });
    expect(store.keys()).toEqual([...committed.map((file) => file.key), ...otherRuns].sort());
    expect([...store.staged.keys()]).toEqual([]);
    expect(sweeps).toEqual([{ scope: { stagingPrefix: runStagingPrefix(run), dataPrefixes: [runDataPrefix(run, USERS_TABLE), runDataPrefix(run, GROUPS_TABLE)] }, known: [zombie] }]);
    expect(deletes).toEqual([[stray]]);
    // Once before publishing, once before deleting the strays.
    expect(fences).toBe(2);
  });

  it('takes the fence once, and deletes nothing, when there is no stray', async () => {
    const store = new MemoryStore();
    const committed = [staged(store, USERS_TABLE, 0)];
    const { sink, deletes } = recording(store);
    let fences = 0;
    const report = await publishRunFiles(sink, { run, tables: [USERS_TABLE] }, committed, [], () => {
      fences++;
      return Promise.resolve();
    });
    expect(report.strays).toEqual([]);
    expect(fences).toBe(1);
    expect(deletes).toEqual([]);
  });

  it('publishes nothing when the fence refuses it, and deletes no stray when it refuses then', async () => {
    const store = new MemoryStore();
    const committed = [staged(store, USERS_TABLE, 0)];
    const stray = `${runDataPrefix(run, USERS_TABLE)}part-9-00000.ndjson`;
    put(store, stray);
    await expect(publishRunFiles(store.sink('f'), { run, tables: [USERS_TABLE] }, committed, [], () => Promise.reject(new Error('fenced')))).rejects.toThrow('fenced');
    expect(store.keys()).toEqual([stray]);
    let fences = 0;
    const second = () => (++fences === 2 ? Promise.reject(new Error('fenced')) : Promise.resolve());
    await expect(publishRunFiles(store.sink('f'), { run, tables: [USERS_TABLE] }, committed, [], second)).rejects.toThrow('fenced');
    expect(store.keys()).toEqual([committed[0]?.key, stray].sort());
  });

  it('refuses a published file whose size is not the checkpoint’s', async () => {
    const store = new MemoryStore();
    const committed = [staged(store, USERS_TABLE, 0)];
    const file = committed[0] as SealedPart;
    const { sink } = recording(store, {
      listObjects: (prefix: string) => Promise.resolve(store.keys(prefix).map((key) => ({ key, bytes: key === file.key ? file.bytes + 1 : 1 }))),
    });
    const attempt = publishRunFiles(sink, { run, tables: [USERS_TABLE] }, committed, []);
    await expect(attempt).rejects.toThrow(FatalExportError);
    await expect(publishRunFiles(sink, { run, tables: [USERS_TABLE] }, committed, [])).rejects.toThrow(
      `file:///memory/${file.key} has ${file.bytes + 1} bytes after publishing, not ${file.bytes}: run the export again`,
    );
  });

  it('sweeps every staged location but the published ones, told apart by upload id or staging path', async () => {
    const store = new MemoryStore();
    const upload = (uploadId: string): StagedLocation => ({ kind: 's3-upload', key: dataFileKey(run, '0', 0, 'ndjson'), uploadId, parts: [] });
    const file = (path: string): StagedLocation => ({ kind: 'file', path });
    const part = (location: StagedLocation, seq: number): SealedPart => ({ key: dataFileKey(run, '0', seq, 'ndjson'), url: '', bytes: 1, sha256: '', records: 1, location });
    const committed = [part(upload('u1'), 0), part(file('p1'), 1)];
    const known = [upload('u1'), upload('u2'), file('p1'), file('p2'), file('u1'), upload('p1')];
    const { sink, sweeps } = recording(store, { publish: () => Promise.resolve(), listObjects: () => Promise.resolve([]) });
    await publishRunFiles(sink, { run, tables: [USERS_TABLE] }, committed, known);
    expect(sweeps[0]?.known).toEqual([upload('u2'), file('p2'), file('u1'), upload('p1')]);
  });

  it('sweeps only its tables’ staged files when asked to (the run’s other tables are still being written)', async () => {
    const store = new MemoryStore();
    const { sink, sweeps } = recording(store);
    await publishRunFiles(sink, { run, tables: [USERS_TABLE, GROUPS_TABLE], tablesOnly: true }, [], []);
    const scope = sweeps[0]?.scope as StagingScope;
    expect(scope.stagingPrefix).toBe(runStagingPrefix(run));
    expect(scope.dataPrefixes).toEqual([runDataPrefix(run, USERS_TABLE), runDataPrefix(run, GROUPS_TABLE)]);
    const keep = scope.keep as (location: StagedLocation) => boolean;
    expect(keep).toBeTypeOf('function');
    const file = (path: string): StagedLocation => ({ kind: 'file', path });
    const upload = (key: string): StagedLocation => ({ kind: 's3-upload', key, uploadId: 'u', parts: [] });
    expect(keep(file(`${runStagingPrefix(run)}users/part-0-0.ndjson`))).toBe(false);
    expect(keep(file(`${runStagingPrefix(run)}groups/part-all-0.ndjson`))).toBe(false);
    expect(keep(file(`${runStagingPrefix(run)}user_changes/part-all-0.ndjson`))).toBe(true);
    expect(keep(file(`${runStagingPrefix(run)}users_x/part-0-0.ndjson`))).toBe(true);
    expect(keep(file(`${runStagingPrefix(other)}users/part-0-0.ndjson`))).toBe(true);
    expect(keep(upload(dataFileKey(run, '0', 0, 'ndjson', USERS_TABLE)))).toBe(false);
    expect(keep(upload(dataFileKey(run, 'all', 0, 'ndjson', GROUPS_TABLE)))).toBe(false);
    expect(keep(upload(dataFileKey(run, 'all', 0, 'ndjson', USER_CHANGES_TABLE)))).toBe(true);
    // An upload's key is never a staging path, nor a staged file's path a table folder.
    expect(keep(upload(`${runStagingPrefix(run)}users/part-0-0.ndjson`))).toBe(true);
    expect(keep(file(dataFileKey(run, '0', 0, 'ndjson', USERS_TABLE)))).toBe(true);
  });

  it('sweeps the whole run’s staging by default', async () => {
    const store = new MemoryStore();
    const { sink, sweeps } = recording(store);
    await publishRunFiles(sink, { run, tables: [USERS_TABLE], tablesOnly: false }, [], []);
    await publishRunFiles(sink, { run, tables: [USERS_TABLE] }, [], []);
    for (const { scope } of sweeps) expect(scope).toEqual({ stagingPrefix: runStagingPrefix(run), dataPrefixes: [runDataPrefix(run, USERS_TABLE)] });
  });
});

describe('withdrawing a run', () => {
  it('sweeps every staged file and deletes every object in the run’s table folders, and only those', async () => {
    const store = new MemoryStore();
    const committed = [staged(store, USERS_TABLE, 0), staged(store, GROUPS_TABLE, 0)];
    const published = [`${runDataPrefix(run, USERS_TABLE)}part-0-00000.ndjson`, `${runDataPrefix(run, USERS_TABLE)}part-1-00000.ndjson`, `${runDataPrefix(run, GROUPS_TABLE)}part-all-00000.ndjson`];
    for (const key of published) put(store, key);
    const kept = [`${runDataPrefix(other, USERS_TABLE)}part-0-00000.ndjson`, `${runDataPrefix(run, USER_CHANGES_TABLE)}part-all-00000.ndjson`];
    for (const key of kept) put(store, key);
    const { sink, sweeps, deletes } = recording(store);
    const known = committed.map((file) => file.location);
    const scope: RunScope = { run, tables: [USERS_TABLE, GROUPS_TABLE] };
    expect(await withdrawRunFiles(sink, scope, known)).toEqual({ swept: { removed: 2, listed: true }, deleted: 3 });
    expect(sweeps).toEqual([{ scope: { stagingPrefix: runStagingPrefix(run), dataPrefixes: [runDataPrefix(run, USERS_TABLE), runDataPrefix(run, GROUPS_TABLE)] }, known }]);
    expect(deletes).toEqual([published]);
    expect(store.keys()).toEqual(kept.sort());
    expect(await withdrawRunFiles(sink, scope, [])).toEqual({ swept: { removed: 0, listed: true }, deleted: 0 });
    expect(deletes).toHaveLength(1);
  });
});
