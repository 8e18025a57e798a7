import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/app-config.js';
import { CognitoEmulator } from '../src/emulator/index.js';
import { createLogger } from '../src/ops/logger.js';
import { connectRedis } from '../src/redis/redis-connection.js';
import { buildRunSpec } from '../src/runs/export-request.js';
import { RestoreStore } from '../src/restore/restore-store.js';
import { ExportRuntime } from '../jobs/export-runtime.js';
import { startExportWorker } from '../jobs/export-worker.js';
import { ExportQueues } from '../jobs/queues.js';
import { requestExport } from '../jobs/request-export.js';
import { prepareRestore, queueRestore } from '../jobs/request-restore.js';
import { waitForRun } from '../jobs/wait-for-run.js';

/** One write category of a restore, measured. */
export interface RestoreCategoryResult {
  readonly operation: string;
  readonly calls: number;
  /** Calls/s between 10% and 90% of the operation's calls. */
  readonly callsPerSecond: number;
  /** The restore's configured rate for it, and the emulated quota. */
  readonly configured: number;
  readonly quota: number;
  readonly throttled: number;
}

export interface RestoreBenchResult {
  readonly users: number;
  readonly created: number;
  readonly memberships: number;
  readonly groups: number;
  readonly wallSeconds: number;
  /** The least time the configured rates allow: each phase's calls at its rate, one phase after the other. */
  readonly boundSeconds: number;
  readonly scale: number;
  readonly categories: readonly RestoreCategoryResult[];
}

/** AWS's write quotas per account and region (UserCreation, UserUpdate, UserResourceUpdate, UserPoolResourceUpdate). */
const AWS_QUOTAS = { AdminCreateUser: 50, AdminAddUserToGroup: 25, CreateGroup: 15 } as const;
/** The restore's defaults (RESTORE_CREATE_RPS, RESTORE_MEMBERSHIP_RPS, RESTORE_GROUP_WRITE_RPS). */
const DEFAULT_RATES = { AdminCreateUser: 40, AdminAddUserToGroup: 20, CreateGroup: 4 } as const;

/**
 * Restores a snapshot of `users` users (with groups and memberships) into an empty pool of an
 * in-process emulator whose write quotas are AWS's times `scale`, with the restore's default rates
 * times `scale` (so that 100,000 users fit a bench run): the figures that matter are ratios, calls/s
 * against the configured rate and the quota, and the time against the bound the rates set.
 */
