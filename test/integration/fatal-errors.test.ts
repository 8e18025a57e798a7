import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { readManifest, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
let harness: ExportHarness;
let poolId: string;
let firstManifestUrl: string;
const destination = () => `s3://${s3.bucket}/fatal`;
const latestKey = () => `fatal/manifests/user_pool_id=${poolId}/latest.json`;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
  harness = await startHarness({ cognitoEndpoint: emulator.url, s3 });
  poolId = emulator.createPoolWithUsers({ users: 500, seed: 1 });
  // A good snapshot first, so each failure below can be shown to leave latest.json alone.
  const status = await harness.run({ userPoolId: poolId, destination: destination() });
  expect(status.state).toBe('completed');
  firstManifestUrl = status.manifestUrl ?? '';
});

afterEach(() => {
  emulator.setFaults({ forcedErrors: {}, allowedAccessKeyIds: null });
});

afterAll(async () => {
  await harness.close();
  await emulator.stop();
  await s3.stop();
});

/** Asserts a failed run left nothing published: no manifest of its own, latest.json as it was. */
async function expectNothingPublished(snapshotId: string, pool = poolId): Promise<void> {
  const manifests = await s3.listKeys(`fatal/manifests/user_pool_id=${pool}/`);
  expect(manifests.some((key) => key.includes(snapshotId))).toBe(false);
  if (pool === poolId) {
    const latest = JSON.parse((await s3.getObject(latestKey())).toString('utf8')) as { manifest_url: string };
    expect(latest.manifest_url).toBe(firstManifestUrl);
  }
}

describe('fatal errors fail the run at once with a message naming the pool or bucket and the fix', () => {
  it('fails for an unknown user pool', async () => {
    const status = await harness.run({ userPoolId: 'us-east-1_NoSuchPool', destination: destination() });
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(/us-east-1_NoSuchPool.*ResourceNotFoundException.*check --user-pool-id/);
    await expectNothingPublished(status.spec.snapshotId, 'us-east-1_NoSuchPool');
  });

  it('fails for credentials Cognito does not recognize', async () => {
    emulator.setFaults({ allowedAccessKeyIds: ['someone-else'] });
    const status = await harness.run({ userPoolId: poolId, destination: destination() });
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(new RegExp(`${poolId}.*UnrecognizedClientException.*check the AWS credentials`));
    await expectNothingPublished(status.spec.snapshotId);
  });

  it('fails when ListUsers is denied, even after the preflight passed', async () => {
    emulator.setFaults({
      forcedErrors: { ListUsers: { code: 'AccessDeniedException', message: 'User is not authorized to perform: cognito-idp:ListUsers' } },
    });
    const status = await harness.run({ userPoolId: poolId, destination: destination() });
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(new RegExp(`ListUsers on user pool ${poolId} failed: AccessDeniedException.*IAM permissions`));
    await expectNothingPublished(status.spec.snapshotId);
    // A failed run frees the pool: the next trigger starts a new run.
    emulator.setFaults({ forcedErrors: {} });
    const next = await harness.request({ userPoolId: poolId, destination: destination() });
    expect(next.created).toBe(true);
    expect((await harness.wait(next.snapshotId)).state).toBe('completed');
    firstManifestUrl = (await harness.runtime.runs.status(next.snapshotId))?.manifestUrl ?? '';
  });

  it('fails for a bucket that does not exist', async () => {
    const status = await harness.run({ userPoolId: poolId, destination: 's3://no-such-bucket/x' });
    expect(status.state).toBe('failed');
    expect(status.error).toBe('bucket no-such-bucket does not exist: create it or fix --destination');
    await expectNothingPublished(status.spec.snapshotId);
  });

  it('fails for a directory that cannot be written', async () => {
    const status = await harness.run({ userPoolId: poolId, destination: 'file:///sys/cognito-export-test' });
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(/cannot write to \/sys\/cognito-export-test: EPERM.*make the destination directory writable/);
    await expectNothingPublished(status.spec.snapshotId);
  });

  it('records the failure in the pool history', async () => {
    const history = await harness.runtime.runs.history(poolId);
    expect(history.lastFailure?.reason).toMatch(/EPERM/);
    expect(history.lastSuccess?.manifestUrl).toBe(firstManifestUrl);
    const manifest = await readManifest(firstManifestUrl, s3);
    expect(manifest.record_count).toBe(500);
  });
});
