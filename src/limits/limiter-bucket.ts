import { afterThrottle, controlledRate, type RateControllerSettings, type RateControllerState } from './rate-controller.js';

/**
 * The shared bucket as a pure model: its Redis hash as a record of numbers, and what each request
 * does to it at a given time. `limiter-script.ts` is the same model in Lua (what production runs, on
 * Redis's clock); this one is what unit tests and simulations run, and a test checks the two agree.
 *
 * Slots are handed out at the controller's rate, one every 1/rate seconds, and only to callers that
 * are waiting for one: a caller takes a ticket of its flow (`acquire`), and a slot that comes due goes
 * to the waiting flow served longest ago (round robin), which grants that flow's oldest ticket. So
 * flows with callers waiting share the rate equally however many callers each has, a flow that asks
 * for less than its share gets all it asks for, and the rest flows to the others. A flow of a higher
 * priority (its callers say so) with callers waiting goes before every flow of a lower one: a walk
 * that cannot be split (a group's ListUsersInGroup chain, one page per round trip) never waits behind
 * walks that can, which take what it leaves. A caller whose
 * ticket is not granted yet is told when it probably will be, sleeps, and asks again (`poll`).
 * Nothing is promised ahead of time beyond the next slot, so a cut applies at once to every caller
 * still waiting, however long it has been waiting.
 *
 * Fields: `next` (when the next slot comes due, ms), `ceiling`, `cut_at`, `floor`, `target` (the
 * controller), `max`, `min`, `probe` (the last caller's rate settings, for readers), `tw`/`tc`/`tp` (throttles in
 * this and the last minute window), and per flow `i:<flow>` (tickets issued), `g:<flow>` (granted),
 * `c:<flow>` (cancelled, not reached yet), `x:<flow>:<ticket>` (that ticket is cancelled),
 * `s:<flow>` (when it was last served), `a:<flow>` (when it last asked), `p:<flow>` (its priority,
 * as its last caller gave it).
 */

/** The hash: field name → number. */
export type BucketFields = Record<string, number>;

/** The controller's settings plus how the bucket schedules slots. */
export interface BucketSettings extends RateControllerSettings {
  /** A slot that came due while callers slept is still handed out up to this late. @default 500 */
  readonly catchUpMs: number;
  /** A flow with nothing waiting is forgotten this long after it last asked. @default 60000 */
  readonly flowIdleMs: number;
}

/** The defaults of the bucket's own settings. */
export const DEFAULT_BUCKET: Pick<BucketSettings, 'catchUpMs' | 'flowIdleMs'> = Object.freeze({ catchUpMs: 500, flowIdleMs: 60_000 });

/** What a caller can ask the bucket. */
export type BucketEvent =
  | { readonly op: 'acquire'; readonly flow: string; readonly priority?: number }
  | { readonly op: 'poll'; readonly flow: string; readonly ticket: number; readonly priority?: number }
  | { readonly op: 'cancel'; readonly flow: string; readonly ticket: number }
  | { readonly op: 'throttle'; readonly sentAt: number };

/** The answer to `acquire`, `poll` or `cancel`. */
export interface SlotReply {
  /** True: call now. False: sleep about `waitMs`, then poll with `ticket`. */
  readonly granted: boolean;
  readonly ticket: number;
  readonly waitMs: number;
  /** The bucket's rate at `now` (calls/s). */
  readonly rate: number;
  readonly now: number;
}

/** The answer to `throttle`. */
export interface ThrottleReply {
  /** Whether the throttle cut the rate (false: it came from well before the last cut). */
  readonly cut: boolean;
  readonly rate: number;
  readonly now: number;
}

const MINUTE_MS = 60_000;

/** The controller's part of the hash. */
export function controllerState(fields: BucketFields): RateControllerState {
  return { ceiling: fields.ceiling ?? 0, cutAt: fields.cut_at ?? 0, floor: fields.floor ?? 0, target: fields.target ?? 0 };
}