export async function runRestoreBench(users: number, scale: number, redisUrl: string, log: (line: string) => void): Promise<RestoreBenchResult> {
  const emulator = await CognitoEmulator.start({ port: 0 });
  const directory = await mkdtemp(join(tmpdir(), 'ce-restore-bench-'));
  const prefix = `{bench-${randomBytes(4).toString('hex')}}`;
  const env = {
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: emulator.url,
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_REGION: 'us-east-1',
    AWS_ACCOUNT_ID: prefix.replace(/[{}]/g, ''),
    COGNITO_RATE_LIMIT_RPS: String(25 * scale),
    RESTORE_CREATE_RPS: String(DEFAULT_RATES.AdminCreateUser * scale),
    RESTORE_UPDATE_RPS: String(20 * scale),
    RESTORE_MEMBERSHIP_RPS: String(DEFAULT_RATES.AdminAddUserToGroup * scale),
    RESTORE_GROUP_WRITE_RPS: String(DEFAULT_RATES.CreateGroup * scale),
    ADMIN_PORT: 'off',
    LOG_LEVEL: 'warn',
  };
  const config = loadConfig(env);
  const redis = await connectRedis(config);
  const runtime = new ExportRuntime(config, redis, createLogger('warn', { pretty: false }), { cognito: { credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } } });
  const queues = new ExportQueues(runtime);
  const worker = startExportWorker(runtime, queues);
  try {
    const source = emulator.createPoolWithUsers({ users, seed: 7, groups: 10, bigGroupShare: 0.1, tailShare: 0.1, customAttributes: ['tenant'] });
    const destination = pathToFileURL(directory).href;
    log(`restore bench: exporting ${users} users`);
    const spec = buildRunSpec({ userPoolId: source, destination, trigger: 'cli', changes: false }, config);
    await requestExport(runtime, queues, spec);
    const exported = await waitForRun(runtime, queues, spec.snapshotId, { intervalMs: 200 });
    if (exported.state !== 'completed') throw new Error(`the bench's export ${exported.state}: ${exported.error ?? ''}`);
    const target = emulator.createPool('restore-bench-target', undefined, { customAttributes: ['tenant'] });
    emulator.setFaults({
      writeQuotas: { UserCreation: AWS_QUOTAS.AdminCreateUser * scale, UserUpdate: 25 * scale, UserResourceUpdate: AWS_QUOTAS.AdminAddUserToGroup * scale, UserPoolResourceUpdate: AWS_QUOTAS.CreateGroup * scale },
    });
    emulator.resetStats();
    log(`restore bench: restoring into an empty pool, write quotas ${scale}× AWS's`);
    const started = performance.now();
    const prepared = await prepareRestore(runtime, { from: `${destination}/manifests/user_pool_id=${source}/latest.json`, targetPoolId: target });
    const { restoreId } = await queueRestore(runtime, queues, prepared);
    const samples: { t: number; calls: Record<string, number> }[] = [];
    const store = new RestoreStore(redis, runtime.keys);
    for (;;) {
      samples.push({ t: performance.now(), calls: { ...emulator.stats().calls } });
      const status = await store.status(restoreId);
      if (status?.state === 'completed') break;
      if (status?.state === 'failed' || status?.state === 'cancelled') throw new Error(`the bench's restore ${status.state}: ${status.error ?? ''}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const stats = emulator.stats();
    const created = stats.calls.AdminCreateUser ?? 0;
    const memberships = stats.calls.AdminAddUserToGroup ?? 0;
    const groups = stats.calls.CreateGroup ?? 0;
    const categories = (Object.keys(DEFAULT_RATES) as (keyof typeof DEFAULT_RATES)[]).map((operation) => ({
      operation,
      calls: stats.calls[operation] ?? 0,
      callsPerSecond: steadyRate(samples, operation),
      configured: DEFAULT_RATES[operation] * scale,
      quota: AWS_QUOTAS[operation] * scale,
      throttled: stats.throttled[operation] ?? 0,
    }));
    const boundSeconds = categories.reduce((sum, category) => sum + category.calls / category.configured, 0);
    return { users, created, memberships, groups, wallSeconds, boundSeconds, scale, categories };
  } finally {
    await worker.close();
    await queues.close();
    runtime.destroy();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await emulator.stop();
    await rm(directory, { recursive: true, force: true });
  }
}

/** Calls/s of `operation` between the moments 10% and 90% of its calls had been made. */
function steadyRate(samples: readonly { t: number; calls: Record<string, number> }[], operation: string): number {
  const total = samples.at(-1)?.calls[operation] ?? 0;
  if (total === 0) return 0;
  const at = (fraction: number): number => samples.find((sample) => (sample.calls[operation] ?? 0) >= total * fraction)?.t ?? 0;
  const seconds = (at(0.9) - at(0.1)) / 1000;
  return seconds > 0 ? (total * 0.8) / seconds : 0;
}

/** The restore bench as a table. */
export function restoreTable(result: RestoreBenchResult): string {
  const head = ['operation', 'calls', 'calls/s', 'configured/s', 'quota/s', '% of configured', '% of quota', 'throttled'];
  const rows = result.categories.map((c) => [
    c.operation,
    String(c.calls),
    c.callsPerSecond.toFixed(1),
    String(c.configured),
    String(c.quota),
    ((c.callsPerSecond / c.configured) * 100).toFixed(1),
    ((c.callsPerSecond / c.quota) * 100).toFixed(1),
    String(c.throttled),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  return [
    `restoring ${result.users} users (${result.created} created, ${result.groups} groups, ${result.memberships} memberships), write quotas and rates ${result.scale}× AWS's and the defaults:`,
    line(head),
    `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`,
    ...rows.map(line),
    `restore time ${result.wallSeconds.toFixed(1)} s vs the bound of the configured rates ${result.boundSeconds.toFixed(1)} s: ${(result.wallSeconds / result.boundSeconds).toFixed(2)}×`,
  ].join('\n');
}
