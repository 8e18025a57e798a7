import { DuckDBInstance } from '@duckdb/node-api';
import type { Manifest } from '../../src/storage/manifest.js';

/** A table's columns (without `snapshot_id`) and its key, as a warehouse would declare them. */
interface TableShape {
  readonly columns: Readonly<Record<string, string>>;
  readonly key: readonly string[];
  readonly changes: string;
}

const SHAPES: Readonly<Record<string, TableShape>> = {
  users: {
    columns: {
      user_pool_id: 'VARCHAR',
      username: 'VARCHAR',
      sub: 'VARCHAR',
      enabled: 'BOOLEAN',
      status: 'VARCHAR',
      created_at: 'VARCHAR',
      last_modified_at: 'VARCHAR',
      attributes: 'JSON',
      mfa_options: 'JSON',
    },
    key: ['sub'],
    changes: 'user_changes',
  },
  groups: {
    columns: {
      user_pool_id: 'VARCHAR',
      group_name: 'VARCHAR',
      description: 'VARCHAR',
      role_arn: 'VARCHAR',
      precedence: 'BIGINT',
      created_at: 'VARCHAR',
      last_modified_at: 'VARCHAR',
    },
    key: ['group_name'],
    changes: 'group_changes',
  },
  group_memberships: {
    columns: { user_pool_id: 'VARCHAR', group_name: 'VARCHAR', username: 'VARCHAR', sub: 'VARCHAR' },
    key: ['group_name', 'sub'],
    changes: 'group_membership_changes',
  },
};

const pathsOf = (manifest: Manifest, table: string): string[] => (manifest.tables[table]?.files ?? []).map((file) => new URL(file.url).pathname);

/**
 * `CREATE TABLE name (...)` then the files' rows, read with fixed columns (other keys ignored).
 * Parquet files' typed values are turned into what the NDJSON lines hold (ISO timestamps, JSON
 * maps and lists), so a snapshot in one format compares with one in the other.
 */
function load(name: string, columns: Readonly<Record<string, string>>, paths: readonly string[]): string {
  const list = Object.entries(columns).map(([column, type]) => `${column} ${type}`).join(', ');
  const create = `CREATE OR REPLACE TABLE ${name} (${list});`;
  const ndjson = paths.filter((path) => !path.endsWith('.parquet'));
  const parquet = paths.filter((path) => path.endsWith('.parquet'));
  const spec = Object.entries(columns).map(([column, type]) => `'${column}': '${type}'`).join(', ');
  const asLine = Object.entries(columns).map(([column, type]) => {
    if (column.endsWith('_at')) return `strftime(${column} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS ${column}`;
    if (type === 'JSON') return `to_json(${column}) AS ${column}`;
    return column;
  });
  const reads = [
    ...(ndjson.length > 0 ? [`SELECT ${Object.keys(columns).join(', ')} FROM read_json([${ndjson.map((p) => `'${p}'`).join(', ')}], format = 'newline_delimited', columns = {${spec}})`] : []),
    ...(parquet.length > 0 ? [`SELECT ${asLine.join(', ')} FROM read_parquet([${parquet.map((p) => `'${p}'`).join(', ')}])`] : []),
  ];
  return reads.length === 0 ? create : `${create} INSERT INTO ${name} ${reads.join(' UNION ALL ')};`;
}

/** What applying one table's changes to the previous snapshot gave, against the new snapshot. */
export interface ApplyResult {
  readonly table: string;
  readonly applied: number;
  readonly current: number;
  /** Rows in one and not the other (both ways); 0 when applying the changes gives the new snapshot exactly. */
  readonly differences: number;
  readonly counts: Readonly<Record<string, number>>;
}

type Connection = Awaited<ReturnType<DuckDBInstance['connect']>>;

/**
 * The change rows of table `changes` that cannot apply to table `target` as a change table promises:
 * an op other than insert, update or delete; a key changed twice; an insert of a key `target` has;
 * an update or delete of a key it has not. A MERGE would skip each of these without a word.
 */
