import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import {
  AddCustomAttributesCommand,
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminDisableUserCommand,
  AdminGetUserCommand,
  AdminLinkProviderForUserCommand,
  AdminListGroupsForUserCommand,
  AdminRemoveUserFromGroupCommand,
  AdminUpdateUserAttributesCommand,
  CreateGroupCommand,
  CreateUserPoolCommand,
  DescribeUserPoolCommand,
  GetGroupCommand,
  ListUsersCommand,
  ListUsersInGroupCommand,
  UpdateGroupCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator, DEFAULT_FAULTS } from '../../src/emulator/index.js';
import { emulatorClient } from '../support/emulator-client.js';
import { hammer } from '../support/request-hammer.js';
import { failureOf } from '../support/service-failure.js';

let emulator: CognitoEmulator;
let client: CognitoIdentityProviderClient;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 21 });
  client = emulatorClient(emulator);
});

afterEach(() => emulator.setFaults(DEFAULT_FAULTS));

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const attribute = (attributes: { Name?: string; Value?: string }[] | undefined, name: string): string | undefined =>
  attributes?.find((a) => a.Name === name)?.Value;

describe('AdminCreateUser', () => {
  it('creates a FORCE_CHANGE_PASSWORD user with a sub, keeps *_verified, and sends no message with SUPPRESS', async () => {
    const poolId = emulator.createPool('create-suppress');
    const created = await client.send(
      new AdminCreateUserCommand({
        UserPoolId: poolId,
        Username: 'ana',
        MessageAction: 'SUPPRESS',
        TemporaryPassword: 'Temp-Pass1',
        DesiredDeliveryMediums: ['EMAIL'],
        UserAttributes: [
          { Name: 'email', Value: 'ana@example.com' },
          { Name: 'email_verified', Value: 'true' },
          { Name: 'phone_number', Value: '+15550100' },
          { Name: 'phone_number_verified', Value: 'false' },
        ],
      }),
    );
    expect(created.User).toMatchObject({ Username: 'ana', Enabled: true, UserStatus: 'FORCE_CHANGE_PASSWORD' });
    expect(attribute(created.User?.Attributes, 'sub')).toMatch(UUID_V4);
    const got = await client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: 'ana' }));
    expect(got.UserAttributes).toEqual([
      { Name: 'sub', Value: attribute(created.User?.Attributes, 'sub') },
      { Name: 'email', Value: 'ana@example.com' },
      { Name: 'email_verified', Value: 'true' },
      { Name: 'phone_number', Value: '+15550100' },
      { Name: 'phone_number_verified', Value: 'false' },
    ]);
    expect(emulator.writes().pools[poolId]).toEqual({ changed: { AdminCreateUser: 1 }, unchanged: {}, messages: { EMAIL: 0, SMS: 0 } });
  });

  it('counts the invitation it would send otherwise, by the medium asked for or by default', async () => {
    const poolId = emulator.createPool('create-messages');
    await client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'e', DesiredDeliveryMediums: ['EMAIL'], UserAttributes: [{ Name: 'email', Value: 'e@example.com' }] }));
    await client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'p', UserAttributes: [{ Name: 'phone_number', Value: '+15550101' }, { Name: 'email', Value: 'p@example.com' }] }));
    await client.send(
      new AdminCreateUserCommand({
        UserPoolId: poolId,
        Username: 'both',
        DesiredDeliveryMediums: ['EMAIL', 'SMS'],
        UserAttributes: [{ Name: 'phone_number', Value: '+15550102' }, { Name: 'email', Value: 'b@example.com' }],
      }),
    );
    await client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'e', MessageAction: 'RESEND' }));
    const writes = emulator.writes().pools[poolId];
    expect(writes?.messages).toEqual({ EMAIL: 3, SMS: 2 });
    expect(writes?.unchanged).toEqual({ AdminCreateUser: 1 });
    expect(await failureOf(client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'x', DesiredDeliveryMediums: ['EMAIL'] })))).toEqual({
      name: 'InvalidParameterException',
      status: 400,
      message: 'No email provided but desired delivery medium was Email',
    });
    expect(emulator.userCount(poolId)).toBe(3);
  });

  it('checks TemporaryPassword against the pool policy (AWS default unless declared), never echoing it', async () => {
    const poolId = emulator.createPool('create-password');
    const create = (Username: string, TemporaryPassword: string): Promise<unknown> =>
      client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username, TemporaryPassword, MessageAction: 'SUPPRESS' }));
    expect(await failureOf(create('a', 'Ab1!'))).toEqual({ name: 'InvalidPasswordException', status: 400, message: 'Password does not conform to policy: Password not long enough' });
    expect((await failureOf(create('a', 'abcdefg1!'))).message).toBe('Password does not conform to policy: Password must have uppercase characters');
    expect((await failureOf(create('a', 'Abcdefgh1'))).message).toBe('Password does not conform to policy: Password must have symbol characters');
    expect(await failureOf(create('a', 'has space'))).toEqual({
      name: 'InvalidParameterException',
      status: 400,
      message: "1 validation error detected: Value at 'temporaryPassword' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\S]+",
    });
    expect(emulator.userCount(poolId)).toBe(0);
    await create('a', 'Abcdefg1!');
    const lax = emulator.createPool('create-password-lax', undefined, { passwordPolicy: { minimumLength: 6, requireSymbols: false, requireUppercase: false } });
    await client.send(new AdminCreateUserCommand({ UserPoolId: lax, Username: 'b', TemporaryPassword: 'abcde1', MessageAction: 'SUPPRESS' }));
  });

  it('refuses attributes the schema lacks, and sub, as AWS does', async () => {
    const seeded = emulator.createPoolWithUsers({ users: 30, seed: 2 });
    const declared = emulator.createPool('create-declared', undefined, { customAttributes: ['tenant', { name: 'custom:plan', type: 'Number', mutable: false }] });
    const create = (UserPoolId: string, Name: string): Promise<unknown> =>
      client.send(new AdminCreateUserCommand({ UserPoolId, Username: `u-${Name}`, MessageAction: 'SUPPRESS', UserAttributes: [{ Name, Value: '1' }] }));
    expect(await failureOf(create(declared, 'custom:x'))).toEqual({
      name: 'InvalidParameterException',
      status: 400,
      message: 'Attributes did not conform to the schema: Type for attribute {custom:x} could not be determined',
    });
    expect((await failureOf(create(declared, 'shoe_size'))).message).toBe('Attributes did not conform to the schema: Type for attribute {shoe_size} could not be determined');
    expect((await failureOf(create(declared, 'sub'))).name).toBe('InvalidParameterException');
    await create(declared, 'custom:tenant');
    await create(declared, 'custom:plan');
    // A seeded pool (no declared schema) knows what its users hold, and nothing else.
    await create(seeded, 'custom:tenant');
    expect((await failureOf(create(seeded, 'custom:x'))).message).toContain('{custom:x}');
    // Updates are checked too once a schema is declared: unknown and immutable attributes are refused.
    const update = (Name: string): Promise<unknown> => client.send(new AdminUpdateUserAttributesCommand({ UserPoolId: declared, Username: 'u-custom:plan', UserAttributes: [{ Name, Value: '2' }] }));
    expect((await failureOf(update('custom:x'))).message).toContain('{custom:x}');
    expect(await failureOf(update('custom:plan'))).toEqual({ name: 'InvalidParameterException', status: 400, message: 'Invalid user attributes: custom:plan: Attribute cannot be updated.' });
    await update('custom:tenant');
  });

  it("answers a taken username with AWS's UsernameExistsException", async () => {
    const poolId = emulator.createPool('create-twice');
    await client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'twice', MessageAction: 'SUPPRESS' }));
    expect(await failureOf(client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'twice', MessageAction: 'SUPPRESS' })))).toEqual({
      name: 'UsernameExistsException',
      status: 400,
      message: 'User account already exists',
    });
  });

  it('moves a verified email alias only with ForceAliasCreation', async () => {
    const poolId = emulator.createPool('create-alias', undefined, { aliasAttributes: ['email'] });
    const create = (Username: string, ForceAliasCreation?: boolean): Promise<unknown> =>
      client.send(
        new AdminCreateUserCommand({
          UserPoolId: poolId,
          Username,
          MessageAction: 'SUPPRESS',
          ForceAliasCreation,
          UserAttributes: [{ Name: 'email', Value: 'same@example.com' }, { Name: 'email_verified', Value: 'true' }],
        }),
      );
    await create('first');
    expect(await failureOf(create('second'))).toEqual({ name: 'AliasExistsException', status: 400, message: 'An account with the given email already exists.' });
    await create('second', true);
    const first = await client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: 'first' }));
    expect(attribute(first.UserAttributes, 'email_verified')).toBe('false');
    expect(attribute(first.UserAttributes, 'email')).toBe('same@example.com');
  });
});

