import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCognitoClient } from '../../src/cognito/cognito-client.js';
import { listGroupPages, listMemberPages } from '../../src/cognito/list-groups.js';
import { listUserPages } from '../../src/cognito/list-users.js';
import { ResponseTooLargeError } from '../../src/cognito/response-size-limit.js';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { CallLimiter } from '../../src/limits/rate-limiter.js';
import { EMULATOR_CREDENTIALS, FAST_RETRIES, startHarness, type ExportHarness } from '../support/export-harness.js';

let emulator: CognitoEmulator;
let scratch: string;
const harnesses: ExportHarness[] = [];
const free: CallLimiter = { acquire: () => Promise.resolve({ grantedAt: Date.now(), waitedMs: 0 }), reportThrottle: () => Promise.resolve() };

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-hostile-'));
});

afterEach(async () => {
  emulator.setFaults({ repeatPaginationToken: false, endlessPages: false, oversizedPageBytes: null });
  emulator.resetStats();
  for (const harness of harnesses.splice(0)) await harness.close();
});

afterAll(async () => {
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});

const client = () => createCognitoClient({ cognitoEndpoint: emulator.url }, emulator.region, { credentials: EMULATOR_CREDENTIALS });

async function drain(pages: AsyncGenerator<unknown>): Promise<number> {
  let n = 0;
  for await (const page of pages) {
    void page;
    n++;
  }
  return n;
}

/** Every file under `directory`, relative to it. */
async function filesUnder(directory: string): Promise<string[]> {
  try {
    return (await readdir(directory, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(directory.length));
  } catch {
    return [];
  }
}

describe('a Cognito whose pages never end, under tokens never seen before', () => {
  it("stops the walk past ten times the pool's estimate (plus the margin) with one line, and publishes nothing", async () => {
    // The margin is a million users in production; 0 here so the cap is ten times the estimate.
    const h = await startHarness({ cognitoEndpoint: emulator.url, runtime: { runawayMargin: 0 } });
    harnesses.push(h);
    const poolId = emulator.createPoolWithUsers({ users: 150, seed: 1803 });
    // Under the cap a walk is untouched.
    const whole = await h.run({ userPoolId: poolId, destination: pathToFileURL(join(scratch, 'capped-ok')).href, shards: 1, groups: false });
    expect(whole).toMatchObject({ state: 'completed', users: 150 });

    const directory = join(scratch, 'endless');
    emulator.setFaults({ endlessPages: true });
    const status = await h.run({ userPoolId: poolId, destination: pathToFileURL(directory).href, shards: 1, groups: false });
    expect(status.state).toBe('failed');
    expect(status.error).toBe(
      `ListUsers on user pool ${poolId} returned more than 1500 items, far more than the pool can hold: stopped the walk as runaway (nothing is published); run the export again, and report it if it happens again`,
    );
    expect((await filesUnder(directory)).filter((file) => !file.includes('staging'))).toEqual([]);
  });
});

describe('a Cognito that repeats its pagination token', () => {
  it('ends the run within a minute with one line naming the pool and the operation, and publishes nothing', async () => {
    const h = await startHarness({ cognitoEndpoint: emulator.url });
    harnesses.push(h);
    const poolId = emulator.createPoolWithUsers({ users: 300, seed: 1801 });
    const directory = join(scratch, 'repeating');
    emulator.setFaults({ repeatPaginationToken: true });
    const started = Date.now();
    const status = await h.run({ userPoolId: poolId, destination: pathToFileURL(directory).href, shards: 1, groups: false });
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(status.state).toBe('failed');
    const error = status.error ?? '';
    expect(error.split('\n')).toHaveLength(1);
    expect(error).toMatch(new RegExp(`ListUsers on user pool ${poolId} repeated a pagination token`));
    expect((await filesUnder(directory)).filter((file) => !file.includes('staging'))).toEqual([]);
    // A handful of calls, not 25 a second until someone cancels.
    expect(emulator.stats().calls.ListUsers ?? 0).toBeLessThan(20);
  });

  it('stops ListGroups and ListUsersInGroup walks too, naming the group', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 200, seed: 1802, groups: 1 });
    const group = emulator.listAllGroups(poolId)[0]?.GroupName ?? '';
    for (const member of emulator.listAllUsers(poolId).slice(0, 130)) emulator.addUserToGroup(poolId, group, member.Username ?? '');
    for (let i = 0; i < 70; i++) emulator.createGroup(poolId, { name: `extra-${String(i).padStart(3, '0')}` });
    emulator.setFaults({ repeatPaginationToken: true });
    await expect(drain(listGroupPages({ client: client(), limiters: [free], userPoolId: poolId }))).rejects.toThrow(new RegExp(`^ListGroups on user pool ${poolId} repeated a pagination token`));
    await expect(drain(listMemberPages({ client: client(), limiters: [free], userPoolId: poolId, groupName: group }))).rejects.toThrow(
      new RegExp(`^ListUsersInGroup of group "${group}" on user pool ${poolId} repeated a pagination token`),
    );
    emulator.setFaults({ repeatPaginationToken: false });
    // The same walks, honest: to the end.
    expect(await drain(listGroupPages({ client: client(), limiters: [free], userPoolId: poolId }))).toBe(2);
    expect(await drain(listMemberPages({ client: client(), limiters: [free], userPoolId: poolId, groupName: group }))).toBeGreaterThanOrEqual(3);
  });

  it('tells an honest walk of empty pages from a loop (tokens issued within one millisecond differ)', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 200, seed: 1803 });
    emulator.setFaults({ emptyPageRate: 0.5 });
    try {
      let users = 0;
      for await (const page of listUserPages({ client: client(), limiters: [free], userPoolId: poolId, filter: null })) users += page.items.length;
      expect(users).toBe(200);
    } finally {
      emulator.setFaults({ emptyPageRate: 0 });
    }
  });
});

describe('a Cognito that answers with an oversized page', () => {
  it('is a transient error read no further than the limit: RSS does not grow by hundreds of MB', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 100, seed: 1804 });
    emulator.setFaults({ oversizedPageBytes: 120 * 1024 * 1024 });
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    const retries: string[] = [];
    try {
      const pages = listUserPages({
        client: client(),
        limiters: [free],
        userPoolId: poolId,
        filter: null,
        retryPolicy: { ...FAST_RETRIES, transientRetries: 2 },
        onRetry: (event) => retries.push(`${event.errorClass} ${event.code}`),
      });
      const error: unknown = await drain(pages).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ResponseTooLargeError);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    // Retried as transient, a bounded number of times.
    expect(retries).toEqual(['transient ResponseTooLargeError', 'transient ResponseTooLargeError']);
    expect(peak - before).toBeLessThan(64 * 1024 * 1024);
  });
});
