import {
  BatchCreatePartitionCommand,
  BatchDeletePartitionCommand,
  CreateDatabaseCommand,
  CreateTableCommand,
  GetPartitionsCommand,
  GetTableCommand,
  GlueClient,
} from '@aws-sdk/client-glue';
import type { Partition, PartitionInput, Table } from '@aws-sdk/client-glue';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CognitoEmulator, DEFAULT_FAULTS } from '../../src/emulator/index.js';
import { TABLES } from '../../src/storage/output-layout.js';
import { GLUE_ACTIONS, GlueCatalog, GlueCatalogError } from '../../src/warehouse/glue-catalog.js';
import type { CatalogRun, GlueCatalogOptions } from '../../src/warehouse/glue-catalog.js';
import { PARTITION_KEYS, TABLE_COLUMNS } from '../../src/warehouse/table-columns.js';
import { failureOf } from '../support/service-failure.js';

const ROOT = 's3://exports/cognito/';
const DB = 'cognito_export';
const WRITES = ['CreateDatabase', 'CreateTable', 'UpdateTable', 'DeleteTable', 'BatchCreatePartition', 'BatchDeletePartition', 'UpdatePartition'];

let emulator: CognitoEmulator;
let client: GlueClient;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 21, accountId: '123456789012' });
  client = glueClient();
});

beforeEach(() => emulator.glue.reset());
afterEach(() => emulator.setFaults(DEFAULT_FAULTS));

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

