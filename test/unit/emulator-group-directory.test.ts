import { describe, expect, it } from 'vitest';
import { CognitoServiceError } from '../../src/emulator/cognito-error.js';
import { GroupDirectory, MAX_GROUPS_PER_POOL, MAX_GROUPS_PER_USER } from '../../src/emulator/group-directory.js';
import { StoredGroup } from '../../src/emulator/stored-group.js';
import { StoredUser } from '../../src/emulator/stored-user.js';
import { UserPool } from '../../src/emulator/user-pool.js';

function sub(n: number): string {
  return `${n.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
}

function user(n: number): StoredUser {
  return new StoredUser(sub(n), `user${n}`, true, 'CONFIRMED', 1_700_000_000_001, 1_700_000_000_001, [], null);
}

function group(name: string, members: StoredUser[] = []): StoredGroup {
  return new StoredGroup(name, null, null, null, 1_700_000_000_001, 1_700_000_000_001, members);
}

function errorOf(action: () => unknown): { code: string; message: string } {
  try {
    action();
  } catch (error) {
    if (error instanceof CognitoServiceError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('no error');
}

describe('a pool\'s groups', () => {
  it('keep groups in code-unit name order whatever the order they were created in', () => {
    const groups = new GroupDirectory();
    for (const name of ['b', 'a/b', 'Z', 'ä', 'a', '"q"', '%']) groups.add(group(name));
    expect(groups.groups.map((g) => g.name)).toEqual(['"q"', '%', 'Z', 'a', 'a/b', 'b', 'ä']);
    groups.delete('Z');
    expect(groups.groups.map((g) => g.name)).toEqual(['"q"', '%', 'a', 'a/b', 'b', 'ä']);
    expect(groups.get('Z')).toBeUndefined();
  });

  it('refuse a taken name with GroupExistsException and a missing one with ResourceNotFoundException', () => {
    const groups = new GroupDirectory();
    groups.add(group('admins'));
    expect(errorOf(() => groups.add(group('admins')))).toEqual({ code: 'GroupExistsException', message: 'A group with the name already exists.' });
    expect(errorOf(() => groups.require('nobody'))).toEqual({ code: 'ResourceNotFoundException', message: 'Group not found.' });
  });

  it('hold at most 10,000 groups', () => {
    const groups = new GroupDirectory();
    for (let i = 0; i < MAX_GROUPS_PER_POOL; i++) groups.add(group(`g${String(i).padStart(5, '0')}`));
    expect(errorOf(() => groups.add(group('one-too-many'))).code).toBe('LimitExceededException');
    expect(groups.size).toBe(MAX_GROUPS_PER_POOL);
  });

  it('keep members sorted by sub, once each, and count memberships', () => {
    const groups = new GroupDirectory();
    const g = group('g');
    groups.add(g);
    const [u1, u2, u3] = [user(1), user(2), user(3)];
    for (const u of [u3, u1, u2, u1]) groups.addMember(g, u);
    expect(g.members.map((u) => u.username)).toEqual(['user1', 'user2', 'user3']);
    expect(groups.membershipCount).toBe(3);
    expect(groups.removeMember(g, u2)).toBe(true);
    expect(groups.removeMember(g, u2)).toBe(false);
    expect(groups.membershipCount).toBe(2);
  });

  it('let a user into 100 groups and refuse the 101st with LimitExceededException', () => {
    const groups = new GroupDirectory();
    const u = user(7);
    for (let i = 0; i <= MAX_GROUPS_PER_USER; i++) groups.add(group(`g${String(i).padStart(3, '0')}`));
    for (let i = 0; i < MAX_GROUPS_PER_USER; i++) groups.addMember(groups.groups[i]!, u);
    expect(groups.groupsOf(u)).toHaveLength(100);
    expect(errorOf(() => groups.addMember(groups.groups[100]!, u)).code).toBe('LimitExceededException');
    // Adding to a group it is already in is not a new membership, so it is not refused.
    groups.addMember(groups.groups[0]!, u);
    expect(groups.membershipCount).toBe(100);
  });

  it('lose their counts with a deleted group, and lose a deleted user everywhere', () => {
    const pool = new UserPool('us-east-1_unittest1', 'unit', 0);
    const users = [user(1), user(2), user(3)];
    pool.addMany(users);
    pool.groups.add(group('a', [users[0]!, users[1]!]));
    pool.groups.add(group('b', [users[1]!, users[2]!]));
    expect(pool.groups.membershipCount).toBe(4);
    pool.remove('user2');
    expect(pool.groups.groups.map((g) => g.members.map((u) => u.username))).toEqual([['user1'], ['user3']]);
    expect(pool.groups.membershipCount).toBe(2);
    pool.groups.delete('a');
    expect(pool.groups.membershipCount).toBe(1);
    expect(pool.groups.groupsOf(users[2]!).map((g) => g.name)).toEqual(['b']);
  });
});

describe('a group on the wire', () => {
  it('leaves out absent properties and dates in epoch seconds with milliseconds', () => {
    const g = new StoredGroup('g', null, null, null, 1_700_000_000_123, 1_700_000_000_456);
    expect(g.toWire('us-east-1_x')).toEqual({ GroupName: 'g', UserPoolId: 'us-east-1_x', CreationDate: 1_700_000_000.123, LastModifiedDate: 1_700_000_000.456 });
    const full = new StoredGroup('g', 'd', 'arn:aws:iam::111111111111:role/r', 0, 1_700_000_000_123, 1_700_000_000_456);
    expect(full.toSdk('us-east-1_x')).toEqual({
      GroupName: 'g',
      UserPoolId: 'us-east-1_x',
      Description: 'd',
      RoleArn: 'arn:aws:iam::111111111111:role/r',
      Precedence: 0,
      CreationDate: new Date(1_700_000_000_123),
      LastModifiedDate: new Date(1_700_000_000_456),
    });
  });
});
