import { ListUsersCommand } from '@aws-sdk/client-cognito-identity-provider';
import type { UserType , CognitoIdentityProviderClient} from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { emulatorClient } from '../support/emulator-client.js';

let emulator: CognitoEmulator;
let client: CognitoIdentityProviderClient;
let poolId: string;
let everyone: UserType[];

const attr = (user: UserType, name: string): string | undefined => user.Attributes?.find((a) => a.Name === name)?.Value;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 2 });
  client = emulatorClient(emulator);
  poolId = emulator.createPoolWithUsers({ users: 3000, seed: 99 });
  emulator.addUser(poolId, {
    username: 'the-rock',
    attributes: { name: 'Dwayne "The Rock" Johnson', email: 'rock@example.com', family_name: "O'Brien" },
  });
  emulator.addUser(poolId, { username: 'windows-user', attributes: { preferred_username: 'CORP\\jdoe', email: 'j@example.com' } });
  everyone = emulator.listAllUsers(poolId);
});

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

async function listWith(filter: string): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: filter, PaginationToken: token }));
    names.push(...(page.Users ?? []).map((u) => u.Username!));
    token = page.PaginationToken;
  } while (token !== undefined);
  return names;
}

function expected(predicate: (user: UserType) => boolean): string[] {
  return everyone.filter(predicate).map((u) => u.Username!);
}

async function failure(filter: string): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await client.send(new ListUsersCommand({ UserPoolId: poolId, Filter: filter }));
  } catch (error) {
    const e = error as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error(`filter ${filter} was accepted`);
}

describe('ListUsers filters over HTTP', () => {
  const someone = (): UserType => everyone.find((u) => attr(u, 'phone_number') !== undefined && attr(u, 'given_name') !== undefined)!;

  it.each([
    ['email ^= "a"', (u: UserType) => attr(u, 'email')?.startsWith('a') === true],
    ['"email" ^= "a"', (u: UserType) => attr(u, 'email')?.startsWith('a') === true],
    ['email^="a"', (u: UserType) => attr(u, 'email')?.startsWith('a') === true],
    ['  email \t^=\n "a"  ', (u: UserType) => attr(u, 'email')?.startsWith('a') === true],
    ['phone_number ^= "+44"', (u: UserType) => attr(u, 'phone_number')?.startsWith('+44') === true],
    ['given_name = "Zoë"', (u: UserType) => attr(u, 'given_name') === 'Zoë'],
    ['family_name ^= "D\'"', (u: UserType) => attr(u, 'family_name')?.startsWith("D'") === true],
    ['name ^= "Søren"', (u: UserType) => attr(u, 'name')?.startsWith('Søren') === true],
    ['preferred_username ^= "CORP\\\\"', (u: UserType) => attr(u, 'preferred_username')?.startsWith('CORP\\') === true],
    ['username ^= "Google_"', (u: UserType) => u.Username!.startsWith('Google_')],
    ['username ^= "SignInWithApple_"', (u: UserType) => u.Username!.startsWith('SignInWithApple_')],
    ['cognito:user_status = "unconfirmed"', (u: UserType) => u.UserStatus === 'UNCONFIRMED'],
    ['cognito:user_status = "External_Provider"', (u: UserType) => u.UserStatus === 'EXTERNAL_PROVIDER'],
    ['"cognito:user_status" ^= "force"', (u: UserType) => u.UserStatus === 'FORCE_CHANGE_PASSWORD'],
    ['status = "Enabled"', (u: UserType) => u.Enabled === true],
    ['status = "Disabled"', (u: UserType) => u.Enabled === false],
    ['status = "disabled"', () => false],
    ['sub ^= "a"', (u: UserType) => attr(u, 'sub')!.startsWith('a')],
    ['sub ^= "f0"', (u: UserType) => attr(u, 'sub')!.startsWith('f0')],
    ['family_name = ""', () => false],
  ])('%s returns exactly the matching users, in order', async (filter, predicate) => {
    const want = expected(predicate);
    expect(await listWith(filter)).toEqual(want);
  });

  it('finds one user by exact email, phone, given name and sub', async () => {
    const user = someone();
    for (const name of ['email', 'phone_number', 'sub']) {
      const names = await listWith(`${name} = "${attr(user, name)!}"`);
      expect(names).toContain(user.Username);
      expect(names).toEqual(expected((u) => attr(u, name) === attr(user, name)));
    }
    expect(await listWith(`username = "${user.Username!}"`)).toEqual([user.Username]);
  });

  it('unescapes \\" inside quoted values', async () => {
    expect(await listWith(String.raw`name = "Dwayne \"The Rock\" Johnson"`)).toEqual(['the-rock']);
    expect(await listWith(String.raw`name ^= "Dwayne \"The"`)).toEqual(['the-rock']);
  });

  it('covers the pool exactly with the 16 sub-prefix shards', async () => {
    const shards = await Promise.all([...'0123456789abcdef'].map((digit) => listWith(`sub ^= "${digit}"`)));
    expect(shards.flat()).toEqual(everyone.map((u) => u.Username));
  });

  it('rejects custom attributes', async () => {
    expect(await failure('custom:tenant = "acme"')).toEqual({
      name: 'InvalidParameterException',
      status: 400,
      message: 'Invalid search attribute: custom:tenant',
    });
  });

  it.each(['email = acme', 'email =', 'email == "a"', 'email = "a" or name = "b"', 'email = "unterminated'])(
    'rejects the malformed filter %s',
    async (filter) => {
      expect(await failure(filter)).toEqual({ name: 'InvalidParameterException', status: 400, message: 'Error while parsing filter.' });
    },
  );

  it('rejects filters longer than 256 characters and accepts 256', async () => {
    const head = 'email ^= "';
    const exact = `${head}${'a'.repeat(256 - head.length - 1)}"`;
    expect(exact).toHaveLength(256);
    expect(await listWith(exact)).toEqual([]);
    const error = await failure(`${head}${'a'.repeat(256 - head.length)}"`);
    expect(error.name).toBe('InvalidParameterException');
    expect(error.message).toMatch(/^1 validation error detected: .* at 'filter' failed to satisfy constraint: Member must have length less than or equal to 256$/);
  });
});
