import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseJsonBody, readBody, sendJson } from './aws-json-protocol.js';
import type { Authentication, CredentialIssuer } from './credential-issuer.js';
import type { StatsRecorder } from './emulator-stats.js';
import type { FaultInjector } from './fault-injector.js';
import { GlueCatalogStore, GlueServiceError } from './glue-catalog-store.js';
import type { GlueCatalogSnapshot } from './glue-catalog-store.js';
import type { ResponseScheduler } from './response-scheduler.js';
import { requestCredentials } from './sts-protocol.js';

/** The `X-Amz-Target` prefix of every Glue operation. */
export const GLUE_TARGET_PREFIX = 'AWSGlue.';

/** True for a Glue request (`X-Amz-Target: AWSGlue.<Op>`), which the emulator answers on its one port. */
export function isGlueRequest(request: IncomingMessage): boolean {
  const target = request.headers['x-amz-target'];
  return typeof target === 'string' && target.startsWith(GLUE_TARGET_PREFIX);
}

/** What the Glue endpoint shares with the rest of the emulator. */
export interface GlueEndpointParts {
  readonly faults: FaultInjector;
  readonly stats: StatsRecorder;
  readonly scheduler: ResponseScheduler;
  readonly issuer: CredentialIssuer;
}

/** One call as the endpoint received it: for tests asserting which catalog calls a run made. */
export interface GlueCall {
  readonly operation: string;
  /** The parsed JSON body (null when it was not JSON). */
  readonly input: Record<string, unknown> | null;
  /** The caller's account, or null when its credentials were refused. */
  readonly account: string | null;
  /** The error code answered, or null for a success. */
  readonly error: string | null;
}

interface PendingFailure {
  remaining: number;
  readonly error: GlueServiceError;
}

/** Errors that are Glue's own failures (HTTP 500) rather than the caller's. */
const SERVER_ERRORS = new Set(['InternalServiceException', 'InternalFailure', 'ServiceUnavailableException']);

/**
 * Glue's Data Catalog over AWS JSON 1.1 (`POST /`, `X-Amz-Target: AWSGlue.<Op>`), for the
 * unmodified `@aws-sdk/client-glue` (`AWS_ENDPOINT_URL_GLUE=<emulator url>`): GetDatabase,
 * CreateDatabase, GetTable, CreateTable, UpdateTable, DeleteTable, BatchCreatePartition,
 * BatchDeletePartition, GetPartition, GetPartitions, UpdatePartition. A body without CatalogId
 * works in the caller's account's catalog. Every call is recorded ({@link calls}); faults: the
 * emulator's `forcedErrors` by operation name (every call, e.g. AccessDeniedException), `latencyMs`
 * and `jitterMs`, and {@link failNext} (the next N calls of one operation).
 */
export class GlueEndpoint {
  readonly #parts: GlueEndpointParts;
  readonly #store = new GlueCatalogStore();
  readonly #calls: GlueCall[] = [];
  readonly #failures = new Map<string, PendingFailure[]>();

  constructor(parts: GlueEndpointParts) {
    this.#parts = parts;
  }

  /** Every call received since the start (or the last {@link reset}), oldest first; only `operation`'s when given. */
  calls(operation?: string): GlueCall[] {
    return this.#calls.filter((call) => operation === undefined || call.operation === operation).map((call) => structuredClone(call));
  }

  /** Forgets the recorded calls (the catalog stays). */
  resetCalls(): void {
    this.#calls.length = 0;
  }

  /** A copy of one catalog (default: the emulator's default account's). */
  snapshot(catalogId: string = this.#parts.issuer.defaultAccount): GlueCatalogSnapshot {
    return this.#store.snapshot(catalogId);
  }