describe('pool schemas through the API', () => {
  it('declares custom attributes with CreateUserPool and AddCustomAttributes, shown by DescribeUserPool', async () => {
    const created = await client.send(
      new CreateUserPoolCommand({
        PoolName: 'with-schema',
        Schema: [{ Name: 'tenant', AttributeDataType: 'String' }, { Name: 'score', AttributeDataType: 'Number', Mutable: false }, { Name: 'email', Required: true }],
      }),
    );
    const poolId = created.UserPool!.Id!;
    await client.send(new AddCustomAttributesCommand({ UserPoolId: poolId, CustomAttributes: [{ Name: 'plan', AttributeDataType: 'String' }] }));
    const described = await client.send(new DescribeUserPoolCommand({ UserPoolId: poolId }));
    const custom = described.UserPool!.SchemaAttributes!.filter((a) => a.Name!.startsWith('custom:'));
    expect(custom.map((a) => [a.Name, a.AttributeDataType, a.Mutable])).toEqual([
      ['custom:plan', 'String', true],
      ['custom:score', 'Number', false],
      ['custom:tenant', 'String', true],
    ]);
    await client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'ok', MessageAction: 'SUPPRESS', UserAttributes: [{ Name: 'custom:plan', Value: 'gold' }] }));
    expect((await failureOf(client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'no', MessageAction: 'SUPPRESS', UserAttributes: [{ Name: 'custom:x', Value: '1' }] })))).name).toBe(
      'InvalidParameterException',
    );
    expect((await failureOf(client.send(new AddCustomAttributesCommand({ UserPoolId: poolId, CustomAttributes: [{ Name: 'plan' }] })))).message).toBe('Existing attribute already has name custom:plan.');
  });
});

