import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { operationFromTarget, parseJsonBody, readBody, sendError, sendJson } from './aws-json-protocol.js';
import { CognitoServiceError } from './cognito-error.js';
import type { Authentication, CredentialIssuer, Principal } from './credential-issuer.js';
import type { StatsRecorder } from './emulator-stats.js';
import type { FaultInjector } from './fault-injector.js';
import { GROUP_LISTINGS } from './group-listings.js';
import { GROUP_OPERATIONS } from './group-operations.js';
import { IDENTITY_LINK_OPERATIONS } from './identity-links.js';
import type { OperationHandler } from './operation-context.js';
import type { PaginationTokenCodec } from './pagination-token.js';
import { POOL_OPERATIONS } from './pool-operations.js';
import { QuotaMeter } from './quota-meter.js';
import type { ResponseScheduler } from './response-scheduler.js';
import { userTimestampNow } from './stored-user.js';
import { requestCredentials } from './sts-protocol.js';
import { USER_OPERATIONS } from './user-operations.js';
import type { UserPoolStore } from './user-pool-store.js';
import type { WriteRecorder } from './write-recorder.js';

const OPERATIONS: Readonly<Record<string, OperationHandler>> = {
  ...POOL_OPERATIONS,
  ...USER_OPERATIONS,
  ...GROUP_OPERATIONS,
  ...GROUP_LISTINGS,
  ...IDENTITY_LINK_OPERATIONS,
};

/** What the Cognito endpoint works with; the emulator owns them all. */
export interface CognitoEndpointParts {
  readonly store: UserPoolStore;
  readonly codec: PaginationTokenCodec;
  readonly faults: FaultInjector;
  readonly quota: QuotaMeter;
  readonly stats: StatsRecorder;
  readonly writes: WriteRecorder;
  readonly scheduler: ResponseScheduler;
  readonly issuer: CredentialIssuer;
}

type Outcome =
  | { readonly kind: 'answer'; readonly body: unknown; readonly padTo?: number | undefined }
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
    const { accessKeyId, sessionToken } = requestCredentials(request.headers);
    const auth = this.#parts.issuer.authenticate(accessKeyId, sessionToken, Date.now(), this.#parts.faults.allowedAccessKeyIds);
    const caller = auth.kind === 'ok' ? auth.principal : null;
    stats.count('calls', name, caller?.account ?? null);

    const known = request.method === 'POST' && operation !== null && Object.hasOwn(OPERATIONS, operation);
    const early = caller === null ? authError(auth) : known ? null : CognitoServiceError.unknownOperation();
    readBody(request).then(
      (raw) => {
        const outcome: Outcome =
          early !== null || caller === null
            ? { kind: 'error', error: early ?? authError(auth), counter: 'errors' }
            : this.#decide(name, raw, requestId, arrivedMs, caller);
        this.#respond(name, outcome, request, response, requestId, caller);
      },
      (error: unknown) => {
        const failure = error instanceof CognitoServiceError ? error : CognitoServiceError.serialization();
        this.#respond(name, { kind: 'error', error: failure, counter: 'errors' }, request, response, requestId, caller);
      },
    );
  }

  #decide(operation: string, raw: Buffer, requestId: string, nowMs: number, caller: Principal): Outcome {
    const { faults, store, codec, quota } = this.#parts;
    // Reads: their quotas, then throttleRate; writes: their quotas only (throttleRate never applies).
    const metered = QuotaMeter.category(operation) !== undefined;
    if (metered && (!quota.tryTake(operation, caller.account, poolIdIn(raw)) || (QuotaMeter.meters(operation) && faults.shouldThrottle()))) {
      return { kind: 'error', error: CognitoServiceError.tooManyRequests(), counter: 'throttled' };
    }
    if (faults.shouldDrop()) return { kind: 'drop' };
    try {
      const injected = faults.injectedError(operation);
      if (injected !== null) throw injected;
      const handler = OPERATIONS[operation] as OperationHandler;
      const request = parseJsonBody(raw);
      const context = { store, codec, faults, requestId, nowMs, account: caller.account, writes: this.#parts.writes.forOperation(operation) };
      const body = handler(request, context);
      const tokenField = LIST_TOKEN_FIELDS[operation];
      if (tokenField === undefined) return { kind: 'answer', body };
      // Endless pages: a last page points back at the second, under a token issued now (never seen before).
      const restart = () => (handler({ ...request, [tokenField]: undefined }, context) as Record<string, unknown>)[tokenField];
      return { kind: 'answer', body: hostilePage(body, request[tokenField], tokenField, faults, restart), padTo: faults.oversizedPageBytes() ?? undefined };
    } catch (error) {
      if (error instanceof CognitoServiceError) return { kind: 'error', error, counter: 'errors' };
      // A bug in the emulator: answer as AWS would for its own failure, and say so on stderr.
      console.error(`cognito emulator: ${operation} failed:`, error);
      return { kind: 'error', error: CognitoServiceError.internalError(), counter: 'errors' };
    }
  }

  #respond(operation: string, outcome: Outcome, request: IncomingMessage, response: ServerResponse, requestId: string, caller: Principal | null): void {
    const { stats } = this.#parts;
    const account = caller?.account ?? null;
    this.#parts.scheduler.later(request, () => {
      if (outcome.kind === 'drop') {
        stats.count('dropped', operation, account);
        request.socket.destroy();
      } else if (outcome.kind === 'error') {
        stats.count(outcome.counter, operation, account);
        sendError(response, outcome.error, requestId);
      } else if (outcome.padTo !== undefined) {
        sendPadded(response, outcome.body, outcome.padTo, requestId);
      } else {
        sendJson(response, 200, outcome.body, requestId);
      }
    });
  }
}

