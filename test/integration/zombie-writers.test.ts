import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { FencedError } from '../../src/limits/export-errors.js';
import { rateLimitFlow } from '../../src/limits/rate-limiter.js';
import { runLocation } from '../../src/runs/run-spec.js';
import type { RunSpec } from '../../src/runs/run-spec.js';
import { usersTable } from '../../src/tables/users-table.js';
import { toUserRecord } from '../../src/tables/user-record.js';
import { CheckpointStore } from '../../src/walk/checkpoint-store.js';
import { walkShard, type ShardOutcome } from '../../src/walk/table-walk.js';
import type { Job } from 'bullmq';
import { startExportWorker } from '../../jobs/export-worker.js';
import { processFinalizeJob } from '../../jobs/finalize-run-job.js';
import type { FinalizeJobData } from '../../jobs/queues.js';
import { STAGING_FOLDER } from '../../src/storage/file-sink.js';
import { ExportRuntime } from '../../jobs/export-runtime.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { gateWrites } from '../support/gated-sink.js';
import { startS3FaultProxy, type S3FaultProxy } from '../support/s3-fault-proxy.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { eventually, spawnCli, type CliProcess } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
let proxy: S3FaultProxy;
let scratch: string;
let harness: ExportHarness | undefined;
const children: CliProcess[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
  proxy = await startS3FaultProxy(s3.endpoint);
  scratch = await mkdtemp(join(tmpdir(), 'ce-zombie-'));
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.child.kill('SIGCONT');
    child.child.kill('SIGKILL');
  }
  emulator.setFaults({ latencyMs: 0 });
  await harness?.close();
  harness = undefined;
});

afterAll(async () => {
  await emulator.stop();
  await proxy.stop();
  await s3.stop();
  await rm(scratch, { recursive: true, force: true });
});

/**
 * Worker A, by hand: it claims the shard, walks its first file's pages, passes its fence check and
 * stalls inside the upload. It is what a worker paused by a long GC or a VM migration looks like to
 * everyone else. On S3 its requests go through a proxy that holds the upload of its data; on disk,
 * the sink holds the write that would make its file durable.
 */
function zombie(h: ExportHarness, spec: RunSpec) {
  const log = pino({ level: 'silent' });
  const own = new ExportRuntime(h.config, h.runtime.redis, log, {
    cognito: { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } },
    s3: { ...s3.overrides, endpoint: proxy.endpoint },
  });
  const held = spec.destination.startsWith('s3://')
    ? proxy.hold((request) => request.method === 'PUT' || (request.method === 'POST' && !request.url.includes('uploads')))
    : undefined;
  const gated = gateWrites(own.sink(spec.destination));
  const reached = held ? held.reached : gated.reached;
  const open = () => (held ? held.open() : gated.open());
  const walked: Promise<ShardOutcome> = (async () =>
    walkShard({
      source: usersTable({
        client: own.cognito(spec.region),
        userPoolId: spec.userPoolId,
        filter: null,
        limiter: await own.limiter(spec.region, undefined, rateLimitFlow(spec.snapshotId, 'users')),
        records: { userPoolId: spec.userPoolId, snapshotId: spec.snapshotId, attributes: null },
      }),
      shard: 'all',
      run: runLocation(spec),
      files: { gzip: spec.gzip, gzipLevel: spec.gzipLevel, maxRecords: spec.fileMaxRecords },
      sink: held ? own.sink(spec.destination) : gated.sink,
      checkpoints: new CheckpointStore(h.runtime.redis, h.runtime.keys, spec.snapshotId),
      progress: { page: () => Promise.resolve(), fileDone: () => undefined },
      stop: new AbortController().signal,
      log,
    }))().finally(() => own.destroy());
  return { reached, open, walked };
}

/** Every user is in the snapshot exactly once, as the emulator holds it now, and the run's folder holds exactly the manifest's files. */
async function expectExact(h: ExportHarness, poolId: string, manifestUrl: string, destination: string): Promise<void> {
  const manifest = await readManifest(manifestUrl, s3);
  // Checks every file's bytes and sha256 against the manifest.
  const records = await readManifestRecords(manifest, s3);
  const context = { userPoolId: poolId, snapshotId: manifest.snapshot_id, attributes: null };
  expect(records).toEqual(emulator.listAllUsers(poolId).map((user) => toUserRecord(user, context)));
  const stored = (await h.runtime.sink(destination).listObjects(`users/user_pool_id=${poolId}/`)).map((o) => o.key);
  expect(stored).toEqual(manifest.files.map((f) => f.url.slice(destination.length + 1)).sort());
}

