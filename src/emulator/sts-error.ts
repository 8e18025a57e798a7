/**
 * An error answered the way STS answers it: `<ErrorResponse><Error><Type>Sender|Receiver</Type>
 * <Code>…</Code><Message>…</Message></Error><RequestId>…</RequestId></ErrorResponse>` with an HTTP
 * status; the SDK reports the code as `error.name`.
 */
export class StsError extends Error {
  override readonly name = 'StsError';

  constructor(
    /** e.g. `AccessDenied`, `ValidationError`, `ExpiredToken`. */
    readonly code: string,
    message: string,
    readonly status: number = 400,
  ) {
    super(message);
  }

  /** `Sender` for the caller's mistakes (4xx), `Receiver` for the service's own (5xx). */
  get type(): 'Sender' | 'Receiver' {
    return this.status >= 500 ? 'Receiver' : 'Sender';
  }

  /** The caller may not assume the role (unknown role, or a missing or wrong ExternalId). */
  static accessDenied(callerArn: string, roleArn: string): StsError {
    return new StsError('AccessDenied', `User: ${callerArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`, 403);
  }

  /** A parameter outside its constraints, worded as AWS's validation layer words it. */
  static validation(message: string): StsError {
    return new StsError('ValidationError', message);
  }

  /** An access key or session token STS does not know. */
  static invalidClientTokenId(): StsError {
    return new StsError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
  }

  /** Temporary credentials past their Expiration. */
  static expiredToken(): StsError {
    return new StsError('ExpiredToken', 'The security token included in the request is expired');
  }

  /** A request without a signature while keys are restricted. */
  static missingAuthenticationToken(): StsError {
    return new StsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
  }

  /** An Action STS does not have (or the emulator does not answer). */
  static invalidAction(action: string): StsError {
    return new StsError('InvalidAction', `Could not find operation ${action} for version 2011-06-15`);
  }
}
