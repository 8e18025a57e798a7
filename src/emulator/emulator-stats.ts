/** Counters by operation name, readable from the control endpoint. */
export interface EmulatorStats {
  /** Every request that named an operation (throttled, failed and dropped ones included). */
  calls: Record<string, number>;
  /** Answered TooManyRequestsException by the account quota. */
  throttled: Record<string, number>;
  /** Answered with any other error (injected, forced, or a genuine client error). */
  errors: Record<string, number>;
  /** Connections destroyed without an answer. */
  dropped: Record<string, number>;
}

type Counter = keyof EmulatorStats;

/** Mutable counters behind {@link EmulatorStats}. */
export class StatsRecorder {
  #stats: EmulatorStats = emptyStats();

  /** Adds one to a counter for an operation. */
  count(counter: Counter, operation: string): void {
    const bucket = this.#stats[counter];
    bucket[operation] = (bucket[operation] ?? 0) + 1;
  }

  /** A copy of the counters. */
  snapshot(): EmulatorStats {
    const s = this.#stats;
    return { calls: { ...s.calls }, throttled: { ...s.throttled }, errors: { ...s.errors }, dropped: { ...s.dropped } };
  }

  /** Zeroes every counter. */
  reset(): void {
    this.#stats = emptyStats();
  }
}

function emptyStats(): EmulatorStats {
  return { calls: {}, throttled: {}, errors: {}, dropped: {} };
}
