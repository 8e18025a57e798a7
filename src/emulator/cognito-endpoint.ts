import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { operationFromTarget, parseJsonBody, readBody, sendError, sendJson } from './aws-json-protocol.js';
import { CognitoServiceError } from './cognito-error.js';
import type { StatsRecorder } from './emulator-stats.js';
import type { FaultInjector } from './fault-injector.js';
import { GROUP_LISTINGS } from './group-listings.js';
import { GROUP_OPERATIONS } from './group-operations.js';
import type { OperationHandler } from './operation-context.js';
import type { PaginationTokenCodec } from './pagination-token.js';
import { POOL_OPERATIONS } from './pool-operations.js';
import { QuotaMeter } from './quota-meter.js';
import type { ResponseScheduler } from './response-scheduler.js';
import { userTimestampNow } from './stored-user.js';
import { USER_OPERATIONS } from './user-operations.js';
import type { UserPoolStore } from './user-pool-store.js';

const OPERATIONS: Readonly<Record<string, OperationHandler>> = { ...POOL_OPERATIONS, ...USER_OPERATIONS, ...GROUP_OPERATIONS, ...GROUP_LISTINGS };

/** Who sent a request, once its credentials are accepted. */
export interface Caller {
  /** The 12-digit AWS account the credentials belong to. */
  readonly account: string;
}

/** What the Cognito endpoint works with; the emulator owns them all. */
export interface CognitoEndpointParts {
  readonly store: UserPoolStore;
  readonly codec: PaginationTokenCodec;
  readonly faults: FaultInjector;
  readonly quota: QuotaMeter;
  readonly stats: StatsRecorder;
  readonly scheduler: ResponseScheduler;
  /** The caller behind a request's credentials, or the error Cognito answers for them. */
  readonly authenticate: (request: IncomingMessage) => Caller | CognitoServiceError;
}

type Outcome =
  | { readonly kind: 'answer'; readonly body: unknown }
  | { readonly kind: 'error'; readonly error: CognitoServiceError; readonly counter: 'errors' | 'throttled' }
  | { readonly kind: 'drop' };

/**
 * Cognito's AWS JSON 1.1 API (`POST /`, `X-Amz-Target: AWSCognitoIdentityProviderService.<Op>`).
 * Order of checks: credentials and the operation name, then the quotas and `throttleRate` (once the
 * body is in, before any latency), then drop, forced error, internal error, the operation itself;
 * the answer (or the drop) comes after latency + jitter.
 */
export class CognitoEndpoint {
  readonly #parts: CognitoEndpointParts;

  constructor(parts: CognitoEndpointParts) {
    this.#parts = parts;
  }

  /** Answers one API request. */
  handle(request: IncomingMessage, response: ServerResponse): void {
    const { stats } = this.#parts;
    const requestId = randomUUID();
    const arrivedMs = userTimestampNow();
    const target = request.headers['x-amz-target'];
    const operation = operationFromTarget(target);
    const name = operation ?? (typeof target === 'string' && target !== '' ? target : '(no target)');
    stats.count('calls', name);

    const caller = this.#parts.authenticate(request);
    const known = request.method === 'POST' && operation !== null && Object.hasOwn(OPERATIONS, operation);
    const early = caller instanceof CognitoServiceError ? caller : known ? null : CognitoServiceError.unknownOperation();
    readBody(request).then(
      (raw) => {
        // Without an early error, `caller` is a Caller.
        const outcome: Outcome =
          early !== null ? { kind: 'error', error: early, counter: 'errors' } : this.#decide(name, raw, requestId, arrivedMs, caller as Caller);
        this.#respond(name, outcome, request, response, requestId);
      },
      (error: unknown) => {
        const failure = error instanceof CognitoServiceError ? error : CognitoServiceError.serialization();
        this.#respond(name, { kind: 'error', error: failure, counter: 'errors' }, request, response, requestId);
      },
    );
  }

  #decide(operation: string, raw: Buffer, requestId: string, nowMs: number, caller: Caller): Outcome {
    const { faults, store, codec, quota } = this.#parts;
    if (QuotaMeter.meters(operation) && (!quota.tryTake(operation, caller.account, poolIdIn(raw)) || faults.shouldThrottle())) {
      return { kind: 'error', error: CognitoServiceError.tooManyRequests(), counter: 'throttled' };
    }
    if (faults.shouldDrop()) return { kind: 'drop' };
    try {
      const injected = faults.injectedError(operation);
      if (injected !== null) throw injected;
      const handler = OPERATIONS[operation] as OperationHandler;
      return { kind: 'answer', body: handler(parseJsonBody(raw), { store, codec, faults, requestId, nowMs, account: caller.account }) };
    } catch (error) {
      if (error instanceof CognitoServiceError) return { kind: 'error', error, counter: 'errors' };
      // A bug in the emulator: answer as AWS would for its own failure, and say so on stderr.
      console.error(`cognito emulator: ${operation} failed:`, error);
      return { kind: 'error', error: CognitoServiceError.internalError(), counter: 'errors' };
    }
  }

  #respond(operation: string, outcome: Outcome, request: IncomingMessage, response: ServerResponse, requestId: string): void {
    const { stats } = this.#parts;
    this.#parts.scheduler.later(request, () => {
      if (outcome.kind === 'drop') {
        stats.count('dropped', operation);
        request.socket.destroy();
      } else if (outcome.kind === 'error') {
        stats.count(outcome.counter, operation);
        sendError(response, outcome.error, requestId);
      } else {
        sendJson(response, 200, outcome.body, requestId);
      }
    });
  }
}

/** The UserPoolId a body names, for the per-pool quota; null when there is none (the operation will say why). */
function poolIdIn(raw: Buffer): string | null {
  try {
    const id = (parseJsonBody(raw) as { UserPoolId?: unknown }).UserPoolId;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}
