import type {
  CognitoIdentityProviderClient} from '@aws-sdk/client-cognito-identity-provider';
import {
  AdminCreateUserCommand,
  AdminDeleteUserCommand,
  AdminDisableUserCommand,
  AdminEnableUserCommand,
  AdminGetUserCommand,
  AdminUpdateUserAttributesCommand,
  CreateUserPoolCommand,
  DescribeUserPoolCommand,
  ListUserPoolsCommand,
  ListUsersCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { emulatorClient } from '../support/emulator-client.js';
import { failureOf } from '../support/service-failure.js';

let emulator: CognitoEmulator;
let client: CognitoIdentityProviderClient;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 3, region: 'eu-west-1' });
  client = emulatorClient(emulator);
});

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

async function rawCall(target: string | null, body: string, method = 'POST'): Promise<{ status: number; json: unknown; headers: Headers }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/x-amz-json-1.1' };
  if (target !== null) headers['X-Amz-Target'] = target;
  const response = await fetch(emulator.url, { method, headers, ...(method === 'POST' ? { body } : {}) });
  return { status: response.status, json: await response.json(), headers: response.headers };
}

describe('user pools', () => {
  it('creates a pool with an AWS-shaped id and describes it with its user count', async () => {
    const created = await client.send(new CreateUserPoolCommand({ PoolName: 'made by sdk' }));
    const id = created.UserPool!.Id!;
    expect(id).toMatch(/^eu-west-1_[0-9A-Za-z]{9}$/);
    emulator.seedUsers(id, { users: 42 });
    const described = await client.send(new DescribeUserPoolCommand({ UserPoolId: id }));
    expect(described.UserPool).toMatchObject({ Id: id, Name: 'made by sdk', EstimatedNumberOfUsers: 42 });
    expect(described.UserPool!.Arn).toBe(`arn:aws:cognito-idp:eu-west-1:000000000000:userpool/${id}`);
    expect(described.UserPool!.CreationDate).toBeInstanceOf(Date);
  });

  it('pages through pools with MaxResults and NextToken', async () => {
    for (let i = 0; i < 7; i++) emulator.createPool(`paged-${i}`);
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListUserPoolsCommand({ MaxResults: 3, NextToken: token }));
      expect(page.UserPools!.length).toBeLessThanOrEqual(3);
      ids.push(...page.UserPools!.map((p) => p.Id!));
      token = page.NextToken;
    } while (token !== undefined);
    expect(ids).toEqual(emulator.pools().map((p) => p.id));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('validates MaxResults as AWS does', async () => {
    expect(await failureOf(client.send(new ListUserPoolsCommand({ MaxResults: 61 })))).toMatchObject({
      name: 'InvalidParameterException',
      message: "1 validation error detected: Value '61' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 60",
    });
    expect(await failureOf(client.send(new ListUserPoolsCommand({ MaxResults: 0 })))).toMatchObject({ name: 'InvalidParameterException' });
  });

  it('answers ResourceNotFoundException for an unknown pool', async () => {
    expect(await failureOf(client.send(new DescribeUserPoolCommand({ UserPoolId: 'eu-west-1_missing00' })))).toEqual({
      name: 'ResourceNotFoundException',
      status: 400,
      message: 'User pool eu-west-1_missing00 does not exist.',
    });
  });
});

