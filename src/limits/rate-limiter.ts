import type { Cluster, Redis } from 'ioredis';
import {
  bucketFlows,
  controllerState,
  DEFAULT_BUCKET,
  throttlesPerMinute,
  waitingTickets,
  type BucketFields,
  type BucketSettings,
} from './limiter-bucket.js';
import { LIMITER_SCRIPT, scriptSettings } from './limiter-script.js';
import { checkControllerSettings, controlledRate, DEFAULT_CONTROLLER } from './rate-controller.js';
import { sleep } from './sleep.js';

/** A call slot the limiter granted. */
export interface CallSlot {
  /** When it was granted, on the bucket's clock (Redis TIME, ms): the call goes out right after. */
  readonly grantedAt: number;
  /** How long the caller waited for it (ms). */
  readonly waitedMs: number;
}

/** What a page source needs from a rate limiter: one flow's view of the shared bucket. */
export interface CallLimiter {
  /** Waits until one more call may be made. Rejects with the signal's reason when `signal` aborts. */
  acquire(signal?: AbortSignal): Promise<CallSlot>;
  /**
   * Tells the limiter that Cognito throttled a call, so every worker slows down at once. Pass the
   * call's slot: a throttle of a call sent well before the last cut does not cut again.
   */
  reportThrottle(slot?: CallSlot): Promise<void>;
}

/** Tuning of the shared limiter; the defaults are what docs/operations.md documents. */
export interface RateLimiterOptions extends Partial<Omit<BucketSettings, 'maxRps'>> {
  /** Calls per second never exceeded, shared by every worker using the same key (COGNITO_RATE_LIMIT_RPS). */
  readonly ratePerSecond: number;
  /** The longest a waiting caller sleeps before asking again, so it notices a faster rate. @default 1000 */
  readonly maxSleepMs?: number;
}

/** What `status` and `/metrics` show of a bucket. */
export interface LimiterState {
  /** The rate the bucket hands out slots at now (calls/s). */
  readonly rateRps: number;
  /** The configured rate of the last caller (calls/s): the hard bound. */
  readonly maxRps: number;
  /** The rate the last throttle hit, which the rate settles under (null: never throttled). */
  readonly ceilingRps: number | null;
  /** Throttles reported in the last minute, by every worker. */
  readonly throttlesPerMinute: number;
  /** When the rate was last cut (ms since the epoch), or null. */
  readonly lastCutAt: number | null;
  /** Flows the bucket knows, and how many of their callers wait for a slot. */
  readonly flows: readonly { readonly flow: string; readonly waiting: number }[];
}

/** The flow id of one table's walk in one run: flows share the rate equally. */
export function rateLimitFlow(snapshotId: string, table: string): string {
  return `${snapshotId}-${table}`;
}

/**
 * Priorities of flows: waiting callers of a higher one are served first. Shardable walks (users)
 * are `SHARDED`: they only share the rate and take what the others leave. Walks that cannot be
 * split (a group's members, one page per round trip) go above them, see {@link unsplitPriority}.
 */
export const FLOW_PRIORITY = Object.freeze({ SHARDED: 0, UNSPLIT_LAST: 1, UNSPLIT_FIRST: 9 });

/** Unsplittable walks of one run served at the same priority: about what the rate serves at full speed (25/s × 150 ms). */
export const UNSPLIT_PER_PRIORITY = 4;

/**
 * The priority of a run's `order`-th unsplittable walk (0 first): whatever such a walk waits for
 * adds to the run's time, and how long it is shows only at its end, so they are served in order,
 * {@link UNSPLIT_PER_PRIORITY} at a time, and a later one takes what the earlier leave. Sharing the
 * rate equally instead would slow the longest one down as much as every short one.
 */
export function unsplitPriority(order: number): number {
  return Math.max(FLOW_PRIORITY.UNSPLIT_LAST, FLOW_PRIORITY.UNSPLIT_FIRST - Math.floor(order / UNSPLIT_PER_PRIORITY));
}

const FLOW = /^[^\s:]+$/;

/**
 * A rate limit shared through Redis by every worker and shard that uses the same key (one per AWS
 * account and region: Cognito's UserList quota is per account and region). It learns: a reported
 * throttle cuts the rate at once for every caller, including those already waiting, and the rate
 * settles under where throttling began and probes above it slowly (see `rate-controller.ts`), never
 * above `ratePerSecond`. Callers name their flow (a run's table walk, see {@link rateLimitFlow}):
 * flows waiting at the same time get equal shares, whatever their number of callers, except that a
 * flow of a higher priority ({@link FLOW_PRIORITY}) goes first.
 */
