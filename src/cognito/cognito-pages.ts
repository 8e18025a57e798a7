import { createHash } from 'node:crypto';
import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { classifyError, describeError, errorCode, fatalHint } from '../limits/error-classification.js';
import { FatalExportError, TokenRejectedError } from '../limits/export-errors.js';
import type { CallLimiter, CallSlot } from '../limits/rate-limiter.js';
import { withRetries, type RetryEvent, type RetryPolicy } from '../limits/retry-policy.js';

/** Every Cognito list call returns at most 60 items; more is an InvalidParameterException. */
export const MAX_PAGE_SIZE = 60;

/** One response of a paginated Cognito call. */
export interface CognitoPage<Item> {
  readonly items: readonly Item[];
  /** Token of the next page; undefined on the last page. Pages can be short or empty and still carry one. */
  readonly nextToken: string | undefined;
}

/** How every Cognito walk is paced, retried and observed. */
export interface PagingOptions {
  readonly client: CognitoIdentityProviderClient;
  /** Resume from this token (from a checkpoint); undefined starts at the first page. */
  readonly startToken?: string | undefined;
  /** Every call, retries included, waits for a slot in each of these first (a quota and, say, a per-pool cap). */
  readonly limiters: readonly CallLimiter[];
  /** Stops between calls: no new call starts once it aborts; a call in flight is allowed to finish. */
  readonly signal?: AbortSignal | undefined;
  readonly retryPolicy?: Partial<RetryPolicy> | undefined;
  /** Told about every retried failure (throttles are also reported to the limiters). */
  readonly onRetry?: ((event: RetryEvent) => void) | undefined;
  /** Told just before every call goes out, retries included, with its slot (for metrics: how long it waited). */
  readonly onCall?: ((slot: CallSlot) => void) | undefined;
  /**
   * Items this walk may return before it is stopped as runaway (a Cognito that hands out endless
   * fresh tokens): see {@link walkCapOf}. Counted from where the walk starts. @default no cap
   */
  readonly maxItems?: number | undefined;
}

/**
 * Items past the tenfold estimate a walk may still return: a pool imported in bulk just before a run
 * may not be counted yet by `EstimatedNumberOfUsers`. A million users is about 11 minutes of a 25
 * calls/s quota: bounded, where a runaway walk is not.
 */
export const RUNAWAY_MARGIN = 1_000_000;

/**
 * The most items a walk of a pool may return: ten times DescribeUserPool's `EstimatedNumberOfUsers`
 * plus `margin` ({@link RUNAWAY_MARGIN}). The estimate lags (users created during the walk) but not
 * by tenfold; past this the pages are not the pool's. Undefined (no cap) when there is no estimate.
 */
export function walkCapOf(estimatedNumberOfUsers: number | undefined, margin = RUNAWAY_MARGIN): number | undefined {
  if (estimatedNumberOfUsers === undefined || !Number.isFinite(estimatedNumberOfUsers) || estimatedNumberOfUsers < 0) return undefined;
  return 10 * Math.floor(estimatedNumberOfUsers) + margin;
}

/** One paginated call: how to make it from a token, and how to read its answer. */
export interface PagedCall<Output, Item> {
  /** Names the call in messages: `ListUsers on user pool eu-west-1_AbC`. */
  readonly what: string;
  send(client: CognitoIdentityProviderClient, token: string | undefined): Promise<Output>;
  items(output: Output): readonly Item[] | undefined;
  next(output: Output): string | undefined;
}

/**
 * The pages of a paginated Cognito call, as an async generator in the shape of the SDK's
 * paginators: following the token until a response has none (never sending an empty one).
 * Throttled and transient failures are retried here; a fatal one ends the walk with a
 * {@link FatalExportError} naming the call and the fix, and a rejected resume token with a
 * {@link TokenRejectedError}. Cognito's answers are untrusted input: a token that comes back a
 * second time in one walk (which would walk forever) and more items than `maxItems` are fatal too.
 */
export async function* cognitoPages<Output, Item>(call: PagedCall<Output, Item>, options: PagingOptions): AsyncGenerator<CognitoPage<Item>, void, undefined> {
  const { client, limiters, signal } = options;
  let token = options.startToken || undefined;
  const resumedFrom = token;
  // Digests, not the tokens: a walk of millions of users holds tens of thousands of them.
  const seen = new Set<string>();
  if (token !== undefined) seen.add(digest(token));
  let items = 0;
  for (;;) {
    signal?.throwIfAborted();
    const sent = token;
    let output: Output;
    // The slots of the attempt in flight, one per limiter: a throttle is reported with them, so each
    // limiter can tell whether the call went out before or after its last cut.
    let slots: CallSlot[] = [];
    try {
      output = await withRetries(
        async () => {
          slots = [];
          for (const limiter of limiters) slots.push(await limiter.acquire(signal));
          options.onCall?.(combined(slots));
          return call.send(client, sent);
        },
        {
          signal,
          policy: options.retryPolicy,
          onRetry: async (event) => {
            options.onRetry?.(event);
            if (event.errorClass === 'throttled') await Promise.all(limiters.map((limiter, index) => limiter.reportThrottle(slots[index])));
          },
        },
      );
    } catch (error) {
      throw translate(error, call.what, sent, resumedFrom);
    }
    const nextToken = call.next(output) || undefined;
    const pageItems = call.items(output) ?? [];
    items += pageItems.length;
    if (options.maxItems !== undefined && items > options.maxItems) {
      throw new FatalExportError(
        `${call.what} returned more than ${options.maxItems} items, far more than the pool can hold: stopped the walk as runaway (nothing is published); run the export again, and report it if it happens again`,
      );
    }
    if (nextToken !== undefined) {
      const key = digest(nextToken);
      if (seen.has(key)) {
        throw new FatalExportError(`${call.what} repeated a pagination token it had already returned: stopped the walk instead of looping (nothing is published); run the export again, and report it if it happens again`);
      }
      seen.add(key);
    }
    yield { items: pageItems, nextToken };
    if (nextToken === undefined) return;
    token = nextToken;
  }
}

/** A short fixed-size stand-in for a token, to remember which ones a walk has had. */
function digest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64').slice(0, 22);
}

/** The slot of a call that waited in several limiters: granted with the last, after all the waiting. */
function combined(slots: readonly CallSlot[]): CallSlot {
  return { grantedAt: slots.at(-1)?.grantedAt ?? Date.now(), waitedMs: slots.reduce((sum, slot) => sum + slot.waitedMs, 0) };
}

function translate(error: unknown, what: string, sentToken: string | undefined, resumedFrom: string | undefined): unknown {
  if (classifyError(error) !== 'fatal' || error instanceof FatalExportError) return error;
  const code = errorCode(error);
  const message = describeError(error);
  // A token is a position bound to its request and has an undocumented lifetime. If Cognito
  // rejects the one we resumed from, or says a token is the problem, the walk starts over.
  if (code === 'InvalidParameterException' && sentToken !== undefined && (sentToken === resumedFrom || /token|marker/i.test(message))) {
    return new TokenRejectedError(`Cognito rejected the pagination token of ${what}: ${message}`);
  }
  const hint = fatalHint(error) ?? 'see "When things go wrong" in docs/operations.md';
  return new FatalExportError(`${what} failed: ${message}; ${hint}`, { cause: error });
}
