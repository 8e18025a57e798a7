import type { CognitoIdentityProviderClient} from '@aws-sdk/client-cognito-identity-provider';
import { DescribeUserPoolCommand, ListUsersCommand } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator, DEFAULT_FAULTS } from '../../src/emulator/index.js';
import { emulatorClient } from '../support/emulator-client.js';
import { hammer } from '../support/request-hammer.js';

const QUOTA_RPS = 40;

let emulator: CognitoEmulator;
let client: CognitoIdentityProviderClient;
let pools: string[];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 5 });
  client = emulatorClient(emulator);
  pools = [emulator.createPoolWithUsers({ users: 10 }), emulator.createPoolWithUsers({ users: 10 })];
});

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

// Each test sets the quota it measures; none may leave it on for the next.
afterEach(() => emulator.setFaults(DEFAULT_FAULTS));

/** ListUsers, alternating pools. */
function listUsers(i: number): Promise<unknown> {
  return client.send(new ListUsersCommand({ UserPoolId: pools[i % pools.length], Limit: 1 }));
}

describe('the account-wide ListUsers quota', () => {
  it(`holds the accepted rate within ±10% of ${QUOTA_RPS}/s over 5 s across pools, answering the rest TooManyRequestsException (HTTP 400)`, async () => {
    emulator.setFaults({ quotaRps: QUOTA_RPS });
    // Spend the initial burst (one second's worth) first, so the window measures the steady rate.
    await hammer(300, listUsers, 8);

    const tally = await hammer(5000, listUsers, 8);

    expect(tally.other).toEqual([]);
    expect(tally.throttled).toBeGreaterThan(tally.accepted);
    expect(tally.rate).toBeGreaterThanOrEqual(QUOTA_RPS * 0.9);
    expect(tally.rate).toBeLessThanOrEqual(QUOTA_RPS * 1.1);
    expect(emulator.stats().throttled.ListUsers).toBeGreaterThanOrEqual(tally.throttled);
  });

  it('does not meter other operations', async () => {
    emulator.setFaults({ quotaRps: 1 });
    const before = emulator.stats();
    const answers = await Promise.all(Array.from({ length: 50 }, () => client.send(new DescribeUserPoolCommand({ UserPoolId: pools[0] }))));
    expect(answers.map((answer) => answer.UserPool?.Id)).toEqual(Array.from({ length: 50 }, () => pools[0]));
    const after = emulator.stats();
    expect((after.calls.DescribeUserPool ?? 0) - (before.calls.DescribeUserPool ?? 0)).toBe(50);
    expect(after.throttled.DescribeUserPool ?? 0).toBe(0);
  });

  it('is off by default: a fresh emulator answers ListUsers far above any quota, throttling none', async () => {
    const fresh = await CognitoEmulator.start({ randomSeed: 6 });
    const freshClient = emulatorClient(fresh);
    try {
      const pool = fresh.createPoolWithUsers({ users: 10 });
      const tally = await hammer(2000, () => freshClient.send(new ListUsersCommand({ UserPoolId: pool, Limit: 1 })), 8);
      expect(tally.other).toEqual([]);
      expect(tally.throttled).toBe(0);
      // Well above the 30/s a real account gets, so a quota left on by mistake would show.
      expect(tally.rate).toBeGreaterThan(150);
      expect(fresh.stats().throttled.ListUsers ?? 0).toBe(0);
    } finally {
      freshClient.destroy();
      await fresh.stop();
    }
  });
});
