import { hostname } from 'node:os';
import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { S3Client } from '@aws-sdk/client-s3';
import { GlueClient } from '@aws-sdk/client-glue';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { FatalExportError } from '../src/limits/export-errors.js';
import { describeError } from '../src/limits/error-classification.js';
import type { Logger } from 'pino';
import { createCognitoClient, type CognitoClientOverrides } from '../src/cognito/cognito-client.js';
import { createS3Client, s3RegionOf, type S3ClientOverrides } from '../src/storage/s3-client.js';
import type { AppConfig } from '../src/config/app-config.js';
import { openSink } from '../src/storage/open-sink.js';
import type { ObjectSink } from '../src/storage/object-sink.js';
import { runS3Role, type RunSpec } from '../src/runs/run-spec.js';
import { RateLimitScope } from '../src/limits/rate-limit-scope.js';
import { FLOW_PRIORITY, readLimiterState, RedisRateLimiter, type CallLimiter, type LimiterState, type RateLimiterOptions } from '../src/limits/rate-limiter.js';
import { rateLimitKey, redisKeys, type RedisKeys } from '../src/redis/redis-keys.js';
import type { RedisClient } from '../src/redis/redis-connection.js';
import { ExportMetrics } from '../src/ops/metrics.js';
import type { RetryPolicy } from '../src/limits/retry-policy.js';
import { CommitStore } from '../src/runs/commit-store.js';
import { RunStore } from '../src/runs/run-store.js';

/** ListGroups calls/s a worker allows itself per pool (AWS: 5) and per account and region (AWS: 20). */
export const RESOURCE_READ_POOL_RPS = 4;
export const RESOURCE_READ_ACCOUNT_RPS = 18;

/** A role in a pool's account, assumed for its Cognito calls (see RunSpec.roleArn). */
export interface AssumedRole {
  readonly roleArn: string;
  readonly externalId?: string | undefined;
}

/** The account a role belongs to, from its ARN. */
export function accountOfRole(roleArn: string): string {
  const account = /^arn:[^:]+:iam::(\d{12}):role\//.exec(roleArn)?.[1];
  if (!account) throw new FatalExportError(`role arn ${roleArn} names no account: expected arn:aws:iam::<account>:role/<name>`);
  return account;
}