describe('admin user operations', () => {
  let poolId: string;
  beforeAll(() => {
    poolId = emulator.createPool('admin');
  });

  it('creates a user with a sub and FORCE_CHANGE_PASSWORD, and reads it back', async () => {
    const created = await client.send(
      new AdminCreateUserCommand({
        UserPoolId: poolId,
        Username: 'ana',
        UserAttributes: [{ Name: 'email', Value: 'ana@example.com' }],
        MessageAction: 'SUPPRESS',
      }),
    );
    expect(created.User).toMatchObject({ Username: 'ana', Enabled: true, UserStatus: 'FORCE_CHANGE_PASSWORD' });
    const got = await client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: 'ana' }));
    expect(got.UserAttributes?.map((a) => a.Name)).toEqual(['sub', 'email']);
    expect(got.UserAttributes?.[0]?.Value).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(got.UserAttributes?.[1]?.Value).toBe('ana@example.com');
    expect(got.UserCreateDate).toEqual(created.User!.UserCreateDate);
  });

  it('refuses a taken username with UsernameExistsException', async () => {
    await client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'twice', MessageAction: 'SUPPRESS' }));
    expect(await failureOf(client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'twice' })))).toEqual({
      name: 'UsernameExistsException',
      status: 400,
      message: 'User account already exists',
    });
  });

  it('disables, enables, updates and deletes a user, visible in ListUsers', async () => {
    await client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'cycle', MessageAction: 'SUPPRESS' }));
    const find = async () => (await client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: 'username = "cycle"' }))).Users;

    await client.send(new AdminDisableUserCommand({ UserPoolId: poolId, Username: 'cycle' }));
    expect((await find())?.[0]?.Enabled).toBe(false);
    await client.send(new AdminEnableUserCommand({ UserPoolId: poolId, Username: 'cycle' }));
    expect((await find())?.[0]?.Enabled).toBe(true);

    const before = (await find())![0]!.UserLastModifiedDate!;
    await new Promise((resolve) => setTimeout(resolve, 5));
    await client.send(
      new AdminUpdateUserAttributesCommand({ UserPoolId: poolId, Username: 'cycle', UserAttributes: [{ Name: 'name', Value: 'Cy "Cle"' }] }),
    );
    const updated = (await find())![0]!;
    expect(updated.Attributes).toContainEqual({ Name: 'name', Value: 'Cy "Cle"' });
    expect(updated.UserLastModifiedDate!.getTime()).toBeGreaterThan(before.getTime());

    await client.send(new AdminDeleteUserCommand({ UserPoolId: poolId, Username: 'cycle' }));
    expect(await find()).toEqual([]);
  });

  it.each([
    ['AdminGetUser', () => client.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: 'ghost' }))],
    ['AdminDeleteUser', () => client.send(new AdminDeleteUserCommand({ UserPoolId: poolId, Username: 'ghost' }))],
    ['AdminDisableUser', () => client.send(new AdminDisableUserCommand({ UserPoolId: poolId, Username: 'ghost' }))],
    ['AdminEnableUser', () => client.send(new AdminEnableUserCommand({ UserPoolId: poolId, Username: 'ghost' }))],
  ])('%s answers UserNotFoundException for an unknown user', async (_, call) => {
    expect(await failureOf(call())).toEqual({ name: 'UserNotFoundException', status: 400, message: 'User does not exist.' });
  });

  it('refuses to set sub', async () => {
    const call = client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: 'subby', UserAttributes: [{ Name: 'sub', Value: 'x' }] }));
    expect(await failureOf(call)).toMatchObject({ name: 'InvalidParameterException', status: 400 });
  });
});

describe('the AWS JSON 1.1 protocol', () => {
  it('answers an unknown operation as AWS’s request layer does', async () => {
    const answer = await rawCall('AWSCognitoIdentityProviderService.ListUsersEverywhere', '{}');
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({ __type: 'com.amazon.coral.service#UnknownOperationException' });
    expect(answer.headers.get('x-amzn-errortype')).toMatch(/^UnknownOperationException:/);
    expect(answer.headers.get('x-amzn-requestid')).toBeTruthy();
  });

  it('lets the SDK see UnknownOperationException as the error name', async () => {
    const renamed = emulatorClient(emulator);
    renamed.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers: Record<string, string> };
        request.headers['x-amz-target'] = 'AWSCognitoIdentityProviderService.NoSuchOperation';
        return next(args);
      },
      { step: 'build' },
    );
    const error = await failureOf(renamed.send(new ListUserPoolsCommand({ MaxResults: 1 })));
    renamed.destroy();
    expect(error).toMatchObject({ name: 'UnknownOperationException', status: 400 });
  });

  it('treats a missing target or another method as an unknown operation', async () => {
    expect((await rawCall(null, '{}')).json).toEqual({ __type: 'com.amazon.coral.service#UnknownOperationException' });
    expect((await rawCall('AWSCognitoIdentityProviderService.ListUsers', '', 'GET')).status).toBe(400);
  });

  it('answers a body that is not JSON with SerializationException', async () => {
    const answer = await rawCall('AWSCognitoIdentityProviderService.ListUsers', '{not json');
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ __type: 'com.amazon.coral.service#SerializationException' });
  });

  it('counts every call by operation', async () => {
    emulator.resetStats();
    await rawCall('AWSCognitoIdentityProviderService.Bogus', '{}');
    await client.send(new ListUserPoolsCommand({ MaxResults: 1 }));
    const counters = { calls: { Bogus: 1, ListUserPools: 1 }, throttled: {}, errors: { Bogus: 1 }, dropped: {} };
    expect(emulator.stats()).toEqual({ ...counters, accounts: { '000000000000': counters }, app: { calls: 0, throttled: 0 } });
  });
});
