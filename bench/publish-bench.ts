import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config/app-config.js';
import { createLogger } from '../src/ops/logger.js';
import { connectRedis } from '../src/redis/redis-connection.js';
import { buildRunSpec } from '../src/runs/export-request.js';
import { ExportRuntime } from '../jobs/export-runtime.js';
import { ExportQueues } from '../jobs/queues.js';
import { requestExport } from '../jobs/request-export.js';
import { startS3FaultProxy, type ProxyStats } from '../test/support/s3-fault-proxy.js';
import { startS3TestServer, TEST_CREDENTIALS } from '../test/support/s3-test-server.js';
import { startCli } from './cli-process.js';
import type { EmulatorProcess } from './emulator-process.js';

/** What publishing a finished run cost: the finalizer's time and its S3 requests per data file. */
export interface PublishResult {
  readonly users: number;
  readonly files: number;
  /** From the finalizer's start to the run's completion (polled every 20 ms). */
  readonly finalizerSeconds: number;
  /** S3 requests the finalizer made, by operation, divided by the number of files. */
  readonly requestsPerFile: Record<string, number>;
}

function diff(after: ProxyStats, before: ProxyStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [operation, count] of Object.entries(after.requests)) {
    const delta = count - (before.requests[operation] ?? 0);
    if (delta > 0) out[operation] = delta;
  }
  return out;
}

/**
 * Exports a pool to a local S3 server (s3rver) through a counting proxy with one worker process,
 * flat out, and measures the publish step: the finalizer completes every staged upload, verifies
 * it, sweeps, writes the manifest and latest.json.
 */
export async function benchPublish(emulator: EmulatorProcess, poolId: string, redisUrl: string, nodeFlags: readonly string[]): Promise<PublishResult> {
  const s3 = await startS3TestServer('bench');
  const proxy = await startS3FaultProxy(s3.endpoint);
  const env = {
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: `{bench-${randomBytes(4).toString('hex')}}`,
    AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: emulator.url,
    AWS_ENDPOINT_URL_S3: proxy.endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    COGNITO_RATE_LIMIT_RPS: '10000',
    ADMIN_PORT: 'off',
    LOG_LEVEL: 'warn',
  };
  const worker = startCli(['worker'], { ...env, LOG_LEVEL: 'info' }, nodeFlags);
  const config = loadConfig(env);
  const redis = await connectRedis(config.redisUrl);
  const runtime = new ExportRuntime(config, redis, createLogger('warn', { pretty: false }));
  const queues = new ExportQueues(runtime);
  try {
    await worker.waitFor(/worker started/, 'stderr');
    const spec = buildRunSpec({ userPoolId: poolId, destination: `s3://${s3.bucket}/publish`, trigger: 'cli' }, config);
    const { snapshotId } = await requestExport(runtime, queues, spec);
    let before: { stats: ProxyStats; at: number } | undefined;
    for (;;) {
      const status = await runtime.runs.status(snapshotId);
      if (!status) throw new Error(`run ${snapshotId} vanished`);
      if (status.finalizingAt !== undefined) before ??= { stats: proxy.stats(), at: performance.now() };
      if (status.state === 'failed') throw new Error(`publish bench: run failed: ${status.error}`);
      if (status.state === 'completed') {
        const requests = diff(proxy.stats(), before?.stats ?? proxy.stats());
        const perFile = Object.fromEntries(Object.entries(requests).map(([operation, count]) => [operation, count / status.files]));
        // Polled every 20 ms: the finalizer's time to within that.
        return { users: status.durableUsers, files: status.files, finalizerSeconds: (performance.now() - (before?.at ?? performance.now())) / 1000, requestsPerFile: perFile };
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await worker.stop();
    await queues.close();
    runtime.destroy();
    redis.disconnect();
    await proxy.stop();
    await s3.stop();
  }
}
