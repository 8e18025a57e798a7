import {
  AdminCreateUserCommand,
  AdminDeleteUserCommand,
  ListUsersCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import type { ListUsersCommandInput, UserType ,
  CognitoIdentityProviderClient} from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { emulatorClient } from '../support/emulator-client.js';

let emulator: CognitoEmulator;
let client: CognitoIdentityProviderClient;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 1 });
  client = emulatorClient(emulator);
});

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

interface Walk {
  users: UserType[];
  pageSizes: number[];
}

async function walk(input: ListUsersCommandInput, between: (page: number) => Promise<void> = async () => {}): Promise<Walk> {
  const result: Walk = { users: [], pageSizes: [] };
  let token: string | undefined;
  do {
    const page = await client.send(new ListUsersCommand({ ...input, PaginationToken: token }));
    result.users.push(...(page.Users ?? []));
    result.pageSizes.push(page.Users?.length ?? 0);
    token = page.PaginationToken;
    if (token !== undefined) await between(result.pageSizes.length);
  } while (token !== undefined);
  return result;
}

async function failure(input: ListUsersCommandInput): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await client.send(new ListUsersCommand(input));
  } catch (error) {
    const e = error as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('the call succeeded');
}

describe('ListUsers over HTTP with the real SDK', () => {
  it.each([0, 1, 59, 60, 61, 10_000])('walks a pool of %i users exactly: every user once, in sub order, last page without a token', async (size) => {
    const poolId = emulator.createPoolWithUsers({ users: size, seed: size });
    const { users, pageSizes } = await walk({ UserPoolId: poolId });
    expect(users).toEqual(emulator.listAllUsers(poolId));
    expect(pageSizes).toEqual(size === 0 ? [0] : Array.from({ length: Math.ceil(size / 60) }, (_, i) => Math.min(60, size - i * 60)));
  });

  it('honours smaller Limits', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 25, seed: 3 });
    const { users, pageSizes } = await walk({ UserPoolId: poolId, Limit: 7 });
    expect(users).toEqual(emulator.listAllUsers(poolId));
    expect(pageSizes).toEqual([7, 7, 7, 4]);
  });

  it('answers Limit 0 with an empty page and a token', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 3 });
    const page = await client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 0 }));
    expect(page.Users).toEqual([]);
    expect(page.PaginationToken).toBeDefined();
  });

  it('returns each user in ListUsers shape, with millisecond dates, sub always among the attributes', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 2000, seed: 11 });
    const { users } = await walk({ UserPoolId: poolId });
    for (const user of users) {
      expect(Object.keys(user).sort()).toEqual(
        user.MFAOptions === undefined
          ? ['Attributes', 'Enabled', 'UserCreateDate', 'UserLastModifiedDate', 'UserStatus', 'Username']
          : ['Attributes', 'Enabled', 'MFAOptions', 'UserCreateDate', 'UserLastModifiedDate', 'UserStatus', 'Username'],
      );
      expect(user.Attributes?.[0]?.Name).toBe('sub');
      expect(user.UserCreateDate!.getTime() % 1000).not.toBe(0);
    }
    expect(users.some((u) => u.MFAOptions !== undefined)).toBe(true);
  });

  it('sends dates as epoch seconds with a fraction on the wire', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 1 });
    const response = await fetch(emulator.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'AWSCognitoIdentityProviderService.ListUsers' },
      body: JSON.stringify({ UserPoolId: poolId }),
    });
    expect(response.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(response.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    const text = await response.text();
    expect(text).toMatch(/"UserCreateDate":\d{10}\.\d{1,3}[,}]/);
  });

  it('returns only the requested attributes with AttributesToGet', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 120, seed: 4 });
    const { users } = await walk({ UserPoolId: poolId, AttributesToGet: ['email', 'email_verified'] });
    expect(users).toHaveLength(120);
    for (const user of users) expect(user.Attributes?.map((a) => a.Name)).toEqual(['email', 'email_verified']);
  });

  it('fails the call when a returned user lacks an attribute named in AttributesToGet', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 200, seed: 4 });
    expect(await failure({ UserPoolId: poolId, AttributesToGet: ['preferred_username'] })).toMatchObject({
      name: 'InvalidParameterException',
      status: 400,
    });
  });

  it('rejects Limit above 60 with AWS’s validation message', async () => {
    const poolId = emulator.createPool('limits');
    expect(await failure({ UserPoolId: poolId, Limit: 61 })).toEqual({
      name: 'InvalidParameterException',
      status: 400,
      message:
        "1 validation error detected: Value '61' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 60",
    });
  });

  it('rejects an empty-string token with AWS’s validation message', async () => {
    const poolId = emulator.createPool('tokens');
    const error = await failure({ UserPoolId: poolId, PaginationToken: '' });
    expect(error).toMatchObject({ name: 'InvalidParameterException', status: 400 });
    expect(error.message).toContain(
      "Value '' at 'paginationToken' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
  });

  it('rejects an unknown pool with ResourceNotFoundException', async () => {
    expect(await failure({ UserPoolId: 'us-east-1_doesNotEx' })).toEqual({
      name: 'ResourceNotFoundException',
      status: 400,
      message: 'User pool us-east-1_doesNotEx does not exist.',
    });
  });

  it('rejects a malformed pool id as a validation error', async () => {
    expect(await failure({ UserPoolId: 'not a pool' })).toMatchObject({ name: 'InvalidParameterException', status: 400 });
  });

  describe('pagination tokens', () => {
    let poolId: string;
    let otherPoolId: string;
    let token: string;

    beforeAll(async () => {
      poolId = emulator.createPoolWithUsers({ users: 100, seed: 21 });
      otherPoolId = emulator.createPoolWithUsers({ users: 100, seed: 21 });
      const page = await client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 10, Filter: 'email ^= "a"' }));
      token = page.PaginationToken!;
    });

    it('continue the walk with the same parameters, even with another Limit', async () => {
      const page = await client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 5, Filter: 'email ^= "a"', PaginationToken: token }));
      expect(page.Users).toHaveLength(5);
    });

    it.each([
      ['another filter', { Filter: 'email ^= "b"' }],
      ['no filter', { Filter: undefined }],
      ['AttributesToGet added', { AttributesToGet: ['email'] }],
    ])('are rejected with %s', async (_, change) => {
      const error = await failure({ UserPoolId: poolId, Filter: 'email ^= "a"', PaginationToken: token, ...change });
      expect(error).toMatchObject({ name: 'InvalidParameterException', status: 400 });
      expect(error.message).toMatch(/^Paging marker \S+ is invalid for request [0-9a-f-]{36}$/);
    });

    it('are rejected on another pool', async () => {
      const error = await failure({ UserPoolId: otherPoolId, Filter: 'email ^= "a"', PaginationToken: token });
      expect(error.name).toBe('InvalidParameterException');
      expect(error.message).toMatch(/^Paging marker/);
    });

    it('are rejected when forged', async () => {
      const forged = Buffer.from(token, 'base64');
      forged[12] = (forged[12] ?? 0) ^ 0xff;
      const error = await failure({ UserPoolId: poolId, Filter: 'email ^= "a"', PaginationToken: forged.toString('base64') });
      expect(error.name).toBe('InvalidParameterException');
    });
  });

  it('never returns a user twice while users are added and deleted during the walk', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 600, seed: 8 });
    const before = emulator.listAllUsers(poolId);
    const deleted = new Set<string>();
    let created = 0;
    const { users } = await walk({ UserPoolId: poolId }, async (page) => {
      for (let i = 0; i < 5; i++) {
        await client.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: `mid-walk-${page}-${i}`, MessageAction: 'SUPPRESS' }));
        created++;
      }
      const victim = before[(page * 97) % before.length]!.Username!;
      if (!deleted.has(victim)) {
        await client.send(new AdminDeleteUserCommand({ UserPoolId: poolId, Username: victim }));
        deleted.add(victim);
      }
    });
    const names = users.map((u) => u.Username);
    expect(new Set(names).size).toBe(names.length);
    // Every user present from start to end was listed; the rest may or may not be.
    const stayed = before.map((u) => u.Username!).filter((name) => !deleted.has(name));
    expect(names).toEqual(expect.arrayContaining(stayed));
    expect(created).toBeGreaterThan(0);
    const subs = users.map((u) => u.Attributes!.find((a) => a.Name === 'sub')!.Value!);
    expect(subs).toEqual([...subs].sort());
  });
});