export class RedisRateLimiter {
  private readonly settings: BucketSettings;
  private readonly args: readonly string[];
  private readonly maxSleepMs: number;
  private lastRate: number;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly key: string,
    options: RateLimiterOptions,
  ) {
    const { ratePerSecond, maxSleepMs = 1000, ...rest } = options;
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
      throw new RangeError(`Expected \`ratePerSecond\` to be a number above 0, got \`${ratePerSecond}\``);
    }
    const defined = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined)) as Partial<BucketSettings>;
    // A configured rate under the default minimum (0.1/s is allowed) is its own minimum.
    const minRps = defined.minRps ?? Math.min(DEFAULT_CONTROLLER.minRps, ratePerSecond);
    this.settings = { ...DEFAULT_CONTROLLER, ...DEFAULT_BUCKET, ...defined, minRps, maxRps: ratePerSecond };
    checkControllerSettings(this.settings);
    for (const name of ['catchUpMs', 'flowIdleMs'] as const) {
      const value = this.settings[name];
      if (!(value >= 0) || !Number.isFinite(value)) throw new RangeError(`Expected \`${name}\` to be a number from 0, got \`${value}\``);
    }
    if (!(maxSleepMs > 0) || !Number.isFinite(maxSleepMs)) throw new RangeError(`Expected \`maxSleepMs\` to be a number above 0, got \`${maxSleepMs}\``);
    this.maxSleepMs = maxSleepMs;
    this.args = scriptSettings(this.settings).map(String);
    this.lastRate = ratePerSecond;
  }

  /** The bucket's rate as of the last answer from Redis (calls/s). */
  get currentRate(): number {
    return this.lastRate;
  }

  /** One flow's view of the bucket, for a page source; `priority` see {@link FLOW_PRIORITY}. */
  forFlow(flow: string, priority: number = FLOW_PRIORITY.SHARDED): CallLimiter {
    checkFlow(flow);
    checkPriority(priority);
    return {
      acquire: (signal) => this.acquire(flow, signal, priority),
      reportThrottle: (slot) => this.reportThrottle(slot),
    };
  }

  /** Waits for a slot for `flow`. Rejects with the signal's reason when it aborts, giving the ticket back. */
  async acquire(flow: string, signal?: AbortSignal, priority: number = FLOW_PRIORITY.SHARDED): Promise<CallSlot> {
    checkFlow(flow);
    checkPriority(priority);
    signal?.throwIfAborted();
    const started = performance.now();
    let reply = await this.slot('acquire', flow, 0, priority);
    try {
      while (!reply.granted) {
        await sleep(Math.min(reply.waitMs + 1, this.maxSleepMs), signal);
        reply = await this.slot('poll', flow, reply.ticket, priority);
      }
    } catch (error) {
      // A ticket left waiting would take a slot nobody uses.
      if (!reply.granted) await this.slot('cancel', flow, reply.ticket, priority).catch(() => undefined);
      throw error;
    }
    return { grantedAt: reply.now, waitedMs: performance.now() - started };
  }

  /** Reports a throttle of the call made in `slot` (without one: of a call made just now). */
  async reportThrottle(slot?: CallSlot): Promise<void> {
    const sentAt = slot?.grantedAt ?? Number.MAX_SAFE_INTEGER;
    const [, rate] = (await this.redis.eval(LIMITER_SCRIPT, 1, this.key, 'throttle', '', ...this.args, String(sentAt))) as string[];
    this.lastRate = Number(rate);
  }

  /** The bucket as `status` shows it, or undefined if it holds nothing. */
  async state(): Promise<LimiterState | undefined> {
    return readLimiterState(this.redis, this.key);
  }

  private async slot(
    op: 'acquire' | 'poll' | 'cancel',
    flow: string,
    ticket: number,
    priority: number,
  ): Promise<{ granted: boolean; ticket: number; waitMs: number; now: number }> {
    const reply = (await this.redis.eval(LIMITER_SCRIPT, 1, this.key, op, '', ...this.args, flow, String(ticket), String(priority))) as string[];
    const [granted, issued, waitMs, rate, now] = reply.map(Number) as [number, number, number, number, number];
    this.lastRate = rate;
    return { granted: granted === 1, ticket: issued, waitMs, now };
  }
}

/** Reads a bucket (by its key, see `rateLimitKey`) without changing it; undefined if it holds nothing. */
export async function readLimiterState(redis: Redis | Cluster, key: string): Promise<LimiterState | undefined> {
  const [nowText, ...flat] = (await redis.eval(LIMITER_SCRIPT, 1, key, 'read', '')) as string[];
  if (flat.length === 0) return undefined;
  const now = Number(nowText);
  const fields: BucketFields = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = Number(flat[i + 1]);
  const maxRps = fields.max ?? 0;
  const state = controllerState(fields);
  return {
    rateRps: maxRps > 0 ? controlledRate(state, { ...DEFAULT_CONTROLLER, maxRps, minRps: fields.min ?? DEFAULT_CONTROLLER.minRps, probe: fields.probe ?? DEFAULT_CONTROLLER.probe }, now) : 0,
    maxRps,
    ceilingRps: state.cutAt === 0 ? null : state.ceiling,
    throttlesPerMinute: throttlesPerMinute(fields, now),
    lastCutAt: state.cutAt === 0 ? null : state.cutAt,
    flows: bucketFlows(fields).map((flow) => ({ flow, waiting: Math.max(0, waitingTickets(fields, flow)) })),
  };
}

function checkFlow(flow: string): void {
  if (typeof flow !== 'string' || !FLOW.test(flow)) throw new TypeError(`Expected \`flow\` to be a non-empty string without spaces or colons, got \`${flow}\``);
}

function checkPriority(priority: number): void {
  if (!Number.isInteger(priority) || priority < 0 || priority > 9) throw new RangeError(`Expected \`priority\` to be an integer from 0 to 9, got \`${priority}\``);
}
