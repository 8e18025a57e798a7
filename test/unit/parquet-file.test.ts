import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNdjson } from '../../src/walk/ndjson.js';
import { ParquetEncoder, parquetRecords } from '../../src/storage/parquet-file.js';
import { TABLE_COLUMNS } from '../../src/storage/table-columns.js';

const user = (n: number, extra: Partial<Record<string, unknown>> = {}): Record<string, unknown> => ({
  user_pool_id: 'eu-west-1_Parq',
  snapshot_id: '20261207T120000Z-abc',
  username: `user-${n}-ñ-日本`,
  sub: `${n.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`,
  enabled: n % 3 !== 0,
  status: n % 2 === 0 ? 'CONFIRMED' : 'UNCONFIRMED',
  created_at: new Date(Date.UTC(2020, 0, 1) + n * 1001).toISOString(),
  last_modified_at: n % 5 === 0 ? null : new Date(Date.UTC(2024, 5, 1) + n).toISOString(),
  attributes: n % 4 === 0 ? {} : { email: `u${n}@example.com`, 'custom:tenant': `t"${n}\n`, email_verified: 'true' },
  mfa_options: n % 7 === 0 ? [{ delivery_medium: 'SMS', attribute_name: 'phone_number' }, { delivery_medium: null, attribute_name: 'x' }] : [],
  ...extra,
});

async function encode(table: string, records: readonly object[], rowGroupRows: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const encoder = new ParquetEncoder(TABLE_COLUMNS[table] ?? [], (bytes) => void chunks.push(bytes), rowGroupRows);
  // In several adds, as a walk appends page by page.
  for (let i = 0; i < records.length; i += 37) await encoder.add(records.slice(i, i + 37));
  await encoder.finish();
  return Buffer.concat(chunks);
}

async function readAll(bytes: Uint8Array, table: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const record of parquetRecords(bytes, TABLE_COLUMNS[table] ?? [])) out.push(record);
  return out;
}

describe('Parquet data files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parquet-file-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads back every user as its NDJSON line, byte for byte, across row groups', async () => {
    const users = Array.from({ length: 250 }, (_, n) => user(n));
    const bytes = await encode('users', users, 100);
    const back = await readAll(bytes, 'users');
    expect(encodeNdjson(back)).toBe(encodeNdjson(users));
  });

  it('keeps nulls apart from empty lists and maps, and change tables\' own columns', async () => {
    const changes = [
      { ...user(1), op: 'insert', from_snapshot_id: 'prev', changed_fields: null },
      { ...user(2), op: 'update', from_snapshot_id: 'prev', changed_fields: ['attributes', 'enabled'] },
      { ...user(3, { sub: null, status: null, created_at: null }), op: 'delete', from_snapshot_id: 'prev', changed_fields: [] },
    ];
    const back = await readAll(await encode('user_changes', changes, 2), 'user_changes');
    expect(encodeNdjson(back)).toBe(encodeNdjson(changes));
    const groups = [
      { user_pool_id: 'p', snapshot_id: 's', group_name: 'admins', description: null, role_arn: 'arn:aws:iam::1:role/x', precedence: 0, created_at: '2026-01-01T00:00:00.000Z', last_modified_at: null },
      { user_pool_id: 'p', snapshot_id: 's', group_name: 'ops', description: 'Ops team', role_arn: null, precedence: null, created_at: null, last_modified_at: '2026-01-01T00:00:00.001Z' },
    ];
    expect(encodeNdjson(await readAll(await encode('groups', groups, 10), 'groups'))).toBe(encodeNdjson(groups));
  });

  it('writes the column types warehouses expect, read by DuckDB\'s own Parquet reader', async () => {
    const users = Array.from({ length: 30 }, (_, n) => user(n));
    const path = join(dir, 'users.parquet');
    await writeFile(path, await encode('users', users, 8));
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      const types = (await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${path}')`)).getRowObjectsJson();
      expect(Object.fromEntries(types.map((row) => [row.column_name, row.column_type]))).toEqual({
        user_pool_id: 'VARCHAR',
        snapshot_id: 'VARCHAR',
        username: 'VARCHAR',
        sub: 'VARCHAR',
        enabled: 'BOOLEAN',
        status: 'VARCHAR',
        created_at: 'TIMESTAMP WITH TIME ZONE',
        last_modified_at: 'TIMESTAMP WITH TIME ZONE',
        attributes: 'MAP(VARCHAR, VARCHAR)',
        mfa_options: 'STRUCT(delivery_medium VARCHAR, attribute_name VARCHAR)[]',
      });
      const rows = (
        await connection.runAndReadAll(
          `SELECT count(*) AS n, count(*) FILTER (WHERE enabled) AS enabled, max(epoch_ms(created_at)) AS newest, sum(len(mfa_options)) AS options, max(attributes['custom:tenant']) AS tenant FROM read_parquet('${path}')`,
        )
      ).getRowObjectsJson()[0];
      expect(rows).toEqual({
        n: '30',
        enabled: String(users.filter((u) => u.enabled).length),
        newest: String(Math.max(...users.map((u) => Date.parse(u.created_at as string)))),
        options: '10',
        tenant: 't"9\n',
      });
    } finally {
      connection.closeSync();
      db.closeSync();
    }
  });

  it('refuses a timestamp that is not ISO 8601 rather than writing a wrong value', async () => {
    const encoder = new ParquetEncoder(TABLE_COLUMNS.users ?? [], () => undefined, 10);
    await expect(encoder.add([user(1, { created_at: 'yesterday' })]).then(() => encoder.finish())).rejects.toThrow(/not an ISO 8601 timestamp/);
  });
});
