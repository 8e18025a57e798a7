import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerDdlCommand, tableFormatsOf } from '../../src/cli/catalog-command.js';
import { CliError } from '../../src/cli/cli-context.js';
import { ParquetEncoder } from '../../src/storage/parquet-file.js';
import { athenaDdl, athenaMerge } from '../../src/warehouse/athena-ddl.js';
import { bigQueryDdl, bigQueryMerge } from '../../src/warehouse/bigquery-ddl.js';
import { clickHouseDdl, clickHouseMerge } from '../../src/warehouse/clickhouse-ddl.js';
import { localRootProblem, type DataFormat, type WarehouseDdlInput } from '../../src/warehouse/ddl-input.js';
import { duckDbDdl, duckDbMerge } from '../../src/warehouse/duckdb-ddl.js';
import { snowflakeDdl, snowflakeMerge } from '../../src/warehouse/snowflake-ddl.js';
import { TABLE_COLUMNS } from '../../src/warehouse/table-columns.js';

/**
 * The SQL of every `ddl` dialect, compared with golden files (test/unit/golden/ddl/; after a
 * deliberate change: UPDATE_GOLDEN=1 npx vitest run test/unit/warehouse-ddl.test.ts, then read the
 * diff), literals escaped, refusals in one line; DuckDB's run for real over NDJSON, Parquet and a
 * table holding both.
 */

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden', 'ddl');
const POOL = 'eu-west-1_AbCdEf123';

const GENERATORS = { duckdb: duckDbDdl, athena: athenaDdl, bigquery: bigQueryDdl, snowflake: snowflakeDdl, clickhouse: clickHouseDdl } as const;
const MERGE_GENERATORS = { duckdb: duckDbMerge, athena: athenaMerge, bigquery: bigQueryMerge, snowflake: snowflakeMerge } as const;

/** A destination with every table written but group_membership_changes (whose folder has no file yet). */
function fixture(format: DataFormat, change: Partial<WarehouseDdlInput> = {}): WarehouseDdlInput {
  return {
    root: 's3://my-bucket/cognito',
    format,
    tablesWithFiles: new Set(['users', 'groups', 'group_memberships', 'user_changes', 'group_changes']),
    hasLatest: true,
    schema: 'cognito',
    region: 'eu-west-1',
    generatedAt: new Date('2026-01-02T03:04:05.678Z'),
    ...change,
  };
}

/** Compares `sql` with golden file `name`, or rewrites it when UPDATE_GOLDEN=1. */
async function expectGolden(name: string, sql: string): Promise<void> {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    await mkdir(GOLDEN, { recursive: true });
    await writeFile(file, sql);
    return;
  }
  const expected = await readFile(file, 'utf8').catch(() => undefined);
  expect(expected, `${name} is missing: UPDATE_GOLDEN=1 npx vitest run test/unit/warehouse-ddl.test.ts writes it`).toBeDefined();
  expect(sql, `${name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it after a deliberate change)`).toBe(expected);
}

describe('golden DDL', () => {
  const cases = Object.keys(GENERATORS).flatMap((dialect) =>
    (['ndjson', 'parquet'] as const).flatMap((format) => [
      [dialect, format, false],
      [dialect, format, true],
    ]),
  ) as [keyof typeof GENERATORS, DataFormat, boolean][];

  it.each(cases)('%s over %s files (one pool: %s) matches its golden file', async (dialect, format, onePool) => {
    await expectGolden(`${dialect}-${format}${onePool ? '-one-pool' : ''}.sql`, GENERATORS[dialect](fixture(format, onePool ? { userPoolId: POOL } : {})));
  });

  it.each(Object.keys(MERGE_GENERATORS) as (keyof typeof MERGE_GENERATORS)[])('%s --merge-into matches its golden file', async (dialect) => {
    await expectGolden(`${dialect}-merge.sql`, MERGE_GENERATORS[dialect]('cognito', 'warehouse'));
  });

  it.each(['duckdb', 'athena', 'bigquery', 'snowflake', 'clickhouse'] as const)('%s over a table holding both formats matches its golden file', async (dialect) => {
    const tableFormats = new Map<string, DataFormat[]>([['users', ['parquet', 'ndjson']]]);
    await expectGolden(`${dialect}-mixed.sql`, GENERATORS[dialect](fixture('parquet', { tableFormats })));
  });

  it('clickhouse over a local directory (file(), for clickhouse-local) and over an S3-compatible endpoint match their golden files', async () => {
    await expectGolden('clickhouse-ndjson-local.sql', clickHouseDdl(fixture('ndjson', { root: '/data/exports', hasLatest: false })));
    await expectGolden('clickhouse-ndjson-endpoint.sql', clickHouseDdl(fixture('ndjson', { s3Endpoint: 'http://127.0.0.1:9000' })));
  });

  it('snowflake over an S3-compatible endpoint uses an s3compat stage', () => {
    const sql = snowflakeDdl(fixture('ndjson', { s3Endpoint: 'https://minio.example.com' }));
    expect(sql).toContain(`URL = 's3compat://my-bucket/cognito/' ENDPOINT = 'minio.example.com' CREDENTIALS = (`);
  });
});

