import { applyBucketEvent, controllerState, type BucketEvent, type BucketFields, type BucketSettings, type SlotReply } from '../../src/limits/limiter-bucket.js';
import { AppLoad, type AppLoadSettings } from '../../src/emulator/app-load.js';
import { QuotaMeter } from '../../src/emulator/quota-meter.js';
import { controlledRate, type RateControllerState } from '../../src/limits/rate-controller.js';

/**
 * A discrete-event simulation of the exporter's shards against Cognito's UserList quota, on a virtual
 * clock: the limiter is the pure bucket model, the quota a token bucket like the emulator's (and
 * AWS's: refilled at `quotaRps`, holding one second's worth), and the account's app calls it on its
 * own schedule. Each shard waits for a slot, calls, waits for the answer, and after a throttle reports
 * it and backs off with full jitter (200 ms base, as the retry policy does) before asking again.
 */

/** One export run's table walk: its flow id and how many shards walk it at once. */
export interface SimulatedFlow {
  readonly flow: string;
  readonly shards: number;
  /** When its shards start (s). @default 0 */
  readonly startSeconds?: number;
  /** When they stop (s). @default the end */
  readonly stopSeconds?: number;
}

/** What to simulate. */
export interface SimulationOptions {
  readonly seconds: number;
  readonly quotaRps: number;
  readonly settings: BucketSettings;
  readonly flows: readonly SimulatedFlow[];
  /** The account's app: `rps` evenly spaced; with `burst`, only the first `burst[0]` s of every `burst[1]` s. */
  readonly app?: { readonly rps: number; readonly burst?: readonly [number, number]; readonly stopSeconds?: number };
  /** A call's latency, uniform in [latencyMs − jitterMs/2, latencyMs + jitterMs/2]. @default 150, 50 */
  readonly latencyMs?: number;
  readonly jitterMs?: number;
  /** The longest a waiting caller sleeps before asking again (the client's setting). @default 1000 */
  readonly maxSleepMs?: number;
  /** Seed of the deterministic random source. @default 1 */
  readonly seed?: number;
}

/** Per-second counts and totals. */
export interface SimulationResult {
  readonly app: { calls: number; throttled: number; throttledPerSecond: number[] };
  /** Calls sent, per flow: totals and per second. */
  readonly flows: Record<string, { calls: number; throttled: number; perSecond: number[] }>;
  /** The bucket's rate sampled each second. */
  readonly rate: number[];
  /** Calls sent per second by all flows together. */
  readonly exporterPerSecond: number[];
  /** Redis round trips the shards made (acquire + poll + throttle). */
  readonly roundTrips: number;
}

const ACCOUNT = '000000000000';

