import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { glueTableInput } from '../../src/warehouse/glue-catalog.js';
import { startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
const harnesses: ExportHarness[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
});

afterEach(async () => {
  emulator.setFaults({ latencyMs: 0, forcedErrors: {} });
  for (const h of harnesses.splice(0)) await h.close();
});

afterAll(async () => {
  await emulator.stop();
  await s3.stop();
});

async function harness(): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, s3, env: { AWS_ENDPOINT_URL_GLUE: emulator.url } });
  harnesses.push(h);
  return h;
}

/** The runs a table's partitions are of. */
const runsIn = (database: string, table: string): string[] =>
  (emulator.glue.snapshot().databases[database]?.tables[table]?.partitions ?? []).map((partition) => (partition as { Values: string[] }).Values[2] ?? '');

const denied = (operation: string) => ({ forcedErrors: { [operation]: { code: 'AccessDeniedException', status: 400, message: `User is not authorized to perform: glue:${operation}` } } });

describe('the Glue catalog when Glue refuses', () => {
  it('a run whose catalog refuses to remove partitions fails unpublished, deleting nothing; the next run removes partitions and data together', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 30, seed: 9201, groups: 1 });
    const request = { userPoolId: poolId, destination: `s3://${s3.bucket}/glue-retention`, glueDatabase: 'glue_retention', keepLast: 1 };
    const first = await h.run(request);
    expect(first.state).toBe('completed');
    const firstFolder = `glue-retention/users/user_pool_id=${poolId}/dt=${first.spec.startedAt.slice(0, 10)}/run=${first.spec.snapshotId}/`;
    emulator.setFaults(denied('BatchDeletePartition'));
    const second = await h.run(request);
    expect(second.state).toBe('failed');
    expect(second.error).toMatch(/glue:BatchDeletePartition/);
    expect(runsIn('glue_retention', 'users')).toEqual([first.spec.snapshotId]);
    expect((await s3.listKeys(firstFolder)).length).toBeGreaterThan(0);
    emulator.setFaults({ forcedErrors: {} });
    const third = await h.run(request);
    expect(third.state).toBe('completed');
    expect(runsIn('glue_retention', 'users')).toEqual([third.spec.snapshotId]);
    expect(await s3.listKeys(firstFolder)).toEqual([]);
  }, 120_000);

  it('a catalog that denies partition writes fails the run before anything is published', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 30, seed: 9202 });
    emulator.setFaults(denied('BatchCreatePartition'));
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/glue-denied-partitions`, glueDatabase: 'glue_denied_partitions' });
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(/glue:BatchCreatePartition/);
    expect(status.error).not.toContain('\n');
    expect(await s3.listKeys('glue-denied-partitions/')).toEqual([]);
    expect(runsIn('glue_denied_partitions', 'users')).toEqual([]);
  }, 60_000);

  it('NDJSON tables keep attribute names\' case in Hive, EMR and Glue jobs (case.insensitive off, as the Athena DDL has it)', () => {
    const table = glueTableInput('users', { rootUrl: 's3://b/p/', format: 'ndjson', gzip: true, tablePrefix: '' });
    expect(table.StorageDescriptor?.SerdeInfo?.Parameters?.['case.insensitive']).toBe('false');
  });
});
