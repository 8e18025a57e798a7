/**
 * An error answered the way Cognito answers it: HTTP status, `{"__type", "message"}` body and an
 * `x-amzn-ErrorType` header. Operation handlers throw these; the protocol layer renders them.
 */
export class CognitoServiceError extends Error {
  override readonly name = 'CognitoServiceError';
  /** False for errors AWS sends without a message (the coral framework's unknown-operation answer). */
  readonly hasMessage: boolean;

  constructor(
    /** The error code the SDK reports as `error.name`, e.g. `InvalidParameterException`. */
    readonly code: string,
    message: string | null,
    /** HTTP status; Cognito uses 400 for client errors, throttling included, and 500 for its own. */
    readonly status: number = 400,
    /** Namespace for errors raised by AWS's shared request layer (coral) rather than by Cognito. */
    readonly namespace: string | null = null,
  ) {
    super(message ?? code);
    this.hasMessage = message !== null;
  }

  /** The `__type` field: the bare code, or `namespace#code` for framework errors. */
  get type(): string {
    return this.namespace === null ? this.code : `${this.namespace}#${this.code}`;
  }

  /** The `x-amzn-ErrorType` header value. */
  get errorTypeHeader(): string {
    return this.namespace === null ? this.code : `${this.code}:http://internal.amazon.com/coral/${this.namespace}/`;
  }

  /** The JSON body. */
  toBody(): Record<string, string> {
    return this.hasMessage ? { __type: this.type, message: this.message } : { __type: this.type };
  }

  /** `InvalidParameterException` (400) with the given message. */
  static invalidParameter(message: string): CognitoServiceError {
    return new CognitoServiceError('InvalidParameterException', message);
  }

  /** A pool id that is well-formed but unknown. */
  static poolNotFound(poolId: string): CognitoServiceError {
    return new CognitoServiceError('ResourceNotFoundException', `User pool ${poolId} does not exist.`);
  }

  /** A username that is not in the pool. */
  static userNotFound(): CognitoServiceError {
    return new CognitoServiceError('UserNotFoundException', 'User does not exist.');
  }

  /** AdminCreateUser with a taken username. */
  static usernameExists(): CognitoServiceError {
    return new CognitoServiceError('UsernameExistsException', 'User account already exists');
  }

  /** A group name that is not in the pool (Cognito's wording, the same for every group operation). */
  static groupNotFound(): CognitoServiceError {
    return new CognitoServiceError('ResourceNotFoundException', 'Group not found.');
  }

  /** CreateGroup with a taken name. */
  static groupExists(): CognitoServiceError {
    return new CognitoServiceError('GroupExistsException', 'A group with the name already exists.');
  }

  /** A hard resource limit (groups per pool, groups per user) would be exceeded. */
  static limitExceeded(message: string): CognitoServiceError {
    return new CognitoServiceError('LimitExceededException', message);
  }

  /** The account-wide quota is spent. Cognito sends this with HTTP 400, not 429. */
  static tooManyRequests(): CognitoServiceError {
    return new CognitoServiceError('TooManyRequestsException', 'Rate exceeded');
  }

  /** A server-side failure (HTTP 500), retryable. */
  static internalError(): CognitoServiceError {
    return new CognitoServiceError('InternalErrorException', 'Internal server error', 500);
  }

  /** A pagination token that is malformed, expired, or reused with other parameters. */
  static invalidPagingMarker(token: string, requestId: string): CognitoServiceError {
    return CognitoServiceError.invalidParameter(`Paging marker ${token} is invalid for request ${requestId}`);
  }

  /** An access key id the account does not know. */
  static unrecognizedClient(): CognitoServiceError {
    return new CognitoServiceError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }

  /** Temporary credentials past their Expiration. */
  static expiredToken(): CognitoServiceError {
    return new CognitoServiceError('ExpiredTokenException', 'The security token included in the request is expired');
  }

  /** A request with no SigV4 Authorization header at all. */
  static missingAuthenticationToken(): CognitoServiceError {
    return new CognitoServiceError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  }

  /** The `X-Amz-Target` names no operation of the service: coral answers this, without a message. */
  static unknownOperation(): CognitoServiceError {
    return new CognitoServiceError('UnknownOperationException', null, 400, 'com.amazon.coral.service');
  }

  /** A body that is not JSON, or a member of the wrong JSON type. */
  static serialization(message: string | null = null): CognitoServiceError {
    return new CognitoServiceError('SerializationException', message, 400, 'com.amazon.coral.service');
  }
}
