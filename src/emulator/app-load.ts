import type { QuotaMeter } from './quota-meter.js';

/** How the emulated app (the account's own traffic) calls ListUsers. */
export interface AppLoadSettings {
  /** Calls per second while active; null = no app. */
  readonly rps: number | null;
  /** `steady`: evenly spaced all the time; `burst`: `rps` for the first `burstSeconds` of every `periodSeconds`, idle otherwise. */
  readonly pattern: 'steady' | 'burst';
  readonly burstSeconds: number;
  readonly periodSeconds: number;
  /** The account whose UserList quota the app draws on. */
  readonly account: string;
}

/** What the app's calls came to since the counters were last reset. */
export interface AppLoadCounts {
  calls: number;
  /** Calls the account's quota refused. */
  throttled: number;
}

/** How many calls the schedule has made `elapsedMs` after it started (a pure function of time). */
export function scheduledCalls(settings: AppLoadSettings, elapsedMs: number): number {
  if (settings.rps === null || elapsedMs <= 0) return 0;
  let activeMs = elapsedMs;
  if (settings.pattern === 'burst') {
    const periodMs = settings.periodSeconds * 1000;
    const burstMs = settings.burstSeconds * 1000;
    activeMs = Math.floor(elapsedMs / periodMs) * burstMs + Math.min(elapsedMs % periodMs, burstMs);
  }
  return Math.floor((activeMs * settings.rps) / 1000);
}

/**
 * The neighbour on the quota: the account's own apps, calling ListUsers at `rps` without HTTP. Each
 * call takes a token from the account's UserList bucket exactly as an exporter's call would, so an
 * exporter sees the quota that is left; the app's calls are counted apart from the API's.
 * A timer ticks every few milliseconds and makes the calls the schedule says are due; calls that
 * fall more than a second behind (the event loop was blocked, say by seeding) are skipped, not
 * bunched, as an app whose requests were never sent.
 */
export class AppLoad {
  #settings: AppLoadSettings | null = null;
  #startedMs = 0;
  #made = 0;
  #counts: AppLoadCounts = { calls: 0, throttled: 0 };
  #timer: NodeJS.Timeout | null = null;
  readonly #quota: QuotaMeter;
  readonly #now: () => number;

  /** @param now a monotonic clock in milliseconds (injectable for tests). */
  constructor(quota: QuotaMeter, now: () => number = () => performance.now()) {
    this.#quota = quota;
    this.#now = now;
  }

  /** The counters since the last reset. */
  get counts(): AppLoadCounts {
    return { ...this.#counts };
  }

  /** Zeroes the counters (the schedule keeps running). */
  resetCounts(): void {
    this.#counts = { calls: 0, throttled: 0 };
  }

  /**
   * Applies settings; a change restarts the schedule from now (unchanged settings leave it running).
   * `tickMs` > 0 runs a timer; 0 leaves ticking to the caller (tests with a fake clock).
   */
  configure(settings: AppLoadSettings, tickMs = 5): void {
    if (this.#settings !== null && JSON.stringify(this.#settings) === JSON.stringify(settings)) return;
    this.stop();
    this.#settings = settings;
    this.#startedMs = this.#now();
    this.#made = 0;
    if (settings.rps !== null && tickMs > 0) {
      this.#timer = setInterval(() => this.tick(), tickMs);
      this.#timer.unref();
    }
  }

  /** Makes the calls that are due by now. */
  tick(): void {
    const settings = this.#settings;
    if (settings === null || settings.rps === null) return;
    const due = scheduledCalls(settings, this.#now() - this.#startedMs);
    const behind = Math.ceil(settings.rps);
    if (due - this.#made > behind) this.#made = due - behind;
    for (; this.#made < due; this.#made++) {
      this.#counts.calls++;
      if (!this.#quota.tryTake('ListUsers', settings.account, null)) this.#counts.throttled++;
    }
  }

  /** Stops the app (its counters stay); {@link configure} starts it again. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#settings = null;
  }
}
