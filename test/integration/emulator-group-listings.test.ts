import type { CognitoIdentityProviderClient, GroupType, UserType } from '@aws-sdk/client-cognito-identity-provider';
import { ListGroupsCommand, ListUsersCommand, ListUsersInGroupCommand, paginateListGroups, paginateListUsersInGroup } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator, DEFAULT_FAULTS } from '../../src/emulator/index.js';
import { emulatorClient } from '../support/emulator-client.js';

let emulator: CognitoEmulator;
let client: CognitoIdentityProviderClient;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 12 });
  client = emulatorClient(emulator);
});

afterEach(() => emulator.setFaults(DEFAULT_FAULTS));

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

interface Walk<T> {
  items: T[];
  pages: number[];
}

/** Follows NextToken to the end, letting `between` change the pool after each page. */
async function walk<T>(page: (token: string | undefined) => Promise<{ items: T[]; token: string | undefined }>, between: (page: number) => void): Promise<Walk<T>> {
  const result: Walk<T> = { items: [], pages: [] };
  let token: string | undefined;
  do {
    const next = await page(token);
    result.items.push(...next.items);
    result.pages.push(next.items.length);
    token = next.token;
    between(result.pages.length);
  } while (token !== undefined);
  return result;
}

function walkGroups(UserPoolId: string, Limit?: number, between: () => void = () => undefined): Promise<Walk<GroupType>> {
  return walk(async (NextToken) => {
    const answer = await client.send(new ListGroupsCommand({ UserPoolId, Limit, NextToken }));
    return { items: answer.Groups!, token: answer.NextToken };
  }, between);
}

function walkMembers(UserPoolId: string, GroupName: string, between: (page: number) => void = () => undefined): Promise<Walk<UserType>> {
  return walk(async (NextToken) => {
    const answer = await client.send(new ListUsersInGroupCommand({ UserPoolId, GroupName, NextToken }));
    return { items: answer.Users!, token: answer.NextToken };
  }, between);
}

function poolWithGroups(count: number): string {
  const id = emulator.createPool(`groups-${count}`);
  for (let i = 0; i < count; i++) emulator.createGroup(id, { name: `g/${String(i).padStart(5, '0')}` });
  return id;
}

