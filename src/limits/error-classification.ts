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
  // S3's answers to a bad key or secret: the credentials, not the IAM policy.
  InvalidAccessKeyId: { class: 'fatal', hint: 'the S3 credentials were rejected: check the access key the worker runs with' },
  SignatureDoesNotMatch: { class: 'fatal', hint: 'the S3 credentials were rejected: check the secret access key the worker runs with' },
  AccessDeniedException: { class: 'fatal', hint: 'grant the worker the IAM permissions listed in docs/operations.md (IAM policy)' },
  AccessDenied: { class: 'fatal', hint: 'grant the worker the IAM permissions listed in docs/operations.md (IAM policy)' },
  InvalidParameterException: { class: 'fatal', hint: 'check --filter and --attributes' },
  NoSuchBucket: { class: 'fatal', hint: 'create the bucket or fix --destination' },
  // Not errors for the caller but answers ("there is no such object"): never worth a retry.
  NoSuchKey: { class: 'fatal' },
  NotFound: { class: 'fatal' },
  // Cognito's answers to a restore's writes: what the pool holds, or what it refuses to hold.
  UsernameExistsException: { class: 'fatal' },
  UserNotFoundException: { class: 'fatal' },
  GroupExistsException: { class: 'fatal' },
  AliasExistsException: { class: 'fatal' },
  InvalidPasswordException: { class: 'fatal' },
  UserLambdaValidationException: { class: 'fatal' },
  UnsupportedUserStateException: { class: 'fatal' },
  // S3's answer to a HEAD it refuses (no body, so no code): the caller asks again to learn why.
  Forbidden: { class: 'fatal', hint: 'grant the worker the IAM permissions listed in docs/operations.md (IAM policy)' },
  // The staged upload is gone: completed by an earlier finalizer (the caller checks the object), or
  // aborted behind the worker's back.
  NoSuchUpload: { class: 'fatal', hint: 'the staged upload was aborted (by a lifecycle rule on the bucket?): run the export again' },
  // An S3-compatible server without the operation (some lack ListMultipartUploads): callers that can
  // do without it catch this; retrying cannot help.
  NotImplemented: { class: 'fatal', hint: 'the S3-compatible server does not support an operation the export needs' },
  MethodNotAllowed: { class: 'fatal', hint: 'the S3-compatible server does not support an operation the export needs' },
  // A multipart upload the server will not take: retrying the same request cannot help.
  EntityTooSmall: { class: 'fatal', hint: 'the S3-compatible server refused a multipart part size; report it with the server name' },
  InvalidPart: { class: 'fatal', hint: 'the S3-compatible server refused a staged part; run the export again' },
  InvalidPartOrder: { class: 'fatal', hint: 'the S3-compatible server refused a staged part; run the export again' },
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
 * Classifies an error by its code; an unknown code is throttled when its status is 429 and
 * transient otherwise (retried a bounded number of times). Only codes the table names are fatal: an
 * unknown 4xx (an S3-compatible server's own code, a new AWS one) must not fail a run outright.
 */
export function classifyError(error: unknown): ErrorClass {
  const code = errorCode(error);
  const row = TABLE[code];
  if (row) return row.class;
  const status = httpStatus(error);
  if (status === 429) return 'throttled';
  // A HEAD answer has no body, so the SDK knows no code: its status says it all.
  if ((code === 'Unknown' || code === 'UnknownError') && (status === 403 || status === 404)) return 'fatal';
  return 'transient';
}

/** What an operator should do about a fatal error, if the table knows. */
export function fatalHint(error: unknown): string | undefined {
  return TABLE[errorCode(error)]?.hint;
}

/** A one-line description of an error: `Code: message`, without a stack. */
export function describeError(error: unknown): string {
  const code = errorCode(error);
  const message = redactTokens(error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error));
  if (!message || message === code) return code;
  return message.startsWith(code) ? message : `${code}: ${message}`;
}

const TOKEN_TEXT = /\b(paging marker|pagination token|next ?token|marker|token)(\s*[:=]?\s*"?)([A-Za-z0-9+/=_-]{16,})/gi;

/**
 * Takes pagination tokens out of a message (`Paging marker <token> is invalid…`): a token is a
 * position in the pool, and AWS's may encode what it points at. Pure.
 */
export function redactTokens(text: string): string {
  return text.replace(TOKEN_TEXT, '$1$2[redacted]');
}
