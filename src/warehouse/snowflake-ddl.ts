import type { ColumnType } from './table-columns.js';
import { SNAPSHOT_TABLES } from './table-columns.js';
import { CHANGE_TABLES, columnsOf, formatsOf, headerLine, localRootProblem, mergeStatements, mixedFormatNote, s3Location, viewColumns, type DataFormat, type WarehouseDdlInput } from './ddl-input.js';
import { TABLES } from '../storage/output-layout.js';

/** Snowflake's types of the external tables' columns. Timestamps are UTC wall-clock times (TIMESTAMP_NTZ). */
const SNOWFLAKE_TYPES: Readonly<Record<ColumnType, string>> = {
  string: 'VARCHAR',
  boolean: 'BOOLEAN',
  int: 'INTEGER',
  date: 'DATE',
  timestamp: 'TIMESTAMP_NTZ(3)',
  string_map: 'OBJECT',
  string_list: 'ARRAY',
  mfa_options: 'ARRAY',
};

/** A string literal: Snowflake reads backslash escapes in single-quoted strings. */
const quote = (text: string): string => `'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
/**
 * A name, quoted in upper case: the same object as the unquoted name (`cognito.users` in a query),
 * where a quoted lower-case name would have to be quoted in every query.
 */
const ident = (name: string): string => `"${name.toUpperCase().replaceAll('"', '""')}"`;

/** The value of a record's field as a column: timestamps converted to UTC (Parquet's may come as local times). */
function fieldValue(name: string, type: ColumnType): string {
  if (type === 'timestamp') return `CONVERT_TIMEZONE('UTC', VALUE:${name}::TIMESTAMP_TZ)::TIMESTAMP_NTZ(3)`;
  return `VALUE:${name}::${SNOWFLAKE_TYPES[type]}`;
}

/** A partition key from the file's path (METADATA$FILENAME is relative to the stage, so the key is found by name). */
function pathValue(key: string): string {
  const part = `SPLIT_PART(SPLIT_PART(METADATA$FILENAME, '${key === 'user_pool_id' ? '' : '/'}${key}=', 2), '/', 1)`;
  return key === 'dt' ? `TO_DATE(${part})` : part;
}

const FILE_PATTERNS: Readonly<Record<DataFormat, string>> = { ndjson: '[.]ndjson([.]gz)?', parquet: '[.]parquet' };

/**
 * SQL for Snowflake over an `s3://` destination: a stage on the destination (its storage integration
 * is a placeholder to replace), a file format per data format (JSON; PARQUET with its logical types),
 * per table an external table `<schema>.<table>_external` partitioned by `user_pool_id`, `dt` and
 * `run` taken from METADATA$FILENAME, its columns from `VALUE:field::TYPE`, and the views of DuckDB's
 * DDL. The latest-snapshot views join an external table over the pools' `latest.json` (Snowflake
 * parses a pretty-printed object). AUTO_REFRESH is off: the REFRESH statements at the end register
 * new files, after each export. Throws a RangeError for a local root. Pure.
 */
