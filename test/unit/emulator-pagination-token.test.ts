import { describe, expect, it } from 'vitest';
import { bindingOf, listUsersBinding, PaginationTokenCodec } from '../../src/emulator/pagination-token.js';

const key = Buffer.alloc(32, 1);
const codec = new PaginationTokenCodec(key);
const binding = listUsersBinding('us-east-1_abcdefghi', 'email ^= "a"', null);
const position = { binding, after: '7d3c9a4e-0000-4000-8000-000000000000', issuedAtMs: 1_735_787_045_678 };

describe('pagination tokens', () => {
  it('round-trip the position, binding and issue time', () => {
    expect(codec.decode(codec.encode(position))).toEqual(position);
  });

  it('round-trip the start position and non-ASCII keys', () => {
    for (const after of ['', 'üñï', 'us-east-1_Zz9']) {
      expect(codec.decode(codec.encode({ ...position, after }))?.after).toBe(after);
    }
  });

  it('are opaque base64 without whitespace', () => {
    const token = codec.encode(position);
    expect(token).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(token).not.toContain(position.after);
  });

  it('are rejected when any byte is altered', () => {
    const raw = Buffer.from(codec.encode(position), 'base64');
    for (let i = 0; i < raw.length; i++) {
      const tampered = Buffer.from(raw);
      tampered[i] = (tampered[i] ?? 0) ^ 0x01;
      expect(codec.decode(tampered.toString('base64'))).toBeNull();
    }
  });

  it('are rejected by a codec with another key (as after a restart)', () => {
    expect(new PaginationTokenCodec(Buffer.alloc(32, 2)).decode(codec.encode(position))).toBeNull();
  });

  it('are rejected when truncated, empty or not base64', () => {
    const token = codec.encode(position);
    for (const bad of ['', 'x', token.slice(0, 10), `${token} `, 'not a token!', '%%%%']) {
      expect(codec.decode(bad)).toBeNull();
    }
  });

  it('bind to pool, filter and attributes, but not to the page size', () => {
    const base = listUsersBinding('us-east-1_a', null, null);
    expect(listUsersBinding('us-east-1_a', null, null)).toBe(base);
    expect(listUsersBinding('us-east-1_b', null, null)).not.toBe(base);
    expect(listUsersBinding('us-east-1_a', 'sub ^= "0"', null)).not.toBe(base);
    expect(listUsersBinding('us-east-1_a', null, ['email'])).not.toBe(base);
    expect(listUsersBinding('us-east-1_a', null, ['email', 'name'])).not.toBe(listUsersBinding('us-east-1_a', null, ['name', 'email']));
  });

  it('keep bindings of different listings apart', () => {
    expect(bindingOf(['ListUserPools'])).not.toBe(listUsersBinding('', null, null));
    expect(bindingOf(['a', 'bc'])).not.toBe(bindingOf(['ab', 'c']));
  });
});
