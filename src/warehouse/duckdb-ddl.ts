import type { ColumnType } from './table-columns.js';
import { PARTITION_KEYS, SNAPSHOT_TABLES } from './table-columns.js';
import { CHANGE_TABLES, columnsOf, formatsOf, headerLine, mergeStatements, type DataFormat, type WarehouseDdlInput } from './ddl-input.js';
import { TABLES } from '../storage/output-layout.js';

/** What the DuckDB DDL is generated for: a local directory, or `s3://bucket/prefix` through httpfs. */
export type DuckDbDdlInput = WarehouseDdlInput;

/** Each logical column type as DuckDB spells it. */
export const DUCKDB_TYPES: Readonly<Record<ColumnType, string>> = {
  string: 'VARCHAR',
  boolean: 'BOOLEAN',
  int: 'INTEGER',
  date: 'DATE',
  timestamp: 'TIMESTAMP',
  string_map: 'MAP(VARCHAR, VARCHAR)',
  string_list: 'VARCHAR[]',
  mfa_options: 'STRUCT(delivery_medium VARCHAR, attribute_name VARCHAR)[]',
};

const quote = (text: string): string => `'${text.replaceAll("'", "''")}'`;
const ident = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** `hive_types`: the partition keys' types (`dt` a DATE), whatever the format. */
const HIVE_TYPES = `{${PARTITION_KEYS.map((key) => `${quote(key.name)}: ${DUCKDB_TYPES[key.type]}`).join(', ')}}`;

/**
 * A SELECT of one format's files of `table` under `glob`'s folders, with the columns and types of
 * the NDJSON reader: the record's columns, then `dt`, `run`, `user_pool_id`. Parquet keeps its own
 * types, so each column is cast; its timestamps are UTC-adjusted (TIMESTAMPTZ in DuckDB), read at
 * UTC whatever the session's TimeZone. DuckDB reads `user_pool_id` from the file and the path as one
 * column (they are equal).
 */