async function refusedChanges(connection: Connection, key: readonly string[]): Promise<string[]> {
  const same = key.map((column) => `t.${column} IS NOT DISTINCT FROM c.${column}`).join(' AND ');
  const rows = (await connection.runAndReadAll(
    `SELECT c.op, ${key.map((column) => `c.${column}`).join(', ')},
       count(*) OVER (PARTITION BY ${key.map((column) => `c.${column}`).join(', ')})::INTEGER AS changes,
       EXISTS (SELECT 1 FROM target t WHERE ${same}) AS present
     FROM changes c`,
  )).getRowObjects() as Record<string, unknown>[];
  const refused: string[] = [];
  for (const row of rows) {
    const which = `${String(row.op)} of ${JSON.stringify(key.map((column) => row[column]))}`;
    if (row.op !== 'insert' && row.op !== 'update' && row.op !== 'delete') refused.push(`${which}: not an op`);
    else if (row.changes !== 1) refused.push(`${which}: one of ${String(row.changes)} changes of that key`);
    else if (row.op === 'insert' && row.present === true) refused.push(`${which}: the key is already there`);
    else if (row.op !== 'insert' && row.present !== true) refused.push(`${which}: the key is not there`);
  }
  return refused;
}

/**
 * Applies `current`'s change tables to `previous`'s tables in DuckDB, with the MERGE a warehouse
 * would run (delete, update, insert by key), and compares the result with `current`'s tables,
 * `snapshot_id` aside. Strictly: a change row that does not fit the previous snapshot (an insert of
 * a key it has, an update or delete of a key it has not, a key changed twice, an unknown op) is an
 * error, as it is a spurious row that a MERGE would skip and the comparison could not see.
 */
export async function applyChanges(previous: Manifest, current: Manifest, tables: readonly string[] = ['users', 'groups', 'group_memberships']): Promise<ApplyResult[]> {
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  try {
    const results: ApplyResult[] = [];
    for (const table of tables) {
      const shape = SHAPES[table];
      if (!shape) throw new Error(`no shape for ${table}`);
      const changeColumns = { ...shape.columns, op: 'VARCHAR', from_snapshot_id: 'VARCHAR' };
      await connection.run(load('target', shape.columns, pathsOf(previous, table)));
      await connection.run(load('current', shape.columns, pathsOf(current, table)));
      await connection.run(load('changes', changeColumns, pathsOf(current, shape.changes)));
      const refused = await refusedChanges(connection, shape.key);
      if (refused.length > 0) {
        const rows = refused.length === 1 ? '1 change row does' : `${refused.length} change rows do`;
        throw new Error(`${shape.changes}: ${rows} not apply to the previous snapshot: ${refused.slice(0, 5).join('; ')}`);
      }
      const on = shape.key.map((column) => `target.${column} = c.${column}`).join(' AND ');
      const names = Object.keys(shape.columns);
      await connection.run(
        `MERGE INTO target USING changes AS c ON (${on})
         WHEN MATCHED AND c.op = 'delete' THEN DELETE
         WHEN MATCHED AND c.op = 'update' THEN UPDATE SET ${names.map((column) => `${column} = c.${column}`).join(', ')}
         WHEN NOT MATCHED AND c.op = 'insert' THEN INSERT (${names.join(', ')}) VALUES (${names.map((column) => `c.${column}`).join(', ')})`,
      );
      const row = async (sql: string) => (await connection.runAndReadAll(sql)).getRowObjects()[0] as Record<string, number>;
      const sizes = await row(`SELECT (SELECT count(*) FROM target)::INTEGER AS applied, (SELECT count(*) FROM current)::INTEGER AS current`);
      const diff = await row(
        `SELECT count(*)::INTEGER AS n FROM ((SELECT * FROM target EXCEPT ALL SELECT * FROM current) UNION ALL (SELECT * FROM current EXCEPT ALL SELECT * FROM target))`,
      );
      const ops = (await connection.runAndReadAll(`SELECT op, count(*)::INTEGER AS n FROM changes GROUP BY op`)).getRowObjects() as { op: string; n: number }[];
      results.push({
        table,
        applied: sizes.applied ?? 0,
        current: sizes.current ?? 0,
        differences: diff.n ?? 0,
        counts: Object.fromEntries(ops.map(({ op, n }) => [op, n])),
      });
    }
    return results;
  } finally {
    connection.closeSync();
  }
}