/** An IAM or STS principal's ARN in a message (`User: arn:aws:sts::…:assumed-role/…`). */
const PRINCIPAL_ARN = /\barn:aws[a-z-]*:(?:iam|sts)::\d{12}:[^\s,;"')]+/g;

/** `text` with every principal ARN but `keep` (the role asked for) replaced by a placeholder. Pure. */
export function withoutPrincipals(text: string, keep: string): string {
  return text.replace(PRINCIPAL_ARN, (arn) => (arn === keep ? arn : "<the worker's principal>"));
}

/** Test and demo hooks: client overrides, retry and rate-limit tuning. */
export interface RuntimeOptions {
  readonly cognito?: CognitoClientOverrides;
  readonly s3?: S3ClientOverrides;
  /** The Glue client's credentials (tests: the emulator's); its endpoint is AWS_ENDPOINT_URL_GLUE. */
  readonly glue?: Pick<S3ClientOverrides, 'credentials'>;
  readonly retryPolicy?: Partial<RetryPolicy>;
  /** The shared limiter's controller, e.g. a floor for a test that throttles at random. */
  readonly rateLimit?: Omit<RateLimiterOptions, 'ratePerSecond'>;
  /** Items past ten times the pool's estimate a walk may return before it fails as runaway. @default RUNAWAY_MARGIN (a million) */
  readonly runawayMargin?: number;
}

/**
 * What every job and command of one process shares: configuration, the Redis connection, the
 * logger, and AWS clients, sinks and rate limiters made once and reused.
 */
export class ExportRuntime {
  readonly keys: RedisKeys;
  readonly runs: RunStore;
  /** Finalizer epochs, commit points and every dataset's committed head. */
  readonly commits: CommitStore;
  /** This process's Prometheus metrics. */
  readonly metrics = new ExportMetrics();
  /** This process as BullMQ names a job's worker (`processedBy`): `<host>:<pid>`. */
  readonly name = `${hostname()}:${process.pid}`;
  private readonly cognitoClients = new Map<string, CognitoIdentityProviderClient>();
  /** S3 clients by region and role (`<region>|<role>|<external id>`). */
  private readonly s3Clients = new Map<string, S3Client>();
  /** Glue clients, likewise. */
  private readonly glueClients = new Map<string, GlueClient>();
  private readonly limiters = new Map<string, RedisRateLimiter>();
  private readonly scope: RateLimitScope;

  constructor(
    readonly config: AppConfig,
    readonly redis: RedisClient,
    readonly log: Logger,
    readonly options: RuntimeOptions = {},
  ) {
    this.keys = redisKeys(config.redisKeyPrefix);
    this.runs = new RunStore(redis, this.keys);
    this.commits = new CommitStore(redis, this.keys);
    this.scope = new RateLimitScope(config, options.retryPolicy);
  }

  /**
   * The Cognito client for a region (SDK retries off; ours classify and share throttles), with the
   * worker's own credentials or, given a role, the role's: assumed with STS through the SDK's
   * temporary-credentials provider, which refreshes them before they expire.
   */
  cognito(region: string, role?: AssumedRole): CognitoIdentityProviderClient {
    const id = role ? `${region}|${role.roleArn}|${role.externalId ?? ''}` : region;
    let client = this.cognitoClients.get(id);
    if (!client) {
      const overrides = role ? { ...this.options.cognito, credentials: this.roleCredentials(region, role) } : this.options.cognito;
      client = createCognitoClient(this.config, region, overrides);
      this.cognitoClients.set(id, client);
    }
    return client;
  }

  private roleCredentials(region: string, role: AssumedRole, master: CognitoClientOverrides['credentials'] = this.options.cognito?.credentials) {
    return fromTemporaryCredentials({
      params: { RoleArn: role.roleArn, RoleSessionName: 'cognito-export', ...(role.externalId ? { ExternalId: role.externalId } : {}) },
      ...(master ? { masterCredentials: master } : {}),
      clientConfig: { region, maxAttempts: 3, ...(this.config.stsEndpoint ? { endpoint: this.config.stsEndpoint } : {}) },
    });
  }

  /**
   * Assumes a run's role once, so a role the worker cannot assume fails the run at its start with
   * one line naming the role, not as a Cognito error mid-walk.
   */
  async assumeRole(region: string, role: AssumedRole): Promise<void> {
    try {
      await this.cognito(region, role).config.credentials();
    } catch (error) {
      const given = role.externalId ? ' (with the given external_id)' : '';
      // The reason reaches whoever holds the admin token (GET /exports/<id>): STS names the worker's
      // own principal in it, which tells an outsider which identity to target. The log has the rest.
      const reason = withoutPrincipals(describeError(error), role.roleArn);
      throw new FatalExportError(
        `cannot assume role ${role.roleArn}${given}: ${reason}; check the role's trust policy (the worker's principal, sts:ExternalId) and the worker's sts:AssumeRole permission`,
      );
    }
  }

  /** The rate-limit scope (`<account>:<region>`) of calls to `region`: a role's account, else the worker's. */
  private async scopeOf(region: string, role?: AssumedRole): Promise<string> {
    return role ? `${accountOfRole(role.roleArn)}:${region}` : this.scope.forRegion(region);
  }

  /**
   * The sink for a destination URL (`s3://…` or `file://…`), through `role` for S3 if given (see
   * RunSpec.s3RoleArn). S3 calls are signed for AWS_REGION when set, else on AWS for `region` (a
   * run's: its pool's), so a bucket beside the pool is reached without a redirect (see s3RegionOf).
   */
  sink(destination: string, role?: AssumedRole, region?: string): ObjectSink {
    return openSink(destination, {
      modes: { fileMode: this.config.fileMode, dirMode: this.config.dirMode },
      s3: () => this.s3(s3RegionOf(this.config, this.options.s3?.endpoint, region), role),
      // The bucket's owner, when known: the S3 role's account (a role writes to its own account's
      // bucket), else S3_EXPECTED_BUCKET_OWNER.
      owner: role ? accountOfRole(role.roleArn) : this.config.s3ExpectedBucketOwner,
      ...(this.options.retryPolicy ? { retryPolicy: this.options.retryPolicy } : {}),
    });
  }

  private s3(region: string, role?: AssumedRole): S3Client {
    const id = `${region}|${role?.roleArn ?? ''}|${role?.externalId ?? ''}`;
    let client = this.s3Clients.get(id);
    if (!client) {
      const settings = { ...this.config, awsRegion: region };
      client = role
        ? createS3Client(settings, { ...this.options.s3, credentials: this.roleCredentials(region, role, this.options.s3?.credentials) })
        : createS3Client(settings, this.options.s3);
      this.s3Clients.set(id, client);
    }
    return client;
  }

  /**
   * The Glue Data Catalog client of a run's destination: in the bucket's region (as S3's, see
   * s3RegionOf), through the run's S3 role if it has one (the catalog of the bucket's account). The
   * SDK's own retries (throttling, 5xx) are on: catalog writes are few and idempotent.
   */
  glue(region: string, role?: AssumedRole): GlueClient {
    const signed = this.config.awsRegion ?? (this.config.glueEndpoint ? 'us-east-1' : region);
    const id = `${signed}|${role?.roleArn ?? ''}|${role?.externalId ?? ''}`;
    let client = this.glueClients.get(id);
    if (!client) {
      const master = this.options.glue?.credentials;
      const credentials = role ? this.roleCredentials(signed, role, master) : master;
      client = new GlueClient({
        region: signed,
        maxAttempts: 5,
        ...(this.config.glueEndpoint ? { endpoint: this.config.glueEndpoint } : {}),
        ...(credentials ? { credentials } : {}),
      });
      this.glueClients.set(id, client);
    }
    return client;
  }

  /**
   * The shared bucket for UserList calls (ListUsers, ListUsersInGroup) to `region` at `ratePerSecond`
   * (default: COGNITO_RATE_LIMIT_RPS). Throws a FatalExportError when the worker cannot tell its account.
   */
  async rateLimiter(region: string, ratePerSecond: number | undefined = this.config.rateLimitRps, role?: AssumedRole): Promise<RedisRateLimiter> {
    return this.bucket(await this.scopeOf(region, role), ratePerSecond ?? this.config.rateLimitRps);
  }

  /**
   * One flow's view of the shared bucket for `region` (a run's table walk, see `rateLimitFlow`): flows
   * waiting at once share the rate equally, those of a higher `priority` first (see FLOW_PRIORITY).
   * `ratePerSecond` undefined: COGNITO_RATE_LIMIT_RPS.
   */
  async limiter(region: string, ratePerSecond: number | undefined, flow: string, priority: number = FLOW_PRIORITY.SHARDED, role?: AssumedRole): Promise<CallLimiter> {
    return (await this.rateLimiter(region, ratePerSecond, role)).forFlow(flow, priority);
  }

  /**
   * The limiters of ListGroups calls (Cognito's UserPoolResourceRead quota: 5 calls/s per pool and
   * 20 per account and region), each a little under AWS's number, shared like the UserList bucket.
   */
  async resourceReadLimiters(region: string, userPoolId: string, flow: string, role?: AssumedRole): Promise<CallLimiter[]> {
    const scope = await this.scopeOf(region, role);
    return [
      this.bucket(`${scope}:resource-read`, RESOURCE_READ_ACCOUNT_RPS).forFlow(flow),
      this.bucket(`${scope}:resource-read:${userPoolId}`, RESOURCE_READ_POOL_RPS).forFlow(flow),
    ];
  }

  /** The retry policy of every AWS call of this process (tests shorten it). */
  get retryPolicy(): Partial<RetryPolicy> | undefined {
    return this.options.retryPolicy;
  }

  /**
   * One flow's view of the shared bucket of a Cognito quota category other than UserList (a
   * restore's writes: `user-creation`, `user-update`, `user-resource-update`, `resource-write`) for `region`,
   * at `ratePerSecond`: every worker of the account draws on it, good-neighbour as the reads are.
   */
  async categoryLimiter(region: string, category: string, ratePerSecond: number, flow: string, role?: AssumedRole): Promise<CallLimiter> {
    return this.bucket(`${await this.scopeOf(region, role)}:${category}`, ratePerSecond).forFlow(flow);
  }

  /** The rate-limit scope (`<account>:<region>`) of `region` and its bucket's state, if it holds any. */
  async limiterState(region: string, role?: AssumedRole): Promise<{ scope: string; state: LimiterState | undefined }> {
    const scope = await this.scopeOf(region, role);
    return { scope, state: await readLimiterState(this.redis, rateLimitKey(scope)) };
  }

  /** The scopes this process has drawn on (for the metrics). */
  async limiterStates(): Promise<Map<string, LimiterState>> {
    const states = new Map<string, LimiterState>();
    const keys = new Set([...this.limiters.keys()].map((id) => id.slice(0, id.lastIndexOf('@'))));
    for (const scope of keys) {
      const state = await readLimiterState(this.redis, rateLimitKey(scope));
      if (state) states.set(scope, state);
    }
    return states;
  }

  private bucket(scope: string, ratePerSecond: number): RedisRateLimiter {
    const id = `${scope}@${ratePerSecond}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      // A test's floor for the UserList bucket is no floor above a smaller bucket's own rate.
      const floor = this.options.rateLimit?.minRps;
      const minRps = floor === undefined ? {} : { minRps: Math.min(floor, ratePerSecond) };
      limiter = new RedisRateLimiter(this.redis, rateLimitKey(scope), { ...this.options.rateLimit, ...minRps, ratePerSecond });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }

  /** Releases the AWS clients (the Redis connection belongs to whoever opened it). */
  destroy(): void {
    for (const client of this.cognitoClients.values()) client.destroy();
    this.cognitoClients.clear();
    for (const client of this.s3Clients.values()) client.destroy();
    this.s3Clients.clear();
    for (const client of this.glueClients.values()) client.destroy();
    this.glueClients.clear();
  }
}

/** The sink of a run's destination: through its S3 role, if any, and in its region unless AWS_REGION says otherwise. */
export function runSink(runtime: ExportRuntime, spec: RunSpec): ObjectSink {
  return runtime.sink(spec.destination, runS3Role(spec), spec.region);
}
