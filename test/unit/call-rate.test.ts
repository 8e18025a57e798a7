import { describe, expect, it } from 'vitest';
import { CallRate, describeProgress } from '../../src/cli/progress-reporter.js';
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
