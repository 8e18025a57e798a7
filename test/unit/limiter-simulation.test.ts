import { describe, expect, it } from 'vitest';
import { DEFAULT_BUCKET, type BucketSettings } from '../../src/limits/limiter-bucket.js';
import { DEFAULT_CONTROLLER } from '../../src/limits/rate-controller.js';
import { simulateQuota, type SimulationOptions } from '../support/quota-simulation.js';

/**
 * The bench's four scenarios on a virtual clock: 16 shards at 150 ms a call drawing on a 30/s quota
 * (the emulator's own quota and app load), in a fraction of a second each. The app's timing against
 * the exporter's decides which of them a saturated quota refuses, so each claim is checked over
 * several seeds, not one.
 */

const settings: BucketSettings = { ...DEFAULT_CONTROLLER, ...DEFAULT_BUCKET, maxRps: 25 };
const SEEDS = [1, 2, 3, 4];
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
const mean = (values: readonly number[]) => sum(values) / values.length;

function run(options: Omit<SimulationOptions, 'settings' | 'quotaRps'>, seed: number) {
  return simulateQuota({ ...options, settings, quotaRps: 30, seed });
}

describe('the limiter against a simulated quota', () => {
  it('takes 25/s with no app and is never throttled', () => {
    for (const seed of SEEDS) {
      const r = run({ seconds: 60, flows: [{ flow: 'run-users', shards: 16 }] }, seed);
      expect(sum(r.exporterPerSecond.slice(5, 55)) / 50).toBeCloseTo(25, 1);
      expect(r.flows['run-users']?.throttled).toBe(0);
    }
  });

  it('beside an app steady at 8/s: throttles under 1% of the app, takes over 90% of the 22/s left', () => {
    const app: number[] = [];
    for (const seed of SEEDS) {
      const r = run({ seconds: 120, flows: [{ flow: 'run-users', shards: 16 }], app: { rps: 8 } }, seed);
      const f = r.flows['run-users'];
      app.push(r.app.throttled / r.app.calls);
      expect(((f?.calls ?? 0) - (f?.throttled ?? 0)) / 120).toBeGreaterThan(0.9 * 22);
    }
    expect(Math.max(...app)).toBeLessThan(0.01);
  });

  it('beside an app bursting to 20/s: throttles about 1% of the app, and is back to 25/s well within 30 s of each burst', () => {
    const app: number[] = [];
    for (const seed of SEEDS) {
      const r = run({ seconds: 150, flows: [{ flow: 'run-users', shards: 16 }], app: { rps: 20, burst: [10, 30] } }, seed);
      app.push(r.app.throttled / r.app.calls);
      for (const burstEnd of [10, 40, 70, 100]) {
        const back = r.exporterPerSecond.slice(burstEnd).findIndex((calls) => calls >= 0.95 * 25);
        expect(back).toBeGreaterThanOrEqual(0);
        expect(back).toBeLessThan(20);
      }
    }
    expect(mean(app)).toBeLessThan(0.02);
    expect(Math.max(...app)).toBeLessThan(0.03);
  });

  it('gives a 1-shard run and a 256-shard run of one account equal shares, and the 256 all of it once alone', () => {
    const r = run({ seconds: 60, latencyMs: 20, jitterMs: 10, flows: [{ flow: 'one-users', shards: 1, stopSeconds: 40 }, { flow: 'many-users', shards: 256 }] }, 1);
    const one = sum(r.flows['one-users']?.perSecond.slice(5, 35) ?? []);
    const many = sum(r.flows['many-users']?.perSecond.slice(5, 35) ?? []);
    expect(one / (one + many)).toBeGreaterThan(0.45);
    expect(one / (one + many)).toBeLessThan(0.55);
    expect(sum(r.flows['many-users']?.perSecond.slice(42, 58) ?? []) / 16).toBeGreaterThan(24);
  });

  it('lets a slow walk beside a busy run take all it can use, and gives the rest to the busy run', () => {
    const r = run({ seconds: 30, flows: [{ flow: 'one-users', shards: 1 }, { flow: 'many-users', shards: 64 }] }, 1);
    const one = sum(r.flows['one-users']?.perSecond.slice(5, 25) ?? []) / 20;
    const many = sum(r.flows['many-users']?.perSecond.slice(5, 25) ?? []) / 20;
    // One walk at 150 ms a call can use about 6/s.
    expect(one).toBeGreaterThan(5.5);
    expect(one + many).toBeCloseTo(25, 0);
  });
});
