import { sleep } from './sleep.js';
import pRetry, { AbortError } from 'p-retry';
import { fullJitterDelay, type BackoffOptions } from './backoff.js';
import { classifyError, errorCode, type ErrorClass } from './error-classification.js';

/** What the retry layer reports about each failed attempt it is about to retry. */
export interface RetryEvent {
  readonly errorClass: Exclude<ErrorClass, 'fatal'>;
  readonly code: string;
  /** Consecutive failures of this class so far (1 for the first). */
  readonly attempt: number;
  readonly delayMs: number;
}

/** How one call is retried. */
export interface RetryPolicy {
  /**
   * Transient failures (5xx, resets, timeouts) retried before the error is passed up. Throttles
   * never count against this: they are waited out.
   * @default 8
   */
  readonly transientRetries: number;
  /** Backoff after a throttle. @default { baseMs: 200, capMs: 20_000 } */
  readonly throttleBackoff: BackoffOptions;
  /** Backoff after a transient failure. @default { baseMs: 100, capMs: 10_000 } */
  readonly transientBackoff: BackoffOptions;
  /** Uniform random source for jitter. @default Math.random */
  readonly random: () => number;
}

/** The policy every wrapped AWS call uses unless a caller overrides part of it. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  transientRetries: 8,
  throttleBackoff: { baseMs: 200, capMs: 20_000 },
  transientBackoff: { baseMs: 100, capMs: 10_000 },
  random: Math.random,
});

/** Options for one {@link withRetries} call. */
export interface WithRetriesOptions {
  readonly policy?: Partial<RetryPolicy>;
  /**
   * Stops waiting and retrying; the call rejects with the signal's reason. A call already under way
   * is not abandoned: its result is returned, so a response that arrived is never thrown away.
   */
  readonly signal?: AbortSignal;
  /** Told before each retry (after the error is classified, before sleeping). */
  readonly onRetry?: (event: RetryEvent) => void | Promise<void>;
}

/**
 * Runs `call`, retrying throttled errors without limit and transient errors up to the policy's
 * bound, each with full-jitter backoff; fatal errors reject at once. This is the only retry layer:
 * the AWS SDK clients it wraps are built with `maxAttempts: 1`.
 */
export async function withRetries<T>(call: () => Promise<T>, options: WithRetriesOptions = {}): Promise<T> {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.policy };
  const consecutive = { throttled: 0, transient: 0 };
  const { signal } = options;
  // The signal is not given to p-retry: it would discard a result that arrives after an abort.
  const attempt = async (): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      if (signal?.aborted) throw new AbortError(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
      throw error;
    }
  };
  // The transient budget is counted here, not by p-retry: its budget would also end a run of
  // throttles that comes after the transient errors, and throttles must only ever be waited out.
  const retryable = (error: Error): boolean => {
    const errorClass = classifyError(error);
    return errorClass === 'throttled' || (errorClass === 'transient' && consecutive.transient <= policy.transientRetries);
  };
  return pRetry(attempt, {
    retries: Number.POSITIVE_INFINITY,
    // p-retry's own delays are off; ours are computed per class in onFailedAttempt.
    minTimeout: 0,
    maxTimeout: 0,
    shouldRetry: ({ error }) => retryable(error),
    onFailedAttempt: async ({ error }) => {
      const errorClass = classifyError(error);
      if (errorClass === 'fatal') return;
      if (errorClass === 'transient') consecutive.transient++;
      if (!retryable(error)) return;
      const attempt = errorClass === 'transient' ? consecutive.transient : ++consecutive.throttled;
      const curve = errorClass === 'throttled' ? policy.throttleBackoff : policy.transientBackoff;
      const delayMs = fullJitterDelay(attempt, curve, policy.random);
      await options.onRetry?.({ errorClass, code: errorCode(error), attempt, delayMs });
      await sleep(delayMs, signal);
    },
  });
}
