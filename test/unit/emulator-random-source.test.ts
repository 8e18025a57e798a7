import { describe, expect, it } from 'vitest';
import { RandomSource } from '../../src/emulator/random-source.js';

function draw(source: RandomSource, count: number): number[] {
  return Array.from({ length: count }, () => source.uint32());
}

describe('RandomSource', () => {
  it('gives the same sequence for the same seed', () => {
    expect(draw(new RandomSource(42), 100)).toEqual(draw(new RandomSource(42), 100));
  });

  it('gives different sequences for neighbouring seeds', () => {
    const a = draw(new RandomSource(1), 20);
    const b = draw(new RandomSource(2), 20);
    expect(a).not.toEqual(b);
    expect(a.filter((value, i) => value === b[i])).toHaveLength(0);
  });

  it('treats seeds above 2^32 as distinct', () => {
    expect(draw(new RandomSource(5), 5)).not.toEqual(draw(new RandomSource(5 + 2 ** 32), 5));
  });

  it('spreads floats uniformly over [0, 1)', () => {
    const source = new RandomSource(7);
    const buckets = new Array<number>(10).fill(0);
    let outOfRange = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = source.next();
      if (x < 0 || x >= 1) outOfRange++;
      else buckets[Math.floor(x * 10)] = (buckets[Math.floor(x * 10)] ?? 0) + 1;
    }
    expect(outOfRange).toBe(0);
    for (const count of buckets) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });

  it('keeps int(n) within [0, n) and hits every value', () => {
    const source = new RandomSource(3);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(source.int(6));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('answers chance(p) at about rate p, and never or always at the ends', () => {
    const source = new RandomSource(11);
    let hits = 0;
    for (let i = 0; i < 50_000; i++) if (source.chance(0.2)) hits++;
    expect(hits / 50_000).toBeCloseTo(0.2, 1);
    expect(Array.from({ length: 100 }, () => source.chance(0)).some(Boolean)).toBe(false);
    expect(Array.from({ length: 100 }, () => source.chance(1)).every(Boolean)).toBe(true);
  });

  it('forks reproducibly into an independent generator', () => {
    const a = new RandomSource(9).fork();
    const b = new RandomSource(9).fork();
    expect(draw(a, 10)).toEqual(draw(b, 10));
    expect(draw(new RandomSource(9).fork(), 10)).not.toEqual(draw(new RandomSource(9), 10));
  });

  it('refuses to pick from an empty array', () => {
    expect(() => new RandomSource(1).pick([])).toThrow(RangeError);
  });
});
