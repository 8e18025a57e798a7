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
 * {@link TokenRejectedError}.
 */
export async function* cognitoPages<Output, Item>(call: PagedCall<Output, Item>, options: PagingOptions): AsyncGenerator<CognitoPage<Item>, void, undefined> {
  const { client, limiters, signal } = options;
  let token = options.startToken || undefined;
  const resumedFrom = token;
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
    yield { items: call.items(output) ?? [], nextToken };
    if (nextToken === undefined) return;
    token = nextToken;
  }
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
  const hint = fatalHint(error) ?? 'see "When things go wrong" in the README';
  return new FatalExportError(`${what} failed: ${message}; ${hint}`, { cause: error });
}
