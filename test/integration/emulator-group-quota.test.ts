import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { GetGroupCommand, ListGroupsCommand, ListUsersCommand, ListUsersInGroupCommand } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator, DEFAULT_FAULTS } from '../../src/emulator/index.js';
import { emulatorClient } from '../support/emulator-client.js';
import { hammer } from '../support/request-hammer.js';

let emulator: CognitoEmulator;
let client: CognitoIdentityProviderClient;
let pools: string[];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 13 });
  client = emulatorClient(emulator);
  pools = Array.from({ length: 6 }, () => emulator.createPoolWithUsers({ users: 5, groups: 3 }));
});

afterEach(() => emulator.setFaults(DEFAULT_FAULTS));

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

describe('the UserPoolResourceRead quota on ListGroups', () => {
  it('holds one pool to 5 requests/s (within 10%) once quotas are on', async () => {
    emulator.setFaults({ quotaRps: 1000 });
    const listGroups = (): Promise<unknown> => client.send(new ListGroupsCommand({ UserPoolId: pools[0] }));
    await hammer(300, listGroups); // spend the initial burst
    const tally = await hammer(4000, listGroups);
    expect(tally.other).toEqual([]);
    expect(tally.rate).toBeGreaterThanOrEqual(5 * 0.9);
    expect(tally.rate).toBeLessThanOrEqual(5 * 1.1);
    expect(emulator.stats().throttled.ListGroups).toBeGreaterThan(0);
  });

  it('holds the account to 20 requests/s across pools, though 6 pools at 5/s each would make 30', async () => {
    emulator.setFaults({ quotaRps: 1000 });
    const listGroups = (i: number): Promise<unknown> => client.send(new ListGroupsCommand({ UserPoolId: pools[i % pools.length] }));
    await hammer(300, listGroups);
    const tally = await hammer(4000, listGroups);
    expect(tally.other).toEqual([]);
    expect(tally.rate).toBeGreaterThanOrEqual(20 * 0.9);
    expect(tally.rate).toBeLessThanOrEqual(20 * 1.1);
  });

  it('takes its rates from resourceReadRps and resourceReadPoolRps', async () => {
    emulator.setFaults({ quotaRps: 1000, resourceReadPoolRps: 40, resourceReadRps: 1000 });
    const listGroups = (): Promise<unknown> => client.send(new ListGroupsCommand({ UserPoolId: pools[0] }));
    await hammer(300, listGroups);
    const tally = await hammer(2000, listGroups);
    expect(tally.rate).toBeGreaterThanOrEqual(40 * 0.9);
    expect(tally.rate).toBeLessThanOrEqual(40 * 1.1);
  });

  it('is off while quotaRps is off, and never meters GetGroup', async () => {
    emulator.setFaults({ quotaRps: null, resourceReadPoolRps: 1 });
    const tally = await hammer(300, () => client.send(new ListGroupsCommand({ UserPoolId: pools[0] })));
    expect(tally.throttled).toBe(0);
    emulator.setFaults({ quotaRps: 1000, resourceReadPoolRps: 1, resourceReadRps: 1 });
    const GroupName = emulator.listAllGroups(pools[0]!)[0]!.GroupName;
    expect((await hammer(300, () => client.send(new GetGroupCommand({ UserPoolId: pools[0], GroupName })))).throttled).toBe(0);
  });
});

describe('ListUsersInGroup on the UserList quota', () => {
  it('shares one bucket with ListUsers: together they get quotaRps', async () => {
    emulator.setFaults({ quotaRps: 30 });
    const GroupName = 'everyone';
    const mixed = (i: number): Promise<unknown> =>
      i % 2 === 0
        ? client.send(new ListUsersCommand({ UserPoolId: pools[i % pools.length], Limit: 1 }))
        : client.send(new ListUsersInGroupCommand({ UserPoolId: pools[i % pools.length], GroupName, Limit: 1 }));
    await hammer(300, mixed);
    emulator.resetStats();
    const tally = await hammer(4000, mixed);
    expect(tally.other).toEqual([]);
    expect(tally.rate).toBeGreaterThanOrEqual(30 * 0.9);
    expect(tally.rate).toBeLessThanOrEqual(30 * 1.1);
    const { throttled } = emulator.stats();
    expect(throttled.ListUsers).toBeGreaterThan(0);
    expect(throttled.ListUsersInGroup).toBeGreaterThan(0);
  });

  it('is throttled at random by throttleRate like ListUsers', async () => {
    emulator.setFaults({ throttleRate: 1 });
    await expect(client.send(new ListUsersInGroupCommand({ UserPoolId: pools[0], GroupName: 'everyone' }))).rejects.toMatchObject({
      name: 'TooManyRequestsException',
    });
    await expect(client.send(new ListGroupsCommand({ UserPoolId: pools[0] }))).rejects.toMatchObject({ name: 'TooManyRequestsException' });
  });
});
