import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { CognitoEmulator } from './emulator-server.js';
import type { RoleDefinition } from './credential-issuer.js';
import type { EmulatorFaults } from './fault-injector.js';
import { MAX_GROUPS_PER_POOL } from './group-directory.js';
import { ACCOUNT_ID } from './user-pool.js';
import { MAX_SEED_USERS } from './user-seeder.js';

/** Default port of `cognito-export emulator` (LocalStack-like, but clear of LocalStack's 4566). */
export const DEFAULT_EMULATOR_PORT = 9325;

/** Exit code for a bad flag value, as for any usage error of the CLI. */
const EXIT_USAGE = 2;

/** Options of the `emulator` command after parsing. */
export interface EmulatorCommandOptions {
  port: number;
  host: string;
  region: string;
  users: number;
  groups: number;
  bigGroupShare: number;
  tailShare: number;
  seed: number;
  subSkew: number;
  poolName: string;
  poolId?: string;
  latencyMs: number;
  jitterMs: number;
  quotaRps?: number;
  throttleRate: number;
  internalErrorRate: number;
  dropRate: number;
  shortPageRate: number;
  emptyPageRate: number;
  memberPageOverlap: number;
  tokenTtlSeconds?: number;
  randomSeed?: number;
  accountId: string;
  role: RoleDefinition[];
  appRps?: number;
  appPattern: 'steady' | 'burst';
  /** Turns the write quotas on at AWS's rates. */
  writeQuotas?: boolean;
}

function invalid(message: string): InvalidArgumentError {
  const error = new InvalidArgumentError(message);
  error.exitCode = EXIT_USAGE;
  return error;
}

function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw invalid(`Expected an integer from ${min} to ${max}, got ${value}`);
    return n;
  };
}

function numberIn(min: number, max: number, exclusiveMin = false): (value: string) => number {
  return (value) => {
    const n = Number(value);
    const ok = value.trim() !== '' && Number.isFinite(n) && (exclusiveMin ? n > min : n >= min) && n <= max;
    if (!ok) throw invalid(`Expected a number ${exclusiveMin ? 'above' : 'from'} ${min}${max === Infinity ? '' : ` to ${max}`}, got ${value}`);
    return n;
  };
}

function parseRegion(value: string): string {
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(value)) throw invalid(`Expected a region like us-east-1, got ${value}`);
  return value;
}

function parsePoolId(value: string): string {
  if (!/^[a-z]{2}(-[a-z]+)+-\d+_[0-9a-zA-Z]{1,55}$/.test(value)) throw invalid(`Expected a pool id like us-east-1_Example01, got ${value}`);
  return value;
}

function parsePoolName(value: string): string {
  if (!/^[\w\s+=,.@-]{1,128}$/.test(value)) throw invalid(`Expected 1-128 letters, digits, spaces or +=,.@_-, got ${value}`);
  return value;
}

function parseAccountId(value: string): string {
  if (!ACCOUNT_ID.test(value)) throw invalid(`Expected an account id of 12 digits, got ${value}`);
  return value;
}

/** `<arn>[,<externalId>]`, repeatable: each occurrence adds a role. */
function collectRole(value: string, previous: RoleDefinition[]): RoleDefinition[] {
  const comma = value.indexOf(',');
  const roleArn = comma === -1 ? value : value.slice(0, comma);
  const externalId = comma === -1 ? undefined : value.slice(comma + 1);
  if (!/^arn:aws:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/.test(roleArn)) {
    throw invalid(`Expected a role like arn:aws:iam::111111111111:role/exporter[,<external id>], got ${value}`);
  }
  if (externalId !== undefined && !/^[\w+=,.@:/-]{2,1224}$/.test(externalId)) throw invalid(`Expected an external id of 2-1224 characters [\\w+=,.@:/-], got ${externalId}`);
  return [...previous, externalId === undefined ? { roleArn } : { roleArn, externalId }];
}

function parseAppPattern(value: string): 'steady' | 'burst' {
  if (value !== 'steady' && value !== 'burst') throw invalid(`Expected steady or burst, got ${value}`);
  return value;
}

const rate = numberIn(0, 1);

/**
 * Adds `emulator` to a commander program: starts the emulator with one seeded pool, prints
 * `url=…`, `user_pool_id=…` and an export hint, and runs until SIGINT or SIGTERM.
 */