describe('literals and names', () => {
  it.each(Object.keys(GENERATORS) as (keyof typeof GENERATORS)[])('%s escapes a quote and a backslash in the destination prefix', (dialect) => {
    const sql = GENERATORS[dialect](fixture('ndjson', { root: "s3://my-bucket/it's\\here" }));
    // Comments quote the destination as it is; no statement does.
    expect(sql.split('\n').filter((line) => !line.startsWith('--') && line.includes("it's"))).toEqual([]);
    const escaped: Record<keyof typeof GENERATORS, string> = {
      duckdb: "'s3://my-bucket/it''s\\here/users/*/dt=*/run=*/*.ndjson*'",
      athena: "LOCATION 's3://my-bucket/it\\'s\\\\here/users/'",
      bigquery: "uris = ['s3://my-bucket/it\\'s\\\\here/users/*']",
      snowflake: "URL = 's3://my-bucket/it''s\\\\here/'",
      // A URL: the prefix is percent-encoded but for the quote, which the literal escapes.
      clickhouse: "'https://my-bucket.s3.eu-west-1.amazonaws.com/it''s%5Chere/users/*/dt=*/run=*/*.ndjson*'",
    };
    expect(sql).toContain(escaped[dialect]);
  });

  it('quotes Snowflake names in upper case, so that unquoted queries (cognito.users) find them', () => {
    const sql = snowflakeDdl(fixture('ndjson'));
    expect(sql).toContain('CREATE OR REPLACE VIEW "COGNITO"."USERS" AS');
    expect(sql).not.toMatch(/"[a-z_]+"/);
  });
});

describe('refusals', () => {
  it.each(['athena', 'bigquery', 'snowflake'] as const)('%s refuses a local directory in one line, saying why', (dialect) => {
    const generate = GENERATORS[dialect];
    expect(() => generate(fixture('ndjson', { root: '/data/exports' }))).toThrow(RangeError);
    expect(() => generate(fixture('ndjson', { root: '/data/exports' }))).toThrow(/reads only from Amazon S3: export to s3:\/\/bucket\/prefix/);
    expect(localRootProblem(dialect)?.split('\n')).toHaveLength(1);
  });

  it('duckdb, clickhouse and dbt read local directories', () => {
    expect(['duckdb', 'clickhouse', 'dbt'].map(localRootProblem)).toEqual([undefined, undefined, undefined]);
  });

  it('clickhouse refuses --merge-into: it has no MERGE', () => {
    expect(() => clickHouseMerge()).toThrow(/^--merge-into is not supported for --dialect clickhouse: ClickHouse has no MERGE; [^\n]+$/);
  });
});

