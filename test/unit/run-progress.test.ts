import { describe, expect, it } from 'vitest';
import { parseRunStatus, runProgress } from '../../src/runs/run-views.js';

const tables = (users: number, groups: number, memberships: number) => ({
  users: { records: users, durable: 0, files: 0 },
  groups: { records: groups, durable: 0, files: 0 },
  group_memberships: { records: memberships, durable: 0, files: 0 },
});
const run = (over: Partial<Parameters<typeof runProgress>[0]>): Parameters<typeof runProgress>[0] => ({
  users: 500,
  estimatedUsers: 1000,
  estimatedRecords: {},
  tables: tables(500, 0, 0),
  counted: [],
  spec: { groups: true },
  ...over,
});

describe('run progress', () => {
  it('counts every table whose size the last snapshot gave, and never has less to do than done', () => {
    const previous = { groups: 10, group_memberships: 3000 };
    expect(runProgress(run({ estimatedRecords: previous, tables: tables(500, 10, 1000) }))).toEqual({ done: 1510, total: 4010, uncounted: [] });
    expect(runProgress(run({ users: 1200, estimatedRecords: previous, tables: tables(1200, 10, 3500) }))).toEqual({ done: 4710, total: 4710, uncounted: [] });
    expect(runProgress(run({ users: 10, estimatedUsers: undefined, estimatedRecords: previous, tables: tables(10, 0, 5) }))).toEqual({ done: 15, total: undefined, uncounted: [] });
  });

  it('on a first run, leaves the groups and memberships uncounted until their walks are done, then counts them exactly', () => {
    expect(runProgress(run({ users: 120, tables: tables(120, 0, 0) }))).toEqual({ done: 120, total: 1000, uncounted: ['groups', 'group_memberships'] });
    expect(runProgress(run({ users: 120, tables: tables(120, 3, 40_000), counted: ['groups'] }))).toEqual({ done: 40_123, total: 41_003, uncounted: ['group_memberships'] });
    expect(runProgress(run({ users: 120, tables: tables(120, 3, 60_000), counted: ['groups', 'group_memberships'] }))).toEqual({ done: 60_123, total: 61_003, uncounted: [] });
    // A finished walk is exact, whatever the last snapshot held.
    expect(runProgress(run({ users: 120, estimatedRecords: { groups: 9, group_memberships: 90_000 }, tables: tables(120, 3, 60_000), counted: ['groups', 'group_memberships'] })).total).toBe(61_003);
  });

  it('walks no groups with groups off', () => {
    expect(runProgress(run({ spec: { groups: false }, tables: { users: { records: 500, durable: 0, files: 0 } } }))).toEqual({ done: 500, total: 1000, uncounted: [] });
  });

  it('knows a table is counted from the run hash: the groups walk done, and every membership batch it planned', () => {
    const hash = { spec: JSON.stringify({ snapshotId: 's', groups: true }), state: 'running' };
    expect(parseRunStatus(hash)?.counted).toEqual([]);
    expect(parseRunStatus({ ...hash, 'done:groups.all': '1', membership_batches: '2', 'done:group_memberships.0': '1' })?.counted).toEqual(['groups']);
    expect(parseRunStatus({ ...hash, 'done:groups.all': '1', membership_batches: '2', 'done:group_memberships.0': '1', 'done:group_memberships.1': '1' })?.counted).toEqual(['groups', 'group_memberships']);
    expect(parseRunStatus({ ...hash, 'done:groups.all': '1', membership_batches: '0' })?.counted).toEqual(['groups', 'group_memberships']);
  });
});
