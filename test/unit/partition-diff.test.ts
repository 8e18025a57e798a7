import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { changedFields, GROUP_CHANGES, GROUP_MEMBERSHIP_CHANGES, USER_CHANGES, type ChangeKind, type ChangeRecord, type DataRecord } from '../../src/changes/change-kinds.js';
import { diffUnit, diffUnits, kindOf, mayHold, partitionLength, partitionsOf, planChanges, shardOfFile, type CurrentRun } from '../../src/changes/change-plan.js';
import { changesTable } from '../../src/changes/changes-table.js';
import { diffPartition, TICK_LINES } from '../../src/changes/partition-diff.js';
import type { Manifest } from '../../src/storage/manifest.js';
import { changesSummary } from '../../src/runs/run-views.js';

const user = (sub: string, snapshot: string, extra: Record<string, unknown> = {}): DataRecord => ({
  user_pool_id: 'p',
  snapshot_id: snapshot,
  username: `u-${sub}`,
  sub,
  enabled: true,
  attributes: { email: `${sub}@example.com` },
  ...extra,
});

const linesOf = (records: readonly DataRecord[]) => () =>
  (async function* () {
    for (const record of records) yield await Promise.resolve(JSON.stringify(record));
  })();

async function changes(previous: DataRecord[], current: DataRecord[], partition = '', updateBatch?: number, kind = USER_CHANGES): Promise<ChangeRecord[]> {
  const out: ChangeRecord[] = [];
  for await (const change of diffPartition({ kind, partition, previous: linesOf(previous), current: linesOf(current), fromSnapshotId: 'A', ...(updateBatch ? { updateBatch } : {}) })) {
    if (change !== null) out.push(change);
  }
  return out;
}