describe('ListGroups pages', () => {
  for (const [groups, pages] of [
    [0, [0]],
    [1, [1]],
    [60, [60]],
    [61, [60, 1]],
  ] as const) {
    it(`walks ${groups} groups in ${pages.length} page(s) of ${pages.join(' + ')}, in name order, the last without a token`, async () => {
      const id = poolWithGroups(groups);
      const walk = await walkGroups(id);
      expect(walk.pages).toEqual(pages);
      expect(walk.items).toEqual(emulator.listAllGroups(id));
    });
  }

  it('honours Limit, and Limit 0 keeps the position without returning groups', async () => {
    const id = poolWithGroups(7);
    expect((await walkGroups(id, 3)).pages).toEqual([3, 3, 1]);
    const empty = await client.send(new ListGroupsCommand({ UserPoolId: id, Limit: 0 }));
    expect(empty.Groups).toEqual([]);
    const next = await client.send(new ListGroupsCommand({ UserPoolId: id, NextToken: empty.NextToken }));
    expect(next.Groups).toHaveLength(7);
  });

  it('never returns a group twice while groups are created and deleted mid-walk', async () => {
    const id = poolWithGroups(200);
    let n = 0;
    const walk = await walkGroups(id, 10, () => {
      n++;
      emulator.createGroup(id, { name: `g/${String(n).padStart(5, '0')}+new` });
      emulator.deleteGroup(id, `g/${String(199 - n).padStart(5, '0')}`);
    });
    const names = walk.items.map((g) => g.GroupName!);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual([...names].sort());
  });

  it('works with the SDK paginator', async () => {
    const id = poolWithGroups(130);
    const names: string[] = [];
    for await (const page of paginateListGroups({ client, pageSize: 50 }, { UserPoolId: id })) names.push(...page.Groups!.map((g) => g.GroupName!));
    expect(names).toEqual(emulator.listAllGroups(id).map((g) => g.GroupName));
  });

  it('rejects a token from another pool or another listing', async () => {
    const a = poolWithGroups(61);
    const b = poolWithGroups(61);
    const { NextToken } = await client.send(new ListGroupsCommand({ UserPoolId: a }));
    await expect(client.send(new ListGroupsCommand({ UserPoolId: b, NextToken }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringMatching(/^Paging marker \S+ is invalid for request [0-9a-f-]{36}$/) as string,
    });
    const users = emulator.createPoolWithUsers({ users: 61 });
    const usersToken = (await client.send(new ListUsersCommand({ UserPoolId: users }))).PaginationToken;
    await expect(client.send(new ListGroupsCommand({ UserPoolId: users, NextToken: usersToken }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
  });
});

describe('ListUsersInGroup pages', () => {
  it('walks a 10,000-member group exactly: each member once, in sub order, 60 a page, in ListUsers shape', async () => {
    const id = emulator.createPoolWithUsers({ users: 12_000, seed: 8 });
    emulator.createGroup(id, { name: 'big' });
    const members = emulator.listAllUsers(id).slice(1000, 11_000);
    for (const user of members) emulator.addUserToGroup(id, 'big', user.Username!);
    const walk = await walkMembers(id, 'big');
    expect(walk.pages).toEqual([...Array<number>(166).fill(60), 40]);
    expect(walk.items).toEqual(members);
    expect(walk.items).toEqual(emulator.listAllMembers(id, 'big'));
  });

  it('never returns a member twice while members are added and removed mid-walk', async () => {
    const id = emulator.createPoolWithUsers({ users: 3000, seed: 9 });
    emulator.createGroup(id, { name: 'churn' });
    const users = emulator.listAllUsers(id).map((u) => u.Username!);
    for (const user of users.slice(0, 2000)) emulator.addUserToGroup(id, 'churn', user);
    const walk = await walkMembers(id, 'churn', (page) => {
      if (page > 40) return;
      for (let k = 0; k < 20; k++) {
        emulator.addUserToGroup(id, 'churn', users[2000 + page * 20 + k]!);
        emulator.removeUserFromGroup(id, 'churn', users[page * 37 + k]!);
      }
    });
    const subs = walk.items.map((u) => u.Attributes!.find((a) => a.Name === 'sub')!.Value!);
    expect(new Set(subs).size).toBe(subs.length);
    expect(subs).toEqual([...subs].sort());
    // Members present from start to end were all seen.
    const stayed = emulator.listAllMembers(id, 'churn').map((u) => u.Username!).filter((u) => users.indexOf(u) < 2000);
    expect(walk.items.map((u) => u.Username)).toEqual(expect.arrayContaining(stayed));
  });

  it('binds the token to the pool and the group', async () => {
    const id = emulator.createPoolWithUsers({ users: 100, seed: 2 });
    for (const name of ['one', 'two']) {
      emulator.createGroup(id, { name });
      for (const user of emulator.listAllUsers(id)) emulator.addUserToGroup(id, name, user.Username!);
    }
    const { NextToken } = await client.send(new ListUsersInGroupCommand({ UserPoolId: id, GroupName: 'one' }));
    await expect(client.send(new ListUsersInGroupCommand({ UserPoolId: id, GroupName: 'two', NextToken }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
    const rest = await client.send(new ListUsersInGroupCommand({ UserPoolId: id, GroupName: 'one', NextToken, Limit: 50 }));
    expect(rest.Users).toHaveLength(40);
  });

  it('works with the SDK paginator on a seeded pool', async () => {
    const id = emulator.createPoolWithUsers({ users: 2000, seed: 4, groups: 20 });
    const group = emulator.listAllGroups(id).find((g) => g.GroupName === 'everyone')!;
    const users: UserType[] = [];
    for await (const page of paginateListUsersInGroup({ client }, { UserPoolId: id, GroupName: group.GroupName })) users.push(...page.Users!);
    expect(users).toEqual(emulator.listAllMembers(id, 'everyone'));
    expect(users.length).toBeGreaterThan(1000);
  });
});

describe('faults on the group listings', () => {
  it('cut pages short or empty while keeping the walk exact', async () => {
    const id = poolWithGroups(600);
    emulator.setFaults({ shortPageRate: 0.5, emptyPageRate: 0.3 });
    const walk = await walkGroups(id);
    expect(walk.pages.some((n) => n === 0)).toBe(true);
    expect(walk.pages.some((n) => n > 0 && n < 60)).toBe(true);
    expect(walk.items).toEqual(emulator.listAllGroups(id));
  });

  it('expire tokens after the TTL and answer forced errors', async () => {
    const id = poolWithGroups(61);
    emulator.setFaults({ tokenTtlSeconds: 0.05 });
    const { NextToken } = await client.send(new ListGroupsCommand({ UserPoolId: id }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(client.send(new ListGroupsCommand({ UserPoolId: id, NextToken }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    emulator.setFaults({ tokenTtlSeconds: null, forcedErrors: { ListUsersInGroup: { code: 'NotAuthorizedException', message: 'nope' } } });
    emulator.createGroup(id, { name: 'x' });
    await expect(client.send(new ListUsersInGroupCommand({ UserPoolId: id, GroupName: 'x' }))).rejects.toMatchObject({
      name: 'NotAuthorizedException',
      message: 'nope',
    });
  });
});
