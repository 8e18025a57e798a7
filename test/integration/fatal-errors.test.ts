import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { STAGING_FOLDER } from '../../src/storage/file-sink.js';
import type { RunStatus } from '../../src/runs/run-store.js';
import { readManifest, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { eventually } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
let harness: ExportHarness;
let scratch: string;
const destination = () => `s3://${s3.bucket}/fatal`;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
  harness = await startHarness({ cognitoEndpoint: emulator.url, s3 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-fatal-'));
});

afterEach(() => {
  emulator.setFaults({ forcedErrors: {}, allowedAccessKeyIds: null });
});

afterAll(async () => {
  await harness.close();
  await emulator.stop();
  await s3.stop();
  await rm(scratch, { recursive: true, force: true });
});

/** A pool of its own with one good snapshot, so a failure can be shown to leave that snapshot alone. */
async function pooledSnapshot(to: string = destination(), users = 500): Promise<{ poolId: string; good: RunStatus }> {
  const poolId = emulator.createPoolWithUsers({ users, seed: Math.floor(Math.random() * 1e6) });
  const good = await harness.run({ userPoolId: poolId, destination: to, fileMaxRecords: 100 });
  expect(good.state).toBe('completed');
  return { poolId, good };
}

/**
 * A failed run left nothing a reader can see: no manifest of its own, no object in its run folder,
 * latest.json as it was (or absent), and the pool's history names this failure and the old success.
 */
async function expectNothingPublished(failed: RunStatus, good?: RunStatus): Promise<void> {
  const { userPoolId, snapshotId } = failed.spec;
  const sink = harness.runtime.sink(failed.spec.destination);
  const manifests = (await sink.listObjects(`manifests/user_pool_id=${userPoolId}/`)).map((o) => o.key);
  expect(manifests.some((key) => key.includes(snapshotId))).toBe(false);
  const data = (await sink.listObjects(`users/user_pool_id=${userPoolId}/`)).map((o) => o.key);
  expect(data.filter((key) => key.includes(`run=${snapshotId}/`))).toEqual([]);
  const latest = await sink.getText(`manifests/user_pool_id=${userPoolId}/latest.json`);
  if (good) {
    expect((JSON.parse(latest ?? '{}') as { manifest_url: string }).manifest_url).toBe(good.manifestUrl);
    expect((await readManifest(good.manifestUrl ?? '', s3)).record_count).toBe(good.durableUsers);
  } else {
    expect(latest).toBeUndefined();
  }
  const history = await harness.runtime.runs.history(userPoolId);
  expect(history.lastFailure?.snapshotId).toBe(snapshotId);
  expect(history.lastFailure?.reason).toBe(failed.error);
  expect(history.lastSuccess?.snapshotId).toBe(good?.spec.snapshotId);
}

describe('fatal errors fail the run at once with a message naming the pool or bucket and the fix', () => {
  it('fails for an unknown user pool', async () => {
    const status = await harness.run({ userPoolId: 'us-east-1_NoSuchPool', destination: destination() });
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(/us-east-1_NoSuchPool.*ResourceNotFoundException.*check --user-pool-id/);
    await expectNothingPublished(status);
  });

  it('fails for credentials Cognito does not recognize', async () => {
    const { poolId, good } = await pooledSnapshot();
    emulator.setFaults({ allowedAccessKeyIds: ['someone-else'] });
    const status = await harness.run({ userPoolId: poolId, destination: destination() });
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(new RegExp(`${poolId}.*UnrecognizedClientException.*check the AWS credentials`));
    await expectNothingPublished(status, good);
  });

  it('fails when ListUsers is denied after the preflight passed, and the failed run frees the pool', async () => {
    const { poolId, good } = await pooledSnapshot();
    emulator.setFaults({
      forcedErrors: { ListUsers: { code: 'AccessDeniedException', message: 'User is not authorized to perform: cognito-idp:ListUsers' } },
    });
    const status = await harness.run({ userPoolId: poolId, destination: destination() });
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(new RegExp(`ListUsers on user pool ${poolId} failed: AccessDeniedException.*IAM permissions`));
    await expectNothingPublished(status, good);
    emulator.setFaults({ forcedErrors: {} });
    const next = await harness.request({ userPoolId: poolId, destination: destination() });
    expect(next.created).toBe(true);
    expect((await harness.wait(next.snapshotId)).state).toBe('completed');
  });

  it.each(['s3', 'file'] as const)(
    'leaves nothing under users/ or in staging when a fatal error comes mid-walk, after files were staged (%s destination)',
    async (kind) => {
      const to = kind === 's3' ? destination() : pathToFileURL(join(scratch, 'mid-walk')).href;
      // 16 shards of about 190 users, 60 a file: most shards stage files before the denial.
      const { poolId, good } = await pooledSnapshot(to, 3000);
      const client = harness.runtime.cognito(emulator.region);
      let calls = 0;
      // From the 40th call on (several files of 60 users are staged by then), ListUsers is denied.
      client.middlewareStack.add(
        (next) => (args) => {
          if (++calls === 40) {
            emulator.setFaults({ forcedErrors: { ListUsers: { code: 'AccessDeniedException', message: 'denied mid-walk' } } });
          }
          return next(args);
        },
        { step: 'initialize', name: 'denyMidWalk' },
      );
      try {
        const status = await harness.run({ userPoolId: poolId, destination: to, fileMaxRecords: 60 });
        expect(status.state).toBe('failed');
        expect(status.files).toBeGreaterThan(0);
        expect(status.error).toMatch(/AccessDeniedException: denied mid-walk/);
        // Every shard has stopped (the ones still walking notice at their next page).
        await eventually(async () => {
          const going = await harness.queues.shards.getJobs(['active', 'waiting', 'delayed', 'prioritized']);
          return going.some((job) => (job.data as { snapshotId?: string }).snapshotId === status.spec.snapshotId) ? undefined : true;
        }, 30_000, 'every shard of the failed run to stop');
        await expectNothingPublished(status, good);
        if (kind === 'file') expect(await readdir(join(scratch, 'mid-walk', STAGING_FOLDER))).toEqual([]);
      } finally {
        client.middlewareStack.remove('denyMidWalk');
      }
    },
  );

  it('fails for a bucket that does not exist', async () => {
    const status = await harness.run({ userPoolId: emulator.createPoolWithUsers({ users: 10, seed: 1 }), destination: 's3://no-such-bucket/x' });
    expect(status.state).toBe('failed');
    expect(status.error).toBe('bucket no-such-bucket does not exist: create it or fix --destination');
  });

  it.each([
    ['a directory that cannot be written', 'file:///sys/cognito-export-test', /cannot write to \/sys\/cognito-export-test: EPERM.*make the destination directory writable/],
    ['a path where no directory can be made', 'file:///proc/cognito-export-test', /cannot write to \/proc\/cognito-export-test: ENOENT.*choose a destination directory the worker can create and write/],
  ])('fails at the start, without retrying, for %s', async (_what, to, message) => {
    const status = await harness.run({ userPoolId: emulator.createPoolWithUsers({ users: 10, seed: 2 }), destination: to });
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(message);
    const start = await harness.queues.runs.getJob(`start-${status.spec.snapshotId}`);
    expect(start?.attemptsMade).toBe(1);
  });

  it('fails at the start for a destination path that runs through a file', async () => {
    const file = join(scratch, 'a-file');
    await writeFile(file, 'not a directory');
    const status = await harness.run({ userPoolId: emulator.createPoolWithUsers({ users: 10, seed: 3 }), destination: pathToFileURL(join(file, 'exports')).href });
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(/cannot write to .*a-file\/exports: ENOTDIR.*the destination path runs through a file; choose a directory/);
  });
});
