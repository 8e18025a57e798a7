import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AdminAddUserToGroupCommand, AdminDisableUserCommand, AdminRemoveUserFromGroupCommand, AdminUpdateUserAttributesCommand, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { Manifest } from '../../src/storage/manifest.js';
import { TABLES } from '../../src/storage/output-layout.js';
import type { RunStatus } from '../../src/runs/run-store.js';
import { applyChanges } from '../support/change-apply.js';
import { EMULATOR_CREDENTIALS, readManifest, readManifestRecords, readObject, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { eventually, spawnCli, type CliProcess } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
let scratch: string;
let cognito: CognitoIdentityProviderClient;
const harnesses: ExportHarness[] = [];
const children: CliProcess[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
  scratch = await mkdtemp(join(tmpdir(), 'ce-parquet-'));
  cognito = new CognitoIdentityProviderClient({ endpoint: emulator.url, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });
});

afterEach(async () => {
  emulator.setFaults({ latencyMs: 0 });
  for (const child of children.splice(0)) child.child.kill('SIGKILL');
  for (const harness of harnesses.splice(0)) await harness.close();
});

afterAll(async () => {
  cognito.destroy();
  await emulator.stop();
  await s3.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function harness(worker = true): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, s3, worker });
  harnesses.push(h);
  return h;
}

const fileDestination = (name: string): string => pathToFileURL(join(scratch, name)).href;

async function completed(status: RunStatus): Promise<Manifest> {
  expect(status.error).toBeUndefined();
  expect(status.state).toBe('completed');
  return readManifest(status.manifestUrl ?? '', s3);
}

/** A table's records without `snapshot_id` (which differs between two runs of the same pool), as sorted NDJSON lines. */
async function tableLines(manifest: Manifest, table: string): Promise<string[]> {
  const records = await readManifestRecords<Record<string, unknown>>(manifest, s3, table);
  return records.map(({ snapshot_id: _, ...rest }) => JSON.stringify(rest)).sort();
}

/** Runs `queries` in DuckDB and returns each first row. */
async function duck(queries: readonly string[]): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  try {
    const rows: Record<string, unknown>[] = [];
    for (const query of queries) rows.push(...(await connection.runAndReadAll(query)).getRowObjectsJson());
    return rows;
  } finally {
    connection.closeSync();
    db.closeSync();
  }
}

const sql = (text: string): string => `'${text.replaceAll("'", "''")}'`;
const fileList = (manifest: Manifest, table: string): string => `[${(manifest.tables[table]?.files ?? []).map((file) => sql(fileURLToPath(file.url))).join(', ')}]`;

