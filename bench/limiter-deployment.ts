import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { loadConfig } from '../src/config/app-config.js';
import { buildRunSpec } from '../src/runs/export-request.js';
import { createLogger } from '../src/ops/logger.js';
import { connectRedis } from '../src/redis/redis-connection.js';
import { rateLimitKey } from '../src/redis/redis-keys.js';
import type { ShardCount } from '../src/runs/shard-plan.js';
import { ExportRuntime } from '../jobs/export-runtime.js';
import { ExportQueues } from '../jobs/queues.js';
import { requestExport } from '../jobs/request-export.js';
import { startCli, type MeasuredProcess } from './cli-process.js';
import type { EmulatorProcess } from './emulator-process.js';

/** The exporter's configured rate in the limiter scenarios (the default COGNITO_RATE_LIMIT_RPS). */
export const RATE = 25;

/** A deployment of workers with a bucket of its own. */
export interface Deployment {
  readonly runtime: ExportRuntime;
  readonly queues: ExportQueues;
  readonly redis: Redis;
  readonly scope: string;
  readonly workers: MeasuredProcess[];
  readonly directory: string;
  close(): Promise<void>;
}

/** Starts `workers` worker processes on a fresh Redis prefix and a rate-limit bucket of their own (AWS_ACCOUNT_ID). */
export async function deploy(emulator: EmulatorProcess, redisUrl: string, workers: number, extraEnv: Record<string, string> = {}): Promise<Deployment> {
  const account = `bench-${randomBytes(4).toString('hex')}`;
  const env = {
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: `{bench-${randomBytes(4).toString('hex')}}`,
    AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: emulator.url,
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_REGION: 'us-east-1',
    AWS_ACCOUNT_ID: account,
    COGNITO_RATE_LIMIT_RPS: String(RATE),
    ADMIN_PORT: 'off',
    LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  const started = Array.from({ length: workers }, () => startCli(['worker'], { ...env, LOG_LEVEL: 'info' }));
  await Promise.all(started.map((w) => w.waitFor(/worker started/, 'stderr')));
  const config = loadConfig(env);
  const redis = await connectRedis(config.redisUrl);
  const runtime = new ExportRuntime(config, redis, createLogger('warn', { pretty: false }));
  const queues = new ExportQueues(runtime);
  const directory = join(tmpdir(), `ce-bench-${randomBytes(4).toString('hex')}`);
  const scope = `${account}:us-east-1`;
  return {
    runtime,
    queues,
    redis,
    scope,
    workers: started,
    directory,
    async close() {
      await Promise.all(started.map((w) => w.stop()));
      await queues.close();
      await redis.del(rateLimitKey(scope));
      runtime.destroy();
      redis.disconnect();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Requests an export of `poolId` into the deployment's directory. */
export async function request(d: Deployment, poolId: string, shards: ShardCount): Promise<string> {
  const spec = buildRunSpec({ userPoolId: poolId, destination: pathToFileURL(join(d.directory, poolId)).href, shards, trigger: 'cli' }, d.runtime.config);
  return (await requestExport(d.runtime, d.queues, spec)).snapshotId;
}

