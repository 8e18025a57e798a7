/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * the delay is uniform in [0, min(cap, base · 2^(attempt−1))). Full jitter spreads many shards that
 * were throttled at the same moment, so they do not come back in lockstep.
 */

/** Shape of one backoff curve. */
export interface BackoffOptions {
  /** Upper bound of the first delay, in ms. */
  readonly baseMs: number;
  /** No delay exceeds this, in ms. */
  readonly capMs: number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry).
 * @param random - a source of uniform numbers in [0, 1); injectable so tests are exact.
 */
export function fullJitterDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`Expected \`attempt\` to be an integer from 1, got \`${attempt}\``);
  }
  // 2^(attempt−1) overflows to Infinity long after the cap applies; min() keeps it finite.
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}
