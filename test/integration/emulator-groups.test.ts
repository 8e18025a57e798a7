import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import {
  AdminAddUserToGroupCommand,
  AdminDeleteUserCommand,
  AdminListGroupsForUserCommand,
  AdminRemoveUserFromGroupCommand,
  CreateGroupCommand,
  DeleteGroupCommand,
  GetGroupCommand,
  ListGroupsCommand,
  ListUsersInGroupCommand,
  UpdateGroupCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { emulatorClient } from '../support/emulator-client.js';
import { failureOf } from '../support/service-failure.js';

let emulator: CognitoEmulator;
let client: CognitoIdentityProviderClient;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 11 });
  client = emulatorClient(emulator);
});

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

const ROLE = 'arn:aws:iam::000000000000:role/readers';

describe('groups over the SDK', () => {
  it('creates, reads, updates and deletes a group in the shape the SDK parses', async () => {
    const UserPoolId = emulator.createPool('crud');
    const before = Date.now();
    const created = await client.send(new CreateGroupCommand({ UserPoolId, GroupName: 'readers', Description: 'Read only', RoleArn: ROLE, Precedence: 3 }));
    const after = Date.now();
    expect(created.Group).toEqual({
      GroupName: 'readers',
      UserPoolId,
      Description: 'Read only',
      RoleArn: ROLE,
      Precedence: 3,
      CreationDate: expect.any(Date) as Date,
      LastModifiedDate: expect.any(Date) as Date,
    });
    // The date keeps its milliseconds over the wire: a date cut to the second would fall before the call.
    expect(created.Group!.CreationDate!.getTime()).toBeGreaterThanOrEqual(before);
    expect(created.Group!.CreationDate!.getTime()).toBeLessThanOrEqual(after);
    expect((await client.send(new GetGroupCommand({ UserPoolId, GroupName: 'readers' }))).Group).toEqual(created.Group);

    await new Promise((resolve) => setTimeout(resolve, 5));
    const updated = await client.send(new UpdateGroupCommand({ UserPoolId, GroupName: 'readers', Precedence: 0 }));
    expect(updated.Group).toMatchObject({ Description: 'Read only', RoleArn: ROLE, Precedence: 0 });
    expect(updated.Group!.LastModifiedDate!.getTime()).toBeGreaterThan(created.Group!.LastModifiedDate!.getTime());
    expect(emulator.listAllGroups(UserPoolId)).toEqual([updated.Group]);

    await client.send(new DeleteGroupCommand({ UserPoolId, GroupName: 'readers' }));
    expect(await failureOf(client.send(new GetGroupCommand({ UserPoolId, GroupName: 'readers' })))).toEqual({
      name: 'ResourceNotFoundException',
      message: 'Group not found.',
      status: 400,
    });
  });

  it('answers a taken name with GroupExistsException and a missing group with ResourceNotFoundException everywhere', async () => {
    const UserPoolId = emulator.createPoolWithUsers({ users: 1 });
    const Username = emulator.listAllUsers(UserPoolId)[0]!.Username!;
    await client.send(new CreateGroupCommand({ UserPoolId, GroupName: 'dup' }));
    expect(await failureOf(client.send(new CreateGroupCommand({ UserPoolId, GroupName: 'dup' })))).toEqual({
      name: 'GroupExistsException',
      message: 'A group with the name already exists.',
      status: 400,
    });
    const GroupName = 'missing';
    for (const call of [
      new UpdateGroupCommand({ UserPoolId, GroupName, Description: 'x' }),
      new DeleteGroupCommand({ UserPoolId, GroupName }),
      new ListUsersInGroupCommand({ UserPoolId, GroupName }),
      new AdminAddUserToGroupCommand({ UserPoolId, GroupName, Username }),
      new AdminRemoveUserFromGroupCommand({ UserPoolId, GroupName, Username }),
    ]) {
      expect(await failureOf(client.send(call as never))).toMatchObject({ name: 'ResourceNotFoundException', message: 'Group not found.' });
    }
    expect(await failureOf(client.send(new AdminAddUserToGroupCommand({ UserPoolId, GroupName: 'dup', Username: 'nobody' })))).toMatchObject({
      name: 'UserNotFoundException',
      message: 'User does not exist.',
    });
    expect(await failureOf(client.send(new ListGroupsCommand({ UserPoolId: 'us-east-1_Nope12345' })))).toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'User pool us-east-1_Nope12345 does not exist.',
    });
  });

  it('validates names, limits and ARNs with AWS\'s messages', async () => {
    const UserPoolId = emulator.createPool('validation');
    expect(await failureOf(client.send(new ListGroupsCommand({ UserPoolId, Limit: 61 })))).toEqual({
      name: 'InvalidParameterException',
      message: "1 validation error detected: Value '61' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 60",
      status: 400,
    });
    expect((await failureOf(client.send(new ListUsersInGroupCommand({ UserPoolId, GroupName: 'g', Limit: 61 })))).message).toContain("at 'limit'");
    expect((await failureOf(client.send(new CreateGroupCommand({ UserPoolId, GroupName: 'with space' })))).message).toBe(
      "1 validation error detected: Value 'with space' at 'groupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+",
    );
    expect((await failureOf(client.send(new CreateGroupCommand({ UserPoolId, GroupName: 'x'.repeat(129) })))).message).toContain(
      'Member must have length less than or equal to 128',
    );
    expect((await failureOf(client.send(new CreateGroupCommand({ UserPoolId, GroupName: 'g', RoleArn: 'not-an-arn-but-long-enough' })))).message).toContain(
      "at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern",
    );
    expect((await failureOf(client.send(new CreateGroupCommand({ UserPoolId, GroupName: 'g', Precedence: -1 })))).message).toContain(
      "Value '-1' at 'precedence' failed to satisfy constraint: Member must have value greater than or equal to 0",
    );
    expect((await failureOf(client.send(new ListGroupsCommand({ UserPoolId, NextToken: '' })))).name).toBe('InvalidParameterException');
  });

  it('round-trips names with every odd character Cognito allows', async () => {
    const UserPoolId = emulator.createPoolWithUsers({ users: 1 });
    const Username = emulator.listAllUsers(UserPoolId)[0]!.Username!;
    const names = ['a/b', 'C:\\dir', 'role:x', 'wild*', 'why?', 'say"hi"', 'a=b', '100%', 'Ünïcödé', 'グループ', '🚀', '+,.@-_~!#$&\'()[]{}|^`<>;'];
    for (const GroupName of names) {
      await client.send(new CreateGroupCommand({ UserPoolId, GroupName }));
      await client.send(new AdminAddUserToGroupCommand({ UserPoolId, GroupName, Username }));
      expect((await client.send(new GetGroupCommand({ UserPoolId, GroupName }))).Group!.GroupName).toBe(GroupName);
      expect((await client.send(new ListUsersInGroupCommand({ UserPoolId, GroupName }))).Users!.map((u) => u.Username)).toEqual([Username]);
    }
    const listed = (await client.send(new ListGroupsCommand({ UserPoolId }))).Groups!.map((g) => g.GroupName);
    expect(listed).toEqual([...names].sort());
    const mine = (await client.send(new AdminListGroupsForUserCommand({ UserPoolId, Username }))).Groups!.map((g) => g.GroupName);
    expect(mine).toEqual([...names].sort());
  });

  it('adds and removes members idempotently, and lists a user\'s groups', async () => {
    const UserPoolId = emulator.createPoolWithUsers({ users: 2 });
    const [alice, bob] = emulator.listAllUsers(UserPoolId).map((u) => u.Username!);
    for (const GroupName of ['b', 'a', 'c']) await client.send(new CreateGroupCommand({ UserPoolId, GroupName }));
    for (const GroupName of ['b', 'a', 'a']) await client.send(new AdminAddUserToGroupCommand({ UserPoolId, GroupName, Username: alice }));
    await client.send(new AdminAddUserToGroupCommand({ UserPoolId, GroupName: 'c', Username: bob }));
    const groupsOf = async (Username: string): Promise<string[]> =>
      (await client.send(new AdminListGroupsForUserCommand({ UserPoolId, Username }))).Groups!.map((g) => g.GroupName!);
    expect(await groupsOf(alice!)).toEqual(['a', 'b']);
    await client.send(new AdminRemoveUserFromGroupCommand({ UserPoolId, GroupName: 'a', Username: alice }));
    await client.send(new AdminRemoveUserFromGroupCommand({ UserPoolId, GroupName: 'a', Username: alice }));
    expect(await groupsOf(alice!)).toEqual(['b']);
    expect(emulator.pools().find((p) => p.id === UserPoolId)).toMatchObject({ groups: 3, memberships: 2 });
  });

  it('lets a user into 100 groups and refuses the 101st', async () => {
    const UserPoolId = emulator.createPoolWithUsers({ users: 1 });
    const Username = emulator.listAllUsers(UserPoolId)[0]!.Username!;
    for (let i = 0; i <= 100; i++) await client.send(new CreateGroupCommand({ UserPoolId, GroupName: `g-${String(i).padStart(3, '0')}` }));
    for (let i = 0; i < 100; i++) {
      await client.send(new AdminAddUserToGroupCommand({ UserPoolId, GroupName: `g-${String(i).padStart(3, '0')}`, Username }));
    }
    expect(await failureOf(client.send(new AdminAddUserToGroupCommand({ UserPoolId, GroupName: 'g-100', Username })))).toMatchObject({
      name: 'LimitExceededException',
      status: 400,
    });
    const first = await client.send(new AdminListGroupsForUserCommand({ UserPoolId, Username }));
    const second = await client.send(new AdminListGroupsForUserCommand({ UserPoolId, Username, NextToken: first.NextToken }));
    expect([...first.Groups!, ...second.Groups!]).toHaveLength(100);
    expect(second.NextToken).toBeUndefined();
  });

  it('drops memberships with a deleted user or a deleted group', async () => {
    const UserPoolId = emulator.createPoolWithUsers({ users: 3, seed: 5 });
    const [u1, u2, u3] = emulator.listAllUsers(UserPoolId).map((u) => u.Username!);
    emulator.createGroup(UserPoolId, { name: 'keep' });
    emulator.createGroup(UserPoolId, { name: 'drop' });
    for (const user of [u1!, u2!, u3!]) {
      emulator.addUserToGroup(UserPoolId, 'keep', user);
      emulator.addUserToGroup(UserPoolId, 'drop', user);
    }
    await client.send(new AdminDeleteUserCommand({ UserPoolId, Username: u2 }));
    await client.send(new DeleteGroupCommand({ UserPoolId, GroupName: 'drop' }));
    const members = (await client.send(new ListUsersInGroupCommand({ UserPoolId, GroupName: 'keep' }))).Users!.map((u) => u.Username);
    expect(members).toEqual([u1, u3]);
    expect(emulator.pools().find((p) => p.id === UserPoolId)).toMatchObject({ groups: 1, memberships: 2 });
    // A group created again under the same name starts empty.
    await client.send(new CreateGroupCommand({ UserPoolId, GroupName: 'drop' }));
    expect((await client.send(new ListUsersInGroupCommand({ UserPoolId, GroupName: 'drop' }))).Users).toEqual([]);
  });

  it('counts the group operations in the stats', async () => {
    const UserPoolId = emulator.createPool('stats');
    emulator.resetStats();
    await client.send(new CreateGroupCommand({ UserPoolId, GroupName: 'g' }));
    await client.send(new ListGroupsCommand({ UserPoolId }));
    await failureOf(client.send(new GetGroupCommand({ UserPoolId, GroupName: 'none' })));
    const stats = emulator.stats();
    expect(stats.calls).toMatchObject({ CreateGroup: 1, ListGroups: 1, GetGroup: 1 });
    expect(stats.errors).toEqual({ GetGroup: 1 });
  });
});
