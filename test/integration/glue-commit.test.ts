import { AdminDisableUserCommand, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cancelRun } from '../../jobs/cancel-run.js';
import { catalogRun, catalogTables, runCatalog } from '../../jobs/run-catalog.js';
import { buildRunSpec } from '../../src/runs/export-request.js';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { GlueCatalogSnapshot } from '../../src/emulator/glue-catalog-store.js';
import { EMULATOR_CREDENTIALS, readManifest, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3FaultProxy, type S3FaultProxy } from '../support/s3-fault-proxy.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { eventually } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
let proxy: S3FaultProxy;
let cognito: CognitoIdentityProviderClient;
const harnesses: ExportHarness[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
  proxy = await startS3FaultProxy(s3.endpoint);
  cognito = new CognitoIdentityProviderClient({ endpoint: emulator.url, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });
});

afterEach(async () => {
  proxy.setFaults({ deny: null });
  emulator.setFaults({ latencyMs: 0 });
  for (const harness of harnesses.splice(0)) await harness.close();
});

afterAll(async () => {
  cognito.destroy();
  await proxy.stop();
  await s3.stop();
  await emulator.stop();
});

/** A harness whose Glue (and STS) calls go to the emulator, and S3 calls through the fault proxy. */
async function harness(): Promise<ExportHarness> {
  const h = await startHarness({
    cognitoEndpoint: emulator.url,
    s3: { ...s3, endpoint: proxy.endpoint, overrides: { ...s3.overrides, endpoint: proxy.endpoint } },
    env: { AWS_ENDPOINT_URL_GLUE: emulator.url, AWS_ENDPOINT_URL_STS: emulator.url },
  });
  harnesses.push(h);
  return h;
}

/** Each table's partitions in `database` as `user_pool_id/dt/run` → location. */
function partitions(catalog: GlueCatalogSnapshot, database: string): Record<string, Record<string, string>> {
  const tables = catalog.databases[database]?.tables ?? {};
  return Object.fromEntries(
    Object.entries(tables).map(([name, state]) => [
      name,
      Object.fromEntries(state.partitions.map((p) => {
        const partition = p as { Values: string[]; StorageDescriptor: { Location: string } };
        return [partition.Values.join('/'), partition.StorageDescriptor.Location];
      })),
    ]),
  );
}

const runCreates = (snapshotId: string) =>
  emulator.glue.calls('BatchCreatePartition').filter((call) => JSON.stringify(call.input).includes(snapshotId));

