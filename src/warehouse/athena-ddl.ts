import type { ColumnType } from './table-columns.js';
import { SNAPSHOT_TABLES } from './table-columns.js';
import { CHANGE_TABLES, columnsOf, formatsOf, headerLine, localRootProblem, mergeStatements, mixedFormatNote, s3Location, viewColumns, type WarehouseDdlInput } from './ddl-input.js';
import { TABLES } from '../storage/output-layout.js';

/** Athena's (Hive DDL) types. NDJSON timestamps are declared `string` and cast in the views: see {@link athenaDdl}. */
const ATHENA_TYPES: Readonly<Record<ColumnType, string>> = {
  string: 'string',
  boolean: 'boolean',
  int: 'int',
  date: 'date',
  timestamp: 'timestamp',
  string_map: 'map<string,string>',
  string_list: 'array<string>',
  mfa_options: 'array<struct<delivery_medium:string,attribute_name:string>>',
};

/** A string in Hive DDL (LOCATION, SERDEPROPERTIES): backslash escapes. */
const hiveString = (text: string): string => `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
/** A string in Athena's SQL (Trino): doubled quotes. */
const sqlString = (text: string): string => `'${text.replaceAll("'", "''")}'`;
/** A name in Hive DDL. */
const ddlIdent = (name: string): string => `\`${name.replaceAll('`', '``')}\``;
/** A name in Athena's SQL (views, queries). */
const ident = (name: string): string => `"${name.replaceAll('"', '""')}"`;
/** `schema.table`, quoted. */
const qualified = (schema: string, table: string): string => `${ident(schema)}.${ident(table)}`;

/**
 * SQL for Amazon Athena over an `s3://` destination, one statement at a time (Athena runs one per
 * query): per table an external table `<schema>.<table>_external` over its folder, partitioned by
 * `user_pool_id` (a string), `dt` (a date) and `run` (with `--user-pool-id`: the pool's folder, by `dt`
 * and `run`, `user_pool_id` read from the records), `MSCK REPAIR TABLE` to register the runs' folders,
 * and the views of DuckDB's DDL: `<table>_all` with typed columns, the latest snapshots and the change
 * tables. NDJSON is read with the OpenX JSON SerDe, its ISO 8601 timestamps as strings that the views
 * cast (`from_iso8601_timestamp`: exact, where the SerDe's own parsing depends on its version);
 * Parquet is read with its own types. Athena cannot read `latest.json` (a pretty-printed object),
 * so the latest views take each pool's newest run in each table, from the partitions. Throws a
 * RangeError for a local root. Pure.
 */
