import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { runLimiterProcess } from '../support/limiter-process.js';
import { deletePrefix, TEST_REDIS_URL, testPrefix } from '../support/redis-test-prefix.js';

const prefix = testPrefix();
let n = 0;
const key = () => `${prefix}:rate-limit:${++n}`;

afterAll(async () => {
  await deletePrefix(prefix);
});

const between = (times: readonly number[], from: number, to: number) => times.filter((t) => t >= from && t < to).length;

describe('one bucket shared by two processes', () => {
  it('gives two flows equal shares, one caller against twelve', async () => {
    const common = { redisUrl: TEST_REDIS_URL, key: key(), ratePerSecond: 40, startAt: Date.now() + 1500, durationMs: 3000 };
    const [alone, crowd] = await Promise.all([
      runLimiterProcess({ ...common, flow: 'run-a-users', callers: 1 }),
      runLimiterProcess({ ...common, flow: 'run-b-users', callers: 12 }),
    ]);
    const total = alone.length + crowd.length;
    // 40/s for 3 s, shared: about 60 each.
    expect(total).toBeGreaterThan(110);
    expect(total).toBeLessThan(125);
    expect(alone.length / total).toBeGreaterThan(0.4);
    expect(alone.length / total).toBeLessThan(0.6);
  });

  it('slows the other process at once when one reports a throttle', async () => {
    const common = { redisUrl: TEST_REDIS_URL, key: key(), ratePerSecond: 40, startAt: Date.now() + 1500, durationMs: 2500, callers: 8 };
    const [, other] = await Promise.all([
      runLimiterProcess({ ...common, flow: 'run-a-users', throttleAtMs: 1000 }),
      runLimiterProcess({ ...common, flow: 'run-b-users' }),
    ]);
    // Half of 40/s before the throttle; half of 40 × 0.4 = 16/s after it.
    expect(between(other, 0, 1000)).toBeGreaterThan(16);
    expect(between(other, 1100, 2500)).toBeGreaterThan(8);
    expect(between(other, 1100, 2500)).toBeLessThan(15);
    const redis = new Redis(TEST_REDIS_URL);
    const ceiling = await redis.hget(common.key, 'ceiling');
    redis.disconnect();
    expect(Number(ceiling)).toBe(40);
  });
});
