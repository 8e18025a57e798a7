import { Redis } from 'ioredis';

/** Redis could not be reached; the message says how to start it or where to point REDIS_URL. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

/** REDIS_URL names a database the server does not have; the message says which it has. */
export class RedisDatabaseError extends Error {
  override readonly name = 'RedisDatabaseError';
}

/**
 * Opens a connection suitable for BullMQ workers and for our scripts: `maxRetriesPerRequest: null`
 * (BullMQ requires it), and a first connection that fails fast with a one-line explanation instead
 * of retrying forever.
 */
export async function connectRedis(url: string, options: { connectTimeoutMs?: number } = {}): Promise<Redis> {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 3000,
    // While first connecting, do not retry: we report and exit instead.
    retryStrategy: () => null,
  });
  redis.on('error', () => {
    // Reported through connect()'s rejection or the next command; an unhandled 'error' would crash.
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    const reason = error instanceof Error ? error.message : String(error);
    throw new RedisUnavailableError(
      `Redis at ${redactUrl(url)} is not reachable (${reason}): start it with \`redis-server --daemonize yes\` or set REDIS_URL`,
    );
  }
  // ioredis reports a SELECT that fails and goes on in database 0: check it did select it.
  const db = Number(new URL(url).pathname.slice(1) || 0);
  if (db !== 0) {
    try {
      await redis.select(db);
    } catch {
      const count = await databaseCount(redis);
      redis.disconnect();
      const has = count === undefined ? 'fewer databases' : `${count} databases (0–${count - 1})`;
      throw new RedisDatabaseError(`REDIS_URL=${redactUrl(url)} names database ${db}, but this Redis has ${has}: use one of those, or raise \`databases\` in redis.conf`);
    }
  }
  // Connected: from now on reconnect with backoff, as a long-running worker should.
  redis.options.retryStrategy = (times: number) => Math.min(times * 200, 5000);
  return redis;
}

/** How many databases the server has, if it lets us ask. */
async function databaseCount(redis: Redis): Promise<number | undefined> {
  try {
    const reply = (await redis.config('GET', 'databases')) as string[];
    return reply[1] === undefined ? undefined : Number(reply[1]);
  } catch {
    return undefined;
  }
}

/** Warns (returns a message) when Redis may evict keys: checkpoints and queues must never vanish. */
export async function evictionWarning(redis: Redis): Promise<string | undefined> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply[1];
    if (policy && policy !== 'noeviction') {
      return `Redis maxmemory-policy is ${policy}; set it to noeviction or checkpoints and jobs may be evicted`;
    }
  } catch {
    // Managed Redis often forbids CONFIG; nothing to check then.
  }
  return undefined;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
