import { describe, expect, it } from 'vitest';
import { DEFAULT_FAULTS, FaultConfigError, FaultInjector, mergeFaults } from '../../src/emulator/fault-injector.js';
import { RandomSource } from '../../src/emulator/random-source.js';

describe('the member page overlap fault', () => {
  it('is off by default', () => {
    expect(DEFAULT_FAULTS.memberPageOverlap).toBe(0);
    expect(new FaultInjector({}, new RandomSource(1)).memberPageOverlap(60)).toBe(0);
  });

  it('takes a whole number of members from 0 to 59 (a page must still move on)', () => {
    expect(mergeFaults(DEFAULT_FAULTS, { memberPageOverlap: 59 }).memberPageOverlap).toBe(59);
    for (const bad of [60, -1, 1.5, '2']) {
      expect(() => mergeFaults(DEFAULT_FAULTS, { memberPageOverlap: bad })).toThrow(FaultConfigError);
      expect(() => mergeFaults(DEFAULT_FAULTS, { memberPageOverlap: bad })).toThrow(/memberPageOverlap/);
    }
  });

  it('repeats at most a page less one member, so a walk of small or short pages still ends', () => {
    const faults = new FaultInjector({ memberPageOverlap: 3 }, new RandomSource(1));
    expect(faults.memberPageOverlap(60)).toBe(3);
    expect(faults.memberPageOverlap(3)).toBe(2);
    expect(faults.memberPageOverlap(1)).toBe(0);
    expect(faults.memberPageOverlap(0)).toBe(0);
    expect(faults.update({ memberPageOverlap: 0 }).memberPageOverlap).toBe(0);
    expect(faults.memberPageOverlap(60)).toBe(0);
  });
});
