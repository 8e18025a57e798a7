import { describe, expect, it } from 'vitest';
import { MAX_GROUPS_PER_USER } from '../../src/emulator/group-directory.js';
import { assertGroupSeedOptions, seedGroups } from '../../src/emulator/group-seeder.js';
import type { StoredUser } from '../../src/emulator/stored-user.js';
import { UserPool } from '../../src/emulator/user-pool.js';
import { seedUsers } from '../../src/emulator/user-seeder.js';

function seeded(users: number, groups: number, seed = 3): UserPool {
  const pool = new UserPool('us-east-1_test12345', 'test', 0, '111111111111');
  seedUsers(pool, { users, seed });
  seedGroups(pool, { groups, seed });
  return pool;
}

/** How many groups each user is in. */
function groupsPerUser(pool: UserPool): Map<StoredUser, number> {
  const counts = new Map<StoredUser, number>();
  for (const group of pool.groups.groups) for (const user of group.members) counts.set(user, (counts.get(user) ?? 0) + 1);
  return counts;
}

const GROUP_NAME = /^[\p{L}\p{M}\p{S}\p{N}\p{P}]{1,128}$/u;

describe('seeding groups', () => {
  const pool = seeded(20_000, 300);
  const groups = pool.groups.groups;

  it('is deterministic: the same seed gives the same groups and memberships', () => {
    const again = seeded(20_000, 300);
    const shape = (p: UserPool): unknown[] => p.groups.groups.map((g) => [g.toWire(p.id), g.members.map((u) => u.sub)]);
    expect(shape(again)).toEqual(shape(pool));
    expect(shape(seeded(20_000, 300, 4))).not.toEqual(shape(pool));
  });

  it('creates exactly the groups asked for, with names Cognito accepts', () => {
    expect(groups).toHaveLength(300);
    expect(groups.every((g) => GROUP_NAME.test(g.name))).toBe(true);
    expect(new Set(groups.map((g) => g.name)).size).toBe(300);
  });

  it('puts every one of / \\ : * ? " = % and unicode into some names', () => {
    for (const char of ['/', '\\', ':', '*', '?', '"', '=', '%']) expect(groups.some((g) => g.name.includes(char))).toBe(true);
    expect(groups.some((g) => /[^\p{ASCII}]/u.test(g.name))).toBe(true);
  });

  it('gives most groups a description and some a RoleArn and a Precedence', () => {
    const share = (test: (g: (typeof groups)[number]) => boolean): number => groups.filter(test).length / groups.length;
    expect(share((g) => g.description !== null)).toBeGreaterThan(0.8);
    expect(share((g) => g.roleArn !== null)).toBeGreaterThan(0.2);
    expect(share((g) => g.roleArn === null)).toBeGreaterThan(0.2);
    expect(share((g) => g.precedence !== null)).toBeGreaterThan(0.2);
    expect(groups.filter((g) => g.roleArn !== null).every((g) => g.roleArn!.startsWith('arn:aws:iam::111111111111:role/'))).toBe(true);
  });

  it('skews memberships: one group holds most users, a long tail of small groups, some empty', () => {
    const sizes = groups.map((g) => g.members.length).sort((a, b) => b - a);
    expect(sizes[0]).toBeGreaterThan(pool.size / 2);
    expect(sizes.filter((n) => n > 0 && n <= 10).length).toBeGreaterThan(50);
    expect(sizes.filter((n) => n === 0).length).toBeGreaterThan(0);
    // About one membership per user in all.
    expect(pool.groups.membershipCount / pool.size).toBeGreaterThan(0.8);
    expect(pool.groups.membershipCount / pool.size).toBeLessThan(1.3);
  });

  it('puts some users in many groups, one in exactly 100, none in more', () => {
    const counts = [...groupsPerUser(pool).values()];
    expect(Math.max(...counts)).toBe(MAX_GROUPS_PER_USER);
    expect(counts.filter((n) => n >= 10).length).toBeGreaterThan(1);
  });

  it('keeps each group\'s members in sub order, once each', () => {
    for (const g of groups) {
      const subs = g.members.map((u) => u.sub);
      expect(subs).toEqual([...new Set(subs)].sort());
    }
  });

  it('respects the 100-group limit even when groups far outnumber users', () => {
    const crowded = seeded(7, 2000);
    expect(Math.max(...groupsPerUser(crowded).values())).toBeLessThanOrEqual(MAX_GROUPS_PER_USER);
    expect(crowded.groups.size).toBe(2000);
  });

  it('leaves every group empty in a pool without users', () => {
    expect(seeded(0, 20).groups.membershipCount).toBe(0);
  });

  it('adds a second batch with the same seed under other names', () => {
    const twice = seeded(100, 30);
    seedGroups(twice, { groups: 30, seed: 3 });
    expect(twice.groups.size).toBe(60);
  });

  it('rejects out-of-range options with a message naming the option', () => {
    expect(() => assertGroupSeedOptions({ groups: -1 })).toThrow(/`groups`/);
    expect(() => assertGroupSeedOptions({ groups: 10_001 })).toThrow(/`groups`/);
    expect(() => assertGroupSeedOptions({ groups: 10, seed: Number.NaN })).toThrow(/`seed`/);
    expect(() => seedGroups(pool, { groups: 9_701 })).toThrow(/`groups` to be an integer from 0 to 9700/);
  });
});
