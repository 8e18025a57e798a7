import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';

/** What the scope needs from the process configuration (an AppConfig has it). */
export interface RateLimitScopeSettings {
  /** Against an endpoint override (the emulator) the account is `local`. */
  readonly cognitoEndpoint: string | undefined;
  /** Region of the STS endpoint. */
  readonly awsRegion: string | undefined;
}

/**
 * Which shared token bucket a worker's ListUsers calls draw on. Cognito's UserList quota belongs to
 * an AWS account and region, so the bucket is keyed `<account>:<region>`. The account comes from
 * AWS_ACCOUNT_ID when set, otherwise from STS GetCallerIdentity (once per process), and is `local`
 * against an endpoint override such as the emulator.
 */
export class RateLimitScope {
  private account: Promise<string> | undefined;

  constructor(
    private readonly config: RateLimitScopeSettings,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly onWarning: (message: string) => void = () => undefined,
  ) {}

  /** The bucket name for calls to `region`. */
  async forRegion(region: string): Promise<string> {
    return `${await this.accountId()}:${region}`;
  }

  private accountId(): Promise<string> {
    this.account ??= this.resolve();
    return this.account;
  }

  private async resolve(): Promise<string> {
    const fromEnv = this.env.AWS_ACCOUNT_ID?.trim();
    if (fromEnv) return fromEnv;
    if (this.config.cognitoEndpoint) return 'local';
    const sts = new STSClient({ region: this.config.awsRegion ?? 'us-east-1', maxAttempts: 3 });
    try {
      const identity = await sts.send(new GetCallerIdentityCommand({}));
      if (identity.Account) return identity.Account;
    } catch (error) {
      this.onWarning(
        `could not look up the AWS account for the shared rate limit (${error instanceof Error ? error.message : String(error)}); set AWS_ACCOUNT_ID`,
      );
    } finally {
      sts.destroy();
    }
    return 'default';
  }
}