function reader(table: string, folders: string, format: DataFormat): string {
  const columns = columnsOf(table);
  if (format === 'ndjson') {
    const spec = columns.map((column) => `${quote(column.name)}: ${quote(DUCKDB_TYPES[column.type])}`).join(', ');
    return `SELECT * FROM read_json(${quote(`${folders}/*.ndjson*`)}, format = 'newline_delimited', hive_partitioning = true, hive_types = ${HIVE_TYPES}, columns = {${spec}})`;
  }
  const typed = columns.map((column) =>
    column.type === 'timestamp'
      ? `CAST(${ident(column.name)} AT TIME ZONE 'UTC' AS TIMESTAMP) AS ${ident(column.name)}`
      : `CAST(${ident(column.name)} AS ${DUCKDB_TYPES[column.type]}) AS ${ident(column.name)}`,
  );
  return `SELECT ${[...typed, 'dt', 'run', 'user_pool_id'].join(', ')} FROM read_parquet(${quote(`${folders}/*.parquet`)}, hive_partitioning = true, hive_types = ${HIVE_TYPES})`;
}

/**
 * SQL for DuckDB, to run as-is: per table a view of every published run (`<schema>.<table>_all`,
 * with `user_pool_id`, `dt` and `run` from the path), the latest snapshot of each pool
 * (`<schema>.users`, `…groups`, `…group_memberships`: the runs the pools' `latest.json` name) and the
 * change tables of every run (`<schema>.user_changes`, …). NDJSON and Parquet files give the same
 * columns and types (timestamps TIMESTAMP in UTC, attributes a MAP); a table whose folder holds both
 * (a pool switched format) reads both, UNION ALL BY NAME. A table with no file yet gets an empty view
 * of the same columns. Pure.
 */
export function duckDbDdl(input: DuckDbDdlInput): string {
  const root = input.root.replace(/\/+$/, '');
  const pool = input.userPoolId ? `user_pool_id=${input.userPoolId}` : '*';
  const lines: string[] = [headerLine('duckdb', input, 'views'), '-- Run it again after a run writes a table that had no file yet (its view is empty until then).'];
  const name = (view: string): string => `${ident(input.schema)}.${ident(view)}`;
  if (root.startsWith('s3://')) {
    const endpoint = input.s3Endpoint ? new URL(input.s3Endpoint) : undefined;
    const options = endpoint ? `, ENDPOINT ${quote(endpoint.host)}, URL_STYLE 'path', USE_SSL ${endpoint.protocol === 'https:' ? 'true' : 'false'}` : '';
    lines.push('INSTALL httpfs;', 'LOAD httpfs;', `CREATE SECRET IF NOT EXISTS cognito_export_s3 (TYPE s3, PROVIDER credential_chain${options});`);
  }
  lines.push(`CREATE SCHEMA IF NOT EXISTS ${ident(input.schema)};`);
  for (const table of TABLES) {
    const columns = columnsOf(table);
    const all = name(`${table}_all`);
    if (input.tablesWithFiles.has(table)) {
      const readers = formatsOf(input, table).map((format) => reader(table, `${root}/${table}/${pool}/dt=*/run=*`, format));
      if (readers.length > 1) lines.push(`-- ${table}: files of both formats (the pool switched format): both are read`);
      lines.push(`CREATE OR REPLACE VIEW ${all} AS ${readers.join(' UNION ALL BY NAME ')};`);
    } else {
      const typed = [...columns.map((column) => `CAST(NULL AS ${DUCKDB_TYPES[column.type]}) AS ${ident(column.name)}`), ...PARTITION_KEYS.map((key) => `CAST(NULL AS ${DUCKDB_TYPES[key.type]}) AS ${key.name}`)];
      lines.push(`-- ${table}: no file at ${root} yet`, `CREATE OR REPLACE VIEW ${all} AS SELECT ${typed.join(', ')} WHERE false;`);
    }
  }
  const latest = `SELECT user_pool_id, snapshot_id FROM read_json(${quote(`${root}/manifests/${pool}/latest.json`)}, columns = {'user_pool_id': 'VARCHAR', 'snapshot_id': 'VARCHAR'})`;
  for (const table of SNAPSHOT_TABLES) {
    const all = name(`${table}_all`);
    lines.push(`-- ${table}: the latest complete snapshot of each pool, as its latest.json names it`);
    lines.push(
      input.hasLatest
        ? `CREATE OR REPLACE VIEW ${name(table)} AS SELECT t.* FROM ${all} t JOIN (${latest}) l ON t.user_pool_id = l.user_pool_id AND t.run = l.snapshot_id;`
        : `CREATE OR REPLACE VIEW ${name(table)} AS SELECT * FROM ${all} WHERE false; -- no latest.json yet`,
    );
  }
  for (const table of CHANGE_TABLES) lines.push(`CREATE OR REPLACE VIEW ${name(table)} AS SELECT * FROM ${name(`${table}_all`)};`);
  return `${lines.join('\n')}\n`;
}

/**
 * DuckDB `MERGE` statements that apply one run's change tables (the run in the session variable
 * `cognito_run`) to tables of the target schema holding the previous snapshot, made once from the
 * views of {@link duckDbDdl}: after them, each target table holds exactly that run's snapshot.
 * Rows match on their key within the pool; updates carry every column; an insert of a key the
 * target has, or an update or delete of one it has not, cannot happen when runs are applied in
 * order. Pure.
 */
export function duckDbMerge(schema: string, target: string): string {
  const lines = [
    `-- cognito-export ddl --dialect duckdb --merge-into ${target}: apply one run's change tables to ${target}.users, ${target}.groups and ${target}.group_memberships.`,
    `-- Once, from a snapshot (the views of ddl without --merge-into): CREATE SCHEMA ${target}; CREATE TABLE ${target}.users AS SELECT * FROM ${schema}.users; (and groups, group_memberships)`,
    `-- Then for each later run, in commit order: SET VARIABLE cognito_run = '<snapshot_id>'; and run these.`,
    ...mergeStatements({
      ident,
      target: (table) => `${ident(target)}.${ident(table)}`,
      source: (changes) => `(SELECT * FROM ${ident(schema)}.${ident(changes)} WHERE run = getvariable('cognito_run'))`,
    }),
  ];
  return `${lines.join('\n')}\n`;
}