export function athenaDdl(input: WarehouseDdlInput): string {
  const { bucket, prefix } = s3Location(input.root, localRootProblem('athena'));
  const base = `s3://${bucket}/${prefix ? `${prefix}/` : ''}`;
  const pool = input.userPoolId;
  const schema = input.schema;
  const name = (table: string): string => qualified(schema, table);
  const lines = [
    headerLine('athena', input, 'external tables and views'),
    "-- Run the statements one by one, in order (Athena runs one statement a query). After each export, run the MSCK REPAIR TABLE statements again: they register the new runs' folders as partitions.",
    '-- Or let the export register them in AWS Glue (--glue-database, docs/configuration.md): its tables need no DDL at all.',
    "-- No partition projection: `run` would have to be projected as `injected`, and Athena then requires run = '…' in every query, which the latest-snapshot views cannot give.",
    '-- CREATE … IF NOT EXISTS keeps a table as it was: after a pool switches format (NDJSON, Parquet), DROP TABLE its …_external tables first.',
    ...(input.s3Endpoint ? [`-- AWS_ENDPOINT_URL_S3 is set (${input.s3Endpoint}): Athena reads Amazon S3 only, and these tables name the bucket as it is there.`] : []),
    `CREATE DATABASE IF NOT EXISTS ${ddlIdent(schema)};`,
  ];
  for (const table of TABLES) {
    const [format = input.format] = formatsOf(input, table);
    const note = mixedFormatNote(input, table, 'queries that read the runs of the other format fail: filter them out with run, or drop their partitions');
    if (note) lines.push(note);
    const json = format === 'ndjson';
    const columns = [...(pool ? [{ name: 'user_pool_id', type: 'string' as const }] : []), ...columnsOf(table)];
    const declared = columns.map((column) => `  ${ddlIdent(column.name)} ${json && column.type === 'timestamp' ? 'string' : ATHENA_TYPES[column.type]}`);
    const partitions = [...(pool ? [] : ['`user_pool_id` string']), '`dt` date', '`run` string'];
    const external = `${ddlIdent(schema)}.${ddlIdent(`${table}_external`)}`;
    lines.push(
      `CREATE EXTERNAL TABLE IF NOT EXISTS ${external} (`,
      declared.join(',\n'),
      `)`,
      `PARTITIONED BY (${partitions.join(', ')})`,
      // case.insensitive off: the SerDe would lower-case the attribute names (custom:TenantId) too.
      ...(json ? ["ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'", "WITH SERDEPROPERTIES ('case.insensitive' = 'false')"] : ['STORED AS PARQUET']),
      `LOCATION ${hiveString(`${base}${table}/${pool ? `user_pool_id=${pool}/` : ''}`)};`,
      `MSCK REPAIR TABLE ${external};`,
    );
    const typed = viewColumns(table).map((column) => {
      const type = columnsOf(table).find((c) => c.name === column)?.type;
      return json && type === 'timestamp' ? `CAST(from_iso8601_timestamp(${ident(column)}) AS timestamp(3)) AS ${ident(column)}` : ident(column);
    });
    lines.push(`CREATE OR REPLACE VIEW ${name(`${table}_all`)} AS SELECT ${typed.join(', ')} FROM ${name(`${table}_external`)};`);
  }
  lines.push(
    `-- ${SNAPSHOT_TABLES.join(', ')}: each pool's newest run in each table, from its partitions (snapshot ids sort by time). Athena cannot read latest.json (one pretty-printed object), so a partial run (--no-groups, --filter) written here counts too.`,
  );
  for (const table of SNAPSHOT_TABLES) {
    const partitions = name(`${table}_external$partitions`);
    lines.push(
      pool
        ? `CREATE OR REPLACE VIEW ${name(table)} AS SELECT * FROM ${name(`${table}_all`)} WHERE ${ident('run')} = (SELECT max(${ident('run')}) FROM ${partitions});`
        : `CREATE OR REPLACE VIEW ${name(table)} AS SELECT t.* FROM ${name(`${table}_all`)} t JOIN (SELECT ${ident('user_pool_id')}, max(${ident('run')}) AS ${ident('run')} FROM ${partitions} GROUP BY ${ident('user_pool_id')}) l ON t.${ident('user_pool_id')} = l.${ident('user_pool_id')} AND t.${ident('run')} = l.${ident('run')};`,
    );
  }
  for (const table of CHANGE_TABLES) lines.push(`CREATE OR REPLACE VIEW ${name(table)} AS SELECT * FROM ${name(`${table}_all`)};`);
  return `${lines.join('\n')}\n`;
}

/**
 * Athena `MERGE` statements that apply one run's change tables to Iceberg tables of the target
 * database (Athena merges into Iceberg tables only), made once from the views of {@link athenaDdl}.
 * Athena has no session variables and takes no parameters in a MERGE: the run is the placeholder
 * `${COGNITO_RUN}`, for `envsubst` (left as it is, it matches no run and changes nothing). Pure.
 */
export function athenaMerge(schema: string, target: string): string {
  const lines = [
    `-- cognito-export ddl --dialect athena --merge-into ${target}: apply one run's change tables to ${target}.users, ${target}.groups and ${target}.group_memberships (Iceberg tables: Athena merges into no others).`,
    `-- Once, from a snapshot: CREATE DATABASE ${target}; CREATE TABLE ${target}.users WITH (table_type = 'ICEBERG', is_external = false, location = 's3://<bucket>/<path>/users/') AS SELECT * FROM ${schema}.users; (and groups, group_memberships)`,
    "-- Then for each later run, in commit order: COGNITO_RUN=<snapshot_id> envsubst '$COGNITO_RUN' < this.sql, and run the statements one by one.",
    ...mergeStatements({
      ident,
      target: (table) => qualified(target, table),
      source: (changes) => `(SELECT * FROM ${qualified(schema, changes)} WHERE ${ident('run')} = ${sqlString('${COGNITO_RUN}')})`,
    }),
  ];
  return `${lines.join('\n')}\n`;
}

