import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { toUserRecord } from '../../src/user-record.js';
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

describe('a pagination token rejected on resume', () => {
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
    const filesBefore = (await s3.listKeys(`restart/users/user_pool_id=${poolId}/`)).length;
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
});
