import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator, DEFAULT_FAULTS } from '../../src/emulator/index.js';
import { STAGING_FOLDER } from '../../src/storage/file-sink.js';
import { toUserRecord } from '../../src/tables/user-record.js';
import { CheckpointStore } from '../../src/walk/checkpoint-store.js';
import { startExportWorker } from '../../jobs/export-worker.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { eventually } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
let harness: ExportHarness;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0, faults: { latencyMs: 10 } });
  s3 = await startS3TestServer();
  harness = await startHarness({ cognitoEndpoint: emulator.url, s3 });
});

afterAll(async () => {
  await harness.close();
  await emulator.stop();
  await s3.stop();
});

// Back to the faults this file starts with: a token TTL one test sets must not expire the next one's tokens.
afterEach(() => emulator.setFaults({ ...DEFAULT_FAULTS, latencyMs: 10 }));

describe('a rejected pagination token', () => {
  it('restarts the shard from the start, replaces its files and leaves no leftovers', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 31 });
    const { snapshotId } = await harness.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/restart`, shards: 1, fileMaxRecords: 300 });
    await eventually(async () => {
      const status = await harness.runtime.runs.status(snapshotId);
      return status && status.durableUsers >= 1500 ? status : undefined;
    }, 30_000, 'five files to be durable');
    // Stop gracefully: the shard checkpoints a token and hands its job back.
    await harness.worker?.close();
    const paused = await harness.runtime.runs.status(snapshotId);
    expect(paused?.state).toBe('running');
    // Staged, not published: nothing is where readers look until the run is complete.
    expect(await s3.listKeys(`restart/users/user_pool_id=${poolId}/`)).toEqual([]);
    const filesBefore = paused?.files ?? 0;
    expect(filesBefore).toBeGreaterThanOrEqual(5);

    // While the run is stopped: the token expires, and most users already exported are deleted,
    // so the restarted walk writes fewer files than the first one did.
    const doomed = emulator.listAllUsers(poolId).slice(0, 2000);
    for (const user of doomed) emulator.deleteUser(poolId, user.Username ?? '');
    emulator.setFaults({ tokenTtlSeconds: 1 });
    await sleep(1100);

    harness.worker = startExportWorker(harness.runtime, harness.queues);
    const status = await harness.wait(snapshotId, 60_000);
    expect(status.error).toBeUndefined();
    expect(status.state).toBe('completed');

    const manifest = await readManifest(status.manifestUrl ?? '', s3);
    const records = await readManifestRecords(manifest, s3);
    const context = { userPoolId: poolId, snapshotId, attributes: null };
    const expected = emulator.listAllUsers(poolId).map((user) => toUserRecord(user, context));
    expect(records).toEqual(expected);
    expect(manifest.record_count).toBe(1000);
    const listed = manifest.files.map((f) => f.url.slice(`s3://${s3.bucket}/`.length)).sort();
    expect(await s3.listKeys(`restart/users/user_pool_id=${poolId}/`)).toEqual(listed);
    expect(listed.length).toBeLessThan(filesBefore);
  });

  it('restarts a walk whose token is rejected mid-walk, within the same attempt, with exact counts', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 32 });
    const client = harness.runtime.cognito(emulator.region);
    let calls = 0;
    // On the 12th call (two files are durable by then), the pool shrinks and the token expires:
    // the real emulator rejects it, and the shard must start over.
    client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { PaginationToken?: string };
        if (++calls !== 12 || !input.PaginationToken) return next(args);
        for (const user of emulator.listAllUsers(poolId).slice(0, 2000)) emulator.deleteUser(poolId, user.Username ?? '');
        emulator.setFaults({ tokenTtlSeconds: 0.001 });
        await sleep(5);
        try {
          return await next(args);
        } finally {
          emulator.setFaults({ tokenTtlSeconds: null });
        }
      },
      { step: 'initialize', name: 'expireOneToken' },
    );
    try {
      const status = await harness.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/mid-walk`, shards: 1, fileMaxRecords: 300 });
      expect(status.error).toBeUndefined();
      expect(status.state).toBe('completed');
      expect(status.durableUsers).toBe(1000);
      expect(status.files).toBe(4);
      const manifest = await readManifest(status.manifestUrl ?? '', s3);
      expect(manifest.record_count).toBe(1000);
      const listed = manifest.files.map((f) => f.url.slice(`s3://${s3.bucket}/`.length)).sort();
      expect(await s3.listKeys(`mid-walk/users/user_pool_id=${poolId}/`)).toEqual(listed);
    } finally {
      client.middlewareStack.remove('expireOneToken');
    }
  });
});

describe('the finalizer', () => {
  /** Starts a run and stops its worker gracefully once two files are durable. */
  async function pausedRun(prefix: string, fileMaxRecords = 300) {
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: prefix.length });
    const destination = `s3://${s3.bucket}/${prefix}`;
    const { snapshotId, spec } = await harness.request({ userPoolId: poolId, destination, shards: 1, fileMaxRecords });
    await eventually(async () => ((await harness.runtime.runs.status(snapshotId))?.files ?? 0) >= 2 ? true : undefined, 30_000, 'two files');
    await harness.worker?.close();
    const folder = `${prefix}/users/user_pool_id=${poolId}/dt=${spec.startedAt.slice(0, 10)}/run=${snapshotId}/`;
    return { poolId, snapshotId, destination, folder };
  }

  it('removes data files no checkpoint lists before publishing the manifest', async () => {
    const { snapshotId, folder } = await pausedRun('stray');
    await s3.putObject(`${folder}part-all-00042.ndjson.gz`, 'left by a worker that lost its job');
    harness.worker = startExportWorker(harness.runtime, harness.queues);
    const status = await harness.wait(snapshotId, 60_000);
    expect(status.state).toBe('completed');
    const manifest = await readManifest(status.manifestUrl ?? '', s3);
    expect(await s3.listKeys(folder)).toEqual(manifest.files.map((f) => f.url.slice(`s3://${s3.bucket}/`.length)).sort());
  });

  it('fails the run rather than publish a staged file that changed after its checkpoint recorded it', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 77 });
    const directory = await mkdtemp(join(tmpdir(), 'ce-tampered-'));
    const destination = pathToFileURL(directory).href;
    const { snapshotId } = await harness.request({ userPoolId: poolId, destination, shards: 1, fileMaxRecords: 300 });
    await eventually(async () => ((await harness.runtime.runs.status(snapshotId))?.files ?? 0) >= 2 ? true : undefined, 30_000, 'two files');
    await harness.worker?.close();
    const [first] = await new CheckpointStore(harness.runtime.redis, harness.runtime.keys, snapshotId).files('all');
    if (first?.location.kind !== 'file') throw new Error('expected a staged file');
    await appendFile(join(directory, STAGING_FOLDER, first.location.path), 'changed on disk after it was checkpointed\n');
    harness.worker = startExportWorker(harness.runtime, harness.queues);
    const status = await harness.wait(snapshotId, 60_000);
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(/staged file .*part-all-00000\.e\d+-[0-9a-f]+\.ndjson\.gz has \d+ bytes with sha256 [0-9a-f]+, not the \d+ bytes with sha256 [0-9a-f]+ its checkpoint recorded: run the export again/);
    // A failed run leaves nothing: no manifest, no data, no staging.
    expect(await readdir(directory)).toEqual([STAGING_FOLDER]);
    expect(await readdir(join(directory, STAGING_FOLDER))).toEqual([]);
    await rm(directory, { recursive: true, force: true });
  });
});
