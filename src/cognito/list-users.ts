import {
  ListUsersCommand,
  type CognitoIdentityProviderClient,
  type ListUsersCommandOutput,
  type UserType,
} from '@aws-sdk/client-cognito-identity-provider';
import { classifyError, describeError, errorCode, fatalHint } from '../limits/error-classification.js';
import { FatalExportError, TokenRejectedError } from '../limits/export-errors.js';
import type { CallLimiter, CallSlot } from '../limits/rate-limiter.js';
import { withRetries, type RetryEvent, type RetryPolicy } from '../limits/retry-policy.js';

/** ListUsers returns at most 60 users a call; more is an InvalidParameterException. */
export const MAX_PAGE_SIZE = 60;

/** One ListUsers response. */
export interface UserPage {
  readonly users: readonly UserType[];
  /** Token of the next page; undefined on the last page. Pages can be short or empty and still carry one. */
  readonly nextToken: string | undefined;
}

/** Where and how to walk. */
export interface UserPagesOptions {
  readonly client: CognitoIdentityProviderClient;
  readonly userPoolId: string;
  /** Server-side filter, already validated and escaped; null for the whole pool. */
  readonly filter: string | null;
  /** Resume from this token (from a checkpoint); undefined starts at the first page. */
  readonly startToken?: string | undefined;
  /** Every call, retries included, waits for a slot here first. */
  readonly limiter: CallLimiter;
  /** Stops between calls: no new call starts once it aborts; a call in flight is allowed to finish. */
  readonly signal?: AbortSignal;
  readonly retryPolicy?: Partial<RetryPolicy>;
  /** Told about every retried failure (throttles are also reported to the limiter). */
  readonly onRetry?: (event: RetryEvent) => void;
  /** Told just before every ListUsers call goes out, retries included, with its slot (for metrics: how long it waited). */
  readonly onCall?: (slot: CallSlot) => void;
}

/**
 * The pages of a pool (or of one filter over it), as an async generator: ListUsers with Limit 60,
 * following PaginationToken until a response has none. Throttled and transient failures are retried
 * here; a fatal one ends the walk with a {@link FatalExportError} naming the pool and the fix, and a
 * rejected resume token with a {@link TokenRejectedError}.
 */
export async function* listUserPages(options: UserPagesOptions): AsyncGenerator<UserPage, void, undefined> {
  const { client, userPoolId, filter, limiter, signal } = options;
  let token = options.startToken;
  const resumedFrom = token;
  for (;;) {
    signal?.throwIfAborted();
    const input = {
      UserPoolId: userPoolId,
      Limit: MAX_PAGE_SIZE,
      ...(filter === null ? {} : { Filter: filter }),
      // Never send an empty-string token: Cognito rejects it.
      ...(token ? { PaginationToken: token } : {}),
    };
    let response: ListUsersCommandOutput;
    // The slot of the attempt in flight: a throttle is reported with it, so the limiter can tell
    // whether the call went out before or after its last cut.
    let slot: CallSlot | undefined;
    try {
      response = await withRetries(
        async () => {
          slot = await limiter.acquire(signal);
          options.onCall?.(slot);
          return client.send(new ListUsersCommand(input));
        },
        {
          signal,
          policy: options.retryPolicy,
          onRetry: async (event) => {
            options.onRetry?.(event);
            if (event.errorClass === 'throttled') await limiter.reportThrottle(slot);
          },
        },
      );
    } catch (error) {
      throw translate(error, userPoolId, input.PaginationToken, resumedFrom);
    }
    const nextToken = response.PaginationToken || undefined;
    yield { users: response.Users ?? [], nextToken };
    if (nextToken === undefined) return;
    token = nextToken;
  }
}

function translate(error: unknown, userPoolId: string, sentToken: string | undefined, resumedFrom: string | undefined): unknown {
  if (classifyError(error) !== 'fatal' || error instanceof FatalExportError) return error;
  const code = errorCode(error);
  const message = describeError(error);
  // A token is a position bound to its request and has an undocumented lifetime. If Cognito
  // rejects the one we resumed from, or says a token is the problem, the walk starts over.
  if (
    code === 'InvalidParameterException' &&
    sentToken !== undefined &&
    (sentToken === resumedFrom || /token|marker/i.test(message))
  ) {
    return new TokenRejectedError(`Cognito rejected the pagination token for user pool ${userPoolId}: ${message}`);
  }
  const hint = fatalHint(error) ?? 'see "When things go wrong" in the README';
  return new FatalExportError(`ListUsers on user pool ${userPoolId} failed: ${message}; ${hint}`);
}
