import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { parquetRecords } from '../../src/storage/parquet-file.js';
import { TABLE_COLUMNS } from '../../src/storage/table-columns.js';
import { loadConfig, type AppConfig } from '../../src/config/app-config.js';
import { buildRunSpec, type ExportRequest } from '../../src/runs/export-request.js';
import { ExportRuntime, type RuntimeOptions } from '../../jobs/export-runtime.js';
import { createLogger } from '../../src/ops/logger.js';
import type { Manifest } from '../../src/storage/manifest.js';
import { connectRedis } from '../../src/redis/redis-connection.js';
import type { RunStatus } from '../../src/runs/run-store.js';
import type { UserRecord } from '../../src/tables/user-record.js';
import { startExportWorker, type ExportWorker, type ExportWorkerOptions } from '../../jobs/export-worker.js';
import { ExportQueues } from '../../jobs/queues.js';
import { requestExport, type RequestedRun } from '../../jobs/request-export.js';
import { waitForRun } from '../../jobs/wait-for-run.js';
import { expectPointersWhole } from './pointer-invariant.js';
import { deletePrefix, TEST_REDIS_URL, testPrefix } from './redis-test-prefix.js';
import { TEST_CREDENTIALS, type S3TestServer } from './s3-test-server.js';

/** Fast retries for tests: real backoff shapes, small numbers. */
export const FAST_RETRIES = {
  throttleBackoff: { baseMs: 10, capMs: 200 },
  transientBackoff: { baseMs: 5, capMs: 100 },
};

/** Credentials for child processes: s3rver accepts only these, the emulator accepts any. */
export const EMULATOR_CREDENTIALS = TEST_CREDENTIALS;

export interface HarnessOptions {
  /** The emulator's URL. */
  readonly cognitoEndpoint: string;
  readonly s3?: S3TestServer;
  /** Environment on top of the test defaults (prefix, high rate limit). */
  readonly env?: Record<string, string>;
  readonly runtime?: RuntimeOptions;
  /** Where the runtime's log lines go (JSON): to read them in the test. @default stderr */
  readonly logTo?: NodeJS.WritableStream;
  /** Start an in-process worker. @default true */
  readonly worker?: boolean | ExportWorkerOptions;
}

