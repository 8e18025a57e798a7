import { hostname } from 'node:os';
import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createCognitoClient, type CognitoClientOverrides } from '../src/cognito/cognito-client.js';
import { createS3Client, type S3ClientOverrides } from '../src/storage/s3-client.js';
import type { AppConfig } from '../src/config/app-config.js';
import { parseDestination } from '../src/storage/destination.js';
import { FileSink } from '../src/storage/file-sink.js';
import type { ObjectSink } from '../src/storage/object-sink.js';
import { RateLimitScope } from '../src/limits/rate-limit-scope.js';
import { RedisRateLimiter, type CallLimiter } from '../src/limits/rate-limiter.js';
import { rateLimitKey, redisKeys, type RedisKeys } from '../src/redis/redis-keys.js';
import { ExportMetrics } from '../src/ops/metrics.js';
import type { RetryPolicy } from '../src/limits/retry-policy.js';
import { RunStore } from '../src/runs/run-store.js';
import { S3Sink } from '../src/storage/s3-sink.js';

/** ListGroups calls/s a worker allows itself per pool (AWS: 5) and per account and region (AWS: 20). */
export const RESOURCE_READ_POOL_RPS = 4;
export const RESOURCE_READ_ACCOUNT_RPS = 18;

/** Test and demo hooks: client overrides and retry tuning. */
export interface RuntimeOptions {
  readonly cognito?: CognitoClientOverrides;
  readonly s3?: S3ClientOverrides;
  readonly retryPolicy?: Partial<RetryPolicy>;
}

/**
 * What every job and command of one process shares: configuration, the Redis connection, the
 * logger, and AWS clients, sinks and rate limiters made once and reused.
 */
export class ExportRuntime {
  readonly keys: RedisKeys;
  readonly runs: RunStore;
  /** This process's Prometheus metrics. */
  readonly metrics = new ExportMetrics();
  /** This process as BullMQ names a job's worker (`processedBy`): `<host>:<pid>`. */
  readonly name = `${hostname()}:${process.pid}`;
  private readonly cognitoClients = new Map<string, CognitoIdentityProviderClient>();
  private s3Client: S3Client | undefined;
  private readonly limiters = new Map<string, CallLimiter>();
  private readonly scope: RateLimitScope;

  constructor(
    readonly config: AppConfig,
    readonly redis: Redis,
    readonly log: Logger,
    readonly options: RuntimeOptions = {},
  ) {
    this.keys = redisKeys(config.redisKeyPrefix);
    this.runs = new RunStore(redis, this.keys);
    this.scope = new RateLimitScope(config, options.retryPolicy);
  }

  /** The Cognito client for a region (SDK retries off; ours classify and share throttles). */
  cognito(region: string): CognitoIdentityProviderClient {
    let client = this.cognitoClients.get(region);
    if (!client) {
      client = createCognitoClient(this.config, region, this.options.cognito);
      this.cognitoClients.set(region, client);
    }
    return client;
  }

  /** The sink for a destination URL (`s3://…` or `file://…`). */
  sink(destination: string): ObjectSink {
    const parsed = parseDestination(destination);
    if (parsed.kind === 'file') return new FileSink(parsed.directory);
    this.s3Client ??= createS3Client(this.config, this.options.s3);
    return new S3Sink(this.s3Client, parsed.bucket, parsed.prefix, this.options.retryPolicy);
  }

  /** The shared limiter for ListUsers calls to `region` at `ratePerSecond` (default: COGNITO_RATE_LIMIT_RPS). */
  async limiter(region: string, ratePerSecond: number = this.config.rateLimitRps): Promise<CallLimiter> {
    return this.bucket(await this.scope.forRegion(region), ratePerSecond);
  }

  /**
   * The limiters of ListGroups calls (Cognito's UserPoolResourceRead quota: 5 calls/s per pool and
   * 20 per account and region), each a little under AWS's number, shared like the UserList bucket.
   */
  async resourceReadLimiters(region: string, userPoolId: string): Promise<CallLimiter[]> {
    const scope = await this.scope.forRegion(region);
    return [this.bucket(`${scope}:resource-read`, RESOURCE_READ_ACCOUNT_RPS), this.bucket(`${scope}:resource-read:${userPoolId}`, RESOURCE_READ_POOL_RPS)];
  }

  private bucket(scope: string, ratePerSecond: number): CallLimiter {
    const id = `${scope}@${ratePerSecond}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = new RedisRateLimiter(this.redis, rateLimitKey(scope), { ratePerSecond });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }

  /** Releases the AWS clients (the Redis connection belongs to whoever opened it). */
  destroy(): void {
    for (const client of this.cognitoClients.values()) client.destroy();
    this.cognitoClients.clear();
    this.s3Client?.destroy();
    this.s3Client = undefined;
  }
}
