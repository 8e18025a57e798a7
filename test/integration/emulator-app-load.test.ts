import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { ListUsersCommand } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator, DEFAULT_FAULTS } from '../../src/emulator/index.js';
import { emulatorClient } from '../support/emulator-client.js';
import { hammer } from '../support/request-hammer.js';

let emulator: CognitoEmulator;
let client: CognitoIdentityProviderClient;
let poolId: string;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 31 });
  client = emulatorClient(emulator);
  poolId = emulator.createPoolWithUsers({ users: 5 });
});

afterEach(() => emulator.setFaults(DEFAULT_FAULTS));

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const listUsers = (): Promise<unknown> => client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 1 }));

async function configure(patch: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${emulator.url}/__emulator/config`, { method: 'PUT', body: JSON.stringify(patch) });
  expect(response.status).toBe(200);
}

describe('the app load', () => {
  it('makes N ListUsers calls a second when steady (within 10% over 5 s), none of them in the API counters', async () => {
    emulator.resetStats();
    await configure({ appRps: 40, appPattern: 'steady' });
    const started = performance.now();
    await sleep(5000);
    const { app, calls } = emulator.stats();
    const rate = app.calls / ((performance.now() - started) / 1000);
    expect(rate).toBeGreaterThanOrEqual(40 * 0.9);
    expect(rate).toBeLessThanOrEqual(40 * 1.1);
    expect(app.throttled).toBe(0);
    expect(calls.ListUsers).toBeUndefined();
  });

  it('bursts: N a second for appBurstSeconds of every appPeriodSeconds, idle between', async () => {
    await configure({ appRps: 50, appPattern: 'burst', appBurstSeconds: 1, appPeriodSeconds: 2 });
    const start = performance.now();
    const before = emulator.stats().app.calls;
    const perSecond: number[] = [];
    let last = before;
    for (let second = 1; second <= 4; second++) {
      await sleep(start + second * 1000 - performance.now());
      const now = emulator.stats().app.calls;
      perSecond.push(now - last);
      last = now;
    }
    for (const busy of [perSecond[0]!, perSecond[2]!]) {
      expect(busy).toBeGreaterThanOrEqual(50 * 0.85);
      expect(busy).toBeLessThanOrEqual(50 * 1.15);
    }
    for (const idle of [perSecond[1]!, perSecond[3]!]) expect(idle).toBeLessThanOrEqual(5);
  });

  it('draws on the account\'s UserList quota with the exporter: together they get quotaRps, and the app counts its throttles', async () => {
    await configure({ quotaRps: 30, appRps: 20 });
    await hammer(300, listUsers, 4); // spend the bucket's initial second's worth
    emulator.resetStats();
    const started = performance.now();
    const exporter = await hammer(3000, listUsers, 4);
    const seconds = (performance.now() - started) / 1000;
    const exporterAccepted = exporter.accepted;
    const { app, calls, throttled } = emulator.stats();
    const total = (exporterAccepted + app.calls - app.throttled) / seconds;
    expect(total).toBeGreaterThanOrEqual(30 * 0.9);
    expect(total).toBeLessThanOrEqual(30 * 1.1);
    expect(app.throttled).toBeGreaterThan(0);
    expect(calls.ListUsers).toBe(exporterAccepted + (throttled.ListUsers ?? 0));
  });

  it('uses appAccount\'s quota and leaves other accounts\' alone', async () => {
    await configure({ quotaRps: 20, appRps: 200, appAccount: '111111111111' });
    await sleep(300);
    const answers = await Promise.allSettled(Array.from({ length: 20 }, () => client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 1 }))));
    expect(answers.filter((a) => a.status === 'fulfilled')).toHaveLength(20);
    expect(emulator.stats().app.throttled).toBeGreaterThan(0);
  });

  it('refuses a burst longer than its period, and stops with the emulator', async () => {
    const answer = await fetch(`${emulator.url}/__emulator/config`, { method: 'PUT', body: JSON.stringify({ appBurstSeconds: 40 }) });
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { message: string }).message).toContain('appBurstSeconds');
    const other = await CognitoEmulator.start({ faults: { appRps: 100 } });
    await sleep(200);
    await other.stop();
    const stopped = other.stats().app.calls;
    expect(stopped).toBeGreaterThan(0);
    await sleep(200);
    expect(other.stats().app.calls).toBe(stopped);
  });
});