  /**
   * Answers the next `count` calls of `operation` with an error instead of running them, after
   * failures already queued for it: ThrottlingException (400, which the SDK retries) by default,
   * InternalServiceException with 500.
   */
  failNext(operation: string, count: number, code = 'ThrottlingException', message?: string): void {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`Expected \`count\` to be a positive integer, got ${count}`);
    const error = new GlueServiceError(code, message ?? (code === 'ThrottlingException' ? 'Rate exceeded' : code), SERVER_ERRORS.has(code) ? 500 : 400);
    const queue = this.#failures.get(operation) ?? [];
    queue.push({ remaining: count, error });
    this.#failures.set(operation, queue);
  }

  /** Empties every catalog, the recorded calls and the queued failures. */
  reset(): void {
    this.#store.clear();
    this.#calls.length = 0;
    this.#failures.clear();
  }

  /** Answers one API request. */
  handle(request: IncomingMessage, response: ServerResponse): void {
    const requestId = randomUUID();
    const nowMs = Date.now();
    const target = request.headers['x-amz-target'];
    const operation = typeof target === 'string' ? target.slice(GLUE_TARGET_PREFIX.length) : '';
    const { accessKeyId, sessionToken } = requestCredentials(request.headers);
    const auth = this.#parts.issuer.authenticate(accessKeyId, sessionToken, nowMs, this.#parts.faults.allowedAccessKeyIds);
    const account = auth.kind === 'ok' ? auth.principal.account : null;
    this.#parts.stats.count('calls', operation, account);
    readBody(request).then(
      (raw) => {
        let input: Record<string, unknown> | null = null;
        let answer: Record<string, unknown> | GlueServiceError;
        try {
          input = parseJsonBody(raw);
          answer = this.#answer(operation, input, auth, nowMs);
        } catch (error) {
          answer = asGlueError(error, operation);
        }
        this.#calls.push({ operation, input, account, error: answer instanceof GlueServiceError ? answer.code : null });
        this.#parts.scheduler.later(request, () => {
          if (answer instanceof GlueServiceError) {
            this.#parts.stats.count(answer.code === 'ThrottlingException' ? 'throttled' : 'errors', operation, account);
            sendJson(response, answer.status, answer.toBody(), requestId, { 'x-amzn-ErrorType': answer.code });
          } else {
            sendJson(response, 200, answer, requestId);
          }
        });
      },
      () => request.socket.destroy(),
    );
  }

  #answer(operation: string, input: Record<string, unknown>, auth: Authentication, nowMs: number): Record<string, unknown> {
    if (auth.kind !== 'ok') throw authError(auth);
    if (!GlueCatalogStore.knows(operation)) throw new GlueServiceError('UnknownOperationException', `Unknown operation ${operation}`);
    const queued = this.#failures.get(operation)?.[0];
    if (queued !== undefined) {
      queued.remaining -= 1;
      if (queued.remaining === 0) this.#failures.get(operation)?.shift();
      throw queued.error;
    }
    const forced = this.#parts.faults.injectedError(operation, false);
    if (forced !== null) throw new GlueServiceError(forced.code, forced.message, forced.status);
    return this.#store.run(operation, input, { account: auth.principal.account, nowMs });
  }
}

function asGlueError(error: unknown, operation: string): GlueServiceError {
  if (error instanceof GlueServiceError) return error;
  if (error instanceof Error && error.name === 'CognitoServiceError') {
    const { code, message, status } = error as Error & { code: string; status: number };
    return new GlueServiceError(code, message, status);
  }
  // A bug in the emulator: answer as AWS would for its own failure, and say so on stderr.
  console.error(`glue emulator: ${operation} failed:`, error);
  return new GlueServiceError('InternalServiceException', 'Internal service error', 500);
}

/** What Glue answers for credentials it refuses. */
function authError(auth: Authentication): GlueServiceError {
  if (auth.kind === 'missing') return new GlueServiceError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  if (auth.kind === 'expired') return new GlueServiceError('ExpiredTokenException', 'The security token included in the request is expired');
  return new GlueServiceError('UnrecognizedClientException', 'The security token included in the request is invalid.');
}
