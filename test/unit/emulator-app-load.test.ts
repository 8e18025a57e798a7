import { describe, expect, it } from 'vitest';
import { AppLoad, scheduledCalls } from '../../src/emulator/app-load.js';
import type { AppLoadSettings } from '../../src/emulator/app-load.js';
import { QuotaMeter } from '../../src/emulator/quota-meter.js';

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 10_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const STEADY: AppLoadSettings = { rps: 30, pattern: 'steady', burstSeconds: 10, periodSeconds: 30, account: '000000000000' };
const BURST: AppLoadSettings = { ...STEADY, rps: 60, pattern: 'burst' };
const NO_QUOTA = { userListRps: null, resourceReadRps: 20, resourceReadPoolRps: 5 };

/** Runs the app for `ms` on the fake clock, ticking every 5 ms as the real timer does; returns calls per second. */
function run(app: AppLoad, clock: ReturnType<typeof fakeClock>, ms: number): number[] {
  const perSecond: number[] = [];
  for (let t = 0; t < ms; t += 5) {
    clock.advance(5);
    const before = app.counts.calls;
    app.tick();
    const second = Math.floor(t / 1000);
    perSecond[second] = (perSecond[second] ?? 0) + app.counts.calls - before;
  }
  return perSecond;
}

describe('the app load schedule', () => {
  it('spreads steady calls evenly: N per second, one every 1000/N ms', () => {
    expect(scheduledCalls(STEADY, 5000)).toBe(150);
    expect(scheduledCalls(STEADY, 33)).toBe(0);
    expect(scheduledCalls(STEADY, 34)).toBe(1);
    expect(scheduledCalls({ ...STEADY, rps: null }, 5000)).toBe(0);
  });

  it('bursts: N per second for the first burstSeconds of every period, idle for the rest', () => {
    expect(scheduledCalls(BURST, 10_000)).toBe(600);
    expect(scheduledCalls(BURST, 29_999)).toBe(600);
    expect(scheduledCalls(BURST, 31_000)).toBe(660);
    expect(scheduledCalls(BURST, 90_000)).toBe(1800);
  });
});

describe('the app load', () => {
  it('makes exactly N calls a second when steady, and none after stop', () => {
    const clock = fakeClock();
    const app = new AppLoad(new QuotaMeter(NO_QUOTA, clock.now), clock.now);
    app.configure(STEADY, 0);
    expect(run(app, clock, 5000)).toEqual([30, 30, 30, 30, 30]);
    app.stop();
    expect(run(app, clock, 1000)).toEqual([0]);
    expect(app.counts).toEqual({ calls: 150, throttled: 0 });
  });

  it('follows the burst shape second by second', () => {
    const clock = fakeClock();
    const app = new AppLoad(new QuotaMeter(NO_QUOTA, clock.now), clock.now);
    app.configure({ ...BURST, burstSeconds: 2, periodSeconds: 5 }, 0);
    expect(run(app, clock, 10_000)).toEqual([60, 60, 0, 0, 0, 60, 60, 0, 0, 0]);
  });

  it('takes its tokens from the account\'s UserList bucket and counts what the quota throttled', () => {
    const clock = fakeClock();
    const quota = new QuotaMeter({ ...NO_QUOTA, userListRps: 20 }, clock.now);
    const app = new AppLoad(quota, clock.now);
    app.configure({ ...STEADY, rps: 50 }, 0);
    run(app, clock, 10_000);
    // The bucket holds 20 and refills 20/s: 20 + 200 of the 500 calls get through.
    const { calls, throttled } = app.counts;
    expect(calls).toBe(500);
    expect(calls - throttled).toBeGreaterThanOrEqual(219);
    expect(calls - throttled).toBeLessThanOrEqual(221);
    // The account's bucket is empty for everyone else; another account's is not.
    expect(quota.tryTake('ListUsers', '000000000000', 'p')).toBe(false);
    expect(quota.tryTake('ListUsers', '111111111111', 'p')).toBe(true);
  });

  it('shares the account\'s quota with an exporter: together they get the quota, and a greedy exporter throttles the app', () => {
    const clock = fakeClock();
    const quota = new QuotaMeter({ ...NO_QUOTA, userListRps: 30 }, clock.now);
    const app = new AppLoad(quota, clock.now);
    app.configure({ ...STEADY, rps: 20 }, 0);
    let exporter = 0;
    for (let t = 0; t < 10_000; t += 5) {
      clock.advance(5);
      app.tick();
      if (quota.tryTake('ListUsers', '000000000000', 'p')) exporter++;
    }
    // 30 in the bucket at the start, then 30/s for both together.
    const { calls, throttled } = app.counts;
    expect(exporter + calls - throttled).toBeGreaterThanOrEqual(30 + 300 - 1);
    expect(exporter + calls - throttled).toBeLessThanOrEqual(30 + 300 + 1);
    expect(calls).toBe(200);
    expect(throttled).toBeGreaterThan(100);
  });

  it('leaves the rest of the quota to an exporter paced below it', () => {
    const clock = fakeClock();
    const quota = new QuotaMeter({ ...NO_QUOTA, userListRps: 30 }, clock.now);
    const app = new AppLoad(quota, clock.now);
    app.configure({ ...STEADY, rps: 20 }, 0);
    let tried = 0;
    let accepted = 0;
    for (let t = 5; t <= 10_000; t += 5) {
      clock.advance(5);
      app.tick();
      if (t % 100 === 0) {
        tried++;
        if (quota.tryTake('ListUsers', '000000000000', 'p')) accepted++;
      }
    }
    expect(tried).toBe(100);
    expect(accepted).toBe(100);
    expect(app.counts).toEqual({ calls: 200, throttled: 0 });
  });

  it('restarts the schedule only when its settings change, and skips calls a blocked loop missed', () => {
    const clock = fakeClock();
    const app = new AppLoad(new QuotaMeter(NO_QUOTA, clock.now), clock.now);
    app.configure(STEADY, 0);
    run(app, clock, 500);
    app.configure({ ...STEADY }, 0);
    run(app, clock, 500);
    expect(app.counts.calls).toBe(30);
    clock.advance(10_000); // ten seconds without a tick
    app.tick();
    expect(app.counts.calls).toBe(60);
    app.resetCounts();
    expect(app.counts).toEqual({ calls: 0, throttled: 0 });
  });
});
