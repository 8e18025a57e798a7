import { describe, expect, it } from 'vitest';
import { AccountQuota } from '../../src/emulator/account-quota.js';

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function takeAll(quota: AccountQuota, attempts: number): number {
  let accepted = 0;
  for (let i = 0; i < attempts; i++) if (quota.tryTake()) accepted++;
  return accepted;
}

describe('AccountQuota', () => {
  it('lets everything through when off', () => {
    expect(takeAll(new AccountQuota(null), 10_000)).toBe(10_000);
  });

  it('allows a burst of one second worth, then throttles', () => {
    const clock = fakeClock();
    const quota = new AccountQuota(30, clock.now);
    expect(takeAll(quota, 100)).toBe(30);
  });

  it('refills continuously at the set rate', () => {
    const clock = fakeClock();
    const quota = new AccountQuota(30, clock.now);
    takeAll(quota, 100);
    let accepted = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      clock.advance(10);
      accepted += takeAll(quota, 5);
    }
    expect(accepted).toBeGreaterThanOrEqual(299);
    expect(accepted).toBeLessThanOrEqual(300);
  });

  it('never stores more than one second worth', () => {
    const clock = fakeClock();
    const quota = new AccountQuota(10, clock.now);
    clock.advance(60_000);
    expect(takeAll(quota, 100)).toBe(10);
  });

  it('serves rates below one request per second', () => {
    const clock = fakeClock();
    const quota = new AccountQuota(0.5, clock.now);
    expect(takeAll(quota, 5)).toBe(1);
    clock.advance(1000);
    expect(takeAll(quota, 5)).toBe(0);
    clock.advance(1000);
    expect(takeAll(quota, 5)).toBe(1);
  });

  it('starts from a full bucket at a new rate', () => {
    const clock = fakeClock();
    const quota = new AccountQuota(5, clock.now);
    takeAll(quota, 10);
    quota.setRate(50);
    expect(quota.rps).toBe(50);
    expect(takeAll(quota, 100)).toBe(50);
  });
});
