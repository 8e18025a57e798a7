import { randomBytes } from 'node:crypto';

/**
 * A small, fast, seedable pseudo-random generator (sfc32, seeded through splitmix32). The emulator
 * must never use `Math.random`: seeded users have to be identical from run to run, and chaos tests
 * need a fault sequence they can reproduce.
 */
export class RandomSource {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** @param seed any number; the same seed always yields the same sequence. */
  constructor(seed: number) {
    // splitmix32 spreads a small or structured seed (0, 1, 2…) over the full 128-bit state.
    let s = Math.trunc(seed) >>> 0;
    const mix = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    // Seeds above 2^32 still matter: fold the high part in.
    s = (s ^ Math.trunc(seed / 0x1_0000_0000)) >>> 0;
    this.#a = mix();
    this.#b = mix();
    this.#c = mix();
    this.#d = mix();
    // The first outputs of sfc32 are weakly mixed; discard a few as its author recommends.
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  uint32(): number {
    const a = this.#a;
    const b = this.#b;
    const c = this.#c;
    const d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    const r = (c << 21) | (c >>> 11);
    this.#c = (r + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.uint32() / 0x1_0000_0000;
  }

  /** An integer in [0, n) for n ≥ 1 (n up to 2^32). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [min, max] inclusive. */
  intBetween(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability p (p ≤ 0 never, p ≥ 1 always). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }

  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new RangeError('pick() needs a non-empty array');
    return item;
  }

  /** A fresh seed drawn from this source, for deriving independent generators. */
  fork(): RandomSource {
    return new RandomSource(this.uint32() * 0x1_0000 + (this.uint32() & 0xffff));
  }
}

/** A seed from the OS's random source, for when the caller does not ask for reproducibility. */
export function unpredictableSeed(): number {
  return randomBytes(4).readUInt32LE(0);
}