/** Throttles in the last minute (a sliding window over two fixed minute windows). */
export function throttlesPerMinute(fields: BucketFields, now: number): number {
  const window = Math.floor(now / MINUTE_MS);
  const stored = fields.tw ?? 0;
  const rest = 1 - (now % MINUTE_MS) / MINUTE_MS;
  if (stored === window) return (fields.tc ?? 0) + (fields.tp ?? 0) * rest;
  if (stored === window - 1) return (fields.tc ?? 0) * rest;
  return 0;
}

/** The flows the hash knows, sorted by name. */
export function bucketFlows(fields: BucketFields): string[] {
  return Object.keys(fields)
    .filter((field) => field.startsWith('i:'))
    .map((field) => field.slice(2))
    .sort();
}

/** Tickets of a flow still waiting for a slot. */
export function waitingTickets(fields: BucketFields, flow: string): number {
  return (fields[`i:${flow}`] ?? 0) - (fields[`g:${flow}`] ?? 0) - (fields[`c:${flow}`] ?? 0);
}

/** Applies one event at `now` (ms), changing `fields` in place, and returns the answer. */
export function applyBucketEvent(fields: BucketFields, settings: BucketSettings, now: number, event: BucketEvent): SlotReply | ThrottleReply {
  // What a reader needs to compute the rate (the configured rate is each caller's own: the last one's).
  fields.max = settings.maxRps;
  fields.min = settings.minRps;
  fields.probe = settings.probe;
  if (event.op === 'throttle') return throttle(fields, settings, now, event.sentAt);
  forgetIdleFlows(fields, settings, now);
  // Slots that came due before this request go to the callers that were waiting for them.
  dispatch(fields, settings, now);
  const flow = event.flow;
  const rate = () => controlledRate(controllerState(fields), settings, now);
  if (event.op === 'cancel') {
    cancel(fields, flow, event.ticket);
    return { granted: false, ticket: 0, waitMs: 0, rate: rate(), now };
  }
  let ticket = event.op === 'poll' ? event.ticket : 0;
  // A ticket the hash does not know (its flow was forgotten) is replaced by a new one.
  if (ticket === 0 || ticket > (fields[`i:${flow}`] ?? 0)) {
    ticket = (fields[`i:${flow}`] ?? 0) + 1;
    fields[`i:${flow}`] = ticket;
    fields[`g:${flow}`] ??= 0;
    fields[`c:${flow}`] ??= 0;
    fields[`s:${flow}`] ??= 0;
    fields[`p:${flow}`] = event.priority ?? 0;
    dispatch(fields, settings, now);
  }
  fields[`a:${flow}`] = now;
  fields[`p:${flow}`] = event.priority ?? 0;
  const granted = fields[`g:${flow}`] ?? 0;
  if (ticket <= granted) return { granted: true, ticket, waitMs: 0, rate: rate(), now };
  return { granted: false, ticket, waitMs: Math.max(0, estimateGrant(fields, flow, ticket - granted, rate()) - now), rate: rate(), now };
}

/**
 * Hands the slots due by `now` to waiting flows, the highest priority first and of those the least
 * recently served; slots nobody waits for lapse.
 */
function dispatch(fields: BucketFields, settings: BucketSettings, now: number): void {
  const interval = 1000 / controlledRate(controllerState(fields), settings, now);
  let next = Math.max(fields.next ?? 0, now - settings.catchUpMs);
  const flows = bucketFlows(fields);
  while (next <= now) {
    let best: string | undefined;
    for (const flow of flows) {
      if (waitingTickets(fields, flow) > 0 && (best === undefined || before(fields, flow, best))) best = flow;
    }
    if (best === undefined) {
      next = now;
      break;
    }
    // The flow's oldest live ticket gets the slot; cancelled ones before it are passed over.
    let ticket = (fields[`g:${best}`] ?? 0) + 1;
    while (fields[`x:${best}:${ticket}`] !== undefined) {
      delete fields[`x:${best}:${ticket}`];
      fields[`c:${best}`] = (fields[`c:${best}`] ?? 0) - 1;
      ticket += 1;
    }
    fields[`g:${best}`] = ticket;
    fields[`s:${best}`] = next;
    next += interval;
  }
  fields.next = next;
}

