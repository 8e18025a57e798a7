import type { ColumnType } from './table-columns.js';
import { PARTITION_KEYS, SNAPSHOT_TABLES, TABLE_COLUMNS } from './table-columns.js';
import { TABLES } from '../storage/output-layout.js';

/** What the DuckDB DDL is generated for. */
export interface DuckDbDdlInput {
  /** The destination's root as DuckDB reads it: a local directory, or `s3://bucket/prefix`. */
  readonly root: string;
  /** Only this pool's folders (and its latest snapshot); undefined: every pool at the destination. */
  readonly userPoolId?: string | undefined;
  /** Tables with at least one data file (a view over a glob matching nothing fails to bind). */
  readonly tablesWithFiles: ReadonlySet<string>;
  /** Whether a pointer (`latest.json`) exists: the latest-snapshot views read them. */
  readonly hasLatest: boolean;
  /** The schema the views are created in, e.g. `cognito` (`SELECT count(*) FROM cognito.users`). */
  readonly schema: string;
  /** An S3-compatible endpoint (AWS_ENDPOINT_URL_S3), for DuckDB's secret: path-style URLs there. */
  readonly s3Endpoint?: string | undefined;
  /** For the header comment. */
  readonly generatedAt: Date;
}

const DUCKDB_TYPES: Readonly<Record<ColumnType, string>> = {
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

/**
 * SQL for DuckDB over an NDJSON destination, to run as-is: per table a view of every published run
 * (`<schema>.<table>_all`, with `user_pool_id`, `dt` and `run` from the path), the latest snapshot of
 * each pool (`<schema>.users`, `…groups`, `…group_memberships`: the runs the pools' `latest.json`
 * name) and the change tables of every run (`<schema>.user_changes`, …). Timestamps are TIMESTAMP
 * (UTC), attributes a MAP. A table with no file yet gets an empty view of the same columns. Pure.
 */
export function duckDbDdl(input: DuckDbDdlInput): string {
  const root = input.root.replace(/\/+$/, '');
  const pool = input.userPoolId ? `user_pool_id=${input.userPoolId}` : '*';
  const lines: string[] = [
    `-- cognito-export ddl --dialect duckdb: views over ${root}${input.userPoolId ? ` for pool ${input.userPoolId}` : ''} (NDJSON), generated ${input.generatedAt.toISOString()}`,
    '-- Run it again after a run writes a table that had no file yet (its view is empty until then).',
  ];
  const name = (view: string): string => `${ident(input.schema)}.${ident(view)}`;
  if (root.startsWith('s3://')) {
    const endpoint = input.s3Endpoint ? new URL(input.s3Endpoint) : undefined;
    const options = endpoint ? `, ENDPOINT ${quote(endpoint.host)}, URL_STYLE 'path', USE_SSL ${endpoint.protocol === 'https:' ? 'true' : 'false'}` : '';
    lines.push('INSTALL httpfs;', 'LOAD httpfs;', `CREATE SECRET IF NOT EXISTS cognito_export_s3 (TYPE s3, PROVIDER credential_chain${options});`);
  }
  lines.push(`CREATE SCHEMA IF NOT EXISTS ${ident(input.schema)};`);
  for (const table of TABLES) {
    const columns = TABLE_COLUMNS[table] ?? [];
    const all = name(`${table}_all`);
    if (input.tablesWithFiles.has(table)) {
      const spec = columns.map((column) => `${quote(column.name)}: ${quote(DUCKDB_TYPES[column.type])}`).join(', ');
      const hive = PARTITION_KEYS.map((key) => `${quote(key.name)}: ${DUCKDB_TYPES[key.type]}`).join(', ');
      lines.push(
        `CREATE OR REPLACE VIEW ${all} AS SELECT * FROM read_json(${quote(`${root}/${table}/${pool}/dt=*/run=*/*.ndjson*`)}, format = 'newline_delimited', hive_partitioning = true, hive_types = {${hive}}, columns = {${spec}});`,
      );
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
  for (const table of TABLES.filter((name) => !(SNAPSHOT_TABLES as readonly string[]).includes(name))) {
    lines.push(`CREATE OR REPLACE VIEW ${name(table)} AS SELECT * FROM ${name(`${table}_all`)};`);
  }
  return `${lines.join('\n')}\n`;
}

/** A snapshot table, the change table that applies to it, and its key. */
const MERGES = [
  { table: 'users', changes: 'user_changes', key: ['sub'], updates: true },
  { table: 'groups', changes: 'group_changes', key: ['group_name'], updates: true },
  { table: 'group_memberships', changes: 'group_membership_changes', key: ['group_name', 'sub'], updates: false },
] as const;

/**
 * DuckDB `MERGE` statements that apply one run's change tables (the run in the session variable
 * `cognito_run`) to tables of the target schema holding the previous snapshot, made once from the
 * views of {@link duckDbDdl}: after them, each target table holds exactly that run's snapshot.
 * Updates carry every column; an insert of a key the target has, or an update or delete of one it
 * has not, cannot happen when runs are applied in order. Pure.
 */
export function duckDbMerge(schema: string, target: string): string {
  const lines = [
    `-- cognito-export ddl --dialect duckdb --merge-into ${target}: apply one run's change tables to ${target}.users, ${target}.groups and ${target}.group_memberships.`,
    `-- Once, from a snapshot (the views of ddl without --merge-into): CREATE SCHEMA ${target}; CREATE TABLE ${target}.users AS SELECT * FROM ${schema}.users; (and groups, group_memberships)`,
    `-- Then for each later run, in commit order: SET VARIABLE cognito_run = '<snapshot_id>'; and run these.`,
  ];
  for (const { table, changes, key, updates } of MERGES) {
    const columns = ['user_pool_id', ...(TABLE_COLUMNS[table] ?? []).map((column) => column.name), 'dt', 'run'];
    const on = key.map((column) => `t.${ident(column)} = c.${ident(column)}`).join(' AND ');
    const set = columns.filter((column) => !(key as readonly string[]).includes(column)).map((column) => `${ident(column)} = c.${ident(column)}`).join(', ');
    lines.push(
      `MERGE INTO ${ident(target)}.${ident(table)} t`,
      `USING (SELECT * FROM ${ident(schema)}.${ident(changes)} WHERE run = getvariable('cognito_run')) c`,
      `ON ${on}`,
      `WHEN MATCHED AND c.op = 'delete' THEN DELETE`,
      ...(updates ? [`WHEN MATCHED AND c.op = 'update' THEN UPDATE SET ${set}`] : []),
      `WHEN NOT MATCHED AND c.op = 'insert' THEN INSERT (${columns.map(ident).join(', ')}) VALUES (${columns.map((column) => `c.${ident(column)}`).join(', ')});`,
    );
  }
  return `${lines.join('\n')}\n`;
}