describe('AdminLinkProviderForUser', () => {
  let poolId: string;
  const link = (destination: string, ProviderName: string, ProviderAttributeValue: string, ProviderAttributeName = 'Cognito_Subject'): Promise<unknown> =>
    client.send(
      new AdminLinkProviderForUserCommand({
        UserPoolId: poolId,
        DestinationUser: { ProviderName: 'Cognito', ProviderAttributeValue: destination },
        SourceUser: { ProviderName, ProviderAttributeName, ProviderAttributeValue },
      }),
    );

  beforeAll(() => {
    poolId = emulator.createPool('links');
    emulator.addUser(poolId, { username: 'native' });
    emulator.addUser(poolId, { username: 'other' });
    emulator.addUser(poolId, { username: 'Google_4242', status: 'EXTERNAL_PROVIDER' });
  });

  it('records the link in the destination user’s identities attribute, as Cognito shows it', async () => {
    const before = Date.now();
    await link('native', 'Google', '1093000000000000000001');
    await link('native', 'CorpSAML', 'ana@corp.example', 'email');
    const got = await client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: 'native' }));
    const identities = JSON.parse(attribute(got.UserAttributes, 'identities')!) as { dateCreated: number }[];
    const dates = identities.map((identity) => identity.dateCreated);
    expect(identities).toEqual([
      { userId: '1093000000000000000001', providerName: 'Google', providerType: 'Google', issuer: null, primary: false, dateCreated: dates[0] },
      { userId: 'ana@corp.example', providerName: 'CorpSAML', providerType: 'SAML', issuer: null, primary: false, dateCreated: dates[1] },
    ]);
    expect(dates.every((date) => Number.isInteger(date) && date >= before)).toBe(true);
    expect(got.UserLastModifiedDate!.getTime()).toBeGreaterThanOrEqual(before);
  });

  it('refuses what AWS refuses', async () => {
    expect(await failureOf(link('native', 'Google', '1093000000000000000001'))).toMatchObject({ name: 'AliasExistsException', status: 400 });
    expect(await failureOf(link('other', 'Google', '1093000000000000000001'))).toMatchObject({ name: 'AliasExistsException' });
    expect(await failureOf(link('ghost', 'Google', '1'))).toEqual({ name: 'UserNotFoundException', status: 400, message: 'User does not exist.' });
    expect(await failureOf(link('other', 'Cognito', 'native'))).toEqual({
      name: 'InvalidParameterException',
      status: 400,
      message: 'Invalid SourceUser: Cognito users with a username/password may not be passed in as a SourceUser, only as a DestinationUser',
    });
    expect(await failureOf(link('other', 'Google', '4242'))).toEqual({
      name: 'InvalidParameterException',
      status: 400,
      message: 'Merging is not currently supported, provide a SourceUser that has not been signed up in order to link',
    });
    expect((await failureOf(link('other', 'Facebook', 'x@example.com', 'email'))).name).toBe('InvalidParameterException');
    const missing = await failureOf(client.send(new AdminLinkProviderForUserCommand({ UserPoolId: poolId, DestinationUser: { ProviderName: 'Cognito', ProviderAttributeValue: 'other' }, SourceUser: undefined })));
    expect(missing).toEqual({ name: 'InvalidParameterException', status: 400, message: "1 validation error detected: Value null at 'sourceUser' failed to satisfy constraint: Member must not be null" });
  });

  it('links a federated destination by <provider>_<id>, and at most five identities to a user', async () => {
    await client.send(
      new AdminLinkProviderForUserCommand({
        UserPoolId: poolId,
        DestinationUser: { ProviderName: 'Google', ProviderAttributeValue: '4242' },
        SourceUser: { ProviderName: 'Facebook', ProviderAttributeName: 'Cognito_Subject', ProviderAttributeValue: '10001' },
      }),
    );
    for (let i = 0; i < 5; i++) await link('other', 'OidcIdp', `sub-${i}`);
    expect(await failureOf(link('other', 'OidcIdp', 'sub-5'))).toMatchObject({ name: 'LimitExceededException' });
    const other = await client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: 'other' }));
    expect((JSON.parse(attribute(other.UserAttributes, 'identities')!) as { providerType: string }[]).map((i) => i.providerType)).toEqual(Array(5).fill('OIDC'));
  });
});