/** The unmodified SDK client pointed at the emulator, with the SDK's default retries (3 attempts). */
function glueClient(): GlueClient {
  return new GlueClient({ endpoint: emulator.url, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
}

function catalog(options: Partial<GlueCatalogOptions> = {}): GlueCatalog {
  return new GlueCatalog({ client, database: DB, rootUrl: ROOT, format: 'ndjson', gzip: true, ...options });
}

function run(snapshotId: string, options: Partial<CatalogRun> = {}): CatalogRun {
  return { userPoolId: 'us-east-1_AbCdEf123', dt: '2024-05-01', snapshotId, tables: TABLES, ...options };
}

const operations = (): string[] => emulator.glue.calls().map((call) => call.operation);
const tablesOf = () => emulator.glue.snapshot().databases[DB]?.tables ?? {};
/** The emulator's table as GetTable answers it (times as epoch seconds, which these tests never read). */
const tableOf = (name: string): Table => tablesOf()[name]!.table as unknown as Table;
const partitionsOf = (name: string): Partition[] => tablesOf()[name]?.partitions ?? [];
const partitionRuns = (table: string): string[] => partitionsOf(table).map((p) => p.Values!.join('/'));
const columnTypes = (table: Table): Record<string, string | undefined> => Object.fromEntries(table.StorageDescriptor!.Columns!.map((c): [string, string | undefined] => [c.Name ?? '', c.Type]));

describe('GlueCatalog.ensureTables', () => {
  it('creates the database and the six tables: columns without the partition keys, OpenX JSON, gzip, locations under the root', async () => {
    const result = await catalog().ensureTables(TABLES);

    expect(result).toEqual({ databaseCreated: true, created: [...TABLES], updated: [], unchanged: [] });
    expect(operations()).toEqual(['GetDatabase', 'CreateDatabase', ...TABLES.flatMap(() => ['GetTable', 'CreateTable'])]);
    const tables = tablesOf();
    expect(Object.keys(tables).sort()).toEqual([...TABLES].sort());
    for (const name of TABLES) {
      const table = tableOf(name);
      expect(table.TableType).toBe('EXTERNAL_TABLE');
      expect(table.Parameters).toEqual({ classification: 'json', EXTERNAL: 'TRUE', compressionType: 'gzip' });
      expect(table.PartitionKeys).toEqual([
        { Name: 'user_pool_id', Type: 'string' },
        { Name: 'dt', Type: 'string' },
        { Name: 'run', Type: 'string' },
      ]);
      const sd = table.StorageDescriptor!;
      expect(sd.Location).toBe(`${ROOT}${name}/`);
      expect(sd.InputFormat).toBe('org.apache.hadoop.mapred.TextInputFormat');
      expect(sd.OutputFormat).toBe('org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat');
      expect(sd.SerdeInfo?.SerializationLibrary).toBe('org.openx.data.jsonserde.JsonSerDe');
      const columns = sd.Columns!.map((c) => c.Name);
      expect(columns).toEqual(TABLE_COLUMNS[name]!.map((c) => c.name));
      for (const key of PARTITION_KEYS) expect(columns).not.toContain(key.name);
    }
    expect(columnTypes(tableOf('users'))).toEqual({
      snapshot_id: 'string',
      username: 'string',
      sub: 'string',
      enabled: 'boolean',
      status: 'string',
      created_at: 'string', // ISO 8601 with ms: a string for the OpenX SerDe (see glue-catalog.ts)
      last_modified_at: 'string',
      attributes: 'map<string,string>',
      mfa_options: 'array<struct<delivery_medium:string,attribute_name:string>>',
    });
  });

  it('declares Parquet tables with the Parquet SerDe, timestamps as timestamp and no compressionType', async () => {
    await catalog({ format: 'parquet', tablePrefix: 'pq_' }).ensureTables(['groups', 'user_changes']);

    const groups = tableOf('pq_groups');
    expect(groups.Parameters).toEqual({ classification: 'parquet', EXTERNAL: 'TRUE' });
    expect(groups.StorageDescriptor).toMatchObject({
      Location: `${ROOT}groups/`,
      InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
      OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
      SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
    });
    expect(columnTypes(groups)).toMatchObject({ precedence: 'int', created_at: 'timestamp', last_modified_at: 'timestamp' });
    expect(columnTypes(tableOf('pq_user_changes')).changed_fields).toBe('array<string>');
  });

  it('writes nothing the second time: only GetDatabase and one GetTable per table', async () => {
    await catalog().ensureTables(TABLES);
    emulator.glue.resetCalls();

    const result = await catalog().ensureTables(TABLES);

    expect(result).toEqual({ databaseCreated: false, created: [], updated: [], unchanged: [...TABLES] });
    expect(operations()).toEqual(['GetDatabase', ...TABLES.map(() => 'GetTable')]);
  });

  it('reuses a database that exists, and updates a table a user made with other columns, keeping its own parameters', async () => {
    await client.send(new CreateDatabaseCommand({ DatabaseInput: { Name: DB, Description: 'made by hand' } }));
    await client.send(
      new CreateTableCommand({
        DatabaseName: DB,
        TableInput: {
          Name: 'users',
          TableType: 'EXTERNAL_TABLE',
          Parameters: { classification: 'json', EXTERNAL: 'TRUE', compressionType: 'gzip', owner_team: 'identity' },
          PartitionKeys: [{ Name: 'user_pool_id', Type: 'string' }, { Name: 'dt', Type: 'string' }, { Name: 'run', Type: 'string' }],
          StorageDescriptor: {
            Columns: [{ Name: 'username', Type: 'string' }, { Name: 'email', Type: 'string' }],
            Location: `${ROOT}users/`,
            InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
            OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
            SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' },
          },
        },
      }),
    );
    emulator.glue.resetCalls();

    const result = await catalog().ensureTables(['users', 'groups']);

    expect(result).toEqual({ databaseCreated: false, created: ['groups'], updated: ['users'], unchanged: [] });
    expect(operations()).toEqual(['GetDatabase', 'GetTable', 'UpdateTable', 'GetTable', 'CreateTable']);
    expect(emulator.glue.snapshot().databases[DB]!.database.Description).toBe('made by hand');
    const users = (await client.send(new GetTableCommand({ DatabaseName: DB, Name: 'users' }))).Table!;
    expect(users.StorageDescriptor?.Columns?.map((c) => c.Name)).toEqual(TABLE_COLUMNS.users!.map((c) => c.name));
    expect(users.Parameters).toEqual({ classification: 'json', EXTERNAL: 'TRUE', compressionType: 'gzip', owner_team: 'identity' });
  });

  it('updates every table when the format changes (SerDe, formats, classification, timestamp types), then matches', async () => {
    await catalog().ensureTables(TABLES);

    const switched = await catalog({ format: 'parquet' }).ensureTables(TABLES);
    const again = await catalog({ format: 'parquet' }).ensureTables(TABLES);

    expect(switched.updated).toEqual([...TABLES]);
    expect(again.unchanged).toEqual([...TABLES]);
    const users = tableOf('users');
    expect(users.Parameters).toEqual({ classification: 'parquet', EXTERNAL: 'TRUE' });
    expect(users.StorageDescriptor?.SerdeInfo?.SerializationLibrary).toBe('org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe');
  });

  it('updates a table whose location is under another root', async () => {
    await catalog({ rootUrl: 's3://old-bucket/x/' }).ensureTables(['groups']);

    const result = await catalog().ensureTables(['groups']);

    expect(result.updated).toEqual(['groups']);
    expect(tableOf('groups').StorageDescriptor?.Location).toBe(`${ROOT}groups/`);
  });
});

describe('GlueCatalog.registerRun and removeRuns', () => {
  it('registers one partition per table at the run folder, with the table\'s SerDe; a second time adds nothing', async () => {
    const glue = catalog();
    await glue.ensureTables(TABLES);
    emulator.glue.resetCalls();

    const first = await glue.registerRun(run('20240501T000000Z-aaaa'));
    const second = await glue.registerRun(run('20240501T000000Z-aaaa'));

    expect(first).toEqual({ created: [...TABLES], updated: [], unchanged: [] });
    expect(second).toEqual({ created: [], updated: [], unchanged: [...TABLES] });
    expect(emulator.glue.calls('UpdatePartition')).toEqual([]);
    expect(emulator.glue.calls('BatchCreatePartition').filter((call) => call.error === null)).toHaveLength(TABLES.length * 2);
    for (const table of TABLES) {
      const partitions = partitionsOf(table);
      expect(partitions).toHaveLength(1);
      expect(partitions[0]!.Values).toEqual(['us-east-1_AbCdEf123', '2024-05-01', '20240501T000000Z-aaaa']);
      expect(partitions[0]!.StorageDescriptor?.Location).toBe(`${ROOT}${table}/user_pool_id=us-east-1_AbCdEf123/dt=2024-05-01/run=20240501T000000Z-aaaa/`);
      expect(partitions[0]!.StorageDescriptor?.SerdeInfo).toEqual(tableOf(table).StorageDescriptor?.SerdeInfo);
    }
  });

  it('rewrites a partition that exists with another location', async () => {
    const glue = catalog();
    await glue.ensureTables(['users']);
    await catalog({ rootUrl: 's3://elsewhere/' }).registerRun(run('r1', { tables: ['users'] }));

    const result = await glue.registerRun(run('r1', { tables: ['users'] }));

    expect(result).toEqual({ created: [], updated: ['users'], unchanged: [] });
    const [partition] = partitionsOf('users');
    expect(partition!.StorageDescriptor?.Location).toBe(`${ROOT}users/user_pool_id=us-east-1_AbCdEf123/dt=2024-05-01/run=r1/`);
  });

  it('removes exactly the given runs\' partitions, 25 a call, and takes missing ones in its stride', async () => {
    const glue = catalog();
    await glue.ensureTables(TABLES);
    const runs = Array.from({ length: 30 }, (_, i) => run(`r${String(i).padStart(2, '0')}`));
    const other = run('other-pool-run', { userPoolId: 'eu-west-1_Other' });
    for (const r of [...runs, other]) await glue.registerRun(r);
    emulator.glue.resetCalls();

    const result = await glue.removeRuns(runs.slice(0, 29));

    expect(result).toEqual({ removed: 29 * TABLES.length, missing: 0 });
    const deletes = emulator.glue.calls('BatchDeletePartition');
    expect(deletes.map((call) => (call.input!.PartitionsToDelete as unknown[]).length)).toEqual(TABLES.flatMap(() => [25, 4]));
    for (const table of TABLES) expect(partitionRuns(table)).toEqual(['eu-west-1_Other/2024-05-01/other-pool-run', 'us-east-1_AbCdEf123/2024-05-01/r29']);

    expect(await glue.removeRuns([runs[0]!, runs[29]!])).toEqual({ removed: TABLES.length, missing: TABLES.length });
    for (const table of TABLES) expect(partitionRuns(table)).toEqual(['eu-west-1_Other/2024-05-01/other-pool-run']);
  });

  it('counts a table that is not there as missing, not as a failure', async () => {
    expect(await catalog().removeRuns([run('r1', { tables: ['users'] })])).toEqual({ removed: 0, missing: 1 });
  });
});

describe('GlueCatalog failures', () => {
  it('retries a throttled call and an internal error (the SDK\'s retries), then goes on', async () => {
    emulator.glue.failNext('GetDatabase', 2, 'ThrottlingException');
    emulator.glue.failNext('CreateTable', 1, 'InternalServiceException');

    await catalog().ensureTables(['users']);

    // The third attempt reaches the catalog: no database yet, so ensureTables creates it.
    expect(emulator.glue.calls('GetDatabase').map((call) => call.error)).toEqual(['ThrottlingException', 'ThrottlingException', 'EntityNotFoundException']);
    expect(emulator.glue.calls('CreateTable').map((call) => call.error)).toEqual(['InternalServiceException', null]);
    expect(Object.keys(tablesOf())).toEqual(['users']);
  });

  it('explains access denied in one line: the operation, the database, the catalog and the IAM actions needed', async () => {
    emulator.setFaults({
      forcedErrors: { CreateTable: { code: 'AccessDeniedException', message: 'User: arn:aws:sts::123456789012:assumed-role/exporter/x is not authorized to perform: glue:CreateTable' } },
    });

    const error = await catalog({ catalogId: '210987654321' }).ensureTables(['users']).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(GlueCatalogError);
    const { message, code } = error as GlueCatalogError;
    expect(code).toBe('AccessDeniedException');
    expect(message).not.toContain('\n');
    expect(message).toContain('glue:CreateTable on table users (database cognito_export in catalog 210987654321)');
    expect(message).toContain('is not authorized to perform');
    expect(message).toContain(GLUE_ACTIONS.join(', '));
    expect(emulator.glue.calls('CreateTable')).toHaveLength(1); // not retried
  });

  it('refuses an invalid database name before any call, in one line', () => {
    expect(() => catalog({ database: 'Cognito-Export' })).toThrow(new GlueCatalogError('Glue database name "Cognito-Export" may hold only lowercase letters, digits and _'));
    expect(emulator.glue.calls()).toEqual([]);
  });

  it('names the database when Glue refuses its name', async () => {
    emulator.glue.failNext('GetDatabase', 1, 'InvalidInputException', 'Database name is invalid.');

    await expect(catalog().ensureTables(['users'])).rejects.toThrow('Glue refused the database name "cognito_export" in the account\'s default catalog: Database name is invalid.');
  });

  it('a catalog in another account is addressed by CatalogId on every call', async () => {
    const glue = catalog({ catalogId: '210987654321' });
    await glue.ensureTables(['users']);
    await glue.registerRun(run('r1', { tables: ['users'] }));
    await glue.removeRuns([run('r1', { tables: ['users'] })]);

    expect(emulator.glue.calls().every((call) => call.input?.CatalogId === '210987654321')).toBe(true);
    expect(Object.keys(emulator.glue.snapshot('210987654321').databases)).toEqual([DB]);
    expect(emulator.glue.snapshot().databases).toEqual({});
  });
});

describe('the emulator\'s Glue endpoint, through @aws-sdk/client-glue', () => {
  it('is found through AWS_ENDPOINT_URL_GLUE, as the exporter finds it', async () => {
    const saved = process.env.AWS_ENDPOINT_URL_GLUE;
    process.env.AWS_ENDPOINT_URL_GLUE = emulator.url;
    try {
      const glue = new GlueClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
      expect((await glue.send(new GetTableCommand({ DatabaseName: DB, Name: 'users' }))).Table?.Name).toBe('users');
      glue.destroy();
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_GLUE;
      else process.env.AWS_ENDPOINT_URL_GLUE = saved;
    }
  });

  const noRetry = () => new GlueClient({ endpoint: emulator.url, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
  const partition = (runId: string): PartitionInput => ({ Values: ['p', '2024-05-01', runId], StorageDescriptor: { Location: `${ROOT}t/run=${runId}/` } });

  beforeEach(async () => {
    await catalog().ensureTables(['users']);
    emulator.glue.resetCalls();
  });

  it('answers missing entities and duplicates with Glue\'s error codes, per partition in batches', async () => {
    const glue = noRetry();
    expect(await failureOf(glue.send(new GetTableCommand({ DatabaseName: DB, Name: 'nope' })))).toMatchObject({ name: 'EntityNotFoundException', status: 400 });
    expect(await failureOf(glue.send(new GetTableCommand({ DatabaseName: 'nope', Name: 'users' })))).toMatchObject({ name: 'EntityNotFoundException', message: 'Database nope not found.' });
    expect(await failureOf(glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: DB } })))).toMatchObject({ name: 'AlreadyExistsException' });

    const created = await glue.send(new BatchCreatePartitionCommand({ DatabaseName: DB, TableName: 'users', PartitionInputList: [partition('a'), partition('a'), { Values: ['only-one'] }] }));
    expect(created.Errors?.map((e) => [e.PartitionValues, e.ErrorDetail?.ErrorCode])).toEqual([
      [['p', '2024-05-01', 'a'], 'AlreadyExistsException'],
      [['only-one'], 'InvalidInputException'],
    ]);
    const deleted = await glue.send(new BatchDeletePartitionCommand({ DatabaseName: DB, TableName: 'users', PartitionsToDelete: [{ Values: ['p', '2024-05-01', 'a'] }, { Values: ['p', '2024-05-01', 'b'] }] }));
    expect(deleted.Errors?.map((e) => [e.PartitionValues, e.ErrorDetail?.ErrorCode])).toEqual([[['p', '2024-05-01', 'b'], 'EntityNotFoundException']]);
    glue.destroy();
  });

  it('refuses a partition key among the columns, and batches over 100 created or 25 deleted partitions', async () => {
    const glue = noRetry();
    const duplicate = await failureOf(
      glue.send(
        new CreateTableCommand({
          DatabaseName: DB,
          TableInput: { Name: 'dup', PartitionKeys: [{ Name: 'user_pool_id', Type: 'string' }], StorageDescriptor: { Columns: [{ Name: 'user_pool_id', Type: 'string' }] } },
        }),
      ),
    );
    expect(duplicate).toMatchObject({ name: 'InvalidInputException', status: 400 });
    expect(duplicate.message).toContain('user_pool_id');

    const tooMany = Array.from({ length: 101 }, (_, i) => partition(`r${i}`));
    const create = await failureOf(glue.send(new BatchCreatePartitionCommand({ DatabaseName: DB, TableName: 'users', PartitionInputList: tooMany })));
    expect(create).toMatchObject({ name: 'ValidationException', message: expect.stringContaining("at 'partitionInputList' failed to satisfy constraint: Member must have length less than or equal to 100") as string });
    const remove = await failureOf(glue.send(new BatchDeletePartitionCommand({ DatabaseName: DB, TableName: 'users', PartitionsToDelete: tooMany.slice(0, 26).map((p) => ({ Values: p.Values })) })));
    expect(remove).toMatchObject({ name: 'ValidationException', message: expect.stringContaining('less than or equal to 25') as string });
    expect(tablesOf().users!.partitions).toEqual([]);
    glue.destroy();
  });

  it('pages GetPartitions with NextToken and filters on an equality Expression', async () => {
    const glue = catalog();
    for (const id of ['r1', 'r2', 'r3']) await glue.registerRun(run(id, { tables: ['users'] }));
    await glue.registerRun(run('r9', { tables: ['users'], userPoolId: 'eu-west-1_Other' }));

    const seen: string[] = [];
    let NextToken: string | undefined;
    do {
      const page = await client.send(new GetPartitionsCommand({ DatabaseName: DB, TableName: 'users', MaxResults: 3, NextToken }));
      expect(page.Partitions!.length).toBeLessThanOrEqual(3);
      seen.push(...page.Partitions!.map((p) => p.Values![2]!));
      NextToken = page.NextToken;
    } while (NextToken !== undefined);
    expect(seen.sort()).toEqual(['r1', 'r2', 'r3', 'r9']);

    const filtered = await client.send(new GetPartitionsCommand({ DatabaseName: DB, TableName: 'users', Expression: "user_pool_id = 'us-east-1_AbCdEf123' AND run = 'r2'" }));
    expect(filtered.Partitions!.map((p) => p.Values)).toEqual([['us-east-1_AbCdEf123', '2024-05-01', 'r2']]);
    expect(filtered.NextToken).toBeUndefined();
  });

  it('records every call with its input, and forced errors reach every call of the operation', async () => {
    emulator.setFaults({ forcedErrors: { GetTable: { code: 'AccessDeniedException' } } });
    const glue = noRetry();

    expect(await failureOf(glue.send(new GetTableCommand({ DatabaseName: DB, Name: 'users' })))).toMatchObject({ name: 'AccessDeniedException' });
    expect(await failureOf(glue.send(new GetTableCommand({ DatabaseName: DB, Name: 'users' })))).toMatchObject({ name: 'AccessDeniedException' });

    expect(emulator.glue.calls()).toEqual([
      { operation: 'GetTable', input: { DatabaseName: DB, Name: 'users' }, account: '123456789012', error: 'AccessDeniedException' },
      { operation: 'GetTable', input: { DatabaseName: DB, Name: 'users' }, account: '123456789012', error: 'AccessDeniedException' },
    ]);
    expect(WRITES.some((op) => emulator.glue.calls(op).length > 0)).toBe(false);
    glue.destroy();
  });
});
