import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { rateLimitKey } from '../../src/redis/redis-keys.js';

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A fresh key prefix per test, with a hash tag like production's, so tests never see each other's keys. */
export function testPrefix(): string {
  return `{ce-test-${randomBytes(5).toString('hex')}}`;
}

/**
 * Deletes every key under a test's prefix, and the shared rate-limit buckets of the test's own
 * account (the harness names the account after the prefix): those live under the product's fixed
 * hash tag, shared by every prefix of one Redis, and would otherwise stay for their hour.
 */
export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  try {
    for (const pattern of [`${prefix}*`, `${rateLimitKey(prefix.replace(/[{}]/g, ''))}*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}
