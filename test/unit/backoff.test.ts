import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from '../../src/limits/backoff.js';

const curve = { baseMs: 100, capMs: 1000 };

describe('fullJitterDelay', () => {
  it('doubles the ceiling with every attempt', () => {
    const top = () => 0.999999;
    expect(fullJitterDelay(1, curve, top)).toBe(99);
    expect(fullJitterDelay(2, curve, top)).toBe(199);
    expect(fullJitterDelay(3, curve, top)).toBe(399);
  });

  it('never exceeds the cap, even after many attempts', () => {
    expect(fullJitterDelay(60, curve, () => 0.999999)).toBe(999);
    expect(fullJitterDelay(5000, curve, () => 0.5)).toBe(500);
  });

  it('draws the whole range down to zero (full jitter)', () => {
    expect(fullJitterDelay(3, curve, () => 0)).toBe(0);
    expect(fullJitterDelay(3, curve, () => 0.5)).toBe(200);
  });

  it('rejects an attempt below 1 with a clear message', () => {
    expect(() => fullJitterDelay(0, curve)).toThrow('Expected `attempt` to be an integer from 1, got `0`');
  });
});
