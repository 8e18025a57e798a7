import { CognitoIdentityProviderClient, DescribeUserPoolCommand, ListUsersCommand } from '@aws-sdk/client-cognito-identity-provider';
import type { UserType } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator, DEFAULT_FAULTS, FaultConfigError } from '../../src/emulator/index.js';

let emulator: CognitoEmulator;
let client: CognitoIdentityProviderClient;
let poolId: string;

function clientWithKey(accessKeyId: string): CognitoIdentityProviderClient {
  return new CognitoIdentityProviderClient({
    endpoint: emulator.url,
    region: emulator.region,
    credentials: { accessKeyId, secretAccessKey: 'test' },
    maxAttempts: 1,
  });
}

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 4 });
  client = clientWithKey('test');
  poolId = emulator.createPoolWithUsers({ users: 300, seed: 4 });
});

afterEach(() => {
  emulator.setFaults(DEFAULT_FAULTS);
  emulator.resetStats();
});

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

interface CallResult {
  ok: boolean;
  name?: string;
  status?: number;
  code?: string;
  message?: string;
}

async function attempt(call: Promise<unknown>): Promise<CallResult> {
  try {
    await call;
    return { ok: true };
  } catch (error) {
    const e = error as Error & { $metadata?: { httpStatusCode?: number }; code?: string };
    return { ok: false, name: e.name, status: e.$metadata?.httpStatusCode, code: e.code, message: e.message };
  }
}

async function walk(): Promise<{ users: UserType[]; pages: { size: number; token: boolean }[] }> {
  const users: UserType[] = [];
  const pages: { size: number; token: boolean }[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListUsersCommand({ UserPoolId: poolId, PaginationToken: token }));
    users.push(...(page.Users ?? []));
    token = page.PaginationToken;
    pages.push({ size: page.Users?.length ?? 0, token: token !== undefined });
  } while (token !== undefined);
  return { users, pages };
}

