import { existsSync } from 'node:fs';
import { z } from 'zod';
import { pseudonymizationKeyProblem } from './pseudonymization-key.js';

/** Log levels pino understands, quietest last. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The process's configuration, read once from the environment at start. */
export interface AppConfig {
  /** Where queues, checkpoints and the shared rate limit live. @default 'redis://127.0.0.1:6379' */
  readonly redisUrl: string;
  /**
   * Prefix of every Redis key (BullMQ's and ours). The braces make it a Redis Cluster hash tag so
   * every key of a deployment lands in one slot. @default '{cognito-export}'
   */
  readonly redisKeyPrefix: string;
  /**
   * Seed nodes of a Redis Cluster (`REDIS_CLUSTER_NODES=host:port,…`, ElastiCache or MemoryDB in
   * cluster mode): connect as a cluster client, whatever host REDIS_URL names (its user, password,
   * `rediss://` still apply; its database must be 0). @default undefined (not a cluster)
   */
  readonly redisClusterNodes: readonly RedisNodeAddress[] | undefined;
  /** Sentinels to ask for the master (`REDIS_SENTINELS=host:port,…`), with REDIS_SENTINEL_MASTER. @default undefined */
  readonly redisSentinels: readonly RedisNodeAddress[] | undefined;
  /** The master's name as the sentinels know it (`REDIS_SENTINEL_MASTER`). @default undefined */
  readonly redisSentinelMaster: string | undefined;
  /** A PEM file of the CA that signed Redis's certificate (`REDIS_TLS_CA`), for `rediss://` with a private CA. @default undefined (the system's CAs) */
  readonly redisTlsCa: string | undefined;
  /** Region for Cognito and S3 when a pool or destination does not imply one. @default undefined (the SDK's chain) */
  readonly awsRegion: string | undefined;
  /** The SDK's own endpoint override for Cognito (an emulator, a VPC endpoint). @default undefined */
  readonly cognitoEndpoint: string | undefined;
  /** The SDK's own endpoint override for S3 (MinIO, s3rver). @default undefined */
  readonly s3Endpoint: string | undefined;
  /** A Glue Data Catalog endpoint other than AWS's (AWS_ENDPOINT_URL_GLUE): the emulator's, a VPC endpoint. */
  readonly glueEndpoint: string | undefined;
  /** The SDK's own endpoint override for STS (the emulator answers it). @default undefined */
  readonly stsEndpoint: string | undefined;
  /** Names the shared rate-limit bucket; looked up with STS GetCallerIdentity when unset. @default undefined */
  readonly awsAccountId: string | undefined;
  /** Path-style S3 addressing, which MinIO and most S3-compatible servers need. @default false */
  readonly s3ForcePathStyle: boolean;
  /** ListUsers calls per second shared by every worker of the account and region. @default 25 */
  readonly rateLimitRps: number;
  /** @default 'info' */
  readonly logLevel: LogLevel;
  /**
   * Log lines for a person (`cognito-export: warning: …`) instead of JSON: set by the commands a
   * person reads (all but `worker`) when LOG_LEVEL is not set; never read from the environment.
   */
  readonly humanLog?: boolean;
  /** Shard jobs one worker process runs at once. @default 16 */
  readonly workerConcurrency: number;
  /** Records per output file before it is sealed and checkpointed. @default 100000 */
  readonly fileMaxRecords: number;
  /**
   * Job lock duration: when a worker dies without warning, its jobs are taken over by another worker
   * after roughly one to two of these. @default 30000
   */
  readonly workerLockDurationMs: number;
  /**
   * How often a worker finishes what runs left undone: withdrawals of failed or cancelled runs, a
   * pointer that lags its committed head (a late write on a store without conditional writes), a
   * committed run whose finalizer stopped. @default 30000
   */
  readonly reconcileIntervalMs: number;
  /** zlib level of data files: 1 is fastest, 9 smallest. @default 6 */
  readonly gzipLevel: number;
  /** Records per Parquet row group: what each open Parquet file holds in memory at most. */
  readonly parquetRowGroupRows: number;
  /**
   * Calls/s a restore makes per account and region in each of Cognito's write categories (AWS:
   * UserCreation 50, UserUpdate 25, UserResourceUpdate 25, UserPoolResourceUpdate 15 and 5 per pool), each a
   * shared bucket of every worker, a little under AWS's figure for the pool's own apps.
   */
  readonly restoreRps: { readonly userCreation: number; readonly userUpdate: number; readonly membershipUpdate: number; readonly resourceWrite: number };
  /** The worker's admin port (/healthz, /metrics, POST /exports); null when `off`; 0 picks a free port. @default 9464 */
  readonly adminPort: number | null;
  /**
   * Whether ADMIN_PORT was set: a port given is that port or an error at start; the default moves to
   * the next free port (several workers on one machine) and says which.
   */
  readonly adminPortChosen: boolean;
  /** Interface the admin port listens on. @default '0.0.0.0' */
  readonly adminHost: string;
  /** Bearer token that turns on POST /exports (and the dashboard); unset keeps them off. @default undefined */
  readonly adminToken: string | undefined;
  /** Serve the bull-board dashboard at /dashboard (HTTP Basic, the token as password). @default false */
  readonly adminDashboard: boolean;
  /**
   * The key of `pseudonymize` (HMAC-SHA256): hex or base64 of at least 32 random bytes
   * (`openssl rand -hex 32`); unset, a run that asks to pseudonymize is refused. A secret: never
   * logged, never stored. @default undefined
   */
  readonly pseudonymizationKey: string | undefined;
  /**
   * URL prefixes `POST /exports` may send data to (normalized before they are compared), besides
   * the destinations of the worker's config file. Empty: only those. @default []
   */
  readonly allowedDestinations: readonly string[];
  /**
   * Mode of every file the worker creates in a `file://` destination (data, staging, temporary
   * files, locks, manifests, pointers), given when the file is created. Octal (`FILE_MODE=0640` for
   * a group of readers); never writable by the group, never open to others. @default 0o600
   */
  readonly fileMode: number;
  /** Mode of every folder it creates there, the destination folder and staging included (`DIR_MODE`). @default 0o700 */
  readonly dirMode: number;
  /**
   * Roles `POST /exports` may name as `role_arn` or `s3_role_arn`, besides the roles of the worker's
   * config file. Empty: only those. @default []
   */
  readonly allowedRoleArns: readonly string[];
  /**
   * User pools `POST /exports` (and a start job not from a schedule) may export, besides the pools
   * of the worker's config file (`ALLOWED_POOLS`, comma-separated pool ids). Undefined: any pool the
   * worker's credentials (or an allowed role) can read. @default undefined
   */
  readonly allowedPools: readonly string[] | undefined;
  /**
   * The ExternalId sent when assuming a role named over HTTP, by role ARN (`ROLE_EXTERNAL_IDS`,
   * `arn=id,…`); the config file's own pools carry theirs. Callers never choose one. @default {}
   */
  readonly roleExternalIds: Readonly<Record<string, string>>;
  /**
   * The account that must own every S3 bucket written (`ExpectedBucketOwner` on each S3 call);
   * a run with `s3_role_arn` expects the role's account instead. @default undefined (not checked)
   */
  readonly s3ExpectedBucketOwner: string | undefined;
}