describe('Parquet output', () => {
  it('holds the same rows as NDJSON in every table, to S3 and to a directory, and DuckDB reads it with the documented types', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 900, seed: 2101, groups: 6 });
    // Unicode, an empty attribute map, a disabled user.
    emulator.addUser(poolId, { username: 'zoë-日本', attributes: { email: 'zoe@example.com', name: 'Zoë "Z" \\ Ümlaut' } });
    emulator.addUser(poolId, { username: 'bare', attributes: {} });
    await cognito.send(new AdminDisableUserCommand({ UserPoolId: poolId, Username: 'bare' }));
    const ndjson = await completed(await h.run({ userPoolId: poolId, destination: fileDestination('ndjson'), changes: false }));
    const local = await completed(await h.run({ userPoolId: poolId, destination: fileDestination('parquet'), format: 'parquet', fileMaxRecords: 250, changes: false }));
    const remote = await completed(await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/parquet`, format: 'parquet', changes: false }));
    expect(ndjson).toMatchObject({ format: 'ndjson', compression: 'gzip' });
    for (const manifest of [local, remote]) {
      expect(manifest).toMatchObject({ format: 'parquet', compression: 'snappy' });
      for (const table of ['users', 'groups', 'group_memberships']) {
        for (const file of manifest.tables[table]?.files ?? []) expect(file.url).toMatch(/\/part-[0-9a-z]+-\d{5}\.parquet$/);
        expect(await tableLines(manifest, table), table).toEqual(await tableLines(ndjson, table));
      }
    }
    expect(local.tables.users?.files.length).toBeGreaterThan(1);
    expect(local.record_count).toBe(902);
    // DuckDB's own Parquet reader, on the published files.
    const [types, counts] = await Promise.all([
      duck([`DESCRIBE SELECT * FROM read_parquet(${fileList(local, 'users')})`]),
      duck([
        `SELECT count(*) AS users, count(DISTINCT sub) AS subs, count(*) FILTER (WHERE NOT enabled) AS disabled, max(attributes['name']) FILTER (WHERE username = 'zoë-日本') AS name FROM read_parquet(${fileList(local, 'users')})`,
        `SELECT count(*) AS groups, count(precedence) AS with_precedence FROM read_parquet(${fileList(local, 'groups')})`,
        `SELECT count(*) AS memberships FROM read_parquet(${fileList(local, 'group_memberships')})`,
      ]),
    ]);
    expect(Object.fromEntries(types.map((row) => [row.column_name, row.column_type]))).toMatchObject({
      enabled: 'BOOLEAN',
      created_at: 'TIMESTAMP WITH TIME ZONE',
      last_modified_at: 'TIMESTAMP WITH TIME ZONE',
      attributes: 'MAP(VARCHAR, VARCHAR)',
      mfa_options: 'STRUCT(delivery_medium VARCHAR, attribute_name VARCHAR)[]',
    });
    const groupTypes = await duck([`DESCRIBE SELECT * FROM read_parquet(${fileList(local, 'groups')})`]);
    expect(groupTypes.find((row) => row.column_name === 'precedence')?.column_type).toBe('INTEGER');
    expect(counts[0]).toEqual({ users: '902', subs: '902', disabled: String((await tableLines(ndjson, 'users')).filter((line) => line.includes('"enabled":false')).length), name: 'Zoë "Z" \\ Ümlaut' });
    expect(counts[1]?.groups).toBe(String(ndjson.tables.groups?.record_count));
    expect(counts[2]?.memberships).toBe(String(ndjson.tables.group_memberships?.record_count));
    // The S3 copy is the same bytes' worth of rows: read back through a local copy by DuckDB too.
    const first = remote.tables.users?.files[0];
    const copy = join(scratch, 'remote-users.parquet');
    await writeFile(copy, await readObject(first?.url ?? '', s3));
    expect((await duck([`SELECT count(*) AS n FROM read_parquet(${sql(copy)})`]))[0]?.n).toBe(String(first?.records));
  });

  it('writes exact change tables in Parquet, after a Parquet snapshot and after an NDJSON one', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 700, seed: 2102, groups: 5 });
    const dest = fileDestination('changes');
    const ndjsonFirst = await completed(await h.run({ userPoolId: poolId, destination: dest }));
    // The format changed between two runs: every unchanged record compares equal across formats.
    const parquetAfterNdjson = await completed(await h.run({ userPoolId: poolId, destination: dest, format: 'parquet' }));
    for (const table of ['user_changes', 'group_changes', 'group_membership_changes']) {
      expect(parquetAfterNdjson.tables[table], table).toEqual({ record_count: 0, counts: { insert: 0, update: 0, delete: 0 }, files: [] });
    }
    expect(parquetAfterNdjson.changes_since).toBe(ndjsonFirst.snapshot_id);
    for (const result of await applyChanges(ndjsonFirst, parquetAfterNdjson)) expect(result, result.table).toMatchObject({ differences: 0, applied: result.current });
    const users = emulator.listAllUsers(poolId);
    const groups = emulator.listAllGroups(poolId).map((group) => group.GroupName ?? '');
    for (const user of users.slice(0, 20)) emulator.deleteUser(poolId, user.Username ?? '');
    for (let i = 0; i < 25; i++) emulator.addUser(poolId, { username: `new-${i}`, attributes: { email: `new-${i}@example.com`, 'custom:tenant': 'ünï' } });
    for (const user of users.slice(20, 35)) {
      await cognito.send(new AdminUpdateUserAttributesCommand({ UserPoolId: poolId, Username: user.Username, UserAttributes: [{ Name: 'email', Value: `changed-${user.Username ?? ''}@example.com` }] }));
    }
    await cognito.send(new AdminDisableUserCommand({ UserPoolId: poolId, Username: users[40]?.Username }));
    await cognito.send(new AdminAddUserToGroupCommand({ UserPoolId: poolId, Username: users[41]?.Username, GroupName: groups[0] }));
    const member = emulator.listAllMembers(poolId, groups[1] ?? '').find((user) => !users.slice(0, 20).some((gone) => gone.Username === user.Username));
    await cognito.send(new AdminRemoveUserFromGroupCommand({ UserPoolId: poolId, Username: member?.Username, GroupName: groups[1] }));
    const parquetSecond = await completed(await h.run({ userPoolId: poolId, destination: dest, format: 'parquet' }));
    expect(parquetSecond.format).toBe('parquet');
    expect(parquetSecond.changes_since).toBe(parquetAfterNdjson.snapshot_id);
    for (const result of await applyChanges(parquetAfterNdjson, parquetSecond)) {
      expect(result, result.table).toMatchObject({ differences: 0, applied: result.current });
    }
    expect(parquetSecond.tables.user_changes?.counts).toEqual({ insert: 25, update: 16, delete: 20 });
    for (const file of parquetSecond.tables.user_changes?.files ?? []) expect(file.url).toMatch(/\.parquet$/);
    const changeTypes = await duck([`DESCRIBE SELECT * FROM read_parquet(${fileList(parquetSecond, 'user_changes')})`]);
    expect(Object.fromEntries(changeTypes.map((row) => [row.column_name, row.column_type]))).toMatchObject({ op: 'VARCHAR', from_snapshot_id: 'VARCHAR', changed_fields: 'VARCHAR[]' });
    const updates = await duck([`SELECT count(*) AS n, max(len(changed_fields)) AS fields FROM read_parquet(${fileList(parquetSecond, 'user_changes')}) WHERE op = 'update'`]);
    expect(updates[0]).toMatchObject({ n: '16' });
  });
});

describe('Parquet output, crash', () => {
  it('a worker killed (-9) mid-file: the next one resumes and every user is in the snapshot exactly once', async () => {
    const h = await harness(false);
    const poolId = emulator.createPoolWithUsers({ users: 12_000, seed: 2103, groups: 2 });
    emulator.setFaults({ latencyMs: 15 });
    const worker = (): CliProcess => {
      const child = spawnCli(['worker'], { ...h.childEnv, WORKER_LOCK_DURATION_MS: '2000', LOG_LEVEL: 'info' });
      children.push(child);
      return child;
    };
    const victim = worker();
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/parquet-crash`, format: 'parquet', shards: 16, fileMaxRecords: 300 });
    await eventually(async () => {
      const users = (await h.runtime.runs.status(snapshotId))?.tables.users;
      return users && users.durable >= 1500 && users.records > users.durable ? true : undefined;
    }, 90_000, 'the users walk to be mid-file', 10);
    victim.child.kill('SIGKILL');
    await victim.exited();
    emulator.setFaults({ latencyMs: 0 });
    worker();
    const manifest = await completed(await h.wait(snapshotId, 120_000));
    const records = await readManifestRecords<{ sub: string; username: string }>(manifest, s3);
    const expected = emulator.listAllUsers(poolId).map((user) => user.Username ?? '').sort();
    expect(records.map((record) => record.username).sort()).toEqual(expected);
    expect(new Set(records.map((record) => record.sub)).size).toBe(records.length);
    expect(manifest.record_count).toBe(12_000);
    // Every published file is a whole Parquet file (readManifestRecords checked size, sha256 and rows of each).
    expect(new Set(TABLES.filter((table) => manifest.tables[table]?.files.some((file) => file.url.endsWith('.parquet'))))).toEqual(new Set(['users', 'groups', 'group_memberships']));
  }, 240_000);
});