describe('a worker that stalls inside its upload and comes back after losing its shard', () => {
  for (const kind of ['s3', 'file'] as const) {
    for (const when of ['after', 'before'] as const) {
      it(`cannot change what is published, released ${when} the finalizer runs (${kind} destination)`, async () => {
        const h = await startHarness({ cognitoEndpoint: emulator.url, s3, worker: false });
        harness = h;
        const poolId = emulator.createPoolWithUsers({ users: 300, seed: kind.length * 10 + when.length });
        emulator.setFaults({ latencyMs: when === 'before' ? 30 : 0 });
        const destination = kind === 's3' ? `s3://${s3.bucket}/zombie-${when}` : pathToFileURL(join(scratch, `zombie-${when}`)).href;
        const { spec } = await h.request({ userPoolId: poolId, destination, shards: 1, fileMaxRecords: 120 });

        const a = zombie(h, spec);
        await a.reached;
        // While A is stalled the pool changes: a user of A's first file is deleted and one is created
        // that sorts into it, so A's copy of that file is out of date.
        const first = emulator.listAllUsers(poolId)[5];
        emulator.deleteUser(poolId, first?.Username ?? '');
        emulator.addUser(poolId, { username: 'created-while-a-stalled', sub: '00000000-0000-4000-8000-000000000001', attributes: { email: 'new@example.com' } });

        // B takes the shard over and walks it from the checkpoint A never moved.
        h.worker = startExportWorker(h.runtime, h.queues);
        let status;
        if (when === 'after') {
          status = await h.wait(spec.snapshotId);
          a.open();
          await expect(a.walked).rejects.toBeInstanceOf(FencedError);
        } else {
          // Hold the finalizer: every shard finishes, then A's upload lands, then the finalizer runs.
          await eventually(async () => ((await h.runtime.runs.status(spec.snapshotId))?.state === 'running' ? true : undefined), 20_000, 'the run to start', 5);
          await h.queues.runs.pause();
          const shard = await eventually(async () => h.queues.shards.getJob(`shard-${spec.snapshotId}-all`), 20_000, 'the shard job');
          await eventually(async () => ((await shard.isCompleted()) ? true : undefined), 30_000, 'B to finish the shard');
          a.open();
          await expect(a.walked).rejects.toBeInstanceOf(FencedError);
          await h.queues.runs.resume();
          status = await h.wait(spec.snapshotId);
        }
        expect(status.error).toBeUndefined();
        expect(status.state).toBe('completed');
        await expectExact(h, poolId, status.manifestUrl ?? '', destination);
      });
    }
  }
});