describe('the diff of one partition', () => {
  it('finds inserts, updates with their fields, and deletes; snapshot_id alone is no change', async () => {
    const previous = [user('a1', 'A'), user('b2', 'A'), user('c3', 'A')];
    const current = [user('a1', 'B'), user('b2', 'B', { enabled: false }), user('d4', 'B')];
    const result = await changes(previous, current);
    expect(result.map((c) => [c.op, c.sub, c.changed_fields])).toEqual([
      ['insert', 'd4', null],
      ['delete', 'c3', null],
      ['update', 'b2', ['enabled']],
    ]);
    expect(result.find((c) => c.op === 'delete')).toMatchObject({ snapshot_id: 'A', from_snapshot_id: 'A' });
    expect(result.find((c) => c.op === 'update')).toMatchObject({ snapshot_id: 'B' });
  });

  it('reads lines it cannot read from their text by parsing them (a brace or an escape before the key)', async () => {
    const odd = { username: 'has { and "quotes"', sub: 'e5' };
    const previous = [user('e5', 'A', odd), { user_pool_id: 'p', snapshot_id: 'A', group_name: 'g\\"x', username: 'u', sub: 'e5' }];
    const current = [user('e5', 'B', { ...odd, enabled: false })];
    expect((await changes(previous.slice(0, 1), current)).map((c) => [c.op, c.changed_fields])).toEqual([['update', ['enabled']]]);
    const memberships = await changes(previous.slice(1), [{ ...previous[1], snapshot_id: 'B' }], '', undefined, GROUP_MEMBERSHIP_CHANGES);
    expect(memberships).toEqual([]);
  });

  it('keeps only the partition, and gives the same changes whatever the update batch (several passes)', async () => {
    const previous = Array.from({ length: 300 }, (_, i) => user(`${(i % 16).toString(16)}${i}`, 'A'));
    const current = previous.map((record, i) => (i % 3 === 0 ? { ...record, snapshot_id: 'B', enabled: false } : { ...record, snapshot_id: 'B' }));
    const all = await changes(previous, current, '3');
    expect(all.every((c) => String(c.sub).startsWith('3'))).toBe(true);
    expect(all.length).toBe(previous.filter((r, i) => String(r.sub).startsWith('3') && i % 3 === 0).length);
    expect(await changes(previous, current, '3', 2)).toEqual(all);
  });

  it('is exact for any two snapshots (applying the changes to the previous one gives the current one)', async () => {
    const snapshot = fc.uniqueArray(fc.record({ sub: fc.stringMatching(/^[0-9a-f]{1,4}$/), enabled: fc.boolean(), email: fc.constantFrom('x', 'y', 'z') }), { selector: (u) => u.sub, maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(snapshot, snapshot, fc.constantFrom('', '0', 'a'), fc.integer({ min: 1, max: 5 }), async (before, after, partition, batch) => {
        const [previous, current] = [before.map((u) => user(u.sub, 'A', { enabled: u.enabled, attributes: { email: u.email } })), after.map((u) => user(u.sub, 'B', { enabled: u.enabled, attributes: { email: u.email } }))];
        const inPartition = (r: DataRecord) => String(r.sub).startsWith(partition);
        const applied = new Map<unknown, DataRecord>(previous.filter(inPartition).map((r) => [r.sub, { ...r, snapshot_id: 'B' }]));
        for (const change of await changes(previous, current, partition, batch)) {
          const { op, from_snapshot_id: _from, changed_fields: _fields, ...record } = change;
          if (op === 'delete') applied.delete(record.sub);
          else applied.set(record.sub, record);
        }
        expect([...applied.values()].sort((a, b) => String(a.sub).localeCompare(String(b.sub)))).toEqual(current.filter(inPartition).sort((a, b) => String(a.sub).localeCompare(String(b.sub))));
      }),
      { numRuns: 200 },
    );
  });

  it('names changed attributes one by one, and never snapshot_id', () => {
    expect(changedFields({ snapshot_id: 'A', attributes: { email: 'a', name: 'n' } }, { snapshot_id: 'B', attributes: { email: 'b', phone: 'p' } })).toEqual(['attributes.email', 'attributes.phone', 'attributes.name']);
  });
});

describe('a key twice in a snapshot (memberships written before they were deduped across resumes)', () => {
  const membership = (group: string, sub: string, snapshot: string): DataRecord => ({ user_pool_id: 'p', snapshot_id: snapshot, group_name: group, username: `u-${sub}`, sub });
  const memberships = (previous: DataRecord[], current: DataRecord[], updateBatch?: number) => changes(previous, current, '', updateBatch, GROUP_MEMBERSHIP_CHANGES);
  const summary = (list: ChangeRecord[]) => list.map((c) => [c.op, c.group_name ?? null, c.sub, c.changed_fields]);

  it('collapses a duplicate in the current snapshot: no insert for a member that was already there, one for a new one', async () => {
    const previous = [membership('admins', 'a1', 'A'), membership('admins', 'b2', 'A')];
    const current = [membership('admins', 'a1', 'B'), membership('admins', 'b2', 'B'), membership('admins', 'b2', 'B'), membership('admins', 'c3', 'B'), membership('admins', 'c3', 'B')];
    expect(summary(await memberships(previous, current))).toEqual([['insert', 'admins', 'c3', null]]);
  });

  it('collapses a duplicate in the previous snapshot: one delete for a member that left, none for one that stayed', async () => {
    const previous = [membership('admins', 'a1', 'A'), membership('admins', 'a1', 'A'), membership('admins', 'b2', 'A'), membership('admins', 'b2', 'A')];
    const current = [membership('admins', 'a1', 'B')];
    expect(summary(await memberships(previous, current))).toEqual([['delete', 'admins', 'b2', null]]);
  });

  it('is quiet when both snapshots hold the same duplicates', async () => {
    const both = (snapshot: string) => [membership('g', 'a1', snapshot), membership('g', 'a1', snapshot), membership('h', 'a1', snapshot)];
    expect(await memberships(both('A'), both('B'))).toEqual([]);
  });

  it('compares the first of two differing records of one key, in every pass, and reports one update at most', async () => {
    const previous = [user('a1', 'A'), user('a1', 'A', { enabled: false }), user('b2', 'A'), user('b2', 'A')];
    const current = [user('a1', 'B'), user('a1', 'B', { enabled: false }), user('b2', 'B', { enabled: false }), user('b2', 'B'), user('b2', 'B', { enabled: false })];
    for (const batch of [undefined, 1]) {
      const result = await changes(previous, current, '', batch);
      expect(summary(result)).toEqual([['update', null, 'b2', ['enabled']]]);
      expect(result[0]).toMatchObject({ enabled: false, snapshot_id: 'B' });
    }
  });

  it('is exact for any two snapshots with duplicates, taking each key’s first record', async () => {
    const snapshot = fc.array(fc.record({ sub: fc.stringMatching(/^[0-9a-f]{1,2}$/), enabled: fc.boolean() }), { maxLength: 40 });
    const firstOfEach = (records: DataRecord[]) => [...new Map([...records].reverse().map((r) => [r.sub, r])).values()];
    await fc.assert(
      fc.asyncProperty(snapshot, snapshot, fc.integer({ min: 1, max: 5 }), async (before, after, batch) => {
        const [previous, current] = [before.map((u) => user(u.sub, 'A', { enabled: u.enabled })), after.map((u) => user(u.sub, 'B', { enabled: u.enabled }))];
        const applied = new Map<unknown, DataRecord>(firstOfEach(previous).map((r) => [r.sub, { ...r, snapshot_id: 'B' }]));
        const result = await changes(previous, current, '', batch);
        expect(new Set(result.map((c) => c.sub)).size).toBe(result.length);
        for (const change of result) {
          const { op, from_snapshot_id: _from, changed_fields: _fields, ...record } = change;
          if (op === 'delete') applied.delete(record.sub);
          else applied.set(record.sub, record);
        }
        const bySub = (a: DataRecord, b: DataRecord) => String(a.sub).localeCompare(String(b.sub));
        expect([...applied.values()].sort(bySub)).toEqual(firstOfEach(current).sort(bySub));
      }),
      { numRuns: 300 },
    );
  });

  it('resumes a change table over duplicates without writing a change twice', async () => {
    const previous = [membership('g', 'a1', 'A'), membership('g', 'a1', 'A'), membership('g', 'd4', 'A')];
    const current = [membership('g', 'a1', 'B'), membership('g', 'b2', 'B'), membership('g', 'b2', 'B'), membership('g', 'c3', 'B'), membership('g', 'a1', 'B')];
    const table = changesTable({ kind: GROUP_MEMBERSHIP_CHANGES, partition: '', previous: linesOf(previous), current: linesOf(current), fromSnapshotId: 'A', pageSize: 1 });
    const walk = async (cursor?: string) => {
      const pages: { items: ChangeRecord[]; next: string | undefined }[] = [];
      for await (const page of table.pages(cursor, new AbortController().signal)) pages.push({ items: [...page.items], next: page.next });
      return pages;
    };
    const whole = (await walk()).flatMap((page) => page.items);
    expect(summary(whole)).toEqual([
      ['insert', 'g', 'b2', null],
      ['insert', 'g', 'c3', null],
      ['delete', 'g', 'd4', null],
    ]);
    expect((await walk('1')).flatMap((page) => page.items)).toEqual(whole.slice(1));
  });
});

/** A diff of raw lines: its changes, how many ticks it gave, and how many times it read each snapshot. */
async function diffLines(previous: readonly string[], current: readonly string[], options: { partition?: string; updateBatch?: number; kind?: ChangeKind } = {}) {
  const reads = { previous: 0, current: 0 };
  const reader = (lines: readonly string[], which: 'previous' | 'current') => () => {
    reads[which] += 1;
    return (async function* () {
      for (const line of lines) yield await Promise.resolve(line);
    })();
  };
  const out: ChangeRecord[] = [];
  let ticks = 0;
  const input = { kind: options.kind ?? USER_CHANGES, partition: options.partition ?? '', previous: reader(previous, 'previous'), current: reader(current, 'current'), fromSnapshotId: 'A' };
  for await (const change of diffPartition(options.updateBatch === undefined ? input : { ...input, updateBatch: options.updateBatch })) {
    if (change === null) ticks += 1;
    else out.push(change);
  }
  return { changes: out, ticks, reads };
}
const json = (records: readonly DataRecord[]) => records.map((record) => JSON.stringify(record));
const ops = (list: readonly ChangeRecord[]) => list.map((c) => [c.op, c.group_name ?? null, c.sub ?? c.username, c.changed_fields]);

describe('the passes of a diff (each one reads a whole snapshot)', () => {
  it('reads each snapshot once, and the previous once more for its deletes, when nothing was updated', async () => {
    const previous = [user('a1', 'A'), user('b2', 'A'), user('c3', 'A')];
    const current = [user('a1', 'B'), user('b2', 'B'), user('d4', 'B')];
    const result = await diffLines(json(previous), json(current));
    expect(ops(result.changes)).toEqual([
      ['insert', null, 'd4', null],
      ['delete', null, 'c3', null],
    ]);
    expect(result.reads).toEqual({ previous: 2, current: 1 });
  });

  it('takes one more pass over both snapshots per batch of updates, and none after the last', async () => {
    const previous = Array.from({ length: 10 }, (_, i) => user(`${i}0`, 'A'));
    const current = previous.map((record, i) => ({ ...record, snapshot_id: 'B', ...(i % 2 === 0 ? { enabled: false } : {}) }));
    for (const [updateBatch, passes] of [
      [2, 3],
      [3, 2],
      [5, 1],
      [undefined, 1],
    ] as const) {
      const result = await diffLines(json(previous), json(current), updateBatch === undefined ? {} : { updateBatch });
      expect(result.changes.map((c) => [c.op, c.sub])).toEqual(['00', '20', '40', '60', '80'].map((sub) => ['update', sub]));
      expect(result.reads, `batch ${updateBatch}`).toEqual({ previous: 1 + passes, current: 1 + passes });
    }
  });

  it('counts a changed key once however often the current snapshot repeats it', async () => {
    const result = await diffLines(json([user('a1', 'A')]), json([user('a1', 'B', { enabled: false }), user('a1', 'B', { enabled: false }), user('a1', 'B')]));
    expect(ops(result.changes)).toEqual([['update', null, 'a1', ['enabled']]]);
    expect(result.reads).toEqual({ previous: 2, current: 2 });
  });

  it('ticks every TICK_LINES lines read, in every pass', async () => {
    const previous = json(Array.from({ length: 2 * TICK_LINES }, (_, i) => user(i.toString(16).padStart(4, '0'), 'A')));
    const current = previous.slice(0, TICK_LINES).map((line) => line.replace('"snapshot_id":"A"', '"snapshot_id":"B"'));
    const result = await diffLines(previous, current);
    expect(result.changes).toHaveLength(TICK_LINES);
    expect(result.changes.every((c) => c.op === 'delete')).toBe(true);
    // previous (2), current (1), previous again (2)
    expect(result.ticks).toBe(5);
    expect(TICK_LINES).toBe(5000);
  });

  it('reports no update for a record written differently (fields in another order): nothing changed', async () => {
    const before: DataRecord = { user_pool_id: 'p', snapshot_id: 'A', username: 'u', sub: 'a1', enabled: true, attributes: { email: 'e', name: 'n' } };
    const after: DataRecord = { sub: 'a1', username: 'u', enabled: true, attributes: { name: 'n', email: 'e' }, snapshot_id: 'B', user_pool_id: 'p' };
    const result = await diffLines(json([before]), json([after]));
    expect(result.changes).toEqual([]);
    expect(result.reads).toEqual({ previous: 2, current: 2 });
  });
});

describe('what the text of a line says, read without parsing it', () => {
  it('puts a sub that is not hex, shorter than the partition, or missing, in the partition of zeros', async () => {
    const records: DataRecord[] = [
      user('00ff', 'B'),
      user('zz9', 'B'),
      user('q', 'B'),
      user('', 'B'),
      user('0', 'B'),
      { user_pool_id: 'p', snapshot_id: 'B', username: 'no-sub', enabled: true },
      { user_pool_id: 'p', snapshot_id: 'B', username: 'numeric-sub', sub: 7 },
      user('AB12', 'B'),
      user('abff', 'B'),
      user('a0ff', 'B'),
    ];
    const inserted = async (partition: string) => (await diffLines([], json(records), { partition })).changes.map((c) => String(c.sub ?? c.username));
    expect(await inserted('00')).toEqual(['00ff', 'zz9', 'q', '', '0', 'no-sub', '7']);
    expect(await inserted('0')).toEqual(['00ff', 'zz9', 'q', '', '0', 'no-sub', '7']);
    expect(await inserted('ab')).toEqual(['AB12', 'abff']);
    expect(await inserted('a')).toEqual(['AB12', 'abff', 'a0ff']);
    expect(await inserted('')).toHaveLength(records.length);
  });

  it('parses only the lines it writes as changes: every other key, sub and snapshot id is read from the text', async () => {
    /** The diff's changes, and which of its input lines it parsed, how often. */
    const parsing = async (previous: readonly DataRecord[], current: readonly DataRecord[], options: { partition?: string; kind?: ChangeKind } = {}) => {
      const lines = new Set([...json(previous), ...json(current)]);
      const parse = vi.spyOn(JSON, 'parse');
      try {
        const result = await diffLines(json(previous), json(current), options);
        const parsed = parse.mock.calls.map(([text]) => text).filter((text) => lines.has(text));
        const named = parsed.map((text) => {
          const record = JSON.parse(text) as DataRecord;
          return `${String(record.snapshot_id)}:${String(record.sub ?? record.group_name)}`;
        });
        return { changes: result.changes, parsed: named.sort() };
      } finally {
        parse.mockRestore();
      }
    };
    const usersBefore = [user('a1', 'A'), user('b2', 'A'), user('c3', 'A'), user('a4', 'A')];
    const usersAfter = [user('a1', 'B'), user('b2', 'B', { enabled: false }), user('d5', 'B'), user('a4', 'B')];
    // The insert (d5) and the delete (c3) once each; the update (b2) in both snapshots; the unchanged users (a1, a4) never.
    for (const partition of ['', '0', 'a', 'b']) {
      const { changes, parsed } = await parsing(usersBefore, usersAfter, { partition });
      const expected = ['A:b2', 'A:c3', 'B:b2', 'B:d5'].filter((entry) => entry.slice(2).startsWith(partition === '0' ? 'x' : partition));
      expect(parsed, `partition ${partition}`).toEqual(expected);
      expect(changes).toHaveLength(expected.length - (expected.includes('B:b2') ? 1 : 0));
    }
    const membership = (group: string, sub: string, snapshot: string): DataRecord => ({ user_pool_id: 'p', snapshot_id: snapshot, group_name: group, username: `u-${sub}`, sub });
    const members = await parsing([membership('g', 'a1', 'A'), membership('g', 'b2', 'A')], [membership('g', 'a1', 'B'), membership('h', 'a1', 'B')], { partition: 'a', kind: GROUP_MEMBERSHIP_CHANGES });
    expect(members.parsed).toEqual(['B:a1']);
    const group = (name: string, snapshot: string, extra: Record<string, unknown> = {}): DataRecord => ({ user_pool_id: 'p', snapshot_id: snapshot, group_name: name, precedence: 1, ...extra });
    const groups = await parsing([group('admins', 'A'), group('staff', 'A')], [group('admins', 'B'), group('staff', 'B', { precedence: 2 }), group('new', 'B')], { kind: GROUP_CHANGES });
    expect(groups.parsed).toEqual(['A:staff', 'B:new', 'B:staff']);
  });

  it('fails on a line cut off inside a value rather than read a key out of it', async () => {
    // Read from its text, the cut line's sub would be `a`, a key already seen: it would be skipped, never parsed.
    const cut = '{"user_pool_id":"p","snapshot_id":"A","username":"u-a1","sub":"a1';
    await expect(diffLines([JSON.stringify(user('a', 'A')), cut], json([user('a', 'B')]))).rejects.toThrow(SyntaxError);
  });

  it('keys users without a sub by their username', async () => {
    const noSub = (username: string, snapshot: string, extra: Record<string, unknown> = {}): DataRecord => ({ user_pool_id: 'p', snapshot_id: snapshot, username, enabled: true, ...extra });
    const result = await diffLines(json([noSub('x', 'A'), noSub('y', 'A'), noSub('z', 'A')]), json([noSub('x', 'B'), noSub('y', 'B', { enabled: false })]), { partition: '0' });
    expect(ops(result.changes)).toEqual([
      ['delete', null, 'z', null],
      ['update', null, 'y', ['enabled']],
    ]);
  });

  it('reads a field inside a nested object before the record’s own as not certain, and parses the line', async () => {
    // A writer that put `attributes` first: its `sub` and `snapshot_id` come after a nested object that holds a `sub` of its own.
    const nested = (sub: string, snapshot: string): DataRecord => ({ attributes: { sub: 'ffff', email: `${sub}@x` }, user_pool_id: 'p', snapshot_id: snapshot, username: `u-${sub}`, sub });
    const result = await diffLines(json([nested('a1', 'A'), nested('b2', 'A')]), json([nested('a1', 'B')]));
    expect(ops(result.changes)).toEqual([['delete', null, 'b2', null]]);
    expect(result.reads).toEqual({ previous: 2, current: 1 });
    const partitioned = await diffLines(json([nested('a1', 'A'), nested('b2', 'A')]), json([nested('a1', 'B')]), { partition: 'b' });
    expect(ops(partitioned.changes)).toEqual([['delete', null, 'b2', null]]);
  });

  it('keys memberships by group and member, also when either is escaped in the line', async () => {
    const membership = (group: string, sub: string, snapshot: string, extra: Record<string, unknown> = {}): DataRecord => ({ user_pool_id: 'p', snapshot_id: snapshot, group_name: group, username: `u-${sub}`, sub, ...extra });
    const memberships = (previous: DataRecord[], current: DataRecord[]) => diffLines(json(previous), json(current), { kind: GROUP_MEMBERSHIP_CHANGES });
    // The same member in two groups, who leaves one.
    expect(ops((await memberships([membership('g', 'a1', 'A'), membership('h', 'a1', 'A')], [membership('g', 'a1', 'B')])).changes)).toEqual([['delete', 'h', 'a1', null]]);
    // Two members whose subs hold a quote, who cannot be read from the text.
    expect(ops((await memberships([membership('g', 'a"1', 'A'), membership('g', 'b"2', 'A')], [membership('g', 'a"1', 'B')])).changes)).toEqual([['delete', 'g', 'b"2', null]]);
    // Two groups whose names hold a quote.
    expect(ops((await memberships([membership('g"1', 'a1', 'A'), membership('g"2', 'a1', 'A')], [membership('g"1', 'a1', 'B')])).changes)).toEqual([['delete', 'g"2', 'a1', null]]);
    // Members without a sub, by username.
    const noSub = (group: string, username: string, snapshot: string): DataRecord => ({ user_pool_id: 'p', snapshot_id: snapshot, group_name: group, username });
    expect(ops((await memberships([noSub('g', 'x', 'A'), noSub('g', 'y', 'A')], [noSub('g', 'x', 'B')])).changes)).toEqual([['delete', 'g', 'y', null]]);
  });

  it('never reports an update of a membership: a member whose record differs otherwise is no change', async () => {
    const before: DataRecord = { user_pool_id: 'p', snapshot_id: 'A', group_name: 'g', username: 'old-name', sub: 'a1' };
    const result = await diffLines(json([before]), json([{ ...before, snapshot_id: 'B', username: 'new-name' }]), { kind: GROUP_MEMBERSHIP_CHANGES });
    expect(result.changes).toEqual([]);
    expect(result.reads).toEqual({ previous: 2, current: 1 });
  });

  it('diffs groups by name, with their updates', async () => {
    const group = (name: string, snapshot: string, extra: Record<string, unknown> = {}): DataRecord => ({ user_pool_id: 'p', snapshot_id: snapshot, group_name: name, description: `${name} group`, precedence: 1, ...extra });
    const previous = [group('admins', 'A'), group('staff', 'A'), group('old"one', 'A'), group('gone', 'A')];
    const current = [group('admins', 'B'), group('staff', 'B', { precedence: 2 }), group('old"one', 'B'), group('new', 'B')];
    const result = await diffLines(json(previous), json(current), { kind: GROUP_CHANGES });
    expect(result.changes.map((c) => [c.op, c.group_name, c.changed_fields])).toEqual([
      ['insert', 'new', null],
      ['delete', 'gone', null],
      ['update', 'staff', ['precedence']],
    ]);
  });
});

describe('the change plan', () => {
  const manifest = (extra: Partial<Manifest> = {}) =>
    ({ snapshot_id: '20261201T000000Z-aaaaaa', filter: null, attributes: null, record_count: 10, tables: { users: { record_count: 10, files: [] } }, ...extra }) as unknown as Manifest;
  const none = { excluded_attributes: [], pseudonymized: [], key_id: null };
  const current = { snapshotId: '20261202T000000Z-bbbbbb', filter: null, attributes: null, groups: true, records: { users: 10 }, privacy: none };

  it('partitions by the larger snapshot, one sub character per 16x', () => {
    expect([partitionLength(0), partitionLength(131_072), partitionLength(131_073), partitionLength(2_000_000), partitionLength(30_000_000)]).toEqual([0, 0, 1, 1, 2]);
    expect(partitionsOf(1)).toHaveLength(16);
    expect(planChanges({ ...current, records: { users: 2_000_000 } }, { manifest: manifest(), key: 'm' }).tables).toEqual([{ changes: 'user_changes', partitions: partitionsOf(1) }]);
  });

  it('compares only like with like, and says why not', () => {
    expect(planChanges(current, undefined).reason).toBe('no previous complete snapshot of this dataset');
    expect(planChanges(current, { manifest: manifest({ filter: 'status = "Enabled"' }), key: 'm' }).reason).toMatch(/has filter "status = \\"Enabled\\"", this one null/);
    expect(planChanges(current, { manifest: manifest({ attributes: ['email'] }), key: 'm' }).reason).toBe('the previous snapshot 20261201T000000Z-aaaaaa kept attributes email, this one all attributes');
    // The previous snapshot comes from the committed head: an id from a clock ahead of this run's is still older.
    expect(planChanges(current, { manifest: manifest({ snapshot_id: '20261203T000000Z-cccccc' }), key: 'm' })).toMatchObject({ since: '20261203T000000Z-cccccc', reason: null });
    expect(planChanges(current, { manifest: manifest({ snapshot_id: current.snapshotId }), key: 'm' }).reason).toMatch(/is this run itself/);
    expect(planChanges(current, { manifest: manifest(), key: 'm' })).toMatchObject({ since: '20261201T000000Z-aaaaaa', previous: 'm', reason: null });
    const hashed = { excluded_attributes: ['name'], pseudonymized: ['email'], key_id: 'k1' };
    expect(planChanges({ ...current, privacy: hashed }, { manifest: manifest(), key: 'm' }).reason).toBe(
      'the previous snapshot 20261201T000000Z-aaaaaa excluded [], pseudonymized [], this one excluded [name], pseudonymized [email]',
    );
    expect(planChanges({ ...current, privacy: hashed }, { manifest: manifest({ privacy: { ...hashed, key_id: 'k0' } }), key: 'm' }).reason).toMatch(/pseudonymized with key k0, this one with key k1/);
    expect(planChanges({ ...current, privacy: hashed }, { manifest: manifest({ privacy: hashed }), key: 'm' }).reason).toBeNull();
  });

  it('reads a users file only for the partitions its shard can hold', () => {
    expect(shardOfFile('file:///d/users/x/part-3-00001.ndjson.gz')).toBe('3');
    expect(shardOfFile('file:///d/users/x/part-all-00000.ndjson')).toBe('');
    expect([mayHold('users', 'part-3-00000.ndjson.gz', '3'), mayHold('users', 'part-3-00000.ndjson.gz', '4'), mayHold('users', 'part-3f-00000.ndjson.gz', '3'), mayHold('users', 'part-all-00000.ndjson.gz', '7')]).toEqual([true, false, true, true]);
    expect(mayHold('group_memberships', 'part-3-00000.ndjson.gz', '4')).toBe(true);
  });

  it('caps partitions at 4 hex characters, and numbers them with zeros in front', () => {
    expect([partitionLength(16 ** 4 * 131_072), partitionLength(16 ** 4 * 131_072 + 1), partitionLength(Number.MAX_SAFE_INTEGER)]).toEqual([4, 4, 4]);
    // '' is the whole table: without it, no partition would be diffed and a small pool would get no change rows.
    expect(partitionsOf(0)).toEqual(['']);
    expect(partitionsOf(1)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f']);
    expect(partitionsOf(2)).toHaveLength(256);
    expect(partitionsOf(2).slice(0, 3)).toEqual(['00', '01', '02']);
    expect(partitionsOf(2).slice(-2)).toEqual(['fe', 'ff']);
    expect(planChanges(current, { manifest: manifest(), key: 'm' }).tables).toEqual([{ changes: 'user_changes', partitions: [''] }]);
  });

  it('names one diff unit per partition, `all` for the whole table', () => {
    expect(diffUnit('user_changes', '3f')).toBe('user_changes.3f');
    expect(diffUnit('group_changes', '')).toBe('group_changes.all');
    const plan = { since: 's', reason: null, previous: 'm', tables: [{ changes: 'user_changes', partitions: ['0', '1'] }, { changes: 'group_changes', partitions: [''] }] };
    expect(diffUnits(plan)).toEqual(['user_changes.0', 'user_changes.1', 'group_changes.all']);
  });

  it('compares runs that kept the same attributes in another order, and names the lists sorted when they differ', () => {
    expect(planChanges({ ...current, attributes: ['a', 'b'] }, { manifest: manifest({ attributes: ['b', 'a'] }), key: 'm' })).toEqual({
      since: '20261201T000000Z-aaaaaa',
      reason: null,
      previous: 'm',
      tables: [{ changes: 'user_changes', partitions: [''] }],
    });
    expect(planChanges({ ...current, attributes: ['c', 'a'] }, { manifest: manifest({ attributes: ['b', 'a'] }), key: 'm' }).reason).toBe(
      'the previous snapshot 20261201T000000Z-aaaaaa kept attributes a,b, this one attributes a,c',
    );
    expect(planChanges(current, { manifest: manifest({ attributes: [] }), key: 'm' }).reason).toBe('the previous snapshot 20261201T000000Z-aaaaaa kept attributes (none), this one all attributes');
  });

  it('says exactly which privacy settings or keys differ', () => {
    const previousPrivacy = { excluded_attributes: ['phone_number', 'name'], pseudonymized: ['username', 'email'], key_id: 'k1' };
    expect(planChanges(current, { manifest: manifest({ privacy: previousPrivacy }), key: 'm' }).reason).toBe(
      'the previous snapshot 20261201T000000Z-aaaaaa excluded [name,phone_number], pseudonymized [email,username], this one excluded [], pseudonymized []',
    );
    const hashed = { excluded_attributes: [], pseudonymized: ['email'], key_id: 'k1' };
    expect(planChanges({ ...current, privacy: hashed }, { manifest: manifest({ privacy: { ...hashed, key_id: null } }), key: 'm' }).reason).toBe(
      'the previous snapshot 20261201T000000Z-aaaaaa was pseudonymized with key none, this one with key k1: the same values hash differently',
    );
    expect(planChanges({ ...current, privacy: { ...hashed, key_id: null } }, { manifest: manifest({ privacy: hashed }), key: 'm' }).reason).toBe(
      'the previous snapshot 20261201T000000Z-aaaaaa was pseudonymized with key k1, this one with key none: the same values hash differently',
    );
    // A manifest is read back as untrusted input: a null list counts as an empty one.
    const nullLists = { excluded_attributes: null, pseudonymized: null, key_id: null } as unknown as Manifest['privacy'];
    expect(planChanges(current, { manifest: manifest({ privacy: nullLists }), key: 'm' }).reason).toBeNull();
    // So does a missing list, or one that is not a list: a plan, never a TypeError.
    for (const odd of [{}, { excluded_attributes: 'name', pseudonymized: 7 }]) {
      expect(planChanges(current, { manifest: manifest({ privacy: odd as unknown as Manifest['privacy'] }), key: 'm' }).reason).toBeNull();
    }
  });

  it('sizes the users partitions from record_count when the previous manifest predates `tables`', () => {
    const old = manifest({ record_count: 2_000_000, tables: undefined });
    expect(planChanges(current, { manifest: old, key: 'm' })).toEqual({
      since: '20261201T000000Z-aaaaaa',
      reason: null,
      previous: 'm',
      tables: [{ changes: 'user_changes', partitions: partitionsOf(1) }],
    });
  });

  it('plans group and membership changes only when both runs wrote groups and memberships', () => {
    const withGroups = manifest({
      tables: { users: { record_count: 10, files: [] }, groups: { record_count: 3, files: [] }, group_memberships: { record_count: 200_000, files: [] } },
    });
    const changeTables = (run: CurrentRun, previous: Manifest) => planChanges(run, { manifest: previous, key: 'm' }).tables;
    expect(changeTables({ ...current, records: { users: 10, groups: 3, group_memberships: 20 } }, withGroups)).toEqual([
      { changes: 'user_changes', partitions: [''] },
      { changes: 'group_changes', partitions: [''] },
      { changes: 'group_membership_changes', partitions: partitionsOf(1) },
    ]);
    const usersOnly = [{ changes: 'user_changes', partitions: [''] }];
    // This run without groups, the previous one with them: every group would be "deleted".
    expect(changeTables({ ...current, groups: false }, withGroups)).toEqual(usersOnly);
    // This run with groups, the previous one without: every group would be "inserted".
    expect(changeTables(current, manifest())).toEqual(usersOnly);
    expect(changeTables(current, manifest({ tables: undefined }))).toEqual(usersOnly);
    // Half a previous group walk (groups without memberships, or the reverse) is not comparable either.
    expect(changeTables(current, manifest({ tables: { users: { record_count: 10, files: [] }, groups: { record_count: 3, files: [] } } }))).toEqual(usersOnly);
    expect(changeTables(current, manifest({ tables: { users: { record_count: 10, files: [] }, group_memberships: { record_count: 20, files: [] } } }))).toEqual(usersOnly);
  });

  it('reads the shard of any data file name, and every partition from a file whose name it cannot read', () => {
    expect(shardOfFile('file:///d/users/x/part-3f-00001.ndjson')).toBe('3f');
    expect(shardOfFile('s3://b/users/x/part-3f-00001.ndjson.gz')).toBe('3f');
    expect(shardOfFile('file:///d/users/x/users.ndjson')).toBe('');
    expect(mayHold('users', 'file:///d/users/x/users.ndjson', '7')).toBe(true);
  });

  it('reads a users file written by a shorter shard for the longer partitions under it', () => {
    // Shard 3 walked `sub ^= "3"`: its files hold the subs of partitions 30 to 3f, and of 3a in particular.
    expect(mayHold('users', 'part-3-00001.ndjson', '3a')).toBe(true);
    expect(mayHold('users', 'part-3-00001.ndjson', '4a')).toBe(false);
    expect(mayHold('users', 'part-3a-00001.ndjson', '3b')).toBe(false);
  });

  it('knows each change table, and names one it does not know', () => {
    expect(kindOf('user_changes')).toBe(USER_CHANGES);
    expect(kindOf('group_membership_changes')).toBe(GROUP_MEMBERSHIP_CHANGES);
    expect(() => kindOf('users')).toThrow(new Error('users is not a change table'));
  });
});

describe('the change summary', () => {
  it('says what changed since which snapshot, or why there are no change tables', () => {
    const counts = { user_changes: { insert: 120, update: 31, delete: 4 }, group_changes: { insert: 0, update: 1, delete: 0 }, group_membership_changes: { insert: 3, delete: 1 } };
    expect(changesSummary({ since: '20261130T020000Z-1a2b3c', reason: null, counts })).toBe(
      'users +120 inserted, 31 updated, 4 deleted since 20261130T020000Z-1a2b3c; groups +0 inserted, 1 updated, 0 deleted; memberships +3 inserted, 1 deleted',
    );
    expect(changesSummary({ since: null, reason: 'no previous complete snapshot of this dataset', counts: {} })).toBe('no change tables: no previous complete snapshot of this dataset');
  });
});
