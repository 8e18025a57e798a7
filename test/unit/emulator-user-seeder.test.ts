import { describe, expect, it } from 'vitest';
import { UserPool } from '../../src/emulator/user-pool.js';
import { assertSeedOptions, seedUsers } from '../../src/emulator/user-seeder.js';
import type { SeedOptions } from '../../src/emulator/user-seeder.js';

function seeded(options: SeedOptions): UserPool {
  const pool = new UserPool('us-east-1_test12345', 'test', 0);
  seedUsers(pool, options);
  return pool;
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('seeding users', () => {
  const pool = seeded({ users: 5000, seed: 42 });
  const users = pool.users;
  const share = (predicate: (index: number) => boolean): number => users.filter((_, i) => predicate(i)).length / users.length;

  it('is deterministic: the same seed gives the same users', () => {
    const again = seeded({ users: 5000, seed: 42 });
    expect(again.users.map((u) => u.toSdk())).toEqual(users.map((u) => u.toSdk()));
  });

  it('gives different users for a different seed', () => {
    const other = seeded({ users: 50, seed: 43 });
    expect(other.users.map((u) => u.sub)).not.toEqual(seeded({ users: 50, seed: 42 }).users.map((u) => u.sub));
  });

  it('keeps users sorted by sub, with unique v4-shaped subs and unique usernames', () => {
    const subs = users.map((u) => u.sub);
    expect(subs.every((sub) => UUID_V4.test(sub))).toBe(true);
    expect(subs).toEqual([...subs].sort());
    expect(new Set(subs).size).toBe(users.length);
    expect(new Set(users.map((u) => u.username)).size).toBe(users.length);
  });

  it('spreads subs evenly over the 16 hex shards', () => {
    for (const digit of '0123456789abcdef') {
      expect(share((i) => users[i]!.sub.startsWith(digit))).toBeCloseTo(1 / 16, 1);
    }
  });

  it('skews subs toward "0" on request', () => {
    const skewed = seeded({ users: 4000, seed: 1, subSkew: 0.5 }).users;
    const zeros = skewed.filter((u) => u.sub.startsWith('0')).length / skewed.length;
    expect(zeros).toBeGreaterThan(0.45);
    expect(zeros).toBeLessThan(0.55);
  });

  it('includes IdP-style usernames with EXTERNAL_PROVIDER status and an identities attribute', () => {
    for (const prefix of ['Google_1', 'SignInWithApple_00', 'Facebook_10', 'LoginWithAmazon_amzn1.account.']) {
      const idp = users.filter((u) => u.username.startsWith(prefix));
      expect(idp.length).toBeGreaterThan(0);
      expect(idp.every((u) => u.status === 'EXTERNAL_PROVIDER')).toBe(true);
      expect(JSON.parse(idp[0]!.attribute('identities')!)).toEqual([expect.objectContaining({ primary: true })]);
    }
  });

  it('covers every status and disables about 5% of users', () => {
    const statuses = new Set(users.map((u) => u.status));
    expect([...statuses].sort()).toEqual(['CONFIRMED', 'EXTERNAL_PROVIDER', 'FORCE_CHANGE_PASSWORD', 'RESET_REQUIRED', 'UNCONFIRMED']);
    expect(share((i) => !users[i]!.enabled)).toBeCloseTo(0.05, 1);
  });

  it('has unicode names and values with quotes, backslashes and newlines', () => {
    const values = users.flatMap((u) => u.attributes.filter((_, i) => i % 2 === 1));
    expect(values.some((v) => /[^\p{ASCII}]/u.test(v))).toBe(true);
    expect(values.some((v) => v.includes('"'))).toBe(true);
    expect(values.some((v) => v.includes('\\'))).toBe(true);
    expect(values.some((v) => v.includes('\n'))).toBe(true);
  });

  it('gives most users the standard attributes and leaves some out', () => {
    for (const name of ['email', 'email_verified', 'name', 'given_name', 'family_name', 'phone_number', 'preferred_username', 'custom:tenant']) {
      expect(share((i) => users[i]!.attribute(name) !== undefined)).toBeGreaterThan(0.3);
    }
    expect(users.some((u) => u.attribute('name') === undefined)).toBe(true);
  });

  it('dates every user with milliseconds, last modified no earlier than created', () => {
    expect(users.every((u) => u.createdMs % 1000 !== 0 && u.modifiedMs % 1000 !== 0)).toBe(true);
    expect(users.every((u) => u.modifiedMs >= u.createdMs)).toBe(true);
  });

  it('adds a second batch with the same seed without clashing', () => {
    const twice = seeded({ users: 300, seed: 5 });
    seedUsers(twice, { users: 300, seed: 5 });
    expect(twice.size).toBe(600);
    expect(new Set(twice.users.map((u) => u.sub)).size).toBe(600);
  });

  it('rejects out-of-range options with a message naming the option', () => {
    expect(() => assertSeedOptions({ users: -1 })).toThrow(/`users`/);
    expect(() => assertSeedOptions({ users: 1.5 })).toThrow(/`users`/);
    expect(() => assertSeedOptions({ users: 1, subSkew: 2 })).toThrow(/`subSkew`/);
    expect(() => assertSeedOptions({ users: 1, seed: Number.NaN })).toThrow(/`seed`/);
  });
});
