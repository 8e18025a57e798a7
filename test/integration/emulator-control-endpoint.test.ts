import type { CognitoIdentityProviderClient} from '@aws-sdk/client-cognito-identity-provider';
import { ListUsersCommand } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator, DEFAULT_FAULTS } from '../../src/emulator/index.js';
import { emulatorClient } from '../support/emulator-client.js';

let emulator: CognitoEmulator;
let client: CognitoIdentityProviderClient;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 6, faults: { latencyMs: 1 } });
  client = emulatorClient(emulator);
});

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

async function control(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${emulator.url}/__emulator/${path}`, {
    method,
    headers: { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: await response.json() };
}

describe('the control endpoint', () => {
  it('shows the current faults', async () => {
    expect(await control('GET', 'config')).toEqual({ status: 200, json: { ...DEFAULT_FAULTS, latencyMs: 1 } });
  });

  it('changes faults while running, and the API feels it at once', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 3 });
    const put = await control('PUT', 'config', { forcedErrors: { ListUsers: { code: 'NotAuthorizedException', message: 'nope' } } });
    expect(put).toMatchObject({ status: 200, json: { latencyMs: 1, forcedErrors: { ListUsers: { code: 'NotAuthorizedException' } } } });
    await expect(client.send(new ListUsersCommand({ UserPoolId: poolId }))).rejects.toMatchObject({ name: 'NotAuthorizedException' });
    await control('PUT', 'config', { forcedErrors: {} });
    expect((await client.send(new ListUsersCommand({ UserPoolId: poolId }))).Users).toHaveLength(3);
  });

  it('refuses invalid settings with a 400 naming the setting, and changes nothing', async () => {
    const before = emulator.faults;
    const answer = await control('PUT', 'config', { dropConnectionRate: 2, latencyMs: 10 });
    expect(answer.status).toBe(400);
    expect((answer.json as { message: string }).message).toContain('dropConnectionRate');
    expect(emulator.faults).toEqual(before);
    expect((await control('PUT', 'config', { unknownKnob: 1 })).status).toBe(400);
  });

  it('reports and resets counters', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 3 });
    await control('POST', 'stats/reset');
    await client.send(new ListUsersCommand({ UserPoolId: poolId }));
    await client.send(new ListUsersCommand({ UserPoolId: poolId }));
    const counters = { calls: { ListUsers: 2 }, throttled: {}, errors: {}, dropped: {} };
    const app = { calls: 0, throttled: 0 };
    expect(await control('GET', 'stats')).toEqual({ status: 200, json: { ...counters, accounts: { '000000000000': counters }, app } });
    expect(await control('POST', 'stats/reset')).toEqual({ status: 200, json: { calls: {}, throttled: {}, errors: {}, dropped: {}, accounts: {}, app } });
  });

  it('creates seeded pools and lists pools with their sizes', async () => {
    const created = await control('POST', 'pools', { name: 'from-control', users: 25, seed: 3 });
    expect(created.status).toBe(201);
    const { id } = created.json as { id: string };
    expect(emulator.userCount(id)).toBe(25);
    const listed = (await control('GET', 'pools')).json as { pools: { id: string; name: string; users: number }[] };
    expect(listed.pools).toContainEqual({ id, name: 'from-control', account: '000000000000', users: 25, groups: 0, memberships: 0 });
    expect((await control('POST', 'pools', { users: -1 })).status).toBe(400);
  });

  it('creates pools with seeded groups and lists their groups and memberships', async () => {
    const created = await control('POST', 'pools', { name: 'with-groups', users: 400, groups: 30, seed: 2 });
    expect(created).toMatchObject({ status: 201, json: { users: 400, groups: 30 } });
    const { id } = created.json as { id: string };
    const listed = (await control('GET', 'pools')).json as { pools: { id: string; groups: number; memberships: number }[] };
    const pool = listed.pools.find((p) => p.id === id)!;
    expect(pool.groups).toBe(30);
    expect(pool.memberships).toBe(emulator.listAllGroups(id).reduce((n, g) => n + emulator.listAllMembers(id, g.GroupName!).length, 0));
    expect((await control('POST', 'pools', { users: 1, groups: 10_001 })).status).toBe(400);
  });

  it('answers health checks and 404 for unknown routes', async () => {
    expect(await control('GET', 'health')).toEqual({ status: 200, json: { ok: true } });
    expect((await control('GET', 'nothing-here')).status).toBe(404);
    expect((await control('DELETE', 'config')).status).toBe(404);
  });
});