/** One test's export stack: real Redis under a fresh prefix, the real queues, an in-process worker. */
export interface ExportHarness {
  readonly config: AppConfig;
  readonly prefix: string;
  readonly runtime: ExportRuntime;
  readonly queues: ExportQueues;
  worker: ExportWorker | undefined;
  /** The environment a child process needs to join this harness (same Redis prefix, endpoints). */
  readonly childEnv: Record<string, string>;
  request(request: Partial<ExportRequest> & Pick<ExportRequest, 'userPoolId' | 'destination'>): Promise<RequestedRun>;
  wait(snapshotId: string, timeoutMs?: number): Promise<RunStatus>;
  /** Requests an export and waits for its end. */
  run(request: Partial<ExportRequest> & Pick<ExportRequest, 'userPoolId' | 'destination'>): Promise<RunStatus>;
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions): Promise<ExportHarness> {
  const prefix = testPrefix();
  const childEnv: Record<string, string> = {
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: options.cognitoEndpoint,
    AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    COGNITO_RATE_LIMIT_RPS: '1000',
    // The rate-limit bucket is per account and shared by every prefix on one Redis: a test account
    // of its own keeps tests that run at once from sharing one.
    AWS_ACCOUNT_ID: prefix.replace(/[{}]/g, ''),
    // Several workers on one machine: each admin port on a free port.
    ADMIN_PORT: '0',
    LOG_LEVEL: 'warn',
    ...(options.s3 ? { AWS_ENDPOINT_URL_S3: options.s3.endpoint, S3_FORCE_PATH_STYLE: 'true', AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED' } : {}),
    ...options.env,
  };
  const config = loadConfig(childEnv);
  // The product's own connection: a cluster or sentinels when the test's env names them.
  const redis = await connectRedis(config);
  const runtime = new ExportRuntime(config, redis, createLogger(config.logLevel, { pretty: false, ...(options.logTo ? { destination: options.logTo } : {}) }), {
    cognito: { credentials: EMULATOR_CREDENTIALS, ...options.runtime?.cognito },
    // The Glue endpoint (AWS_ENDPOINT_URL_GLUE in env) is the emulator's: its credentials.
    glue: { credentials: EMULATOR_CREDENTIALS, ...options.runtime?.glue },
    ...(options.s3 ? { s3: options.s3.overrides } : options.runtime?.s3 ? { s3: options.runtime.s3 } : {}),
    retryPolicy: { ...FAST_RETRIES, ...options.runtime?.retryPolicy },
    ...(options.runtime?.rateLimit ? { rateLimit: options.runtime.rateLimit } : {}),
    ...(options.runtime?.runawayMargin !== undefined ? { runawayMargin: options.runtime.runawayMargin } : {}),
  });
  const queues = new ExportQueues(runtime);
  const workerOptions = typeof options.worker === 'object' ? options.worker : {};
  const harness: ExportHarness = {
    config,
    prefix,
    runtime,
    queues,
    worker: options.worker === false ? undefined : startExportWorker(runtime, queues, workerOptions),
    childEnv,
    async request(request) {
      return requestExport(runtime, queues, buildRunSpec({ trigger: 'cli', ...request }, config));
    },
    async wait(snapshotId, timeoutMs = 120_000) {
      const status = await waitForRun(runtime, queues, snapshotId, { intervalMs: 100, signal: AbortSignal.timeout(timeoutMs) });
      // The invariant, checked after every run a test waits for: every pointer of the pool names a
      // snapshot whose manifest and every listed file exist.
      const { destination, userPoolId } = status.spec;
      if (destination.startsWith('file:') || (options.s3 && destination.startsWith(`s3://${options.s3.bucket}/`))) {
        await expectPointersWhole(destination, userPoolId, options.s3);
      }
      return status;
    },
    async run(request) {
      const requested = await harness.request(request);
      return harness.wait(requested.snapshotId);
    },
    async close() {
      await harness.worker?.close();
      await queues.close();
      runtime.destroy();
      redis.disconnect();
      await deletePrefix(prefix);
    },
  };
  return harness;
}

/** Reads a manifest from a file:// or s3:// URL. */
export async function readManifest(url: string, s3?: S3TestServer): Promise<Manifest> {
  return JSON.parse((await readObject(url, s3)).toString('utf8')) as Manifest;
}

/** Reads the bytes of a file:// or s3:// URL. */
export async function readObject(url: string, s3?: S3TestServer): Promise<Buffer> {
  if (url.startsWith('file:')) return readFile(fileURLToPath(url));
  if (!s3) throw new Error(`need the S3 test server to read ${url}`);
  const prefix = `s3://${s3.bucket}/`;
  return s3.getObject(url.slice(prefix.length));
}

/**
 * Every record the manifest's files of a table hold (users by default), after checking each file's
 * bytes, sha256 and record count against the manifest.
 */
export async function readManifestRecords<R = UserRecord>(manifest: Manifest, s3?: S3TestServer, table = 'users'): Promise<R[]> {
  const records: R[] = [];
  const files = table === 'users' ? manifest.files : (manifest.tables[table]?.files ?? []);
  if (table !== 'users' && manifest.tables[table] === undefined) throw new Error(`the manifest has no table ${table}`);
  for (const file of files) {
    const stored = await readObject(file.url, s3);
    if (stored.length !== file.bytes) throw new Error(`${file.url}: ${stored.length} bytes, manifest says ${file.bytes}`);
    const sha = createHash('sha256').update(stored).digest('hex');
    if (sha !== file.sha256) throw new Error(`${file.url}: sha256 ${sha}, manifest says ${file.sha256}`);
    if (manifest.format === 'parquet') {
      const before = records.length;
      for await (const record of parquetRecords(stored, TABLE_COLUMNS[table] ?? [])) records.push(record as R);
      if (records.length - before !== file.records) throw new Error(`${file.url}: ${records.length - before} rows, manifest says ${file.records}`);
      continue;
    }
    const text = (manifest.compression === 'gzip' ? gunzipSync(stored) : stored).toString('utf8');
    const lines = text.split('\n');
    if (lines.pop() !== '') throw new Error(`${file.url} does not end with a newline`);
    if (lines.length !== file.records) throw new Error(`${file.url}: ${lines.length} lines, manifest says ${file.records}`);
    for (const line of lines) records.push(JSON.parse(line) as R);
  }
  return records;
}