describe('fault shaping', () => {
  it('delays each answer by the fixed latency plus jitter', async () => {
    emulator.setFaults({ latencyMs: 150, jitterMs: 100 });
    const timings: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await client.send(new DescribeUserPoolCommand({ UserPoolId: poolId }));
      timings.push(performance.now() - started);
    }
    for (const ms of timings) {
      expect(ms).toBeGreaterThanOrEqual(148);
      expect(ms).toBeLessThan(400);
    }
    expect(Math.max(...timings) - Math.min(...timings)).toBeGreaterThan(5);
  });

  it('answers InternalErrorException with HTTP 500 at the set rate', async () => {
    emulator.setFaults({ internalErrorRate: 0.3 });
    const results = await Promise.all(Array.from({ length: 300 }, () => attempt(client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 1 })))));
    const failed = results.filter((r) => !r.ok);
    expect(failed.every((r) => r.name === 'InternalErrorException' && r.status === 500)).toBe(true);
    expect(failed.length / results.length).toBeGreaterThan(0.2);
    expect(failed.length / results.length).toBeLessThan(0.4);
    expect(emulator.stats().errors.ListUsers).toBe(failed.length);
  });

  it('throttles ListUsers at random with TooManyRequestsException (HTTP 400), counted as throttled', async () => {
    emulator.setFaults({ throttleRate: 0.5 });
    const results = await Promise.all(Array.from({ length: 200 }, () => attempt(client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 1 })))));
    const throttled = results.filter((r) => !r.ok);
    expect(throttled.every((r) => r.name === 'TooManyRequestsException' && r.status === 400 && r.message === 'Rate exceeded')).toBe(true);
    expect(throttled.length / results.length).toBeGreaterThan(0.35);
    expect(throttled.length / results.length).toBeLessThan(0.65);
    expect(emulator.stats().throttled).toEqual({ ListUsers: throttled.length });
    expect(emulator.stats().errors).toEqual({});
    expect((await attempt(client.send(new DescribeUserPoolCommand({ UserPoolId: poolId })))).ok).toBe(true);
  });

  it('drops connections without an answer, which the SDK sees as a network error', async () => {
    emulator.setFaults({ dropConnectionRate: 1 });
    const result = await attempt(client.send(new ListUsersCommand({ UserPoolId: poolId })));
    expect(result.ok).toBe(false);
    expect(result.status).toBeUndefined();
    expect(result.code ?? result.message).toMatch(/ECONNRESET|socket hang up/);
    expect(emulator.stats().dropped).toEqual({ ListUsers: 1 });
    emulator.setFaults({ dropConnectionRate: 0 });
    expect((await attempt(client.send(new ListUsersCommand({ UserPoolId: poolId })))).ok).toBe(true);
  });

  it('cuts pages short while keeping the walk exact', async () => {
    emulator.setFaults({ shortPageRate: 1 });
    const { users, pages } = await walk();
    expect(users).toEqual(emulator.listAllUsers(poolId));
    expect(pages.every((p) => p.size < 60)).toBe(true);
    expect(pages.slice(0, -1).every((p) => p.token)).toBe(true);
  });

  it('returns empty pages that still carry a token, and the walk stays exact', async () => {
    emulator.setFaults({ emptyPageRate: 0.5 });
    const { users, pages } = await walk();
    expect(users).toEqual(emulator.listAllUsers(poolId));
    const empties = pages.filter((p) => p.size === 0);
    expect(empties.length).toBeGreaterThan(0);
    expect(empties.every((p) => p.token)).toBe(true);
  });

  it('expires pagination tokens after the TTL with InvalidParameterException', async () => {
    emulator.setFaults({ tokenTtlSeconds: 0.3 });
    const first = await client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 10 }));
    const fresh = await client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 10, PaginationToken: first.PaginationToken }));
    expect(fresh.Users).toHaveLength(10);
    await new Promise((resolve) => setTimeout(resolve, 350));
    const stale = await attempt(client.send(new ListUsersCommand({ UserPoolId: poolId, Limit: 10, PaginationToken: first.PaginationToken })));
    expect(stale).toMatchObject({ ok: false, name: 'InvalidParameterException', status: 400 });
    expect(stale.message).toMatch(/^Paging marker .+ is invalid for request [0-9a-f-]{36}$/);
  });

  it('forces an error code for one operation only', async () => {
    emulator.setFaults({ forcedErrors: { ListUsers: { code: 'NotAuthorizedException', message: 'Access to this pool is denied.' } } });
    expect(await attempt(client.send(new ListUsersCommand({ UserPoolId: poolId })))).toMatchObject({
      ok: false,
      name: 'NotAuthorizedException',
      status: 400,
      message: 'Access to this pool is denied.',
    });
    expect((await attempt(client.send(new DescribeUserPoolCommand({ UserPoolId: poolId })))).ok).toBe(true);
    emulator.setFaults({ forcedErrors: { ListUsers: { code: 'TooManyRequestsException', status: 429 } } });
    expect(await attempt(client.send(new ListUsersCommand({ UserPoolId: poolId })))).toMatchObject({
      name: 'TooManyRequestsException',
      status: 429,
    });
  });

  it('rejects requests signed with an access key id it does not know', async () => {
    emulator.setFaults({ allowedAccessKeyIds: ['AKIAGOOD'] });
    const good = clientWithKey('AKIAGOOD');
    const bad = clientWithKey('AKIABAD');
    expect((await attempt(good.send(new ListUsersCommand({ UserPoolId: poolId })))).ok).toBe(true);
    expect(await attempt(bad.send(new ListUsersCommand({ UserPoolId: poolId })))).toMatchObject({
      name: 'UnrecognizedClientException',
      status: 400,
      message: 'The security token included in the request is invalid.',
    });
    good.destroy();
    bad.destroy();
  });

  it('reproduces the same fault sequence for the same random seed', async () => {
    const sequence = async (): Promise<boolean[]> => {
      const seeded = await CognitoEmulator.start({ randomSeed: 77, faults: { internalErrorRate: 0.5 } });
      const id = seeded.createPoolWithUsers({ users: 5 });
      const c = new CognitoIdentityProviderClient({ endpoint: seeded.url, region: seeded.region, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
      const outcomes: boolean[] = [];
      for (let i = 0; i < 20; i++) outcomes.push((await attempt(c.send(new ListUsersCommand({ UserPoolId: id })))).ok);
      c.destroy();
      await seeded.stop();
      return outcomes;
    };
    const first = await sequence();
    expect(await sequence()).toEqual(first);
    expect(first).toContain(true);
    expect(first).toContain(false);
  });

  it('refuses invalid fault settings and keeps the old ones', () => {
    emulator.setFaults({ latencyMs: 5 });
    expect(() => emulator.setFaults({ internalErrorRate: 1.5 })).toThrow(FaultConfigError);
    expect(() => emulator.setFaults({ internalErrorRate: 1.5 })).toThrow(/internalErrorRate/);
    expect(() => emulator.setFaults({ nonsense: true } as never)).toThrow(FaultConfigError);
    expect(emulator.faults).toEqual({ ...DEFAULT_FAULTS, latencyMs: 5 });
  });
});
