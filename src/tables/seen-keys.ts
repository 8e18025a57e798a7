/**
 * A set of strings that remembers only two 32-bit hashes of each (a 64-bit fingerprint), in one
 * open-addressing table of typed arrays: about 16 bytes a key whatever its length, off the JS heap.
 * Two keys collide with odds of about n²/2⁶⁵ (for a million keys, 1 in 37 billion).
 */
export class SeenKeys {
  private slots: Uint32Array = new Uint32Array(2 * 1024);
  private count = 0;

  /** Adds `key`; false if it was already there. */
  add(key: string): boolean {
    if ((this.count + 1) * 2 > this.slots.length / 2) this.grow();
    const [a, b] = fingerprint(key);
    return this.insert(a, b);
  }

  /** How many keys it holds. */
  get size(): number {
    return this.count;
  }

  private insert(a: number, b: number): boolean {
    const mask = this.slots.length / 2 - 1;
    // 0/0 marks an empty slot: a real fingerprint never is (see fingerprint).
    for (let i = a & mask; ; i = (i + 1) & mask) {
      const x = this.slots[2 * i] as number;
      const y = this.slots[2 * i + 1] as number;
      if (x === 0 && y === 0) {
        this.slots[2 * i] = a;
        this.slots[2 * i + 1] = b;
        this.count++;
        return true;
      }
      if (x === a && y === b) return false;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    this.count = 0;
    for (let i = 0; i < old.length; i += 2) {
      const a = old[i] as number;
      const b = old[i + 1] as number;
      if (a !== 0 || b !== 0) this.insert(a, b);
    }
  }
}

/**
 * A short stand-in for `key`: its 64-bit fingerprint (as SeenKeys keeps it) in 11 base64url
 * characters, for keys that must outlive the process: a checkpoint records these rather than the
 * keys (a third of a sub's size), with the odds of two colliding that SeenKeys has.
 */
export function keyTag(key: string): string {
  const [a, b] = fingerprint(key);
  const bytes = Buffer.allocUnsafe(8);
  bytes.writeUInt32BE(a, 0);
  bytes.writeUInt32BE(b, 4);
  return bytes.toString('base64url');
}

/** Two independent FNV-1a hashes of the UTF-16 code units; the first is never 0. */
function fingerprint(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ key.length;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return [(a >>> 0) || 1, b >>> 0];
}