describe('formats of a table folder', () => {
  it('lists the formats newest file first, from the run of each file', () => {
    const keys = [
      'users/user_pool_id=a/dt=2026-01-01/run=20260101T000000000Z-aaaaaa/part-0-00000.ndjson.gz',
      'users/user_pool_id=b/dt=2026-01-03/run=20260103T000000000Z-cccccc/part-0-00000.ndjson',
      'users/user_pool_id=a/dt=2026-01-02/run=20260102T000000000Z-bbbbbb/part-0-00000.parquet',
      'users/user_pool_id=a/dt=2026-01-02/run=20260102T000000000Z-bbbbbb/notes.txt',
    ];
    expect(tableFormatsOf(keys)).toEqual({ formats: ['ndjson', 'parquet'], newestRun: '20260103T000000000Z-cccccc' });
    expect(tableFormatsOf(keys.slice(2))).toEqual({ formats: ['parquet'], newestRun: '20260102T000000000Z-bbbbbb' });
    expect(tableFormatsOf([])).toEqual({ formats: [], newestRun: '' });
  });
});

/** DuckDB over a destination written by hand: pool A's first run in NDJSON, its second in Parquet. */
describe('DuckDB over NDJSON and Parquet files', () => {
  const FIRST = '20260101T100000000Z-aaaaaa';
  const SECOND = '20260102T100000000Z-bbbbbb';
  let dir: string;

  const user = (run: string, n: number) => ({
    user_pool_id: POOL,
    snapshot_id: run,
    username: `user-${n}`,
    sub: `sub-${n}`,
    enabled: n % 2 === 0,
    status: 'CONFIRMED',
    created_at: '2025-01-02T03:04:05.678Z',
    last_modified_at: n === 1 ? null : '2025-02-03T23:59:59.999Z',
    attributes: { email: `u${n}@example.com`, 'custom:TenantId': 'Acme' },
    mfa_options: n === 0 ? [{ delivery_medium: 'SMS', attribute_name: 'phone_number' }] : [],
  });
  const group = (run: string) => ({ user_pool_id: POOL, snapshot_id: run, group_name: 'admins', description: null, role_arn: null, precedence: 3, created_at: '2024-03-01T09:00:00.000Z', last_modified_at: '2025-01-10T12:30:00.250Z' });
  const membership = (run: string) => ({ user_pool_id: POOL, snapshot_id: run, group_name: 'admins', username: 'user-0', sub: 'sub-0' });

  async function write(table: string, run: string, format: DataFormat, records: readonly object[]): Promise<void> {
    const folder = join(dir, table, `user_pool_id=${POOL}`, `dt=${run.slice(0, 4)}-${run.slice(4, 6)}-${run.slice(6, 8)}`, `run=${run}`);
    await mkdir(folder, { recursive: true });
    if (format === 'ndjson') {
      await writeFile(join(folder, 'part-0-00000.ndjson'), records.map((record) => `${JSON.stringify(record)}\n`).join(''));
      return;
    }
    const chunks: Uint8Array[] = [];
    const encoder = new ParquetEncoder(TABLE_COLUMNS[table] ?? [], (bytes) => void chunks.push(bytes), 1000);
    await encoder.add(records);
    await encoder.finish();
    await writeFile(join(folder, 'part-0-00000.parquet'), Buffer.concat(chunks));
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ce-ddl-'));
    // The first run has one user more, whom the second deletes.
    for (const [run, format, users] of [[FIRST, 'ndjson', 4], [SECOND, 'parquet', 3]] as const) {
      await write('users', run, format, [...Array(users).keys()].map((n) => user(run, n)));
      await write('groups', run, format, [group(run)]);
      await write('group_memberships', run, format, [membership(run)]);
    }
    await write('user_changes', SECOND, 'parquet', [{ ...user(SECOND, 2), op: 'update', from_snapshot_id: FIRST, changed_fields: ['attributes.email'] }, { ...user(FIRST, 3), op: 'delete', from_snapshot_id: FIRST, changed_fields: null }]);
    await mkdir(join(dir, 'manifests', `user_pool_id=${POOL}`), { recursive: true });
    await writeFile(join(dir, 'manifests', `user_pool_id=${POOL}`, 'latest.json'), `${JSON.stringify({ schema_version: 1, user_pool_id: POOL, snapshot_id: SECOND }, null, 2)}\n`);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `sql` in a fresh DuckDB whose session time zone is not UTC, then each query; their rows. */
  async function inDuckDb(sql: string, queries: readonly string[]): Promise<Record<string, unknown>[][]> {
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      await connection.run("SET TimeZone = 'America/New_York';");
      await connection.run(sql);
      const results: Record<string, unknown>[][] = [];
      for (const query of queries) results.push((await connection.runAndReadAll(query)).getRowObjectsJson());
      return results;
    } finally {
      connection.closeSync();
    }
  }

  const input = (change: Partial<WarehouseDdlInput>): WarehouseDdlInput =>
    fixture('ndjson', { root: dir, tablesWithFiles: new Set(['users', 'groups', 'group_memberships', 'user_changes']), region: undefined, ...change });
  const describeView = (view: string) => `SELECT column_name AS name, column_type AS type FROM (DESCRIBE ${view})`;

  it('gives Parquet views the columns, types and values of the NDJSON ones, user_pool_id once, timestamps at UTC', async () => {
    const tableFormats = new Map<string, DataFormat[]>(['users', 'groups', 'group_memberships'].map((table) => [table, ['parquet', 'ndjson']]));
    tableFormats.set('user_changes', ['parquet']);
    const both = duckDbDdl(input({ tableFormats }));
    expect(both).toContain('UNION ALL BY NAME');
    const onlyNdjson = duckDbDdl(input({ userPoolId: POOL, tablesWithFiles: new Set(['users', 'groups', 'group_memberships']) }));
    const [ndjsonUsers, ndjsonGroups] = await inDuckDb(onlyNdjson, [describeView('cognito.users_all'), describeView('cognito.groups_all')]);
    const parquetOnly = (table: string) => `SELECT * FROM cognito.${table}_all WHERE run = '${SECOND}'`;
    const [users, groups, types, counts, latest, same, changes] = await inDuckDb(both, [
      describeView(`(${parquetOnly('users')})`),
      describeView(`(${parquetOnly('groups')})`),
      describeView('cognito.user_changes'),
      "SELECT (SELECT count(*) FROM cognito.users_all)::INTEGER AS every_run, (SELECT count(*) FROM cognito.users)::INTEGER AS latest, (SELECT count(*) FROM cognito.group_membership_changes)::INTEGER AS none",
      "SELECT DISTINCT run, user_pool_id, strftime(created_at, '%Y-%m-%dT%H:%M:%S.%g') AS created FROM cognito.users",
      `SELECT count(*)::INTEGER AS differing FROM ((SELECT * EXCLUDE (snapshot_id, dt, run) FROM cognito.users_all WHERE run = '${FIRST}' AND username <> 'user-3' EXCEPT ALL SELECT * EXCLUDE (snapshot_id, dt, run) FROM cognito.users_all WHERE run = '${SECOND}') UNION ALL (SELECT * EXCLUDE (snapshot_id, dt, run) FROM cognito.users_all WHERE run = '${SECOND}' EXCEPT ALL SELECT * EXCLUDE (snapshot_id, dt, run) FROM cognito.users_all WHERE run = '${FIRST}' AND username <> 'user-3'))`,
      "SELECT op, changed_fields, attributes['custom:TenantId'] AS tenant FROM cognito.user_changes ORDER BY op",
    ]);
    expect(users).toEqual(ndjsonUsers);
    expect(groups).toEqual(ndjsonGroups);
    expect(users?.filter((column) => column.name === 'user_pool_id')).toHaveLength(1);
    expect(users?.find((column) => column.name === 'created_at')?.type).toBe('TIMESTAMP');
    expect(types?.map((column) => column.name)).toContain('changed_fields');
    expect(counts).toEqual([{ every_run: 7, latest: 3, none: 0 }]);
    expect(latest).toEqual([{ run: SECOND, user_pool_id: POOL, created: '2025-01-02T03:04:05.678' }]);
    expect(same).toEqual([{ differing: 0 }]);
    expect(changes).toEqual([
      { op: 'delete', changed_fields: null, tenant: 'Acme' },
      { op: 'update', changed_fields: ['attributes.email'], tenant: 'Acme' },
    ]);
  });

  it("--merge-into: the second run's changes applied to a copy of the first snapshot give the second, across formats", async () => {
    const views = duckDbDdl(input({ tableFormats: new Map([['users', ['parquet', 'ndjson']], ['user_changes', ['parquet']]]) }));
    const copy = `CREATE SCHEMA warehouse; CREATE TABLE warehouse.users AS SELECT * FROM cognito.users_all WHERE run = '${FIRST}';`;
    const differs = `SELECT count(*)::INTEGER AS n FROM ((SELECT * EXCLUDE (snapshot_id, dt, run) FROM warehouse.users EXCEPT ALL SELECT * EXCLUDE (snapshot_id, dt, run) FROM cognito.users)
      UNION ALL (SELECT * EXCLUDE (snapshot_id, dt, run) FROM cognito.users EXCEPT ALL SELECT * EXCLUDE (snapshot_id, dt, run) FROM warehouse.users))`;
    // Only the users table: the others have no change table here, and their MERGE would not bind.
    const merge = duckDbMerge('cognito', 'warehouse').split(/\n(?=MERGE INTO)/)[1] ?? '';
    expect(merge).toMatch(/^MERGE INTO "warehouse"."users" t\n/);
    const [before] = await inDuckDb(`${views}${copy}\n`, [differs]);
    expect(before).toEqual([{ n: 1 }]);
    const after = await inDuckDb(`${views}${copy}\nSET VARIABLE cognito_run = '${SECOND}';\n${merge}`, [differs, "SELECT snapshot_id FROM warehouse.users WHERE username = 'user-2'"]);
    expect(after).toEqual([[{ n: 0 }], [{ snapshot_id: SECOND }]]);
  });

  it('ddl finds each table\'s formats from its files, and refuses what a dialect cannot read, in one line, exit code 2', async () => {
    const run = async (...args: string[]): Promise<string> => {
      const program = new Command().exitOverride();
      registerDdlCommand(program);
      let out = '';
      const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        out += String(chunk);
        return true;
      });
      try {
        await program.parseAsync(['ddl', '--destination', pathToFileURL(dir).href, ...args], { from: 'user' });
      } finally {
        spy.mockRestore();
      }
      return out;
    };
    const duckdb = await run('--dialect', 'duckdb');
    expect(duckdb).toMatch(/^-- cognito-export ddl --dialect duckdb: views over \S+ \(NDJSON and Parquet\)/);
    expect(duckdb).toMatch(/VIEW "cognito"."users_all" AS SELECT [^\n]+ FROM read_parquet\([^\n]+ UNION ALL BY NAME SELECT \* FROM read_json\(/);
    expect(duckdb).toMatch(/VIEW "cognito"."user_changes_all" AS SELECT [^\n]+ FROM read_parquet\([^\n]+\);\n/);
    expect(duckdb).toContain('-- group_changes: no file at');
    const [[rows]] = (await inDuckDb(duckdb, ['SELECT count(*)::INTEGER AS n FROM cognito.users_all'])) as [[{ n: number }]];
    expect(rows.n).toBe(7);
    const clickhouse = await run('--dialect', 'clickhouse', '--user-pool-id', POOL);
    expect(clickhouse).toContain(`FROM file('${dir}/users/user_pool_id=${POOL}/dt=*/run=*/*.parquet', 'Parquet'`);

    const refused = async (args: string[]): Promise<CliError> => {
      const error: unknown = await run(...args).then(() => undefined, (thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(CliError);
      return error as CliError;
    };
    const athena = await refused(['--dialect', 'athena']);
    expect([athena.exitCode, athena.message]).toEqual([
      2,
      '--dialect "athena" is not supported: expected duckdb, dbt, clickhouse for a file:// destination (Athena reads only from Amazon S3: export to s3://bucket/prefix, or query a local directory with DuckDB or clickhouse-local)',
    ]);
    const merge = await refused(['--dialect', 'clickhouse', '--merge-into', 'warehouse']);
    expect([merge.exitCode, merge.message.split('\n').length]).toEqual([2, 1]);
    expect((await refused(['--dialect', 'oracle'])).message).toBe('--dialect "oracle" is not supported: expected duckdb, dbt, athena, bigquery, snowflake, clickhouse');
  });
});
