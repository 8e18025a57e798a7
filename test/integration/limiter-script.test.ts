import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyBucketEvent, DEFAULT_BUCKET, type BucketEvent, type BucketFields, type BucketSettings } from '../../src/limits/limiter-bucket.js';
import { LIMITER_SCRIPT, scriptSettings } from '../../src/limits/limiter-script.js';
import { DEFAULT_CONTROLLER } from '../../src/limits/rate-controller.js';
import { deletePrefix, TEST_REDIS_URL, testPrefix } from '../support/redis-test-prefix.js';

let redis: Redis;
const prefix = testPrefix();
let n = 0;
const key = () => `${prefix}:rate-limit:${++n}`;
const settings: BucketSettings = { ...DEFAULT_CONTROLLER, ...DEFAULT_BUCKET, maxRps: 20 };

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  redis.disconnect();
  await deletePrefix(prefix);
});

/** Runs one event through the Lua script on a fixed clock; returns the reply as numbers. */
async function runScript(bucket: string, now: number, event: BucketEvent): Promise<number[]> {
  const args = event.op === 'throttle' ? [String(event.sentAt)] : [event.flow, String(event.op === 'acquire' ? 0 : event.ticket), String(event.op === 'cancel' ? 0 : (event.priority ?? 0))];
  const reply = (await redis.eval(LIMITER_SCRIPT, 1, bucket, event.op, String(now), ...scriptSettings(settings).map(String), ...args)) as string[];
  return reply.map(Number);
}

async function storedFields(bucket: string): Promise<BucketFields> {
  return Object.fromEntries(Object.entries(await redis.hgetall(bucket)).map(([field, value]) => [field, Number(value)]));
}

function expectClose(actual: Record<string, number>, expected: Record<string, number>): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [field, value] of Object.entries(expected)) expect(actual[field], field).toBeCloseTo(value, 6);
}

/** A day of a bucket's life in a few seconds: two flows, a throttle burst, cancels, an idle flow forgotten. */
function events(): [number, BucketEvent][] {
  const t0 = 1_800_000_000_000;
  const list: [number, BucketEvent][] = [];
  for (let i = 0; i < 6; i++) list.push([t0 + i * 3, { op: 'acquire', flow: 'run-a-users' }]);
  list.push([t0 + 20, { op: 'acquire', flow: 'run-b-users' }]);
  for (let i = 1; i <= 6; i++) list.push([t0 + 60 * i, { op: 'poll', flow: 'run-a-users', ticket: i }]);
  list.push([t0 + 70, { op: 'poll', flow: 'run-b-users', ticket: 1 }]);
  list.push([t0 + 400, { op: 'throttle', sentAt: t0 + 50 }]);
  list.push([t0 + 420, { op: 'throttle', sentAt: t0 + 100 }]);
  list.push([t0 + 500, { op: 'throttle', sentAt: t0 - 5000 }]);
  for (let i = 0; i < 4; i++) list.push([t0 + 600 + i, { op: 'acquire', flow: 'run-b-users' }]);
  list.push([t0 + 700, { op: 'cancel', flow: 'run-b-users', ticket: 3 }]);
  list.push([t0 + 710, { op: 'cancel', flow: 'run-b-users', ticket: 5 }]);
  for (let i = 2; i <= 5; i++) list.push([t0 + 900 + 150 * i, { op: 'poll', flow: 'run-b-users', ticket: i }]);
  list.push([t0 + 5_000, { op: 'throttle', sentAt: t0 + 4_900 }]);
  list.push([t0 + 30_000, { op: 'acquire', flow: 'run-a-users' }]);
  // Two flows with queues, each estimating its place behind the other's.
  for (let i = 0; i < 5; i++) {
    list.push([t0 + 40_000 + i, { op: 'acquire', flow: 'run-d-users' }]);
    list.push([t0 + 40_000 + i, { op: 'acquire', flow: 'run-e-users' }]);
  }
  list.push([t0 + 40_100, { op: 'poll', flow: 'run-d-users', ticket: 4 }]);
  list.push([t0 + 40_100, { op: 'poll', flow: 'run-e-users', ticket: 4 }]);
  // A flow of a higher priority arrives behind a waiting queue, goes first, and its estimate says so.
  for (let i = 0; i < 3; i++) list.push([t0 + 50_000 + i, { op: 'acquire', flow: 'run-f-users' }]);
  list.push([t0 + 50_010, { op: 'acquire', flow: 'run-f-group_memberships', priority: 1 }]);
  list.push([t0 + 50_011, { op: 'acquire', flow: 'run-f-group_memberships', priority: 1 }]);
  list.push([t0 + 50_020, { op: 'poll', flow: 'run-f-users', ticket: 3 }]);
  list.push([t0 + 50_200, { op: 'poll', flow: 'run-f-group_memberships', ticket: 2, priority: 1 }]);
  list.push([t0 + 50_210, { op: 'poll', flow: 'run-f-users', ticket: 2 }]);
  list.push([t0 + 100_000, { op: 'acquire', flow: 'run-c-groups' }]);
  list.push([t0 + 100_010, { op: 'throttle', sentAt: t0 + 100_000 }]);
  list.push([t0 + 100_500, { op: 'acquire', flow: 'run-c-groups' }]);
  return list;
}

describe('the limiter script', () => {
  it('agrees with the TypeScript model on every reply and every field, event by event', async () => {
    const bucket = key();
    const model: BucketFields = {};
    for (const [now, event] of events()) {
      const reply = applyBucketEvent(model, settings, now, event);
      const expected = 'granted' in reply ? [reply.granted ? 1 : 0, reply.ticket, reply.waitMs, reply.rate, reply.now] : [reply.cut ? 1 : 0, reply.rate, reply.now];
      const actual = await runScript(bucket, now, event);
      expect(actual.length, `${event.op} at ${now}`).toBe(expected.length);
      actual.forEach((value, i) => expect(value, `${event.op} at ${now}, reply[${i}]`).toBeCloseTo(expected[i] ?? NaN, 6));
      expectClose(await storedFields(bucket), model);
    }
    // The sequence went through every rule: a cut, a deepened cut, an ignored throttle, a forgotten flow.
    expect(model.ceiling).toBeGreaterThan(0);
    expect(model['i:run-b-users']).toBeUndefined();
    expect(model['p:run-f-group_memberships']).toBe(1);
  });

  it('reads a bucket without changing it', async () => {
    const bucket = key();
    await runScript(bucket, 1_800_000_000_000, { op: 'acquire', flow: 'run-a-users' });
    const before = await redis.hgetall(bucket);
    const [now, ...flat] = (await redis.eval(LIMITER_SCRIPT, 1, bucket, 'read', '')) as string[];
    expect(Number(now)).toBeGreaterThan(Date.now() - 60_000);
    expect(flat.length).toBe(Object.keys(before).length * 2);
    expect(await redis.hgetall(bucket)).toEqual(before);
  });
});