/** Whether `flow` goes before `other` for the next slot: a higher priority, or the same and served longer ago. */
function before(fields: BucketFields, flow: string, other: string): boolean {
  const [mine, theirs] = [fields[`p:${flow}`] ?? 0, fields[`p:${other}`] ?? 0];
  if (mine !== theirs) return mine > theirs;
  return (fields[`s:${flow}`] ?? 0) < (fields[`s:${other}`] ?? 0);
}

/** A caller gave up waiting: its ticket no longer takes a slot. */
function cancel(fields: BucketFields, flow: string, ticket: number): void {
  let issued = fields[`i:${flow}`] ?? 0;
  if (ticket <= (fields[`g:${flow}`] ?? 0) || ticket > issued) return;
  if (ticket < issued) {
    fields[`x:${flow}:${ticket}`] = 1;
    fields[`c:${flow}`] = (fields[`c:${flow}`] ?? 0) + 1;
    return;
  }
  // The newest ticket: take it back, and any cancelled ones just before it.
  issued -= 1;
  while (issued > (fields[`g:${flow}`] ?? 0) && fields[`x:${flow}:${issued}`] !== undefined) {
    delete fields[`x:${flow}:${issued}`];
    fields[`c:${flow}`] = (fields[`c:${flow}`] ?? 0) - 1;
    issued -= 1;
  }
  fields[`i:${flow}`] = issued;
}

/**
 * When a flow's `ahead`-th waiting ticket will probably be granted, if the flows waiting now keep
 * their place in the rotation: it is served once a round, and so is every other flow of its
 * priority still waiting; every waiting ticket of a higher priority goes first.
 */
function estimateGrant(fields: BucketFields, flow: string, ahead: number, rate: number): number {
  let slots = ahead;
  const served = fields[`s:${flow}`] ?? 0;
  const priority = fields[`p:${flow}`] ?? 0;
  for (const other of bucketFlows(fields)) {
    if (other === flow) continue;
    const waiting = waitingTickets(fields, other);
    const theirs = fields[`p:${other}`] ?? 0;
    if (theirs > priority) slots += Math.max(0, waiting);
    if (theirs !== priority) continue;
    slots += Math.min(waiting, ahead - 1);
    if (waiting >= ahead && (fields[`s:${other}`] ?? 0) < served) slots += 1;
  }
  return (fields.next ?? 0) + ((slots - 1) * 1000) / rate;
}

function forgetIdleFlows(fields: BucketFields, settings: BucketSettings, now: number): void {
  for (const flow of bucketFlows(fields)) {
    if (waitingTickets(fields, flow) <= 0 && (fields[`a:${flow}`] ?? 0) < now - settings.flowIdleMs) {
      for (const part of ['i', 'g', 'c', 's', 'a', 'p']) delete fields[`${part}:${flow}`];
      for (const field of Object.keys(fields)) if (field.startsWith(`x:${flow}:`)) delete fields[field];
    }
  }
}

function throttle(fields: BucketFields, settings: BucketSettings, now: number, sentAt: number): ThrottleReply {
  const window = Math.floor(now / MINUTE_MS);
  const stored = fields.tw ?? 0;
  if (stored !== window) {
    fields.tp = stored === window - 1 ? (fields.tc ?? 0) : 0;
    fields.tc = 0;
    fields.tw = window;
  }
  fields.tc = (fields.tc ?? 0) + 1;
  const state = controllerState(fields);
  const before = controlledRate(state, settings, now);
  const cut = afterThrottle(state, settings, now, sentAt);
  if (cut === undefined) return { cut: false, rate: before, now };
  fields.ceiling = cut.ceiling;
  fields.cut_at = cut.cutAt;
  fields.floor = cut.floor;
  fields.target = cut.target;
  const after = controlledRate(cut, settings, now);
  // The slot already scheduled moves out too: nothing goes out at the old rate after a cut.
  const next = fields.next ?? 0;
  if (next > now) fields.next = now + ((next - now) * before) / after;
  return { cut: true, rate: after, now };
}
