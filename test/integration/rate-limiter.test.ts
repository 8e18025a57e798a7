import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRateLimiter } from '../../src/limits/rate-limiter.js';
import { deletePrefix, TEST_REDIS_URL, testPrefix } from '../support/redis-test-prefix.js';

let redis: Redis;
const prefix = testPrefix();
let n = 0;
const key = () => `${prefix}:rate-limit:${++n}`;

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  redis.disconnect();
  await deletePrefix(prefix);
});

/** Seconds `count` acquisitions take, run `parallel` at a time. */
async function timeAcquisitions(limiters: RedisRateLimiter[], count: number): Promise<number> {
  const started = performance.now();
  await Promise.all(
    limiters.map(async (limiter) => {
      for (let i = 0; i < count / limiters.length; i++) await limiter.acquire();
    }),
  );
  return (performance.now() - started) / 1000;
}

describe('the shared rate limiter', () => {
  it('paces calls at the set rate, without a burst', async () => {
    const limiter = new RedisRateLimiter(redis, key(), { ratePerSecond: 40 });
    // 41 calls at 40/s: the first at once, the other 40 one slot apart.
    const seconds = await timeAcquisitions([limiter], 41);
    expect(seconds).toBeGreaterThan(0.95);
    expect(seconds).toBeLessThan(1.2);
  });

  it('is shared by every limiter on the same key, as by workers on one Redis', async () => {
    const k = key();
    const connections = [0, 1, 2, 3].map(() => new Redis(TEST_REDIS_URL));
    const limiters = connections.map((connection) => new RedisRateLimiter(connection, k, { ratePerSecond: 40 }));
    const seconds = await timeAcquisitions(limiters, 41);
    for (const connection of connections) connection.disconnect();
    expect(seconds).toBeGreaterThan(0.95);
    expect(seconds).toBeLessThan(1.2);
  });

  it('halves its rate on a throttle, once per burst of throttles, for the cool-down', async () => {
    const limiter = new RedisRateLimiter(redis, key(), { ratePerSecond: 40, cooldownMs: 5000 });
    await Promise.all([limiter.reportThrottle(), limiter.reportThrottle(), limiter.reportThrottle()]);
    await limiter.acquire();
    expect(limiter.currentRate).toBe(20);
    const seconds = await timeAcquisitions([limiter], 20);
    expect(seconds).toBeGreaterThan(0.9);
    expect(seconds).toBeLessThan(1.2);
  });

  it('recovers additively after the cool-down, never above the set rate', async () => {
    const limiter = new RedisRateLimiter(redis, key(), { ratePerSecond: 40, cooldownMs: 200, recoveryPerSecond: 0.5, decreaseIntervalMs: 0 });
    await limiter.reportThrottle();
    await limiter.reportThrottle();
    await limiter.acquire();
    expect(limiter.currentRate).toBe(10);
    await sleep(700); // 0.5 s past the cool-down: +0.5 × 40/s × 0.5 s
    await limiter.acquire();
    expect(limiter.currentRate).toBeGreaterThan(18);
    expect(limiter.currentRate).toBeLessThan(24);
    await sleep(1500);
    await limiter.acquire();
    expect(limiter.currentRate).toBe(40);
  });

  it('stops waiting when its signal aborts', async () => {
    const limiter = new RedisRateLimiter(redis, key(), { ratePerSecond: 0.5 });
    await limiter.acquire();
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('shutdown')), 50);
    await expect(limiter.acquire(controller.signal)).rejects.toThrow('shutdown');
  });

  it('refuses a rate that is not above zero', () => {
    expect(() => new RedisRateLimiter(redis, key(), { ratePerSecond: 0 })).toThrow('Expected `ratePerSecond` to be a number above 0, got `0`');
  });
});