/** Mulberry32: a small deterministic random source. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A binary heap of timed events. */
class Timeline {
  private readonly heap: { t: number; n: number; run: () => void }[] = [];
  private count = 0;
  at(t: number, run: () => void): void {
    const heap = this.heap;
    heap.push({ t, n: this.count++, run });
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }
  pop(): { t: number; run: () => void } | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

const before = (a: { t: number; n: number }, b: { t: number; n: number }) => a.t < b.t || (a.t === b.t && a.n < b.n);

/** Runs the simulation; deterministic for a given seed. */
export function simulateQuota(options: SimulationOptions): SimulationResult {
  const rand = random(options.seed ?? 1);
  const timeline = new Timeline();
  const endMs = options.seconds * 1000;
  const latency = options.latencyMs ?? 150;
  const jitter = options.jitterMs ?? 50;
  const maxSleep = options.maxSleepMs ?? 1000;
  const fields: BucketFields = {};
  const seconds = Math.ceil(options.seconds);
  const zeros = () => Array.from({ length: seconds }, () => 0);
  const result: SimulationResult = {
    app: { calls: 0, throttled: 0, throttledPerSecond: zeros() },
    flows: Object.fromEntries(options.flows.map((f) => [f.flow, { calls: 0, throttled: 0, perSecond: zeros() }])),
    rate: zeros(),
    exporterPerSecond: zeros(),
    roundTrips: 0,
  };
  let trips = 0;
  // The emulator's own quota and app load, on the virtual clock.
  let clock = 0;
  const quota = new QuotaMeter({ userListRps: options.quotaRps, resourceReadRps: 20, resourceReadPoolRps: 5 }, () => clock);
  const take = (t: number): boolean => {
    clock = t;
    return quota.tryTake('ListUsers', ACCOUNT, null);
  };
  const second = (t: number) => Math.min(seconds - 1, Math.floor(t / 1000));
  const bucket = (t: number, event: BucketEvent) => {
    trips++;
    return applyBucketEvent(fields, options.settings, t, event);
  };

  for (const flow of options.flows) {
    const counts = result.flows[flow.flow]!;
    const stopMs = (flow.stopSeconds ?? options.seconds) * 1000;
    for (let shard = 0; shard < flow.shards; shard++) {
      let throttles = 0;
      const ask = (t: number, ticket: number) => {
        if (t >= stopMs) {
          // The shard stops (its job ended or the worker shuts down): its ticket no longer waits.
          if (ticket !== 0) bucket(t, { op: 'cancel', flow: flow.flow, ticket });
          return;
        }
        const reply = bucket(t, ticket === 0 ? { op: 'acquire', flow: flow.flow } : { op: 'poll', flow: flow.flow, ticket }) as SlotReply;
        if (!reply.granted) {
          timeline.at(t + Math.min(reply.waitMs + 1, maxSleep), () => ask(t + Math.min(reply.waitMs + 1, maxSleep), reply.ticket));
          return;
        }
        const sentAt = reply.now;
        counts.calls++;
        counts.perSecond[second(t)]! += 1;
        result.exporterPerSecond[second(t)]! += 1;
        // The request reaches Cognito a little later: Node, HTTP and the network add a millisecond or two.
        const arrives = t + 0.5 + rand() * 2;
        timeline.at(arrives, () => {
          const ok = take(arrives);
          const answered = arrives + latency - jitter / 2 + rand() * jitter;
          timeline.at(answered, () => {
            if (ok) {
              throttles = 0;
              ask(answered, 0);
              return;
            }
            counts.throttled++;
            throttles++;
            bucket(answered, { op: 'throttle', sentAt });
            const backoff = Math.floor(rand() * Math.min(20_000, 200 * 2 ** (throttles - 1)));
            timeline.at(answered + backoff, () => ask(answered + backoff, 0));
          });
        });
      };
      const start = (flow.startSeconds ?? 0) * 1000 + shard * 0.01;
      timeline.at(start, () => ask(start, 0));
    }
  }

  const app = options.app;
  if (app) {
    const load = new AppLoad(quota, () => clock);
    const settings: AppLoadSettings = {
      rps: app.rps,
      pattern: app.burst ? 'burst' : 'steady',
      burstSeconds: app.burst?.[0] ?? 10,
      periodSeconds: app.burst?.[1] ?? 30,
      account: ACCOUNT,
    };
    load.configure(settings, 0);
    let seen = { calls: 0, throttled: 0 };
    const stopMs = (app.stopSeconds ?? options.seconds) * 1000;
    // Like the emulator's 5 ms timer, which fires up to a millisecond late.
    for (let tick = 5; tick < Math.min(endMs, stopMs); tick += 5) {
      const at = tick + rand();
      timeline.at(at, () => {
        clock = at;
        load.tick();
        const counts = load.counts;
        result.app.calls = counts.calls;
        result.app.throttled = counts.throttled;
        result.app.throttledPerSecond[second(at)]! += counts.throttled - seen.throttled;
        seen = counts;
      });
    }
  }
  for (let s = 0; s < seconds; s++) {
    timeline.at(s * 1000 + 999, () => {
      const state: RateControllerState = controllerState(fields);
      result.rate[s] = controlledRate(state, options.settings, s * 1000 + 999);
    });
  }
  for (let event = timeline.pop(); event && event.t < endMs; event = timeline.pop()) event.run();
  return { ...result, roundTrips: trips };
}