/** The token field of each paged listing the hostile faults bend. */
const LIST_TOKEN_FIELDS: Readonly<Record<string, string>> = { ListUsers: 'PaginationToken', ListUsersInGroup: 'NextToken', ListGroups: 'NextToken' };

/**
 * With `repeatPaginationToken`, a page asked for with a token carries that same token back; with
 * `endlessPages`, a last page carries `restart()`, a fresh token to the second page.
 */
function hostilePage(body: unknown, sent: unknown, field: string, faults: FaultInjector, restart: () => unknown): unknown {
  if (typeof body !== 'object' || body === null) return body;
  if (faults.repeatsPaginationToken() && typeof sent === 'string') return { ...body, [field]: sent };
  if (faults.endsNever() && (body as Record<string, unknown>)[field] === undefined) {
    const token = restart();
    if (typeof token === 'string') return { ...body, [field]: token };
  }
  return body;
}

const PAD_CHUNK = Buffer.alloc(64 * 1024, 0x78);

/**
 * Sends `body` padded to `size` bytes with an extra string field, streamed chunk by chunk as the
 * client reads (a 120 MB page costs the emulator 64 KiB), and abandoned if the client hangs up.
 */
function sendPadded(response: ServerResponse, body: unknown, size: number, requestId: string): void {
  const json = JSON.stringify(body);
  const head = Buffer.from(`${json.slice(0, -1)}${json.length > 2 ? ',' : ''}"Padding":"`, 'utf8');
  const tail = Buffer.from('"}', 'utf8');
  let padding = Math.max(0, size - head.length - tail.length);
  response.writeHead(200, {
    'Content-Type': 'application/x-amz-json-1.1',
    'Content-Length': String(head.length + padding + tail.length),
    'x-amzn-RequestId': requestId,
  });
  response.write(head);
  const pump = (): void => {
    while (padding > 0 && !response.destroyed) {
      const chunk = padding >= PAD_CHUNK.length ? PAD_CHUNK : PAD_CHUNK.subarray(0, padding);
      padding -= chunk.length;
      if (!response.write(chunk)) {
        response.once('drain', pump);
        return;
      }
    }
    if (!response.destroyed) response.end(tail);
  };
  response.on('close', () => response.off('drain', pump));
  pump();
}

/** What Cognito answers for credentials it refuses. */
function authError(auth: Authentication): CognitoServiceError {
  if (auth.kind === 'missing') return CognitoServiceError.missingAuthenticationToken();
  return auth.kind === 'expired' ? CognitoServiceError.expiredToken() : CognitoServiceError.unrecognizedClient();
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
