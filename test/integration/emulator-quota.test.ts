import type { CognitoIdentityProviderClient} from '@aws-sdk/client-cognito-identity-provider';
import { DescribeUserPoolCommand, ListUsersCommand } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { emulatorClient } from '../support/emulator-client.js';

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

interface Tally {
  accepted: number;
  throttled: number;
  other: string[];
}

/** Sends ListUsers from `workers` concurrent loops, alternating pools, until `untilMs` (performance.now). */
async function hammer(untilMs: number, workers: number, tally: Tally): Promise<void> {
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; performance.now() < untilMs; i++) {
        try {
          await client.send(new ListUsersCommand({ UserPoolId: pools[(worker + i) % pools.length], Limit: 1 }));
          tally.accepted++;
        } catch (error) {
          const e = error as Error & { $metadata?: { httpStatusCode?: number } };
          if (e.name === 'TooManyRequestsException' && e.$metadata?.httpStatusCode === 400 && e.message === 'Rate exceeded') tally.throttled++;
          else tally.other.push(`${e.name}: ${e.message}`);
        }
      }
    }),
  );
}

describe('the account-wide ListUsers quota', () => {
  it(`holds the accepted rate within ±10% of ${QUOTA_RPS}/s over 5 s across pools, answering the rest TooManyRequestsException (HTTP 400)`, async () => {
    emulator.setFaults({ quotaRps: QUOTA_RPS });
    // Spend the initial burst (one second's worth) first, so the window measures the steady rate.
    await hammer(performance.now() + 300, 8, { accepted: 0, throttled: 0, other: [] });

    const tally: Tally = { accepted: 0, throttled: 0, other: [] };
    const started = performance.now();
    await hammer(started + 5000, 8, tally);
    const seconds = (performance.now() - started) / 1000;

    expect(tally.other).toEqual([]);
    expect(tally.throttled).toBeGreaterThan(tally.accepted);
    const rate = tally.accepted / seconds;
    expect(rate).toBeGreaterThanOrEqual(QUOTA_RPS * 0.9);
    expect(rate).toBeLessThanOrEqual(QUOTA_RPS * 1.1);
    expect(emulator.stats().throttled.ListUsers).toBeGreaterThanOrEqual(tally.throttled);
  });

  it('does not meter other operations', async () => {
    emulator.setFaults({ quotaRps: 1 });
    await Promise.all(Array.from({ length: 50 }, () => client.send(new DescribeUserPoolCommand({ UserPoolId: pools[0] }))));
  });

  it('is off by default', async () => {
    emulator.setFaults({ quotaRps: null });
    await Promise.all(Array.from({ length: 200 }, () => client.send(new ListUsersCommand({ UserPoolId: pools[0], Limit: 1 }))));
  });
});
