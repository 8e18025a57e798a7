import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from './aws-json-protocol.js';
import { CognitoServiceError } from './cognito-error.js';
import { AssumeRoleDenied } from './credential-issuer.js';
import type { CredentialIssuer, Principal } from './credential-issuer.js';
import type { StatsRecorder } from './emulator-stats.js';
import type { FaultInjector } from './fault-injector.js';
import { RequestValidator } from './request-validator.js';
import type { ResponseScheduler } from './response-scheduler.js';
import { StsError } from './sts-error.js';
import { parseForm, requestCredentials, sendStsError, sendStsResult } from './sts-protocol.js';
import type { XmlContent } from './sts-protocol.js';

/** What the STS endpoint works with; the emulator owns them all. */
export interface StsEndpointParts {
  readonly issuer: CredentialIssuer;
  readonly faults: FaultInjector;
  readonly stats: StatsRecorder;
  readonly scheduler: ResponseScheduler;
}

type Action = (params: Record<string, string>, caller: Principal, nowMs: number) => XmlContent;

/** STS's timestamps: ISO 8601 UTC to the second, without a fraction. */
function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * STS over the AWS Query protocol (`POST /`, form-encoded `Action=…&Version=2011-06-15`), answering
 * in STS's XML so the unmodified `@aws-sdk/client-sts` and `fromTemporaryCredentials` work:
 * `AssumeRole` and `GetCallerIdentity`. Latency and forced errors apply; quotas and random faults do not.
 */
export class StsEndpoint {
  readonly #parts: StsEndpointParts;
  readonly #actions: Readonly<Record<string, Action>>;

  constructor(parts: StsEndpointParts) {
    this.#parts = parts;
    this.#actions = {
      AssumeRole: (params, caller, nowMs) => this.#assumeRole(params, caller, nowMs),
      GetCallerIdentity: (_params, caller) => [['Arn', caller.arn], ['UserId', caller.userId], ['Account', caller.account]],
    };
  }

  /** Answers one Query request. */
  handle(request: IncomingMessage, response: ServerResponse): void {
    const requestId = randomUUID();
    const nowMs = Date.now();
    const { accessKeyId, sessionToken } = requestCredentials(request.headers);
    const auth = this.#parts.issuer.authenticate(accessKeyId, sessionToken, nowMs, this.#parts.faults.allowedAccessKeyIds);
    readBody(request).then(
      (raw) => {
        const params = parseForm(raw);
        const action = params.Action ?? '';
        const account = auth.kind === 'ok' ? auth.principal.account : null;
        this.#parts.stats.count('calls', action, account);
        let answer: XmlContent | StsError;
        try {
          answer = auth.kind === 'ok' ? this.#run(action, params, auth.principal, nowMs) : authError(auth.kind);
        } catch (error) {
          if (!(error instanceof StsError)) throw error;
          answer = error;
        }
        this.#parts.scheduler.later(request, () => {
          if (answer instanceof StsError) {
            this.#parts.stats.count('errors', action, account);
            sendStsError(response, answer, requestId);
          } else {
            sendStsResult(response, action, answer, requestId);
          }
        });
      },
      () => request.socket.destroy(),
    );
  }

  #run(action: string, params: Record<string, string>, caller: Principal, nowMs: number): XmlContent {
    const run = Object.hasOwn(this.#actions, action) ? this.#actions[action] : undefined;
    if (run === undefined) throw StsError.invalidAction(action);
    const forced = this.#parts.faults.injectedError(action, false);
    if (forced !== null) throw new StsError(forced.code, forced.message, forced.status);
    return run(params, caller, nowMs);
  }

  #assumeRole(params: Record<string, string>, caller: Principal, nowMs: number): XmlContent {
    const { roleArn, sessionName, externalId, durationSeconds } = parseAssumeRole(params);
    const cap = this.#parts.faults.faults.sessionDurationSeconds;
    let issued;
    try {
      issued = this.#parts.issuer.assumeRole(roleArn, sessionName, externalId, cap === null ? durationSeconds : Math.min(cap, durationSeconds), nowMs);
    } catch (error) {
      if (error instanceof AssumeRoleDenied) throw StsError.accessDenied(caller.arn, roleArn);
      throw error;
    }
    return [
      ['AssumedRoleUser', [['AssumedRoleId', issued.assumedRoleId], ['Arn', issued.assumedRoleArn]]],
      [
        'Credentials',
        [
          ['AccessKeyId', issued.accessKeyId],
          ['SecretAccessKey', issued.secretAccessKey],
          ['SessionToken', issued.sessionToken],
          ['Expiration', isoSeconds(issued.expiresAtMs)],
        ],
      ],
    ];
  }
}

interface AssumeRoleRequest {
  readonly roleArn: string;
  readonly sessionName: string;
  readonly externalId: string | null;
  readonly durationSeconds: number;
}

/** Validates AssumeRole's parameters with STS's constraints; a violation is a ValidationError. */
function parseAssumeRole(params: Record<string, string>): AssumeRoleRequest {
  const { DurationSeconds } = params;
  const body: Record<string, unknown> = { ...params };
  if (DurationSeconds !== undefined && /^-?\d+$/.test(DurationSeconds)) body.DurationSeconds = Number(DurationSeconds);
  try {
    const v = new RequestValidator(body);
    const roleArn = v.string('RoleArn', { required: true, min: 20, max: 2048 });
    const sessionName = v.string('RoleSessionName', { required: true, min: 2, max: 64, pattern: String.raw`[\w+=,.@-]*` });
    const externalId = v.string('ExternalId', { min: 2, max: 1224, pattern: String.raw`[\w+=,.@:\/-]*` });
    const durationSeconds = v.integer('DurationSeconds', { min: 900, max: 43_200 });
    v.done();
    return { roleArn: roleArn as string, sessionName: sessionName as string, externalId: externalId ?? null, durationSeconds: durationSeconds ?? 3600 };
  } catch (error) {
    if (error instanceof CognitoServiceError) throw StsError.validation(error.message);
    throw error;
  }
}

function authError(kind: 'missing' | 'invalid' | 'expired'): StsError {
  if (kind === 'missing') return StsError.missingAuthenticationToken();
  return kind === 'expired' ? StsError.expiredToken() : StsError.invalidClientTokenId();
}
