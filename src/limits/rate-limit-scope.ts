import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { classifyError, describeError, fatalHint } from './error-classification.js';
import { FatalExportError } from './export-errors.js';
import { withRetries, type RetryPolicy } from './retry-policy.js';

/** What the scope needs from the process configuration (an AppConfig has it). */
export interface RateLimitScopeSettings {
  /** Against a Cognito endpoint override (the emulator) the account is `local`, unless STS is overridden too. */
  readonly cognitoEndpoint: string | undefined;
  /** The SDK's STS endpoint override (`AWS_ENDPOINT_URL_STS`), e.g. the emulator's. */
  readonly stsEndpoint?: string | undefined;
  /** Region of the STS endpoint. */
  readonly awsRegion: string | undefined;
  /** `AWS_ACCOUNT_ID`: the account, without asking STS. */
  readonly awsAccountId: string | undefined;
}

/** Asks STS which account the worker's credentials belong to. */
export type AccountLookup = () => Promise<string | undefined>;

/**
 * Which shared token bucket a worker's ListUsers calls draw on. Cognito's UserList quota belongs to
 * an AWS account and region, so the bucket is keyed `<account>:<region>`. The account comes from
 * AWS_ACCOUNT_ID when set, otherwise from STS GetCallerIdentity (retried; once per process), and is
 * `local` against a Cognito endpoint override such as the emulator. A worker that cannot tell its
 * account does not guess: two workers guessing differently would each take the whole rate.
 */
export class RateLimitScope {
  private account: Promise<string> | undefined;

  constructor(
    private readonly config: RateLimitScopeSettings,
    private readonly retryPolicy: Partial<RetryPolicy> = {},
    private readonly lookup: AccountLookup = () => callerAccount(config),
  ) {}

  /** The bucket name for calls to `region`. Throws a FatalExportError naming AWS_ACCOUNT_ID when the account cannot be known. */
  async forRegion(region: string): Promise<string> {
    return `${await this.accountId()}:${region}`;
  }

  private accountId(): Promise<string> {
    // Only an answer is kept: after a failure the next run asks again.
    this.account ??= this.resolve().catch((error: unknown) => {
      this.account = undefined;
      throw error;
    });
    return this.account;
  }

  private async resolve(): Promise<string> {
    if (this.config.awsAccountId) return this.config.awsAccountId;
    if (this.config.cognitoEndpoint && !this.config.stsEndpoint) return 'local';
    let account: string | undefined;
    try {
      account = await withRetries(this.lookup, { policy: { transientRetries: 4, ...this.retryPolicy } });
    } catch (error) {
      // Credentials missing or rejected: that is what to fix, not the account id.
      if (classifyError(error) === 'fatal' && fatalHint(error)?.includes('credentials')) {
        throw new FatalExportError(`AWS credentials: ${describeError(error)}: ${fatalHint(error) ?? ''}`);
      }
      throw new FatalExportError(
        `cannot tell which AWS account this worker is in, so it cannot share that account's ListUsers rate limit with other workers ` +
          `(STS GetCallerIdentity: ${describeError(error)}): set AWS_ACCOUNT_ID`,
      );
    }
    if (!account) throw new FatalExportError('STS GetCallerIdentity answered no account: set AWS_ACCOUNT_ID');
    return account;
  }
}

async function callerAccount(config: RateLimitScopeSettings): Promise<string | undefined> {
  const sts = new STSClient({ region: config.awsRegion ?? 'us-east-1', maxAttempts: 1, ...(config.stsEndpoint ? { endpoint: config.stsEndpoint } : {}) });
  try {
    return (await sts.send(new GetCallerIdentityCommand({}))).Account;
  } finally {
    sts.destroy();
  }
}
