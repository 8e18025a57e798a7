import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { Manifest } from '../../src/storage/manifest.js';
import { startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { runCli } from '../support/worker-process.js';

/** `snapshots` and `files`: finding a pool's data at a destination without Redis, on disk and on S3. */
let emulator: CognitoEmulator;
let s3: S3TestServer;
let harness: ExportHarness;
let scratch: string;
let poolId: string;
const runs: { manifestUrl: string; manifest: Manifest }[] = [];

const read = async (url: string) => JSON.parse(await readFile(fileURLToPath(url), 'utf8')) as Manifest;
/** The CLI as a reader runs it: no Redis at all. */
const env = () => ({ ...harness.childEnv, REDIS_URL: 'redis://127.0.0.1:1' });

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
  harness = await startHarness({ cognitoEndpoint: emulator.url, s3 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-catalog-'));
  poolId = emulator.createPoolWithUsers({ users: 400, seed: 71, groups: 4 });
  const destination = pathToFileURL(join(scratch, 'out')).href;
  for (let i = 0; i < 2; i++) {
    if (i === 1) {
      // Between the runs: a user joins (and a group), another leaves.
      emulator.addUser(poolId, { username: 'between-runs', attributes: { email: 'b@example.com' } });
      emulator.addUserToGroup(poolId, emulator.listAllGroups(poolId)[0]?.GroupName ?? '', 'between-runs');
      emulator.deleteUser(poolId, emulator.listAllMembers(poolId, emulator.listAllGroups(poolId)[1]?.GroupName ?? '')[0]?.Username ?? '');
    }
    const status = await harness.run({ userPoolId: poolId, destination, shards: 16, groups: true });
    runs.push({ manifestUrl: status.manifestUrl ?? '', manifest: await read(status.manifestUrl ?? '') });
  }
});

afterAll(async () => {
  await harness.close();
  await s3.stop();
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe('snapshots', () => {
  it("lists a pool's complete snapshots newest first, with records per table and the pointers naming them", async () => {
    const destination = pathToFileURL(join(scratch, 'out')).href;
    const json = await runCli(['snapshots', '--destination', destination, '--user-pool-id', poolId, '--json'], env());
    expect(json.code, json.stderr).toBe(0);
    const listed = JSON.parse(json.stdout) as { snapshot_id: string; named_by: string[]; records: Record<string, number>; manifest_url: string; dataset: string }[];
    const [newest, oldest] = runs.slice().reverse();
    expect(listed.map((s) => s.snapshot_id)).toEqual([newest?.manifest.snapshot_id, oldest?.manifest.snapshot_id]);
    expect(listed[0]).toMatchObject({ named_by: ['latest.json'], dataset: 'pool', manifest_url: newest?.manifestUrl });
    expect(listed[0]?.records).toEqual(Object.fromEntries(Object.entries(newest?.manifest.tables ?? {}).map(([table, entry]) => [table, entry.record_count])));
    expect(listed[0]?.records).toMatchObject({ users: 400, groups: 4, user_changes: 2 });
    expect(listed[1]).toMatchObject({ named_by: [], records: { users: 400 } });

    const text = await runCli(['snapshots', '--destination', destination, '--user-pool-id', poolId], env());
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SNAPSHOT +COMPLETED +DATASET +USERS +GROUPS +MEMBERSHIPS +USER_CHANGES +GROUP_CHANGES +GROUP_MEMBERSHIP_CHANGES +NAMED BY +MANIFEST$/);
    expect(lines[1]).toMatch(new RegExp(`^${newest?.manifest.snapshot_id} +\\S+ +pool +400 +4 +\\d+ +2 +0 +\\d+ +latest\\.json +file://`));
    expect(lines[2]).toMatch(new RegExp(`^${oldest?.manifest.snapshot_id} +\\S+ +pool +400 +4 +\\d+ +– +– +– +– +file://`));
  });

  it('reads an S3 destination the same way', async () => {
    const status = await harness.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/catalog`, shards: 1, groups: true });
    const listed = await runCli(['snapshots', '--destination', `s3://${s3.bucket}/catalog`, '--user-pool-id', poolId, '--json'], env());
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as { manifest_url: string }[]).map((s) => s.manifest_url)).toEqual([status.manifestUrl]);
  });

  it('leaves out a planted manifest that lists files elsewhere, and says so without quoting it', async () => {
    const dir = join(scratch, 'planted');
    const copy = runs[0]?.manifest;
    const id = '20200101T000000000Z-abcdef';
    const folder = join(dir, 'manifests', `user_pool_id=${poolId}`, 'dt=2020-01-01');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, `run=${id}.json`), JSON.stringify({ ...copy, snapshot_id: id, started_at: '2020-01-01T00:00:00.000Z', files: [{ url: 'file:///etc/passwd', records: 1, bytes: 1, sha256: 'x' }] }));
    const listed = await runCli(['snapshots', '--destination', pathToFileURL(dir).href, '--user-pool-id', poolId], env());
    expect(listed.code).toBe(0);
    expect(listed.stdout).toBe(`no complete snapshot of ${poolId} at this destination\n`);
    expect(listed.stderr).toMatch(/^cognito-export: warning: left out: the manifest \(file:\/\/.*run=20200101T000000000Z-abcdef\.json\) lists a users file outside /);
    expect(listed.stderr).not.toContain('passwd');
  });

  it('lists a manifest of an older version (no dataset field) and leaves out one with a field of the wrong type or a terminal escape', async () => {
    const dir = join(scratch, 'odd');
    const write = async (id: string, change: (manifest: Record<string, unknown>) => Record<string, unknown>) => {
      const copy = JSON.parse(JSON.stringify(runs[0]?.manifest)) as Record<string, unknown>;
      const started = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}`;
      const files = (list: { url: string }[]) => list.map((file) => ({ ...file, url: file.url.replace(join(scratch, 'out'), dir).replace(/dt=[^/]+\/run=[^/]+/, `dt=${started}/run=${id}`) }));
      const tables = Object.fromEntries(Object.entries(copy.tables as Record<string, { files: { url: string }[] }>).map(([table, entry]) => [table, { ...entry, files: files(entry.files) }]));
      const manifest = change({ ...copy, snapshot_id: id, started_at: `${started}T00:00:00.000Z`, files: files(copy.files as { url: string }[]), tables });
      const folder = join(dir, 'manifests', `user_pool_id=${poolId}`, `dt=${started}`);
      await mkdir(folder, { recursive: true });
      await writeFile(join(folder, `run=${id}.json`), JSON.stringify(manifest));
    };
    await write('20250101T000000000Z-aaaaaa', ({ dataset: _dataset, ...rest }) => rest);
    await write('20250102T000000000Z-bbbbbb', (manifest) => ({ ...manifest, tables: { ...(manifest.tables as object), groups: null } }));
    await write('20250103T000000000Z-cccccc', (manifest) => ({ ...manifest, dataset: 'pool\u001b[31m' }));
    await write('20250104T000000000Z-dddddd', (manifest) => ({ ...manifest, completed_at: 5 }));
    const listed = await runCli(['snapshots', '--destination', pathToFileURL(dir).href, '--user-pool-id', poolId], env());
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/\n20250101T000000000Z-aaaaaa +\S+ +pool +400 /);
    expect(listed.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(listed.stderr.trimEnd().split('\n').map((line) => line.replace(/^.*run=(\S+)\.json /, '$1 '))).toEqual([
      '20250102T000000000Z-bbbbbb has no valid record count for groups',
      '20250103T000000000Z-cccccc has no valid dataset',
      '20250104T000000000Z-dddddd has no valid completed_at',
    ]);
    expect(listed.stderr + listed.stdout).not.toContain('\u001b');
  });

  it('refuses a bad pool id or destination in one line, exit code 2', async () => {
    const pool = await runCli(['snapshots', '--destination', 's3://b-1/x', '--user-pool-id', 'nope'], env());
    expect([pool.code, pool.stderr]).toEqual([2, 'cognito-export: "nope" is not a user pool id: expected <region>_<id>, e.g. eu-west-1_AbCdEf123\n']);
    const destination = await runCli(['snapshots', '--destination', 'ftp://x', '--user-pool-id', poolId], env());
    expect(destination.code).toBe(2);
    expect(destination.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('files', () => {
  it("prints a table's file URLs one a line, from a manifest or from latest.json", async () => {
    const newest = runs[1];
    const latest = newest?.manifestUrl.replace(/dt=[^/]+\/run=[^/]+\.json$/, 'latest.json') ?? '';
    for (const [manifest, table] of [[newest?.manifestUrl ?? '', 'group_memberships'], [latest, 'user_changes'], [latest, 'users']] as const) {
      const result = await runCli(['files', '--manifest', manifest, '--table', table], env());
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe(`${(newest?.manifest.tables[table]?.files ?? []).map((file) => file.url).join('\n')}\n`);
    }
    // Without --table: users.
    expect((await runCli(['files', '--manifest', latest], env())).stdout.trimEnd().split('\n')).toHaveLength(newest?.manifest.tables.users?.files.length ?? -1);
  });

  it('refuses what it cannot answer in one line: not a manifest URL (2), an unknown table (2), a table the run has not (1), a pointer not there (1)', async () => {
    const oldest = runs[0]?.manifestUrl ?? '';
    const cases: [string[], number, RegExp][] = [
      [['--manifest', 'https://example.com/x.json'], 2, /is not a manifest or pointer URL/],
      [['--manifest', oldest, '--table', 'nope'], 2, /--table "nope" is not a table: expected one of users, groups, /],
      [['--manifest', oldest, '--table', 'user_changes'], 1, /snapshot \S+ has no user_changes table \(it has users, groups, group_memberships\)/],
      [['--manifest', pathToFileURL(join(scratch, 'none', 'manifests', `user_pool_id=${poolId}`, 'latest.json')).href], 1, /latest\.json does not exist: no complete snapshot of this dataset yet, or another destination/],
    ];
    for (const [args, code, message] of cases) {
      const result = await runCli(['files', ...args], env());
      expect(result.code, result.stderr).toBe(code);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
  });
});

describe('ddl --dialect duckdb', () => {
  /** Runs the generated SQL as-is in a fresh DuckDB, then each query; returns their first rows. */
  async function inDuckDb(sql: string, queries: readonly string[]): Promise<Record<string, unknown>[]> {
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      await connection.run(sql);
      const rows: Record<string, unknown>[] = [];
      for (const query of queries) rows.push((await connection.runAndReadAll(query)).getRowObjectsJson()[0] ?? {});
      return rows;
    } finally {
      connection.closeSync();
    }
  }

  it.each([[true], [false]])('gives the right counts and types when run as-is on a file:// destination (--user-pool-id: %s)', async (onePool) => {
    const destination = pathToFileURL(join(scratch, 'out')).href;
    const ddl = await runCli(['ddl', '--dialect', 'duckdb', '--destination', destination, ...(onePool ? ['--user-pool-id', poolId] : [])], env());
    expect(ddl.code, ddl.stderr).toBe(0);
    const [first, second] = runs.map((run) => run.manifest);
    const count = (table: string) => `SELECT count(*)::INTEGER AS n FROM cognito.${table}`;
    const tables = ['users', 'groups', 'group_memberships', 'user_changes', 'group_changes', 'group_membership_changes', 'users_all', 'group_memberships_all'];
    const counts = (await inDuckDb(ddl.stdout, tables.map(count))).map((row) => row.n);
    const records = (table: string) => second?.tables[table]?.record_count ?? 0;
    expect(counts).toEqual([
      records('users'),
      records('groups'),
      records('group_memberships'),
      records('user_changes'),
      records('group_changes'),
      records('group_membership_changes'),
      records('users') + (first?.tables.users?.record_count ?? 0),
      records('group_memberships') + (first?.tables.group_memberships?.record_count ?? 0),
    ]);
    expect(records('user_changes')).toBe(2);
    const [types, latest, inserted] = await inDuckDb(ddl.stdout, [
      "SELECT string_agg(column_name || ' ' || column_type, ', ' ORDER BY column_name) AS t FROM (DESCRIBE cognito.users) WHERE column_name IN ('enabled', 'created_at', 'attributes', 'mfa_options', 'run', 'user_pool_id')",
      'SELECT DISTINCT run, user_pool_id FROM cognito.users',
      "SELECT username, op, attributes['email'] AS email FROM cognito.user_changes WHERE op = 'insert'",
    ]);
    expect(types?.t).toBe('attributes MAP(VARCHAR, VARCHAR), created_at TIMESTAMP, enabled BOOLEAN, mfa_options STRUCT(delivery_medium VARCHAR, attribute_name VARCHAR)[], run VARCHAR, user_pool_id VARCHAR');
    expect(latest).toEqual({ run: second?.snapshot_id, user_pool_id: poolId });
    expect(inserted).toEqual({ username: 'between-runs', op: 'insert', email: 'b@example.com' });
  });

  it("--merge-into: applying the second run's change tables to a copy of the first snapshot gives the second snapshot exactly", async () => {
    const destination = pathToFileURL(join(scratch, 'out')).href;
    const views = await runCli(['ddl', '--dialect', 'duckdb', '--destination', destination], env());
    const merges = await runCli(['ddl', '--dialect', 'duckdb', '--destination', destination, '--merge-into', 'warehouse'], env());
    expect(merges.code, merges.stderr).toBe(0);
    const [first, second] = runs.map((run) => run.manifest.snapshot_id);
    const copy = ['users', 'groups', 'group_memberships'].map((table) => `CREATE TABLE warehouse.${table} AS SELECT * FROM cognito.${table}_all WHERE run = '${first}';`).join('\n');
    // What a snapshot holds, without the columns that say which run wrote a row.
    const differs = (table: string) =>
      `SELECT count(*)::INTEGER AS n FROM ((SELECT * EXCLUDE (snapshot_id, dt, run) FROM warehouse.${table} EXCEPT ALL SELECT * EXCLUDE (snapshot_id, dt, run) FROM cognito.${table}_all WHERE run = '${second}')
        UNION ALL (SELECT * EXCLUDE (snapshot_id, dt, run) FROM cognito.${table}_all WHERE run = '${second}' EXCEPT ALL SELECT * EXCLUDE (snapshot_id, dt, run) FROM warehouse.${table}))`;
    const script = `${views.stdout}\nCREATE SCHEMA warehouse;\n${copy}\n`;
    const before = await inDuckDb(script, ['users', 'groups', 'group_memberships'].map(differs));
    // The user who joined and the one who left, and their memberships.
    expect(before.map((row) => row.n)[0]).toBe(2);
    expect(before.map((row) => row.n)[2]).toBeGreaterThanOrEqual(2);
    const after = await inDuckDb(`${script}SET VARIABLE cognito_run = '${second}';\n${merges.stdout}`, ['users', 'groups', 'group_memberships'].map(differs));
    expect(after.map((row) => row.n)).toEqual([0, 0, 0]);
  });

  it('--dialect dbt: a sources file whose every column exists in the views with its type, and whose every test holds on the data', async () => {
    const destination = pathToFileURL(join(scratch, 'out')).href;
    const views = await runCli(['ddl', '--dialect', 'duckdb', '--destination', destination], env());
    const dbt = await runCli(['ddl', '--dialect', 'dbt', '--destination', destination], env());
    expect(dbt.code, dbt.stderr).toBe(0);
    type Test = string | { relationships?: { to: string; field: string }; accepted_values?: { values: string[] } };
    const file = parseYaml(dbt.stdout) as { sources: { schema: string; tables: { name: string; columns: { name: string; data_type: string; data_tests?: Test[] }[] }[] }[] };
    const source = file.sources[0];
    expect(source?.tables.map((table) => table.name)).toEqual(['users', 'groups', 'group_memberships', 'user_changes', 'group_changes', 'group_membership_changes']);
    const queries: string[] = [];
    const expected: unknown[] = [];
    for (const table of source?.tables ?? []) {
      const view = `cognito.${table.name}`;
      // The columns and types, as DuckDB describes the view.
      queries.push(`SELECT string_agg(lower(column_name || ' ' || column_type), ', ' ORDER BY column_name) AS v FROM (DESCRIBE ${view})`);
      expected.push({ v: table.columns.map((column) => `${column.name} ${column.data_type}`).sort().join(', ') });
      for (const column of table.columns) {
        for (const test of column.data_tests ?? []) {
          // What dbt runs for each test: the rows that fail it, which must be none.
          const failing =
            test === 'not_null'
              ? `SELECT * FROM ${view} WHERE ${column.name} IS NULL`
              : test === 'unique'
                ? `SELECT ${column.name} FROM ${view} GROUP BY 1 HAVING count(*) > 1`
                : typeof test === 'object' && test.relationships
                  ? `SELECT * FROM ${view} c WHERE c.${column.name} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cognito.${/'([a-z_]+)'\)$/.exec(test.relationships.to)?.[1] ?? ''} p WHERE p.${test.relationships.field} = c.${column.name})`
                  : `SELECT * FROM ${view} WHERE ${column.name} NOT IN (${(typeof test === 'object' ? (test.accepted_values?.values ?? []) : []).map((value) => `'${value}'`).join(', ')})`;
          queries.push(`SELECT count(*)::INTEGER AS failing FROM (${failing})`);
          expected.push({ failing: 0 });
        }
      }
    }
    expect(queries.length).toBeGreaterThan(source?.tables.length ?? 0);
    expect(await inDuckDb(views.stdout, queries)).toEqual(expected);
  });

  it('on S3, reads through httpfs with the AWS credential chain, and an S3-compatible endpoint with path-style URLs', async () => {
    const ddl = await runCli(['ddl', '--dialect', 'duckdb', '--destination', `s3://${s3.bucket}/catalog`], env());
    expect(ddl.code, ddl.stderr).toBe(0);
    expect(ddl.stdout).toContain(
      `INSTALL httpfs;\nLOAD httpfs;\nCREATE SECRET IF NOT EXISTS cognito_export_s3 (TYPE s3, PROVIDER credential_chain, ENDPOINT '${new URL(s3.endpoint).host}', URL_STYLE 'path', USE_SSL false);`,
    );
    expect(ddl.stdout).toContain(`read_json('s3://${s3.bucket}/catalog/users/*/dt=*/run=*/*.ndjson*'`);
  });

  it('refuses a dialect it does not write yet, a bad pool id or schema, in one line, exit code 2', async () => {
    const destination = pathToFileURL(join(scratch, 'out')).href;
    const cases: [string[], RegExp][] = [
      [['--dialect', 'athena'], /--dialect "athena" is not supported: expected duckdb/],
      [['--dialect', 'duckdb', '--user-pool-id', 'x'], /"x" is not a user pool id/],
      [['--dialect', 'duckdb', '--schema', 'a;b'], /--schema "a;b" is not a plain SQL name/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(['ddl', '--destination', destination, ...args], env());
      expect(result.code).toBe(2);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
  });
});