/** One `host:port` of REDIS_CLUSTER_NODES or REDIS_SENTINELS. */
export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

/** A configuration value that cannot be used; the message names the variable, the value and what is expected. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const url = (protocols: readonly string[]) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

const number = (min: number, max: number, integer: boolean) =>
  z
    .string()
    .trim()
    .refine((value) => {
      const n = Number(value);
      return value !== '' && Number.isFinite(n) && n >= min && n <= max && (!integer || Number.isInteger(n));
    }, `expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`)
    .transform(Number);

const boolean = z
  .string()
  .trim()
  .toLowerCase()
  .refine((value) => ['true', 'false', '1', '0', 'yes', 'no'].includes(value), 'expected true or false')
  .transform((value) => ['true', '1', 'yes'].includes(value));

/** A role ARN as IAM writes it (a role name or path has no comma, which separates list entries). */
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=.@/-]+$/;
/** What STS accepts as an ExternalId, less the comma. */
const EXTERNAL_ID = /^[\w+=.@:/-]{2,1224}$/;

/**
 * An octal permission mode (`0600`, `640`, `0o750`) that keeps at least `owner` (the worker reads
 * and writes what it creates), lets a group read at most (a group of readers is the reason to set
 * it) and gives others nothing: the files are a pool's PII.
 */
