import {
  CognitoIdentityProviderClient,
  CreateUserPoolCommand,
  DescribeUserPoolCommand,
  ListGroupsCommand,
  ListUserPoolsCommand,
  ListUsersCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator, DEFAULT_FAULTS } from '../../src/emulator/index.js';
import { emulatorClient } from '../support/emulator-client.js';
import { hammer } from '../support/request-hammer.js';

const ROLE = 'arn:aws:iam::111111111111:role/exporter';

let emulator: CognitoEmulator;
let home: CognitoIdentityProviderClient;
let away: CognitoIdentityProviderClient;
let homePool: string;
let awayPool: string;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 22 });
  home = emulatorClient(emulator);
  const control = await fetch(`${emulator.url}/__emulator/roles`, { method: 'POST', body: JSON.stringify({ roleArn: ROLE }) });
  expect(control.status).toBe(201);
  const sts = new STSClient({ endpoint: emulator.url, region: emulator.region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const { Credentials: c } = await sts.send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 'accounts', DurationSeconds: 3600 }));
  sts.destroy();
  away = new CognitoIdentityProviderClient({
    endpoint: emulator.url,
    region: emulator.region,
    credentials: { accessKeyId: c!.AccessKeyId!, secretAccessKey: c!.SecretAccessKey!, sessionToken: c!.SessionToken! },
    maxAttempts: 1,
  });
  homePool = emulator.createPoolWithUsers({ users: 10, groups: 2 });
  const created = await fetch(`${emulator.url}/__emulator/pools`, { method: 'POST', body: JSON.stringify({ users: 10, groups: 2, account: '111111111111' }) });
  awayPool = ((await created.json()) as { id: string }).id;
});

afterEach(() => emulator.setFaults(DEFAULT_FAULTS));

afterAll(async () => {
  home.destroy();
  away.destroy();
  await emulator.stop();
});

describe('pools and accounts', () => {
  it('list each pool with its account', async () => {
    const listed = (await (await fetch(`${emulator.url}/__emulator/pools`)).json()) as { pools: { id: string; account: string }[] };
    expect(listed.pools).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: homePool, account: '000000000000' }), expect.objectContaining({ id: awayPool, account: '111111111111' })]) as unknown[],
    );
    const roles = (await (await fetch(`${emulator.url}/__emulator/roles`)).json()) as { roles: { roleArn: string; account: string }[] };
    expect(roles.roles).toEqual([expect.objectContaining({ roleArn: ROLE, account: '111111111111', externalIdRequired: false })]);
  });

  it('hide a pool from credentials of another account, as AWS does: ResourceNotFoundException', async () => {
    for (const [client, pool] of [
      [home, awayPool],
      [away, homePool],
    ] as const) {
      for (const call of [new ListUsersCommand({ UserPoolId: pool }), new DescribeUserPoolCommand({ UserPoolId: pool }), new ListGroupsCommand({ UserPoolId: pool })]) {
        await expect(client.send(call as never)).rejects.toMatchObject({
          name: 'ResourceNotFoundException',
          message: `User pool ${pool} does not exist.`,
          $metadata: { httpStatusCode: 400 },
        });
      }
    }
    expect((await away.send(new ListUsersCommand({ UserPoolId: awayPool }))).Users).toHaveLength(10);
    expect((await home.send(new ListUsersCommand({ UserPoolId: homePool }))).Users).toHaveLength(10);
  });

  it('list and create pools in the caller\'s own account only', async () => {
    const created = await away.send(new CreateUserPoolCommand({ PoolName: 'made-by-role' }));
    expect(created.UserPool!.Arn).toBe(`arn:aws:cognito-idp:us-east-1:111111111111:userpool/${created.UserPool!.Id}`);
    const awayIds = (await away.send(new ListUserPoolsCommand({ MaxResults: 60 }))).UserPools!.map((p) => p.Id);
    const homeIds = (await home.send(new ListUserPoolsCommand({ MaxResults: 60 }))).UserPools!.map((p) => p.Id);
    expect(awayIds).toEqual(expect.arrayContaining([awayPool, created.UserPool!.Id]) as unknown[]);
    expect(awayIds).not.toContain(homePool);
    expect(homeIds).toContain(homePool);
    expect(homeIds).not.toContain(awayPool);
  });
});

describe('per-account quotas', () => {
  const listUsers = (client: CognitoIdentityProviderClient, UserPoolId: string) => (): Promise<unknown> =>
    client.send(new ListUsersCommand({ UserPoolId, Limit: 1 }));

  it('give each account its own UserList bucket at quotaRps, counted per account in the stats', async () => {
    emulator.setFaults({ quotaRps: 20 });
    await Promise.all([hammer(300, listUsers(home, homePool), 4), hammer(300, listUsers(away, awayPool), 4)]);
    emulator.resetStats();
    const tallies = await Promise.all([hammer(3000, listUsers(home, homePool), 4), hammer(3000, listUsers(away, awayPool), 4)]);
    for (const tally of tallies) {
      expect(tally.other).toEqual([]);
      expect(tally.rate).toBeGreaterThanOrEqual(20 * 0.9);
      expect(tally.rate).toBeLessThanOrEqual(20 * 1.1);
    }
    const { accounts, throttled } = emulator.stats();
    expect(accounts['000000000000']!.throttled.ListUsers).toBeGreaterThan(0);
    expect(accounts['111111111111']!.throttled.ListUsers).toBeGreaterThan(0);
    expect(accounts['000000000000']!.throttled.ListUsers! + accounts['111111111111']!.throttled.ListUsers!).toBe(throttled.ListUsers);
  });

  it('give each account its own UserPoolResourceRead bucket', async () => {
    emulator.setFaults({ quotaRps: 1000, resourceReadRps: 1000, resourceReadPoolRps: 3 });
    const burst = async (client: CognitoIdentityProviderClient, UserPoolId: string): Promise<number> => {
      const answers = await Promise.allSettled(Array.from({ length: 10 }, () => client.send(new ListGroupsCommand({ UserPoolId }))));
      return answers.filter((a) => a.status === 'fulfilled').length;
    };
    expect(await burst(home, homePool)).toBe(3);
    expect(await burst(away, awayPool)).toBe(3);
  });
});