describe('seeded federated and unconfirmed users', () => {
  it('are what ListUsers filters by status find', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 400, seed: 4, federatedShare: 0.5, unconfirmedShare: 0.5 });
    const byStatus = async (status: string): Promise<number> =>
      (await client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: `cognito:user_status = "${status}"` }))).Users!.length;
    const federated = (await client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: 'cognito:user_status = "EXTERNAL_PROVIDER"', Limit: 60 }))).Users!;
    expect(federated.every((u) => /^(Google|Facebook|SignInWithApple|LoginWithAmazon|OktaSAML)_/.test(u.Username!) && attribute(u.Attributes, 'identities') !== undefined)).toBe(true);
    const all = emulator.listAllUsers(poolId);
    const share = all.filter((u) => u.UserStatus === 'EXTERNAL_PROVIDER').length / all.length;
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(0.6);
    expect(await byStatus('UNCONFIRMED')).toBeGreaterThan(40);
  });
});

describe('write quotas', () => {
  it('are off by default: a burst of writes is never throttled', async () => {
    const poolId = emulator.createPool('quota-off');
    emulator.resetStats();
    const tally = await hammer(1000, (i) => client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: `off-${i}`, MessageAction: 'SUPPRESS' })));
    expect(tally.accepted).toBeGreaterThan(150); // more than AWS's 50/s would let through, burst included
    expect(tally.throttled).toBe(0);
    expect(tally.other).toEqual([]);
    expect(emulator.stats().throttled).toEqual({});
  });

  it('hold AdminCreateUser to the UserCreation rate, counted as throttled per operation', async () => {
    const poolId = emulator.createPool('quota-create');
    emulator.setFaults({ writeQuotas: { UserCreation: 20 } });
    const create = (prefix: string) => (i: number): Promise<unknown> =>
      client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: `${prefix}-${i}`, MessageAction: 'SUPPRESS' }));
    await hammer(300, create('burst'));
    emulator.resetStats();
    const tally = await hammer(3000, create('steady'));
    expect(tally.other).toEqual([]);
    expect(tally.rate).toBeGreaterThanOrEqual(20 * 0.9);
    expect(tally.rate).toBeLessThanOrEqual(20 * 1.1);
    const stats = emulator.stats();
    expect(stats.throttled.AdminCreateUser).toBe(tally.throttled);
    expect(stats.calls.AdminCreateUser).toBe(tally.accepted + tally.throttled);
    expect(emulator.writes().changed.AdminCreateUser).toBe(tally.accepted);
  });

  it('share the UserUpdate bucket between user updates, and hold group writes to 5/s per pool', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 20, seed: 5 });
    const users = emulator.listAllUsers(poolId).map((u) => u.Username!);
    emulator.setFaults({ writeQuotas: {} });
    await hammer(500, (i) => client.send(new AdminUpdateUserAttributesCommand({ UserPoolId: poolId, Username: users[i % 20], UserAttributes: [{ Name: 'name', Value: `n${i}` }] })));
    // The bucket is spent: a disable (same UserUpdate category) is throttled, an add to a group (UserResourceUpdate) is not.
    expect(await failureOf(client.send(new AdminDisableUserCommand({ UserPoolId: poolId, Username: users[0] })))).toEqual({ name: 'TooManyRequestsException', status: 400, message: 'Rate exceeded' });
    emulator.createGroup(poolId, { name: 'g' });
    await client.send(new AdminAddUserToGroupCommand({ UserPoolId: poolId, GroupName: 'g', Username: users[0] }));

    const groups = await hammer(2000, (i) => client.send(new CreateGroupCommand({ UserPoolId: poolId, GroupName: `group-${i}` })), 3);
    expect(groups.other).toEqual([]);
    expect(groups.accepted).toBeGreaterThanOrEqual(5 + 5 * 2 * 0.8); // a full bucket, then 5/s
    expect(groups.accepted).toBeLessThanOrEqual(5 + 5 * 2 * 1.2);
  });

  it('are not touched by throttleRate', async () => {
    const poolId = emulator.createPool('quota-throttle-rate');
    emulator.setFaults({ throttleRate: 1 });
    await client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'fine', MessageAction: 'SUPPRESS' }));
    expect((await failureOf(client.send(new ListUsersCommand({ UserPoolId: poolId })))).name).toBe('TooManyRequestsException');
  });
});

