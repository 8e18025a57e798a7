import { describe, expect, it } from 'vitest';
import { QuotaMeter } from '../../src/emulator/quota-meter.js';
import type { QuotaRates } from '../../src/emulator/quota-meter.js';

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 5000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const RATES: QuotaRates = { userListRps: 30, resourceReadRps: 20, resourceReadPoolRps: 5 };

function accepted(meter: QuotaMeter, attempts: number, operation: string, account: string, pool: string | null): number {
  let n = 0;
  for (let i = 0; i < attempts; i++) if (meter.tryTake(operation, account, pool)) n++;
  return n;
}

describe('the quota meter', () => {
  it('lets everything through while the UserList quota is off, ListGroups included', () => {
    const meter = new QuotaMeter({ ...RATES, userListRps: null });
    expect(accepted(meter, 1000, 'ListUsers', 'a', 'p')).toBe(1000);
    expect(accepted(meter, 1000, 'ListGroups', 'a', 'p')).toBe(1000);
  });

  it('never meters other operations', () => {
    const meter = new QuotaMeter(RATES, fakeClock().now);
    expect(QuotaMeter.meters('DescribeUserPool')).toBe(false);
    expect(QuotaMeter.meters('ListGroups')).toBe(true);
    expect(accepted(meter, 1000, 'AdminGetUser', 'a', 'p')).toBe(1000);
  });

  it('shares one UserList bucket between ListUsers and ListUsersInGroup across pools', () => {
    const meter = new QuotaMeter(RATES, fakeClock().now);
    expect(accepted(meter, 20, 'ListUsers', 'a', 'p1') + accepted(meter, 20, 'ListUsersInGroup', 'a', 'p2')).toBe(30);
  });

  it('gives every account buckets of its own', () => {
    const meter = new QuotaMeter(RATES, fakeClock().now);
    expect(accepted(meter, 100, 'ListUsers', '111111111111', 'p')).toBe(30);
    expect(accepted(meter, 100, 'ListUsers', '222222222222', 'p')).toBe(30);
    expect(accepted(meter, 100, 'ListGroups', '111111111111', 'p')).toBe(5);
  });

  it('holds ListGroups to 5/s per pool and 20/s per account', () => {
    const clock = fakeClock();
    const meter = new QuotaMeter(RATES, clock.now);
    // One pool: the per-pool bucket decides.
    let onePool = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      clock.advance(10);
      onePool += accepted(meter, 3, 'ListGroups', 'a', 'p1');
    }
    expect(onePool).toBeGreaterThanOrEqual(5 * 10);
    expect(onePool).toBeLessThanOrEqual(5 * 11);
    // Ten pools: 10 × 5/s would be 50/s, but the account's 20/s decides.
    const other = new QuotaMeter(RATES, clock.now);
    let tenPools = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      clock.advance(10);
      for (let p = 0; p < 10; p++) tenPools += accepted(other, 1, 'ListGroups', 'a', `p${p}`);
    }
    expect(tenPools).toBeGreaterThanOrEqual(20 * 10);
    expect(tenPools).toBeLessThanOrEqual(20 * 11);
  });

  it('does not charge a pool for a call the account bucket throttled', () => {
    const clock = fakeClock();
    const meter = new QuotaMeter({ ...RATES, resourceReadRps: 10 }, clock.now);
    for (let p = 0; p < 10; p++) expect(meter.tryTake('ListGroups', 'a', `p${p}`)).toBe(true);
    expect(accepted(meter, 10, 'ListGroups', 'a', 'fresh')).toBe(0);
    // 100 ms give the account one token back but a pool only half of one: a charged pool would be empty.
    clock.advance(100);
    expect(meter.tryTake('ListGroups', 'a', 'fresh')).toBe(true);
  });

  it('starts every bucket full again when the rates change', () => {
    const meter = new QuotaMeter(RATES, fakeClock().now);
    accepted(meter, 100, 'ListUsers', 'a', null);
    meter.setRates({ ...RATES, userListRps: 50 });
    expect(accepted(meter, 100, 'ListUsers', 'a', null)).toBe(50);
  });
});