describe('the Glue catalog, committed with the run', () => {
  it('after two runs with keep_last 1: the six tables, and exactly the kept run\'s partitions, each at its folder', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 500, seed: 2201, groups: 4 });
    const destination = `s3://${s3.bucket}/glue-keep`;
    const request = { userPoolId: poolId, destination, glueDatabase: 'cognito_keep', glueTablePrefix: 'ce_', keepLast: 1, format: 'parquet' };
    const first = await h.run(request);
    expect(first.state).toBe('completed');
    const afterFirst = partitions(emulator.glue.snapshot(), 'cognito_keep');
    expect(Object.keys(afterFirst).sort()).toEqual(['ce_group_changes', 'ce_group_membership_changes', 'ce_group_memberships', 'ce_groups', 'ce_user_changes', 'ce_users']);
    const firstDt = first.spec.startedAt.slice(0, 10);
    expect(afterFirst.ce_users).toEqual({ [`${poolId}/${firstDt}/${first.spec.snapshotId}`]: `s3://${s3.bucket}/glue-keep/users/user_pool_id=${poolId}/dt=${firstDt}/run=${first.spec.snapshotId}/` });
    // A table with no file in the run (no changes on a first run) gets no partition.
    expect(afterFirst.ce_user_changes).toEqual({});
    await cognito.send(new AdminDisableUserCommand({ UserPoolId: poolId, Username: emulator.listAllUsers(poolId)[0]?.Username }));
    const second = await h.run(request);
    expect(second.state).toBe('completed');
    const manifest = await readManifest(second.manifestUrl ?? '', s3);
    const key = `${poolId}/${second.spec.startedAt.slice(0, 10)}/${second.spec.snapshotId}`;
    const kept = partitions(emulator.glue.snapshot(), 'cognito_keep');
    const withFiles = Object.entries(manifest.tables).filter(([, table]) => table.files.length > 0).map(([table]) => `ce_${table}`).sort();
    expect(withFiles).toEqual(['ce_group_memberships', 'ce_groups', 'ce_user_changes', 'ce_users']);
    for (const [table, parts] of Object.entries(kept)) {
      expect(Object.keys(parts), table).toEqual(withFiles.includes(table) ? [key] : []);
    }
    // The table is Parquet, its columns typed, the partition keys not among them.
    const users = emulator.glue.snapshot().databases.cognito_keep?.tables.ce_users?.table as {
      StorageDescriptor: { Location: string; Columns: { Name: string; Type: string }[]; SerdeInfo: { SerializationLibrary: string } };
      PartitionKeys: { Name: string }[];
    };
    expect(users.StorageDescriptor.Location).toBe(`s3://${s3.bucket}/glue-keep/users/`);
    expect(users.StorageDescriptor.SerdeInfo.SerializationLibrary).toMatch(/ParquetHiveSerDe/);
    expect(users.PartitionKeys.map((k) => k.Name)).toEqual(['user_pool_id', 'dt', 'run']);
    expect(users.StorageDescriptor.Columns.map((c) => c.Name)).not.toContain('user_pool_id');
    expect(Object.fromEntries(users.StorageDescriptor.Columns.map((c) => [c.Name, c.Type]))).toMatchObject({ enabled: 'boolean', created_at: 'timestamp', attributes: 'map<string,string>' });
    // Retention removed the first run's partitions with its files.
    expect(emulator.glue.calls('BatchDeletePartition').some((call) => JSON.stringify(call.input).includes(first.spec.snapshotId))).toBe(true);
  });

  it('a cancelled run registers nothing, and a run the catalog refuses fails before anything is published', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 2202 });
    emulator.setFaults({ latencyMs: 30 });
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/glue-cancel`, glueDatabase: 'cognito_cancel', fileMaxRecords: 200 });
    await eventually(async () => (((await h.runtime.runs.status(snapshotId))?.tables.users?.durable ?? 0) > 400 ? true : undefined), 30_000, 'the walk');
    await cancelRun(h.runtime, snapshotId);
    expect((await h.wait(snapshotId)).state).toBe('cancelled');
    expect(runCreates(snapshotId)).toEqual([]);
    expect(partitions(emulator.glue.snapshot(), 'cognito_cancel')).toEqual({});
    emulator.setFaults({ latencyMs: 0, forcedErrors: { CreateDatabase: { code: 'AccessDeniedException', status: 400, message: 'User is not authorized to perform: glue:CreateDatabase' } } });
    try {
      const denied = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/glue-denied`, glueDatabase: 'cognito_denied' });
      expect(denied.state).toBe('failed');
      expect(denied.error).toMatch(/cognito_denied/);
      expect(denied.error).toMatch(/glue:CreateDatabase/);
      expect(denied.error).not.toContain('\n');
      expect(denied.manifestUrl).toBeUndefined();
      expect(await s3.listKeys('glue-denied/')).toEqual([]);
    } finally {
      emulator.setFaults({ forcedErrors: {} });
    }
  });

  it('a finalizer that runs twice (its pointer write failed after registering) registers the run once', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 400, seed: 2203, groups: 3 });
    const destination = `s3://${s3.bucket}/glue-twice`;
    proxy.setFaults({ deny: (request) => request.method === 'PUT' && decodeURIComponent(request.url).includes('/latest.json') });
    const { snapshotId } = await h.request({ userPoolId: poolId, destination, glueDatabase: 'cognito_twice' });
    await eventually(async () => ((await h.queues.runs.getJob(`run-${snapshotId}`))?.attemptsMade ? true : undefined), 60_000, 'a failed attempt');
    expect(runCreates(snapshotId).length).toBeGreaterThanOrEqual(1);
    proxy.setFaults({ deny: null });
    const done = await h.wait(snapshotId, 60_000);
    expect(done.state).toBe('completed');
    // Registered again by the second attempt, and found there: one partition per table, none rewritten.
    expect(runCreates(snapshotId).length).toBeGreaterThanOrEqual(2);
    expect(emulator.glue.calls('UpdatePartition')).toEqual([]);
    const parts = partitions(emulator.glue.snapshot(), 'cognito_twice');
    for (const table of ['users', 'groups', 'group_memberships']) expect(Object.keys(parts[table] ?? {}), table).toHaveLength(1);
  });

  it("registers in the catalog of the S3 role's account (a catalog in another account)", async () => {
    const role = 'arn:aws:iam::444444444444:role/warehouse-writer';
    emulator.createRole({ roleArn: role });
    const h = await harness();
    // The S3 test server takes only its own keys, so the run's catalog is driven directly: the
    // client a run with --s3-role-arn gets, through STS, registering a run.
    const spec = buildRunSpec({ userPoolId: 'us-east-1_Role1', destination: `s3://${s3.bucket}/glue-role`, glueDatabase: 'cognito_role', s3RoleArn: role, trigger: 'cli' }, h.config);
    const catalog = runCatalog(h.runtime, spec);
    await catalog?.ensureTables(catalogTables(spec));
    await catalog?.registerRun(catalogRun(spec, ['users']));
    const there = partitions(emulator.glue.snapshot('444444444444'), 'cognito_role');
    expect(Object.keys(there.users ?? {})).toEqual([`us-east-1_Role1/${spec.startedAt.slice(0, 10)}/${spec.snapshotId}`]);
    expect(emulator.glue.snapshot().databases.cognito_role).toBeUndefined();
    expect(new Set(emulator.glue.calls().filter((call) => JSON.stringify(call.input).includes('cognito_role')).map((call) => call.account))).toEqual(new Set(['444444444444']));
  });
});