export function snowflakeDdl(input: WarehouseDdlInput): string {
  const { bucket, prefix } = s3Location(input.root, localRootProblem('snowflake'));
  const schema = ident(input.schema);
  const name = (object: string): string => `${schema}.${ident(object)}`;
  const stage = name('cognito_export_stage');
  const folder = `${bucket}/${prefix ? `${prefix}/` : ''}`;
  const endpoint = input.s3Endpoint ? new URL(input.s3Endpoint) : undefined;
  const poolPath = input.userPoolId ? `user_pool_id=${input.userPoolId}/` : '';
  const lines = [
    headerLine('snowflake', input, 'a stage, external tables and views'),
    '-- Replace <storage_integration> with a storage integration that may read the bucket (CREATE STORAGE INTEGRATION … STORAGE_ALLOWED_LOCATIONS).',
    '-- AUTO_REFRESH = FALSE: after each export, run the ALTER EXTERNAL TABLE … REFRESH statements at the end (they register the new files).',
    `CREATE SCHEMA IF NOT EXISTS ${schema};`,
    endpoint
      ? `CREATE STAGE IF NOT EXISTS ${stage} URL = ${quote(`s3compat://${folder}`)} ENDPOINT = ${quote(endpoint.host)} CREDENTIALS = (AWS_KEY_ID = '<access_key_id>' AWS_SECRET_KEY = '<secret_access_key>');`
      : `CREATE STAGE IF NOT EXISTS ${stage} URL = ${quote(`s3://${folder}`)} STORAGE_INTEGRATION = <storage_integration>;`,
  ];
  const used = new Set(TABLES.flatMap((table) => formatsOf(input, table).slice(0, 1)));
  if (used.has('ndjson')) lines.push(`CREATE FILE FORMAT IF NOT EXISTS ${name('cognito_export_ndjson')} TYPE = JSON COMPRESSION = AUTO;`);
  if (used.has('parquet')) lines.push(`CREATE FILE FORMAT IF NOT EXISTS ${name('cognito_export_parquet')} TYPE = PARQUET USE_LOGICAL_TYPE = TRUE;`);
  const refreshes: string[] = [];
  for (const table of TABLES) {
    const [format = input.format] = formatsOf(input, table);
    const note = mixedFormatNote(input, table, `the PATTERN reads only its files, the runs of the other format are left out`);
    if (note) lines.push(note);
    const external = name(`${table}_external`);
    const columns = [
      ...['user_pool_id', 'dt', 'run'].map((key) => `  ${ident(key)} ${key === 'dt' ? 'DATE' : 'VARCHAR'} AS (${pathValue(key)})`),
      ...columnsOf(table).map((column) => `  ${ident(column.name)} ${SNOWFLAKE_TYPES[column.type]} AS (${fieldValue(column.name, column.type)})`),
    ];
    lines.push(
      `CREATE OR REPLACE EXTERNAL TABLE ${external} (`,
      columns.join(',\n'),
      `)`,
      `PARTITION BY (${['user_pool_id', 'dt', 'run'].map(ident).join(', ')})`,
      `LOCATION = @${stage}/${table}/`,
      `PATTERN = ${quote(`.*/${poolPath}dt=[^/]+/run=[^/]+/[^/]+${FILE_PATTERNS[format]}`)}`,
      `FILE_FORMAT = (FORMAT_NAME = ${quote(`${input.schema.toUpperCase()}.COGNITO_EXPORT_${format.toUpperCase()}`)})`,
      `AUTO_REFRESH = FALSE;`,
      `CREATE OR REPLACE VIEW ${name(`${table}_all`)} AS SELECT ${viewColumns(table).map(ident).join(', ')} FROM ${external};`,
    );
    refreshes.push(`ALTER EXTERNAL TABLE ${external} REFRESH;`);
  }
  const pointers = name('latest_pointers');
  lines.push(
    "-- The pools' latest.json, each naming its pool's latest complete snapshot.",
    `CREATE OR REPLACE EXTERNAL TABLE ${pointers} (`,
    `  ${ident('user_pool_id')} VARCHAR AS (VALUE:user_pool_id::VARCHAR),`,
    `  ${ident('snapshot_id')} VARCHAR AS (VALUE:snapshot_id::VARCHAR)`,
    `)`,
    `LOCATION = @${stage}/manifests/`,
    `PATTERN = ${quote(`.*/${poolPath || 'user_pool_id=[^/]+/'}latest[.]json`)}`,
    `FILE_FORMAT = (TYPE = JSON)`,
    `AUTO_REFRESH = FALSE;`,
  );
  refreshes.push(`ALTER EXTERNAL TABLE ${pointers} REFRESH;`);
  for (const table of SNAPSHOT_TABLES) {
    lines.push(
      `CREATE OR REPLACE VIEW ${name(table)} AS SELECT t.* FROM ${name(`${table}_all`)} t JOIN ${pointers} l ON t.${ident('user_pool_id')} = l.${ident('user_pool_id')} AND t.${ident('run')} = l.${ident('snapshot_id')};`,
    );
  }
  for (const table of CHANGE_TABLES) lines.push(`CREATE OR REPLACE VIEW ${name(table)} AS SELECT * FROM ${name(`${table}_all`)};`);
  lines.push('-- After each export:', ...refreshes);
  return `${lines.join('\n')}\n`;
}

/**
 * Snowflake `MERGE` statements that apply one run's change tables (the run in the session variable
 * `cognito_run`) to tables of the target schema holding the previous snapshot, made once from the
 * views of {@link snowflakeDdl}. Pure.
 */
export function snowflakeMerge(schema: string, target: string): string {
  const lines = [
    `-- cognito-export ddl --dialect snowflake --merge-into ${target}: apply one run's change tables to ${target}.users, ${target}.groups and ${target}.group_memberships.`,
    `-- Once, from a snapshot: CREATE SCHEMA ${target}; CREATE TABLE ${target}.users AS SELECT * FROM ${schema}.users; (and groups, group_memberships)`,
    `-- Then for each later run, in commit order (after the REFRESH statements): SET cognito_run = '<snapshot_id>'; and run these.`,
    ...mergeStatements({
      ident,
      target: (table) => `${ident(target)}.${ident(table)}`,
      source: (changes) => `(SELECT * FROM ${ident(schema)}.${ident(changes)} WHERE ${ident('run')} = $cognito_run)`,
    }),
  ];
  return `${lines.join('\n')}\n`;
}