const mode = (owner: number, what: string) =>
  z
    .string()
    .trim()
    .refine((value) => /^(0o?)?[0-7]{3}$/.test(value), `expected an octal mode of ${what} such as 0${owner.toString(8)}`)
    .transform((value) => parseInt(value.replace(/^0o?/, ''), 8))
    .refine((value) => (value & owner) === owner, `expected a mode that gives the owner at least 0${owner.toString(8)}`)
    .refine((value) => (value & 0o027) === 0, `expected a mode with no access for others and no write access for the group, such as 0${(owner | ((owner >> 3) & 0o050)).toString(8)}`);

/** `host:port,host:port,…` (an IPv6 host in brackets): cluster seed nodes or sentinels. */
const NODE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;
const nodeList = z
  .string()
  .transform((value) => value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
  .refine((list) => list.length > 0 && list.every((entry) => NODE.test(entry) && Number(NODE.exec(entry)?.[2]) > 0 && Number(NODE.exec(entry)?.[2]) <= 65_535), 'expected comma-separated host:port pairs such as 10.0.0.1:6379,10.0.0.2:6379')
  .transform((list): readonly RedisNodeAddress[] =>
    Object.freeze(list.map((entry) => {
      const [, host = '', port = ''] = NODE.exec(entry) ?? [];
      return Object.freeze({ host: host.replace(/^\[|\]$/g, ''), port: Number(port) });
    })),
  );

const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'expected an AWS region such as eu-west-1');

