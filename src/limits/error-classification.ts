/**
 * The one place that decides what an error means: back off and try again (throttled), try again a
 * bounded number of times (transient), or stop the run now (fatal). Errors are classified by their
 * code, never by HTTP status alone: Cognito throttles with HTTP 400.
 */

export type ErrorClass = 'throttled' | 'transient' | 'fatal';

interface Row {
  readonly class: ErrorClass;
  /** What the operator should do, for fatal errors. */
  readonly hint?: string;
}

const TABLE: Readonly<Record<string, Row>> = {
  // Cognito's UserList quota (30 rps per account and region) is exceeded: usually HTTP 400.
  TooManyRequestsException: { class: 'throttled' },
  // Older name for the same quota signal on some Cognito APIs.
  LimitExceededException: { class: 'throttled' },
  // Generic AWS throttling codes (STS, the query protocol).
  ThrottlingException: { class: 'throttled' },
  Throttling: { class: 'throttled' },
  RequestLimitExceeded: { class: 'throttled' },
  // S3 asks the caller to slow down (HTTP 503).
  SlowDown: { class: 'throttled' },
  TooManyRequests: { class: 'throttled' },

  // Cognito's own server error (HTTP 500): retrying is the documented advice.
  InternalErrorException: { class: 'transient' },
  InternalError: { class: 'transient' },
  ServiceUnavailable: { class: 'transient' },
  ServiceUnavailableException: { class: 'transient' },
  RequestTimeout: { class: 'transient' },
  RequestTimeoutException: { class: 'transient' },
  // The SDK's socket and request timeouts.
  TimeoutError: { class: 'transient' },
  // Connection-level failures: the peer went away or a packet was lost.
  ECONNRESET: { class: 'transient' },
  ECONNREFUSED: { class: 'transient' },
  ECONNABORTED: { class: 'transient' },
  EPIPE: { class: 'transient' },
  ETIMEDOUT: { class: 'transient' },
  EAI_AGAIN: { class: 'transient' },
  ENOTFOUND: { class: 'transient' },
  EHOSTUNREACH: { class: 'transient' },
  ENETUNREACH: { class: 'transient' },

  ResourceNotFoundException: { class: 'fatal', hint: 'check --user-pool-id and --region (AWS_REGION)' },
  // The SDK found no credentials at all in its chain.
  CredentialsProviderError: { class: 'fatal', hint: 'give the worker AWS credentials (environment, profile or role)' },
  NotAuthorizedException: { class: 'fatal', hint: 'check the AWS credentials the worker runs with' },
  UnrecognizedClientException: { class: 'fatal', hint: 'check the AWS credentials the worker runs with' },
  InvalidClientTokenId: { class: 'fatal', hint: 'check the AWS credentials the worker runs with' },
  ExpiredToken: { class: 'fatal', hint: 'refresh the AWS credentials the worker runs with' },
  ExpiredTokenException: { class: 'fatal', hint: 'refresh the AWS credentials the worker runs with' },
  InvalidAccessKeyId: { class: 'fatal', hint: 'check the AWS credentials the worker runs with' },
  SignatureDoesNotMatch: { class: 'fatal', hint: 'check the AWS secret access key the worker runs with' },
  AccessDeniedException: { class: 'fatal', hint: 'grant the worker the IAM permissions listed in the README' },
  AccessDenied: { class: 'fatal', hint: 'grant the worker the IAM permissions listed in the README' },
  InvalidParameterException: { class: 'fatal', hint: 'check --filter and --attributes' },
  NoSuchBucket: { class: 'fatal', hint: 'create the bucket or fix --destination' },
  InvalidBucketName: { class: 'fatal', hint: 'fix the bucket name in --destination' },
  PermanentRedirect: { class: 'fatal', hint: 'the bucket is in another region: set AWS_REGION to it' },
  AuthorizationHeaderMalformed: { class: 'fatal', hint: 'the bucket is in another region: set AWS_REGION to it' },
  // The local file system refuses the destination.
  EACCES: { class: 'fatal', hint: 'make the destination directory writable by the worker' },
  EPERM: { class: 'fatal', hint: 'make the destination directory writable by the worker' },
  EROFS: { class: 'fatal', hint: 'choose a destination on a writable file system' },
  ENOTDIR: { class: 'fatal', hint: 'the destination path runs through a file; choose a directory' },
  EEXIST: { class: 'fatal', hint: 'the destination path is taken by a file; choose a directory' },
  ENOSPC: { class: 'fatal', hint: 'free disk space at the destination' },
};

/**
 * The error's code: an AWS error's name (the SDK has already split `__type` on `#`), a Node system
 * error's `code`, or the name of anything else.
 */
export function errorCode(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'UnknownError';
  const e = error as { name?: unknown; code?: unknown; Code?: unknown; $metadata?: unknown };
  if (typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code)) return e.code;
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.name === 'string' && e.name !== 'Error') return e.name.split('#').pop() ?? e.name;
  if (typeof e.code === 'string') return e.code;
  return 'UnknownError';
}

/** The HTTP status an AWS SDK error carries, if any. */
export function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const meta = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata;
  return typeof meta?.httpStatusCode === 'number' ? meta.httpStatusCode : undefined;
}

/**
 * Classifies an error by its code; unknown codes fall back to the status: 429 throttled, other 4xx
 * fatal (the request itself is wrong), anything else transient.
 */
export function classifyError(error: unknown): ErrorClass {
  const row = TABLE[errorCode(error)];
  if (row) return row.class;
  const status = httpStatus(error);
  if (status === 429) return 'throttled';
  if (status !== undefined && status >= 400 && status < 500) return 'fatal';
  return 'transient';
}

/** What an operator should do about a fatal error, if the table knows. */
export function fatalHint(error: unknown): string | undefined {
  return TABLE[errorCode(error)]?.hint;
}

/** A one-line description of an error: `Code: message`, without a stack. */
export function describeError(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error);
  if (!message || message === code) return code;
  return message.startsWith(code) ? message : `${code}: ${message}`;
}
