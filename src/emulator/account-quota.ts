/**
 * One quota bucket (an account's UserList quota, say, which ListUsers and ListUsersInGroup share
 * across every pool): a token bucket refilled continuously at `rps`, holding at most one second's
 * worth. Checked before any latency, as AWS meters requests, so latency never hides a throttle.
 */
export class AccountQuota {
  #rps: number | null = null;
  #tokens = 0;
  #lastRefillMs = 0;
  readonly #now: () => number;

  /** @param now a monotonic clock in milliseconds (injectable for tests). */
  constructor(rps: number | null, now: () => number = () => performance.now()) {
    this.#now = now;
    this.setRate(rps);
  }

  /** The current rate, or null when the quota is off. */
  get rps(): number | null {
    return this.#rps;
  }

  /** Changes the rate and starts again from a full bucket; null turns the quota off. */
  setRate(rps: number | null): void {
    this.#rps = rps;
    this.#tokens = rps === null ? 0 : capacity(rps);
    this.#lastRefillMs = this.#now();
  }

  /** Takes one request's token; false means the request is throttled. */
  tryTake(): boolean {
    const rps = this.#rps;
    if (rps === null) return true;
    const now = this.#now();
    this.#tokens = Math.min(capacity(rps), this.#tokens + ((now - this.#lastRefillMs) / 1000) * rps);
    this.#lastRefillMs = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Gives back a token taken by a request that another bucket then throttled. */
  refund(): void {
    const rps = this.#rps;
    if (rps !== null) this.#tokens = Math.min(capacity(rps), this.#tokens + 1);
  }
}

/** Burst is one second's worth, but never less than one request, so a rate below 1/s still works. */
function capacity(rps: number): number {
  return Math.max(1, rps);
}