const schema = {
  REDIS_URL: url(['redis:', 'rediss:'])
    .refine((value) => /^\/?\d*$/.test(new URL(value).pathname), 'expected a database number after the port, e.g. redis://127.0.0.1:6379/0')
    .default('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z
    .string()
    // The hash tag keeps every key in one Redis Cluster slot, which the multi-key scripts need.
    .regex(/^[^\s:{}]*\{[^\s:{}]+\}[^\s:{}]*$/, 'expected a prefix with one {hash tag} and no spaces or colons, e.g. {cognito-export}')
    .default('{cognito-export}'),
  REDIS_CLUSTER_NODES: nodeList.optional(),
  REDIS_SENTINELS: nodeList.optional(),
  REDIS_SENTINEL_MASTER: z.string().trim().regex(/^[^\s]{1,200}$/, 'expected the master name the sentinels know, such as mymaster').optional(),
  REDIS_TLS_CA: z
    .string()
    .trim()
    .refine((value) => existsSync(value), 'expected the path of a PEM file with the CA certificate (no such file)')
    .optional(),
  AWS_REGION: region.optional(),
  AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: url(['http:', 'https:']).optional(),
  AWS_ENDPOINT_URL_S3: url(['http:', 'https:']).optional(),
  AWS_ENDPOINT_URL_GLUE: url(['http:', 'https:']).optional(),
  AWS_ENDPOINT_URL_STS: url(['http:', 'https:']).optional(),
  AWS_ACCOUNT_ID: z.string().trim().regex(/^[\w-]{1,64}$/, 'expected an AWS account id such as 123456789012').optional(),
  S3_FORCE_PATH_STYLE: boolean.default(false),
  COGNITO_RATE_LIMIT_RPS: number(0.1, 10_000, false).default(25),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  WORKER_CONCURRENCY: number(1, 1024, true).default(16),
  FILE_MAX_RECORDS: number(1, 100_000_000, true).default(100_000),
  WORKER_LOCK_DURATION_MS: number(1000, 3_600_000, true).default(30_000),
  RECONCILE_INTERVAL_MS: number(500, 3_600_000, true).default(30_000),
  GZIP_LEVEL: number(1, 9, true).default(6),
  PARQUET_ROW_GROUP_ROWS: number(1000, 1_000_000, true).default(25_000),
  RESTORE_CREATE_RPS: number(0.1, 10_000, false).default(40),
  RESTORE_UPDATE_RPS: number(0.1, 10_000, false).default(20),
  RESTORE_MEMBERSHIP_RPS: number(0.1, 10_000, false).default(20),
  RESTORE_GROUP_WRITE_RPS: number(0.1, 10_000, false).default(4),
  ADMIN_PORT: z
    .string()
    .trim()
    .refine((value) => value === 'off' || (/^\d+$/.test(value) && Number(value) <= 65_535), 'expected a port from 0 to 65535, or off')
    .transform((value) => (value === 'off' ? null : Number(value)))
    .default(9464),
  ADMIN_HOST: z.string().trim().min(1).default('0.0.0.0'),
  ADMIN_TOKEN: z.string().min(16, 'expected at least 16 characters (it guards POST /exports)').optional(),
  ADMIN_DASHBOARD: boolean.default(false),
  PSEUDONYMIZATION_KEY: z
    .string()
    .superRefine((value, context) => {
      const problem = pseudonymizationKeyProblem(value);
      if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  FILE_MODE: mode(0o600, 'files').default(0o600),
  DIR_MODE: mode(0o700, 'folders').default(0o700),
  ALLOWED_DESTINATIONS: z
    .string()
    .transform((value) => value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
    .refine((list) => list.every((entry) => /^(s3|file):\/\//.test(entry)), 'expected comma-separated s3:// or file:// URL prefixes')
    .default([]),
  ALLOWED_ROLE_ARNS: z
    .string()
    .transform((value) => value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
    .refine((list) => list.every((entry) => ROLE_ARN.test(entry)), 'expected comma-separated role ARNs such as arn:aws:iam::111111111111:role/cognito-export')
    .default([]),
  ALLOWED_POOLS: z
    .string()
    .transform((value) => value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
    .refine((list) => list.length > 0 && list.every((entry) => /^[a-z]{2}(-[a-z]+)+-\d+_[0-9A-Za-z]+$/.test(entry)), 'expected comma-separated user pool ids such as eu-west-1_AbC123')
    .optional(),
  ROLE_EXTERNAL_IDS: z
    .string()
    .transform((value) => value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
    // Split at the first '=' after the role name's start: role names and ids may hold '=' (not ',').
    .transform((list) => list.map((entry) => /^(arn:[^:]+:iam::\d{12}:role\/[^=]+)=(.*)$/.exec(entry)))
    .refine((list) => list.every((match) => match !== null && ROLE_ARN.test(match[1] ?? '') && EXTERNAL_ID.test(match[2] ?? '')), 'expected comma-separated <role arn>=<external id> pairs')
    .transform((list): Readonly<Record<string, string>> => Object.freeze(Object.fromEntries(list.map((match) => [match?.[1] ?? '', match?.[2] ?? '']))))
    .default(Object.freeze({})),
  S3_EXPECTED_BUCKET_OWNER: z.string().trim().regex(/^\d{12}$/, 'expected the 12-digit AWS account id that owns the buckets').optional(),
} as const;

/** Variables whose values are secrets: errors name them but never print the value. */
const SECRETS: ReadonlySet<string> = new Set(['ADMIN_TOKEN', 'PSEUDONYMIZATION_KEY', 'ROLE_EXTERNAL_IDS']);

/**
 * Reads and validates the environment once. Empty strings count as unset. Throws {@link ConfigError}
 * naming the first bad variable, its value and what was expected.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const read = <K extends keyof typeof schema>(name: K): z.output<(typeof schema)[K]> => {
    const raw = env[name];
    const result = schema[name].safeParse(raw === '' ? undefined : raw);
    if (!result.success) {
      const reason = result.error.issues[0]?.message ?? 'invalid value';
      // REDIS_URL may hold a password: shown without it.
      const shown = SECRETS.has(name) ? '(hidden)' : JSON.stringify(name === 'REDIS_URL' ? withoutPassword(raw ?? '') : raw);
      throw new ConfigError(`${name}=${shown} is invalid: ${reason}`);
    }
    return result.data as z.output<(typeof schema)[K]>;
  };
  const redisUrl = read('REDIS_URL');
  const redisClusterNodes = read('REDIS_CLUSTER_NODES');
  const redisSentinels = read('REDIS_SENTINELS');
  const redisSentinelMaster = read('REDIS_SENTINEL_MASTER');
  const redisTlsCa = read('REDIS_TLS_CA');
  checkRedisTopology({ redisUrl, redisClusterNodes, redisSentinels, redisSentinelMaster, redisTlsCa });
  return Object.freeze({
    redisUrl,
    redisKeyPrefix: read('REDIS_KEY_PREFIX'),
    redisClusterNodes,
    redisSentinels,
    redisSentinelMaster,
    redisTlsCa,
    awsRegion: read('AWS_REGION'),
    cognitoEndpoint: read('AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER'),
    s3Endpoint: read('AWS_ENDPOINT_URL_S3'),
    glueEndpoint: read('AWS_ENDPOINT_URL_GLUE'),
    stsEndpoint: read('AWS_ENDPOINT_URL_STS'),
    awsAccountId: read('AWS_ACCOUNT_ID'),
    s3ForcePathStyle: read('S3_FORCE_PATH_STYLE'),
    rateLimitRps: read('COGNITO_RATE_LIMIT_RPS'),
    logLevel: read('LOG_LEVEL'),
    workerConcurrency: read('WORKER_CONCURRENCY'),
    fileMaxRecords: read('FILE_MAX_RECORDS'),
    workerLockDurationMs: read('WORKER_LOCK_DURATION_MS'),
    reconcileIntervalMs: read('RECONCILE_INTERVAL_MS'),
    gzipLevel: read('GZIP_LEVEL'),
    parquetRowGroupRows: read('PARQUET_ROW_GROUP_ROWS'),
    restoreRps: {
      userCreation: read('RESTORE_CREATE_RPS'),
      userUpdate: read('RESTORE_UPDATE_RPS'),
      membershipUpdate: read('RESTORE_MEMBERSHIP_RPS'),
      resourceWrite: read('RESTORE_GROUP_WRITE_RPS'),
    },
    adminPort: read('ADMIN_PORT'),
    adminPortChosen: (env.ADMIN_PORT ?? '').trim() !== '',
    adminHost: read('ADMIN_HOST'),
    adminToken: read('ADMIN_TOKEN'),
    adminDashboard: read('ADMIN_DASHBOARD'),
    pseudonymizationKey: read('PSEUDONYMIZATION_KEY'),
    allowedDestinations: read('ALLOWED_DESTINATIONS'),
    fileMode: read('FILE_MODE'),
    dirMode: read('DIR_MODE'),
    allowedRoleArns: read('ALLOWED_ROLE_ARNS'),
    allowedPools: read('ALLOWED_POOLS'),
    roleExternalIds: read('ROLE_EXTERNAL_IDS'),
    s3ExpectedBucketOwner: read('S3_EXPECTED_BUCKET_OWNER'),
  });
}

/** The Redis variables that only make sense together (or not together), checked once each is valid. */
function checkRedisTopology(redis: {
  redisUrl: string;
  redisClusterNodes: readonly RedisNodeAddress[] | undefined;
  redisSentinels: readonly RedisNodeAddress[] | undefined;
  redisSentinelMaster: string | undefined;
  redisTlsCa: string | undefined;
}): void {
  const url = new URL(redis.redisUrl);
  if (redis.redisClusterNodes && redis.redisSentinels) {
    throw new ConfigError('REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set: a Redis is either a cluster or a Sentinel-managed master, set one of them');
  }
  if (redis.redisSentinels && redis.redisSentinelMaster === undefined) {
    throw new ConfigError('REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER is not: set it to the master name the sentinels monitor (sentinel monitor <name> …)');
  }
  if (redis.redisSentinelMaster !== undefined && !redis.redisSentinels) {
    throw new ConfigError(`REDIS_SENTINEL_MASTER=${JSON.stringify(redis.redisSentinelMaster)} is set but REDIS_SENTINELS is not: set it to the sentinels' host:port list`);
  }
  const db = Number(url.pathname.slice(1) || 0);
  if (redis.redisClusterNodes && db !== 0) {
    throw new ConfigError(`REDIS_URL=${JSON.stringify(withoutPassword(redis.redisUrl))} names database ${db}, but a Redis Cluster (REDIS_CLUSTER_NODES) has only database 0: drop /${db} from REDIS_URL`);
  }
  if (redis.redisTlsCa !== undefined && url.protocol !== 'rediss:') {
    throw new ConfigError(`REDIS_TLS_CA is set but REDIS_URL=${JSON.stringify(withoutPassword(redis.redisUrl))} does not use TLS: start it with rediss://`);
  }
}

/** A Redis URL without its password, for messages. */
function withoutPassword(value: string): string {
  try {
    const parsed = new URL(value);
    if (parsed.password === '') return value;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    // Not a URL: a password may still be in it (redis://:secret@…, mistyped).
    return value.replace(/:[^:@/]*@/, ':***@');
  }
}
