import { sleep } from './sleep.js';
import type { Redis } from 'ioredis';

/** What a page source needs from a rate limiter. */
export interface CallLimiter {
  /** Waits until one more call may be made. Rejects when `signal` aborts. */
  acquire(signal?: AbortSignal): Promise<void>;
  /** Tells the limiter that Cognito throttled a call, so every worker slows down. */
  reportThrottle(): Promise<void>;
}

/** Tuning of the shared limiter; the defaults are what the README documents. */
export interface RateLimiterOptions {
  /** Calls per second never exceeded, shared by every worker using the same key. */
  readonly ratePerSecond: number;
  /** On a throttle the rate is multiplied by this. @default 0.5 */
  readonly decreaseFactor?: number;
  /** After a decrease the rate stays down this long before recovering. @default 5000 */
  readonly cooldownMs?: number;
  /** Recovery per second after the cool-down, as a fraction of the set rate. @default 0.1 */
  readonly recoveryPerSecond?: number;
  /** Throttles closer together than this cause one decrease, not many. @default 1000 */
  readonly decreaseIntervalMs?: number;
  /** The rate never drops below this. @default 0.5 */
  readonly minRatePerSecond?: number;
  /** A caller never reserves a slot further ahead than this; it sleeps and asks again. @default 2000 */
  readonly maxReserveMs?: number;
}

// A shared pacing schedule (GCRA without burst): `tat` is the next free call slot. Each acquire
// reserves the next slot and is told how long to wait for it, so N waiting workers get N distinct
// slots from one round trip each, and no thundering herd. The effective rate is the set rate, or,
// after a throttle, a reduced rate that recovers additively once the cool-down ends (AIMD).
// Redis's clock (TIME) is the only clock, so workers on different machines agree.
// KEYS[1]: bucket. ARGV: op, max rate, decrease factor, cooldown ms, recovery/s fraction,
// decrease interval ms, min rate, max reserve ms.
const SCRIPT = `
local op = ARGV[1]
local max_rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local h = redis.call('HMGET', KEYS[1], 'tat', 'reduced', 'cooldown_until', 'last_decrease')
local tat = tonumber(h[1]) or 0
local reduced = tonumber(h[2])
local cooldown_until = tonumber(h[3]) or 0
local last_decrease = tonumber(h[4]) or 0
local rate = max_rate
if reduced then
  if now < cooldown_until then
    rate = reduced
  else
    rate = reduced + tonumber(ARGV[5]) * max_rate * (now - cooldown_until) / 1000
  end
  -- Clamp only: a caller with a lower ceiling must not erase the reduction the others share.
  if rate > max_rate then rate = max_rate end
end
redis.call('PEXPIRE', KEYS[1], 3600000)
if op == 'throttle' then
  if now - last_decrease >= tonumber(ARGV[6]) then
    local lowered = math.max(tonumber(ARGV[7]), rate * tonumber(ARGV[3]))
    redis.call('HSET', KEYS[1], 'reduced', tostring(lowered), 'cooldown_until', tostring(now + tonumber(ARGV[4])),
      'last_decrease', tostring(now))
    return {'0', tostring(lowered)}
  end
  return {'0', tostring(rate)}
end
local start = math.max(tat, now)
if start - now > tonumber(ARGV[8]) then
  return {tostring(-(start - now)), tostring(rate)}
end
redis.call('HSET', KEYS[1], 'tat', tostring(start + 1000 / rate))
return {tostring(start - now), tostring(rate)}`;

/**
 * A rate limit shared through Redis by every worker and shard that uses the same key (one per AWS
 * account and region: Cognito's UserList quota is per account and region). Adaptive: a reported
 * throttle halves the rate for a cool-down, then it recovers additively, never above the set rate.
 */
export class RedisRateLimiter implements CallLimiter {
  private readonly args: readonly (string | number)[];
  private lastRate: number;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    options: RateLimiterOptions,
  ) {
    if (!(options.ratePerSecond > 0)) {
      throw new RangeError(`Expected \`ratePerSecond\` to be a number above 0, got \`${options.ratePerSecond}\``);
    }
    this.lastRate = options.ratePerSecond;
    this.args = [
      options.ratePerSecond,
      options.decreaseFactor ?? 0.5,
      options.cooldownMs ?? 5000,
      options.recoveryPerSecond ?? 0.1,
      options.decreaseIntervalMs ?? 1000,
      options.minRatePerSecond ?? 0.5,
      options.maxReserveMs ?? 2000,
    ];
  }

  /** The effective rate as of the last call to Redis (calls/s). */
  get currentRate(): number {
    return this.lastRate;
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const waitMs = await this.run('acquire');
      if (waitMs >= 0) {
        if (waitMs > 0) await sleep(waitMs, signal);
        return;
      }
      // The schedule is full further ahead than we reserve: sleep part of the way and ask again.
      await sleep(Math.min(-waitMs / 2, 1000), signal);
    }
  }

  async reportThrottle(): Promise<void> {
    await this.run('throttle');
  }

  private async run(op: 'acquire' | 'throttle'): Promise<number> {
    const [wait, rate] = (await this.redis.eval(SCRIPT, 1, this.key, op, ...this.args)) as [string, string];
    this.lastRate = Number(rate);
    return Number(wait);
  }
}
