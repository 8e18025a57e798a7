/**
 * The rate rules of the shared limiter, as pure functions of the bucket's state and a clock: how fast
 * the bucket hands out slots now, and what a throttle does to that. `limiter-script.ts` implements the
 * same rules in Lua; a test runs both on one sequence of events and compares them.
 *
 * The shape is TCP CUBIC's, with its window read as a rate, and one change for a quota shared with
 * applications we cannot see. A throttle remembers the rate it hit as the ceiling and cuts the rate
 * at once. If it hit near the ceiling learned before (within `tolerance`), the ceiling is confirmed:
 * the cut is to `decrease` × the hit, and the rate climbs back along a cubic, fast while far below,
 * flattening out at the settle point just under the ceiling (`settle` × the hit), where it stays a
 * while before it probes above, slowly at first, faster the longer nothing throttles. If it hit far
 * from the learned ceiling (the first throttle, or the quota's other users changed their rate), the
 * old ceiling says nothing about the rate available now: the cut is deeper (`reset` × the hit) and the
 * rate probes up from there along the convex half of the cubic only, slowly for the first seconds.
 * The configured rate bounds everything.
 *
 * A throttle of a call sent after the last cut is news about the new rate and cuts again; one sent
 * shortly before it (at the old rate, `inFlightMs`) says the old rate was even further over than one
 * throttle suggests, and deepens the cut; older ones are only counted.
 */

/** How the controller moves; every caller of one bucket should use the same values, except `maxRps`. */
export interface RateControllerSettings {
  /** The configured rate: calls/s never exceeded (this caller's bound; callers may differ). */
  readonly maxRps: number;
  /** The rate never drops below this. @default 0.5 */
  readonly minRps: number;
  /** A throttle near the learned ceiling cuts the rate to this fraction of the rate it hit. @default 0.7 */
  readonly decrease: number;
  /** A throttle far from the learned ceiling (or the first one) cuts to this fraction. @default 0.4 */
  readonly reset: number;
  /** How far from the learned ceiling (a fraction of it) a throttle still confirms it. @default 0.2 */
  readonly tolerance: number;
  /** The rate settles at this fraction of a confirmed ceiling before probing above it. @default 0.95 */
  readonly settle: number;
  /** Cubic coefficient: how fast the rate climbs back and probes, in calls/s per s³. @default 0.004 */
  readonly probe: number;
  /** A throttle of a call sent this long before the last cut, or later, deepens or repeats the cut. @default 1000 */
  readonly inFlightMs: number;
}

/** The defaults docs/operations.md documents (all but `maxRps`). */
export const DEFAULT_CONTROLLER: Omit<RateControllerSettings, 'maxRps'> = Object.freeze({
  minRps: 0.5,
  decrease: 0.7,
  reset: 0.4,
  tolerance: 0.2,
  settle: 0.95,
  probe: 0.004,
  inFlightMs: 1000,
});

/** What the controller remembers: all of it lives in the shared bucket. */
export interface RateControllerState {
  /** The rate the last throttle hit (calls/s); 0 until the first throttle. */
  readonly ceiling: number;
  /** When that throttle cut the rate (ms, Redis clock); 0 until the first throttle. */
  readonly cutAt: number;
  /** The rate right after the cut. */
  readonly floor: number;
  /** Where the climb flattens out: the settle point, or the floor itself when the rate probes up from there. */
  readonly target: number;
}

/** A bucket that has never been throttled. */
export const UNTHROTTLED: RateControllerState = Object.freeze({ ceiling: 0, cutAt: 0, floor: 0, target: 0 });

/** The rate the bucket runs at `now` (calls/s), between `minRps` and `maxRps`. */
export function controlledRate(state: RateControllerState, settings: RateControllerSettings, now: number): number {
  if (state.cutAt === 0) return settings.maxRps;
  const seconds = Math.max(0, now - state.cutAt) / 1000;
  // The cubic passes through the floor at the cut and is flat at the target `plateau` seconds later.
  const plateau = Math.cbrt(Math.max(0, state.target - state.floor) / settings.probe);
  const d = seconds - plateau;
  const rate = state.target + settings.probe * (d * d * d);
  return Math.min(settings.maxRps, Math.max(settings.minRps, rate));
}

/**
 * The state after a throttle reported at `now` of a call sent at `sentAt` (both on the bucket's
 * clock), or undefined when the throttle says nothing new (the call went out well before the last cut).
 */
export function afterThrottle(state: RateControllerState, settings: RateControllerSettings, now: number, sentAt: number): RateControllerState | undefined {
  if (state.cutAt !== 0 && sentAt < state.cutAt) {
    if (sentAt < state.cutAt - settings.inFlightMs) return undefined;
    // Sent at the old rate and throttled too: the old rate was further over than the cut assumed.
    const floor = Math.max(settings.minRps, settings.reset * state.floor);
    return { ceiling: state.ceiling, cutAt: state.cutAt, floor, target: floor };
  }
  const hit = controlledRate(state, settings, now);
  const floor = (share: number) => Math.max(settings.minRps, share * hit);
  if (state.ceiling > 0 && Math.abs(hit - state.ceiling) <= settings.tolerance * state.ceiling) {
    return { ceiling: hit, cutAt: now, floor: floor(settings.decrease), target: Math.max(floor(settings.decrease), settings.settle * hit) };
  }
  return { ceiling: hit, cutAt: now, floor: floor(settings.reset), target: floor(settings.reset) };
}

/** Checks settings, with messages that name the option, what it must be and what it was. */
export function checkControllerSettings(settings: RateControllerSettings): void {
  const check = (name: keyof RateControllerSettings, ok: (value: number) => boolean, expected: string) => {
    const value = settings[name];
    if (typeof value !== 'number' || !ok(value)) throw new RangeError(`Expected \`${name}\` to be ${expected}, got \`${value}\``);
  };
  const fraction = (v: number) => v > 0 && v < 1;
  check('maxRps', (v) => v > 0 && Number.isFinite(v), 'a number above 0');
  check('minRps', (v) => v > 0 && v <= settings.maxRps, 'a number above 0 and at most `maxRps`');
  check('decrease', fraction, 'a number between 0 and 1');
  check('reset', fraction, 'a number between 0 and 1');
  check('tolerance', fraction, 'a number between 0 and 1');
  check('settle', (v) => v > 0 && v <= 1, 'a number above 0 and at most 1');
  check('probe', (v) => v > 0 && Number.isFinite(v), 'a number above 0');
  check('inFlightMs', (v) => v >= 0 && Number.isFinite(v), 'a number from 0');
}
