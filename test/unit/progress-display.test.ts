import { describe, expect, it } from 'vitest';
import { CallRate, describeProgress } from '../../src/cli/progress-reporter.js';
import { renderStatus, renderWatch, type ActiveRunView } from '../../src/cli/status-command.js';
import type { RunStatus } from '../../src/runs/run-store.js';

const status = (pages: number, throttles = 0): RunStatus =>
  ({
    spec: { snapshotId: '20261201T000000000Z-abcdef', shards: 16 },
    state: 'running',
    users: pages * 60,
    durableUsers: 0,
    estimatedRecords: {},
    pages,
    files: 0,
    bytes: 0,
    throttles,
    retries: 0,
    slotWaitMs: 0,
    tables: {},
    shardsDone: 0,
    estimatedUsers: undefined,
    error: undefined,
    manifestUrl: undefined,
    completedAt: undefined,
    createdAt: 0,
  }) as unknown as RunStatus;

describe('the progress line’s calls/s', () => {
  it('counts every call, throttled ones too, over the last five seconds of status reads', () => {
    const rate = new CallRate();
    expect(rate.observe(status(0), 0)).toBeUndefined();
    expect(rate.observe(status(5), 500)).toBeUndefined();
    expect(rate.observe(status(20, 5), 1000)).toBe(25);
    // Later reads forget the first ones: 10 calls/s over the last five seconds.
    for (let t = 1500, pages = 20; t <= 10_000; t += 500) rate.observe(status((pages += 5), 5), t);
    expect(rate.observe(status(115, 5), 10_500)).toBeCloseTo(10, 6);
  });

  it('shows on the progress line when known', () => {
    expect(describeProgress(status(3), 12.34)).toMatch(/ retries=0 calls\/s=12\.3$/);
    expect(describeProgress(status(3))).toMatch(/ retries=0$/);
  });
});

describe('what the progress line and status call each table', () => {
  const tables = {
    users: { records: 120, durable: 120, files: 2 },
    groups: { records: 3, durable: 3, files: 1 },
    group_memberships: { records: 40, durable: 40, files: 1 },
    user_changes: { records: 5, durable: 5, files: 1 },
    group_changes: { records: 0, durable: 0, files: 0 },
  };

  it('counts the files of every table, not the users’ alone', () => {
    expect(describeProgress({ ...status(3), files: 2, tables })).toMatch(/ files=5 /);
  });

  it('shows no share done on a first run until its memberships are counted, then the share of the whole run', () => {
    const first = { ...status(2), estimatedUsers: 1000, spec: { snapshotId: 's', shards: 16, groups: true }, tables, counted: ['groups'] } as unknown as RunStatus;
    expect(describeProgress(first)).toMatch(/users=120\/~1000 \(share done unknown until the memberships are counted\) groups=3 group_memberships=40 /);
    expect(describeProgress({ ...first, counted: ['groups', 'group_memberships'] })).toMatch(/users=120\/~1000 \(15%\) /);
  });

  it('names a table by its folder, memberships aside: no bare "changes" beside "user_changes"', () => {
    const view = {
      user_pool_id: 'us-east-1_A',
      active: {
        snapshot_id: 's', state: 'running', users: 120, estimated_users: 1000, percent: null, eta_seconds: null, eta_unknown_until: 'the memberships are counted', throttles: 0, shards_done: 0, shards: 16,
        pointer: 'latest.json', queued_behind: null, tables: { users: 120, groups: 3, group_memberships: 40, user_changes: 5, group_changes: 0 }, slot_wait_seconds: 1.5, limiter: null,
      },
      last_success: null, last_partial: null, last_failure: null, last_cancelled: null, last_scheduled_failed: false,
    };
    const text = renderStatus([view]);
    expect(text).toContain('120/~1000 users, eta unknown until the memberships are counted, 3 groups, 40 memberships, 5 user_changes, 0 group_changes, shards 0/16');
    expect(text).toContain('shards waited 1.5 s for slots, summed over the run’s shards'.replace('’', "'"));
  });
});

describe('status --watch', () => {
  const active: ActiveRunView = {
    snapshot_id: '20261207T140000000Z-abcdef', state: 'running', users: 1200, estimated_users: 6000, percent: 20, eta_seconds: 40, eta_unknown_until: null, throttles: 2, shards_done: 3, shards: 16,
    pointer: 'latest.json', queued_behind: null, tables: { users: 1200, groups: 3, group_memberships: 40 }, slot_wait_seconds: 1.5,
    limiter: { scope: '111111111111:us-east-1', rate_rps: 24.5, max_rps: 25, ceiling_rps: null, throttles_per_minute: 0 },
  };
  const pool = (id: string, run: ActiveRunView | null) => ({ user_pool_id: id, active: run, last_success: null, last_partial: null, last_failure: null, last_cancelled: null, last_scheduled_failed: false });
  const now = new Date('2026-12-07T14:00:05.000Z');

  it('shows one aligned row per run in flight, and no pool without one', () => {
    const text = renderWatch([pool('us-east-1_A', active), pool('us-east-1_Idle', null), pool('eu-west-1_LongerName', { ...active, percent: null, eta_seconds: null, eta_unknown_until: 'the memberships are counted', limiter: null })], now, 2);
    expect(text.split('\n')).toEqual([
      'runs in flight at 2026-12-07T14:00:05.000Z (every 2 s; Ctrl-C to stop)',
      'POOL                  RUN                         STATE    USERS       DONE  ETA      SHARDS  THROTTLES  CALLS/S  OTHER TABLES',
      'us-east-1_A           20261207T140000000Z-abcdef  running  1200/~6000  20%   40s      3/16    2          24.5/25  3 groups, 40 memberships',
      'eu-west-1_LongerName  20261207T140000000Z-abcdef  running  1200/~6000  –     unknown  3/16    2          –        3 groups, 40 memberships',
      '',
    ]);
  });

  it('says none when nothing is in flight', () => {
    expect(renderWatch([pool('us-east-1_Idle', null)], now, 0.5)).toBe('runs in flight at 2026-12-07T14:00:05.000Z (every 0.5 s; Ctrl-C to stop)\nnone\n');
  });
});