describe('a worker process stopped (SIGSTOP) for longer than its job lock, then continued', () => {
  it('cannot change the snapshot the other worker finished: exact, and nothing stray under users/', async () => {
    const h = await startHarness({ cognitoEndpoint: emulator.url, s3, worker: false });
    harness = h;
    const poolId = emulator.createPoolWithUsers({ users: 8000, seed: 140 });
    emulator.setFaults({ latencyMs: 10 });
    const env = { ...h.childEnv, WORKER_LOCK_DURATION_MS: '2000', COGNITO_RATE_LIMIT_RPS: '40', WORKER_CONCURRENCY: '8', LOG_LEVEL: 'info' };
    const [stopped, other] = [spawnCli(['worker'], env), spawnCli(['worker'], env)] as [CliProcess, CliProcess];
    children.push(stopped, other);
    await Promise.all(children.map((child) => eventually(() => Promise.resolve(/worker started/.test(child.stderr()) ? true : undefined), 20_000, 'a worker to start')));
    const destination = `s3://${s3.bucket}/sigstop`;
    const { snapshotId } = await h.request({ userPoolId: poolId, destination, fileMaxRecords: 120 });
    const name = `${hostname()}:${stopped.child.pid ?? 0}`;
    await eventually(async () => {
      const status = await h.runtime.runs.status(snapshotId);
      const held = (await h.queues.shards.getActive()).filter((job) => job.processedBy === name);
      return status && status.durableUsers >= 1000 && held.length > 0 ? true : undefined;
    }, 30_000, 'the run to be under way with shards on the worker to stop', 10);
    stopped.child.kill('SIGSTOP');
    // What the stopped process holds is frozen with it: the shard jobs Redis says it has in flight.
    const held = (await h.queues.shards.getActive()).filter((job) => job.processedBy === name).map((job) => job.id ?? '');
    expect(held.length).toBeGreaterThan(0);
    const status = await h.wait(snapshotId, 120_000);
    expect(status.error).toBeUndefined();
    expect(status.state).toBe('completed');
    const linesBefore = stopped.stderr().split('\n').length;
    stopped.child.kill('SIGCONT');
    // The continued worker goes on with what it was doing. Each shard it held stops there without
    // ending: its next checkpoint write is refused (another worker's epoch), or it finds the run
    // ended, or its lost lock aborts it; and when it hands the job back to BullMQ (done, failed or
    // retry), that is refused too, since the job's lock is no longer its own. Wait for that refusal.
    type LogLine = { msg?: string; reason?: string; jobId?: string; shard?: string; table?: string };
    const linesAfter = () =>
      stopped
        .stderr()
        .split('\n')
        .slice(linesBefore - 1)
        .flatMap((line) => (line.startsWith('{') ? [JSON.parse(line) as LogLine] : []));
    const refused = (id: string) => linesAfter().some((line) => line.msg?.startsWith('lost a job to another worker') && line.reason?.startsWith(`Missing lock for job ${id}.`));
    await eventually(() => Promise.resolve(held.every(refused) ? true : undefined), 30_000, 'the continued worker to be refused every job it held');
    // None of those shards ended on the continued worker, and nothing it did was an error.
    const after = linesAfter();
    expect(after.filter((line) => line.msg === 'shard done' && held.includes(`shard-${snapshotId}-${line.shard ?? ''}`))).toEqual([]);
    expect(after.filter((line) => line.msg === 'worker error' || line.msg === 'export run failed')).toEqual([]);
    // Its late writes changed nothing: the same run, manifest and counts, every user once, no stray file.
    const now = await h.runtime.runs.status(snapshotId);
    expect(now?.state).toBe('completed');
    expect(now?.manifestUrl).toBe(status.manifestUrl);
    expect(now?.durableUsers).toBe(status.durableUsers);
    await expectExact(h, poolId, status.manifestUrl ?? '', destination);
    expect(other.stderr()).toMatch(/shard done/);
  }, 180_000);
});

describe('a finalizer that runs twice', () => {
  it.each(['s3', 'file'] as const)('publishes once: two at the same time and the queued one after end in the same state (%s destination)', async (kind) => {
    const h = await startHarness({ cognitoEndpoint: emulator.url, s3, worker: false });
    harness = h;
    const poolId = emulator.createPoolWithUsers({ users: 900, seed: 150 + kind.length });
    emulator.setFaults({ latencyMs: 30 });
    const destination = kind === 's3' ? `s3://${s3.bucket}/twice` : pathToFileURL(join(scratch, 'twice')).href;
    const { spec } = await h.request({ userPoolId: poolId, destination, fileMaxRecords: 100 });
    h.worker = startExportWorker(h.runtime, h.queues);
    await eventually(async () => ((await h.runtime.runs.status(spec.snapshotId))?.state === 'running' ? true : undefined), 20_000, 'the run to start', 5);
    await h.queues.runs.pause();
    await eventually(async () => ((await h.runtime.runs.status(spec.snapshotId))?.shardsDone === 16 ? true : undefined), 30_000, 'every shard');
    // Two finalizers at once (one that stalled and came back, say), then the queued one.
    const job = { data: { snapshotId: spec.snapshotId }, id: 'by-hand', attemptsMade: 0, opts: { attempts: 8 } } as unknown as Job<FinalizeJobData>;
    // Each takes a finalizer epoch; the earlier one is fenced at its next write (or finishes first:
    // then the later one finds the run complete).
    const settled = await Promise.allSettled([processFinalizeJob(h.runtime, h.queues, job), processFinalizeJob(h.runtime, h.queues, job)]);
    for (const outcome of settled) if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(FencedError);
    const results = settled.flatMap((outcome) => (outcome.status === 'fulfilled' && typeof outcome.value !== 'string' ? [outcome.value] : []));
    expect(results.length).toBeGreaterThanOrEqual(1);
    await h.queues.runs.resume();
    const status = await h.wait(spec.snapshotId);
    expect(status.state).toBe('completed');
    for (const result of results) expect(result).toEqual({ manifestUrl: status.manifestUrl, records: 900 });
    await expectExact(h, poolId, status.manifestUrl ?? '', destination);
    if (kind === 'file') expect(await readdir(join(scratch, 'twice', STAGING_FOLDER))).toEqual([]);
  });
});
