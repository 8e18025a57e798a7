import { describe, expect, it } from 'vitest';
import { DEFAULT_FAULTS, FaultConfigError, FaultInjector, mergeFaults } from '../../src/emulator/fault-injector.js';
import { PaginationTokenCodec } from '../../src/emulator/pagination-token.js';
import { RandomSource } from '../../src/emulator/random-source.js';

describe('the hostile emulator faults', () => {
  it('are off by default', () => {
    expect(DEFAULT_FAULTS.repeatPaginationToken).toBe(false);
    expect(DEFAULT_FAULTS.oversizedPageBytes).toBeNull();
    const faults = new FaultInjector({}, new RandomSource(1));
    expect(faults.repeatsPaginationToken()).toBe(false);
    expect(faults.oversizedPageBytes()).toBeNull();
  });

  it('take a flag for the repeating token and a size up to 1 GiB for oversized pages', () => {
    const faults = new FaultInjector({}, new RandomSource(1));
    expect(faults.update({ repeatPaginationToken: true, oversizedPageBytes: 120 * 1024 * 1024 })).toMatchObject({ repeatPaginationToken: true, oversizedPageBytes: 120 * 1024 * 1024 });
    expect(faults.repeatsPaginationToken()).toBe(true);
    expect(faults.oversizedPageBytes()).toBe(120 * 1024 * 1024);
    for (const bad of [{ repeatPaginationToken: 1 }, { oversizedPageBytes: -1 }, { oversizedPageBytes: 2 ** 31 }, { oversizedPageBytes: 1.5 }]) {
      expect(() => mergeFaults(DEFAULT_FAULTS, bad)).toThrow(FaultConfigError);
      expect(() => mergeFaults(DEFAULT_FAULTS, bad)).toThrow(new RegExp(Object.keys(bad)[0] ?? ''));
    }
    expect(faults.update({ repeatPaginationToken: false, oversizedPageBytes: null })).toMatchObject({ repeatPaginationToken: false, oversizedPageBytes: null });
  });

  it('never issue the same token twice for one position, even within a millisecond (only the fault repeats tokens)', () => {
    const codec = new PaginationTokenCodec(Buffer.alloc(32, 7));
    const position = { binding: '0011223344556677', after: 'sub-1', issuedAtMs: 1_700_000_000_000 };
    const tokens = new Set(Array.from({ length: 100 }, () => codec.encode(position)));
    expect(tokens.size).toBe(100);
    for (const token of tokens) expect(codec.decode(token)).toMatchObject({ binding: position.binding, after: 'sub-1' });
  });
});