export function registerEmulatorCommand(program: Command): Command {
  return program
    .command('emulator')
    .description('run a local Cognito user-pool emulator (AWS JSON 1.1) with one seeded pool')
    .option('--port <port>', 'TCP port, 0 for any free one', integerIn(0, 65_535), DEFAULT_EMULATOR_PORT)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--region <region>', 'region in pool ids and ARNs', parseRegion, 'us-east-1')
    .option('--users <n>', 'users to seed into the pool', integerIn(0, MAX_SEED_USERS), 0)
    .option('--groups <n>', 'groups to seed, with skewed memberships over the users', integerIn(0, MAX_GROUPS_PER_POOL), 0)
    .option('--big-group-share <fraction>', 'share of the users in the biggest group, `everyone`', rate, 0.6)
    .option('--tail-share <n>', 'memberships of the other groups, as a share of the users (0 to 50)', numberIn(0, 50), 0.4)
    .option('--seed <n>', 'seed for the users and groups (same seed, same pool)', integerIn(0, 2 ** 32 - 1), 1)
    .option('--sub-skew <fraction>', 'share of subs starting with "0" (uneven shards)', rate, 0)
    .option('--pool-name <name>', 'name of the seeded pool', parsePoolName, 'emulated-pool')
    .option('--pool-id <id>', 'id of the seeded pool, e.g. us-east-1_Example01 (default: random)', parsePoolId)
    .option('--latency-ms <ms>', 'fixed delay before each answer', numberIn(0, 600_000), 0)
    .option('--jitter-ms <ms>', 'extra uniform random delay', numberIn(0, 600_000), 0)
    .option('--quota-rps <n>', 'account-wide ListUsers quota in requests/s (default: off)', numberIn(0, 1_000_000, true))
    .option('--throttle-rate <p>', 'share of ListUsers calls answered TooManyRequestsException at random', rate, 0)
    .option('--internal-error-rate <p>', 'share of calls answered InternalErrorException', rate, 0)
    .option('--drop-rate <p>', 'share of calls whose connection is dropped', rate, 0)
    .option('--short-page-rate <p>', 'share of ListUsers pages cut short (token kept)', rate, 0)
    .option('--empty-page-rate <p>', 'share of ListUsers pages returned empty (token kept)', rate, 0)
    .option('--member-page-overlap <n>', 'ListUsersInGroup pages repeat this many members of the page before', integerIn(0, 59), 0)
    .option('--token-ttl-seconds <s>', 'pagination tokens expire after this (default: never)', numberIn(0, 31_536_000, true))
    .option('--random-seed <n>', 'seed for faults, pool ids, tokens and credentials (default: random)', integerIn(0, 2 ** 32 - 1))
    .option('--account-id <id>', 'account of static access keys and of the seeded pool', parseAccountId, '000000000000')
    .option('--role <arn[,externalId]>', 'a role AssumeRole may assume (repeatable)', collectRole, [])
    .option('--app-rps <n>', "the account's own app: ListUsers calls/s taken from its quota (default: none)", numberIn(0, 100_000, true))
    .option('--app-pattern <pattern>', 'steady, or burst (the rate for 10 s of every 30 s)', parseAppPattern, 'steady')
    .option('--write-quotas', "meter the write operations at AWS's per-account rates (AdminCreateUser 50/s, user updates 25/s, …)")
    .action(async (options: EmulatorCommandOptions) => {
      await runEmulatorCommand(options);
    });
}

/** The faults an `emulator` command line asks for. */
export function faultsFromOptions(options: EmulatorCommandOptions): Partial<EmulatorFaults> {
  return {
    latencyMs: options.latencyMs,
    jitterMs: options.jitterMs,
    quotaRps: options.quotaRps ?? null,
    throttleRate: options.throttleRate,
    internalErrorRate: options.internalErrorRate,
    dropConnectionRate: options.dropRate,
    shortPageRate: options.shortPageRate,
    emptyPageRate: options.emptyPageRate,
    memberPageOverlap: options.memberPageOverlap,
    tokenTtlSeconds: options.tokenTtlSeconds ?? null,
    appRps: options.appRps ?? null,
    appPattern: options.appPattern,
    ...(options.writeQuotas === true ? { writeQuotas: {} } : {}),
  };
}

/**
 * Starts the emulator, seeds the pool, prints where it is, and resolves once SIGINT/SIGTERM (or
 * `signal`) has stopped it.
 */
export async function runEmulatorCommand(
  options: EmulatorCommandOptions,
  io: { stdout?: (line: string) => void; stderr?: (line: string) => void; signal?: AbortSignal } = {},
): Promise<void> {
  const out = io.stdout ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = io.stderr ?? ((line: string) => process.stderr.write(`${line}\n`));
  let emulator: CognitoEmulator;
  try {
    emulator = await CognitoEmulator.start({
      port: options.port,
      host: options.host,
      region: options.region,
      faults: faultsFromOptions(options),
      accountId: options.accountId,
      roles: options.role,
      ...(options.randomSeed === undefined ? {} : { randomSeed: options.randomSeed }),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`port ${options.port} on ${options.host} is in use; pick another with --port (0 = any free port)`, { cause: error });
    }
    throw error;
  }
  const started = performance.now();
  let poolId: string;
  try {
    poolId = emulator.createPoolWithUsers({
      name: options.poolName,
      users: options.users,
      groups: options.groups,
      bigGroupShare: options.bigGroupShare,
      tailShare: options.tailShare,
      seed: options.seed,
      subSkew: options.subSkew,
      ...(options.poolId === undefined ? {} : { id: options.poolId }),
    });
  } catch (error) {
    await emulator.stop();
    throw error;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (options.groups > 0) {
    const memberships = emulator.pools().find((pool) => pool.id === poolId)?.memberships ?? 0;
    err(`seeded ${options.users} users, ${options.groups} groups and ${memberships} memberships in ${seconds} s`);
  } else if (options.users > 0) {
    err(`seeded ${options.users} users in ${seconds} s`);
  }
  out(`url=${emulator.url}`);
  out(`user_pool_id=${poolId}`);
  out(`# export AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=${emulator.url} AWS_REGION=${options.region} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.signal?.removeEventListener('abort', stop);
      void emulator.stop().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (io.signal?.aborted === true) stop();
    else io.signal?.addEventListener('abort', stop, { once: true });
  });
}
