import type { EmulatorProcess } from './emulator-process.js';

/**
 * The emulator's ListUsers counters (the exporter's calls and the app's) sampled four times a
 * second, and the rates over any window of them.
 */

/** Calls per second, for the picture: one point per second. */
export interface RateSeries {
  readonly exporter: number[];
  readonly exporterThrottled: number[];
  readonly app: number[];
  readonly appThrottled: number[];
  /** When the app's bursts ran (s from the start). */
  readonly bursts: [number, number][];
}

/** The emulator's counters at one moment (s since sampling began). */
export interface Sample {
  readonly t: number;
  readonly calls: number;
  readonly throttled: number;
  readonly appCalls: number;
  readonly appThrottled: number;
}

/** Samples the emulator's counters every 250 ms until stopped. */
export function sampler(emulator: EmulatorProcess): { samples: Sample[]; startedAt: number; stop(): void } {
  const samples: Sample[] = [];
  const started = performance.now();
  const timer = setInterval(() => {
    void emulator.stats().then((s) =>
      samples.push({
        t: (performance.now() - started) / 1000,
        calls: s.calls.ListUsers ?? 0,
        throttled: s.throttled.ListUsers ?? 0,
        appCalls: s.app?.calls ?? 0,
        appThrottled: s.app?.throttled ?? 0,
      }),
    );
  }, 250);
  return { samples, startedAt: started, stop: () => clearInterval(timer) };
}

/** The counters at time `t` (s), interpolated between samples. */
export function at(samples: readonly Sample[], t: number): Sample {
  const i = samples.findIndex((s) => s.t >= t);
  if (i <= 0) return (i === 0 ? samples[0] : samples[samples.length - 1]) as Sample;
  const a = samples[i - 1] as Sample;
  const b = samples[i] as Sample;
  const f = (t - a.t) / (b.t - a.t);
  const mix = (x: number, y: number) => x + (y - x) * f;
  return { t, calls: mix(a.calls, b.calls), throttled: mix(a.throttled, b.throttled), appCalls: mix(a.appCalls, b.appCalls), appThrottled: mix(a.appThrottled, b.appThrottled) };
}

/** Per-second series from `from` to `to` (s). */
export function perSecond(samples: readonly Sample[], from: number, to: number): Omit<RateSeries, 'bursts'> {
  const series = { exporter: [] as number[], exporterThrottled: [] as number[], app: [] as number[], appThrottled: [] as number[] };
  for (let t = from; t + 1 <= to; t += 1) {
    const a = at(samples, t);
    const b = at(samples, t + 1);
    series.exporter.push(b.calls - b.throttled - (a.calls - a.throttled));
    series.exporterThrottled.push(b.throttled - a.throttled);
    series.app.push(b.appCalls - b.appThrottled - (a.appCalls - a.appThrottled));
    series.appThrottled.push(b.appThrottled - a.appThrottled);
  }
  return series;
}

/** The time (s) at which the exporter's calls first reach `count`. */
export function whenCalls(samples: readonly Sample[], count: number): number {
  return samples.find((s) => s.calls >= count)?.t ?? 0;
}

/** Rates over a window of time. */
export interface Window {
  readonly exporterRps: number;
  readonly exporterThrottledPercent: number;
  readonly appRps: number;
  readonly appThrottledPercent: number | null;
  readonly seconds: number;
}

/** The exporter's and the app's rates and throttled shares between `from` and `to` (s). */
export function windowOf(samples: readonly Sample[], from: number, to: number): Window {
  const a = at(samples, from);
  const b = at(samples, to);
  const seconds = to - from;
  const calls = b.calls - a.calls;
  const throttled = b.throttled - a.throttled;
  const appCalls = b.appCalls - a.appCalls;
  return {
    exporterRps: (calls - throttled) / seconds,
    exporterThrottledPercent: calls === 0 ? 0 : (throttled / calls) * 100,
    appRps: (appCalls - (b.appThrottled - a.appThrottled)) / seconds,
    appThrottledPercent: appCalls === 0 ? null : ((b.appThrottled - a.appThrottled) / appCalls) * 100,
    seconds,
  };
}

