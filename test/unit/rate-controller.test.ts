import { describe, expect, it } from 'vitest';
import {
  afterThrottle,
  checkControllerSettings,
  controlledRate,
  DEFAULT_CONTROLLER,
  UNTHROTTLED,
  type RateControllerSettings,
  type RateControllerState,
} from '../../src/limits/rate-controller.js';

const settings: RateControllerSettings = { ...DEFAULT_CONTROLLER, maxRps: 25 };
const T0 = 1_800_000_000_000;
const s = (seconds: number) => T0 + seconds * 1000;
const rate = (state: RateControllerState, seconds: number) => controlledRate(state, settings, s(seconds));

/** Throttles a call sent at `sent` s, reported at `at` s. */
function throttle(state: RateControllerState, at: number, sent = at): RateControllerState {
  const next = afterThrottle(state, settings, s(at), s(sent));
  if (!next) throw new Error(`throttle at ${at} s did nothing`);
  return next;
}

describe('the rate controller', () => {
  it('runs at the configured rate until a first throttle', () => {
    expect(rate(UNTHROTTLED, 0)).toBe(25);
    expect(rate(UNTHROTTLED, 3600)).toBe(25);
  });

  it('cuts at once to 0.4 × the rate on a first throttle, and remembers that rate as the ceiling', () => {
    const cut = throttle(UNTHROTTLED, 0);
    expect(cut).toEqual({ ceiling: 25, cutAt: s(0), floor: 10, target: 10 });
    expect(rate(cut, 0)).toBe(10);
  });

  it('probes up slowly after a first throttle: little in the first seconds, the configured rate within 20 s', () => {
    const cut = throttle(UNTHROTTLED, 0);
    expect(rate(cut, 5)).toBeCloseTo(10.5, 5); // 10 + 0.004 × 5³
    expect(rate(cut, 10)).toBeCloseTo(14, 5);
    expect(rate(cut, 15)).toBeCloseTo(23.5, 5);
    expect(rate(cut, 16)).toBe(25);
    expect(rate(cut, 600)).toBe(25);
  });

  it('confirms the ceiling when throttled near it again: a shallow cut and a climb that settles just under it', () => {
    const confirmed = throttle(throttle(UNTHROTTLED, 0), 30);
    expect(confirmed).toEqual({ ceiling: 25, cutAt: s(30), floor: 17.5, target: 23.75 });
    expect(rate(confirmed, 30)).toBe(17.5);
    // Fast while far below: half way up within 2 s; then flat at the settle point around
    // (23.75 − 17.5) / 0.004 = 1562.5, cube root ≈ 11.6 s after the cut.
    expect(rate(confirmed, 32)).toBeGreaterThan(20);
    expect(rate(confirmed, 30 + 11.6)).toBeCloseTo(23.75, 2);
    expect(rate(confirmed, 30 + 9)).toBeGreaterThan(23.6);
    expect(rate(confirmed, 30 + 14)).toBeLessThan(23.9);
    // Then it probes above, back to the configured rate.
    expect(rate(confirmed, 30 + 11.6 + 7)).toBe(25);
  });

  it('takes a throttle well under the ceiling as news that the quota is busier now: a deep cut again', () => {
    const first = throttle(UNTHROTTLED, 0);
    // 12 s after the first cut the rate is about 16.9/s, far below the ceiling of 25.
    const second = throttle(first, 12);
    expect(second.ceiling).toBeCloseTo(16.91, 2);
    expect(second.floor).toBeCloseTo(0.4 * 16.91, 2);
    expect(second.target).toBe(second.floor);
  });

  it('lowers the ceiling a little each time it is throttled at the settle point', () => {
    let state = throttle(throttle(UNTHROTTLED, 0), 30);
    state = throttle(state, 30 + 11.6); // at 23.75
    expect(state.ceiling).toBeCloseTo(23.75, 2);
    expect(state.target).toBeCloseTo(0.95 * 23.75, 2);
  });

  it('deepens the cut for a call sent at the old rate and throttled too, but leaves the ceiling', () => {
    const cut = throttle(UNTHROTTLED, 0);
    const deeper = throttle(cut, 0.2, -0.1);
    expect(deeper).toEqual({ ceiling: 25, cutAt: s(0), floor: 4, target: 4 });
  });

  it('ignores a throttle of a call sent long before the last cut', () => {
    const cut = throttle(UNTHROTTLED, 10);
    expect(afterThrottle(cut, settings, s(10.5), s(8.9))).toBeUndefined();
  });

  it('never drops below its minimum rate, however many throttles', () => {
    let state: RateControllerState = UNTHROTTLED;
    for (let i = 0; i < 20; i++) state = throttle(state, i * 0.01);
    expect(rate(state, 0.2)).toBeCloseTo(0.5, 5);
  });

  it('never exceeds the configured rate, even a caller with a lower one than the ceiling learned', () => {
    const state = throttle(throttle(UNTHROTTLED, 0), 30);
    expect(controlledRate(state, { ...settings, maxRps: 20 }, s(50))).toBe(20);
  });

  it('refuses settings it cannot use, naming the option', () => {
    expect(() => checkControllerSettings({ ...settings, maxRps: 0 })).toThrow('Expected `maxRps` to be a number above 0, got `0`');
    expect(() => checkControllerSettings({ ...settings, reset: 1 })).toThrow('Expected `reset` to be a number between 0 and 1, got `1`');
    expect(() => checkControllerSettings({ ...settings, minRps: 30 })).toThrow('Expected `minRps` to be a number above 0 and at most `maxRps`, got `30`');
    expect(() => checkControllerSettings({ ...settings, probe: -1 })).toThrow('Expected `probe` to be a number above 0, got `-1`');
    expect(() => checkControllerSettings(settings)).not.toThrow();
  });
});
