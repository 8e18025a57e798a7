import type { AppLoadCounts } from './app-load.js';

/** Counters by operation name. */
export interface OperationCounters {
  /** Every request that named an operation (throttled, failed and dropped ones included). */
  calls: Record<string, number>;
  /** Answered TooManyRequestsException by a quota or `throttleRate`. */
  throttled: Record<string, number>;
  /** Answered with any other error (injected, forced, or a genuine client error). */
  errors: Record<string, number>;
  /** Connections destroyed without an answer. */
  dropped: Record<string, number>;
}

/** Counters by operation name, readable from the control endpoint. */
export interface EmulatorStats extends OperationCounters {
  /** The same counters for each account whose credentials were accepted, by account id. */
  accounts: Record<string, OperationCounters>;
  /** The emulated app's ListUsers calls (see `appRps`), which are not in `calls`. */
  app: AppLoadCounts;
}

type Counter = keyof OperationCounters;
type Snapshot = Omit<EmulatorStats, 'app'>;

/** Mutable counters behind {@link EmulatorStats} (the app's are kept by the app load). */
export class StatsRecorder {
  #stats: Snapshot = emptyStats();

  /** Adds one to a counter for an operation, and for the caller's account when it is known. */
  count(counter: Counter, operation: string, account: string | null = null): void {
    increment(this.#stats[counter], operation);
    if (account === null) return;
    this.#stats.accounts[account] ??= emptyCounters();
    increment(this.#stats.accounts[account][counter], operation);
  }

  /** A copy of the counters. */
  snapshot(): Snapshot {
    const s = this.#stats;
    const accounts = Object.fromEntries(Object.entries(s.accounts).map(([account, counters]) => [account, copy(counters)]));
    return { ...copy(s), accounts };
  }

  /** Zeroes every counter. */
  reset(): void {
    this.#stats = emptyStats();
  }
}

function increment(bucket: Record<string, number>, operation: string): void {
  bucket[operation] = (bucket[operation] ?? 0) + 1;
}

function copy(c: OperationCounters): OperationCounters {
  return { calls: { ...c.calls }, throttled: { ...c.throttled }, errors: { ...c.errors }, dropped: { ...c.dropped } };
}

function emptyCounters(): OperationCounters {
  return { calls: {}, throttled: {}, errors: {}, dropped: {} };
}

function emptyStats(): Snapshot {
  return { ...emptyCounters(), accounts: {} };
}