describe('memberships and re-runs', () => {
  it('AdminAddUserToGroup succeeds for a member and changes nothing; the memberships read back both ways', async () => {
    const poolId = emulator.createPool('memberships');
    emulator.addUser(poolId, { username: 'm' });
    emulator.createGroup(poolId, { name: 'admins' });
    emulator.createGroup(poolId, { name: 'tenant/acme' });
    emulator.resetStats();
    const group = (await client.send(new GetGroupCommand({ UserPoolId: poolId, GroupName: 'admins' }))).Group!;
    const user = await client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: 'm' }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    for (let run = 0; run < 2; run++) {
      await client.send(new AdminAddUserToGroupCommand({ UserPoolId: poolId, GroupName: 'admins', Username: 'm' }));
      await client.send(new AdminAddUserToGroupCommand({ UserPoolId: poolId, GroupName: 'tenant/acme', Username: 'm' }));
    }
    expect(emulator.writes().pools[poolId]).toMatchObject({ changed: { AdminAddUserToGroup: 2 }, unchanged: { AdminAddUserToGroup: 2 } });
    const groupsOfUser = await client.send(new AdminListGroupsForUserCommand({ UserPoolId: poolId, Username: 'm' }));
    expect(groupsOfUser.Groups!.map((g) => g.GroupName)).toEqual(['admins', 'tenant/acme']);
    const members = await client.send(new ListUsersInGroupCommand({ UserPoolId: poolId, GroupName: 'admins' }));
    expect(members.Users!.map((u) => u.Username)).toEqual(['m']);
    // Memberships touch neither the group's nor the user's last modified date.
    expect((await client.send(new GetGroupCommand({ UserPoolId: poolId, GroupName: 'admins' }))).Group!.LastModifiedDate).toEqual(group.LastModifiedDate);
    expect((await client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: 'm' }))).UserLastModifiedDate).toEqual(user.UserLastModifiedDate);
    await client.send(new AdminRemoveUserFromGroupCommand({ UserPoolId: poolId, GroupName: 'admins', Username: 'm' }));
    await client.send(new AdminRemoveUserFromGroupCommand({ UserPoolId: poolId, GroupName: 'admins', Username: 'm' }));
    expect(emulator.writes().pools[poolId]).toMatchObject({ changed: { AdminRemoveUserFromGroup: 1 }, unchanged: { AdminRemoveUserFromGroup: 1 } });
  });

  it('a re-run that sends the same values makes no changing write, though the last modified date moves', async () => {
    const poolId = emulator.createPool('rerun');
    const apply = async (): Promise<void> => {
      await client.send(new AdminUpdateUserAttributesCommand({ UserPoolId: poolId, Username: 'r', UserAttributes: [{ Name: 'name', Value: 'Ré "Run"' }] }));
      await client.send(new AdminDisableUserCommand({ UserPoolId: poolId, Username: 'r' }));
      await client.send(new UpdateGroupCommand({ UserPoolId: poolId, GroupName: 'g', Description: 'same' }));
      await client.send(new AdminAddUserToGroupCommand({ UserPoolId: poolId, GroupName: 'g', Username: 'r' }));
    };
    emulator.addUser(poolId, { username: 'r' });
    emulator.createGroup(poolId, { name: 'g' });
    await apply();
    expect(emulator.writes().pools[poolId]!.changed).toEqual({ AdminUpdateUserAttributes: 1, AdminDisableUser: 1, UpdateGroup: 1, AdminAddUserToGroup: 1 });
    const before = (await client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: 'r' }))).UserLastModifiedDate!;
    emulator.resetStats();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await apply();
    const writes = emulator.writes();
    expect(writes.changed).toEqual({});
    expect(writes.unchanged).toEqual({ AdminUpdateUserAttributes: 1, AdminDisableUser: 1, UpdateGroup: 1, AdminAddUserToGroup: 1 });
    // The emulator's choice (AWS does not document it): every successful update moves the date.
    const after = (await client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: 'r' }))).UserLastModifiedDate!;
    expect(after.getTime()).toBeGreaterThan(before.getTime());
  });

  it('are readable from the control endpoint', async () => {
    const response = await fetch(`${emulator.url}/__emulator/writes`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(emulator.writes());
  });
});
