import type { ColumnType } from './table-columns.js';
import { SNAPSHOT_TABLES } from './table-columns.js';
import { CHANGE_TABLES, MERGES, columnsOf, formatsOf, headerLine, localRootProblem, mergeStatements, mixedFormatNote, s3Location, viewColumns, type WarehouseDdlInput } from './ddl-input.js';
import { TABLES } from '../storage/output-layout.js';

/** BigQuery's types. It has no map: `attributes` is JSON (`JSON_VALUE(attributes.email)`). */
const BIGQUERY_TYPES: Readonly<Record<ColumnType, string>> = {
  string: 'STRING',
  boolean: 'BOOL',
  int: 'INT64',
  date: 'DATE',
  timestamp: 'TIMESTAMP',
  string_map: 'JSON',
  string_list: 'ARRAY<STRING>',
  mfa_options: 'ARRAY<STRUCT<delivery_medium STRING, attribute_name STRING>>',
};

/** A string literal: GoogleSQL reads backslash escapes (a quote is \', never ''). */
const quote = (text: string): string => `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
const ident = (name: string): string => `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;

/**
 * A Parquet MAP as BigQuery reads it (a STRUCT holding the repeated `key_value` pairs) as the JSON
 * object the NDJSON tables give, entries in file order.
 */
const mapAsJson = (column: string): string => {
  const part = (field: string): string => `ARRAY(SELECT kv.${field} FROM UNNEST(${ident(column)}.key_value) AS kv WITH OFFSET AS o ORDER BY o)`;
  return `IF(${ident(column)} IS NULL, NULL, JSON_OBJECT(${part('key')}, ${part('value')})) AS ${ident(column)}`;
};

/**
 * SQL for BigQuery over an `s3://` destination, through BigQuery Omni (BigQuery reads S3 nowhere
 * else): a dataset in the bucket's Omni location, per table a BigLake external table
 * `<schema>.<table>_external` over its folder with hive partitioning (`user_pool_id` STRING, `dt`
 * DATE, `run` STRING; with `--user-pool-id` the pool's folder, by `dt` and `run`) through a connection
 * whose name is a placeholder to replace, and the views of DuckDB's DDL (attributes as JSON).
 * BigQuery cannot read `latest.json` (a pretty-printed object), so the latest views take each pool's
 * newest run in each table. A table with no file yet gets an empty view (an external table over no
 * file fails). Throws a RangeError for a local root. Pure.
 */
export function bigQueryDdl(input: WarehouseDdlInput): string {
  const { bucket, prefix } = s3Location(input.root, localRootProblem('bigquery'));
  const base = `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
  const location = `aws-${input.region ?? '<region>'}`;
  const pool = input.userPoolId;
  const name = (table: string): string => `${ident(input.schema)}.${ident(table)}`;
  const lines = [
    headerLine('bigquery', input, 'BigLake tables and views'),
    `-- BigQuery reads Amazon S3 through BigQuery Omni: the dataset is in the bucket's Omni location (${location}), and the tables read through an AWS connection there`,
    `-- (bq mk --connection --connection_type=AWS --location=${location} --iam_role_id=…): replace <project> and <connection> below. Run as one script: bq query --use_legacy_sql=false < this.sql`,
    '-- Nothing to refresh: each query lists the files. To copy into a dataset of a Google Cloud region instead, CREATE TABLE … AS SELECT from these views (a cross-cloud transfer), or LOAD DATA … FROM FILES (…) WITH CONNECTION.',
    ...(input.s3Endpoint ? [`-- AWS_ENDPOINT_URL_S3 is set (${input.s3Endpoint}): BigQuery Omni reads Amazon S3 only, and these tables name the bucket as it is there.`] : []),
    `CREATE SCHEMA IF NOT EXISTS ${ident(input.schema)} OPTIONS (location = ${quote(location)});`,
  ];
  const connection = ident(`<project>.${location}.<connection>`);
  for (const table of TABLES) {
    const columns = columnsOf(table);
    if (!input.tablesWithFiles.has(table)) {
      const types = new Map<string, string>([['user_pool_id', 'STRING'], ['dt', 'DATE'], ['run', 'STRING'], ...columns.map((column) => [column.name, BIGQUERY_TYPES[column.type]] as const)]);
      const empty = viewColumns(table).map((column) => `CAST(NULL AS ${types.get(column) ?? 'STRING'}) AS ${ident(column)}`);
      lines.push(`-- ${table}: no file yet (run ddl again once it has one)`, `CREATE OR REPLACE VIEW ${name(`${table}_all`)} AS SELECT ${empty.join(', ')} LIMIT 0;`);
      continue;
    }
    const [format = input.format] = formatsOf(input, table);
    const note = mixedFormatNote(input, table, format === 'parquet' ? 'the uris read only its files, the runs of the other format are left out' : 'the reader fails on the files of the other format');
    if (note) lines.push(note);
    const folder = `${base}/${table}${pool ? `/user_pool_id=${pool}` : ''}`;
    const partitions = [...(pool ? [] : [['user_pool_id', 'STRING']]), ['dt', 'DATE'], ['run', 'STRING']].map(([key = '', type = '']) => `${ident(key)} ${type}`);
    const external = name(`${table}_external`);
    if (format === 'ndjson') {
      const declared = [...(pool ? [{ name: 'user_pool_id', type: 'string' as const }] : []), ...columns].map((column) => `  ${ident(column.name)} ${BIGQUERY_TYPES[column.type]}`);
      lines.push(
        `CREATE OR REPLACE EXTERNAL TABLE ${external} (`,
        declared.join(',\n'),
        `)`,
        `WITH CONNECTION ${connection}`,
        `WITH PARTITION COLUMNS (${partitions.join(', ')})`,
        `OPTIONS (format = 'NEWLINE_DELIMITED_JSON', uris = [${quote(`${folder}/*`)}], hive_partition_uri_prefix = ${quote(folder)}, ignore_unknown_values = true);`,
        `CREATE OR REPLACE VIEW ${name(`${table}_all`)} AS SELECT ${viewColumns(table).map(ident).join(', ')} FROM ${external};`,
      );
    } else {
      if (!pool) lines.push(`-- BigQuery wants no hive partition key among a file's columns, and the Parquet files hold user_pool_id: if it refuses this table, run ddl with --user-pool-id (partitions dt and run under the pool's folder).`);
      const select = viewColumns(table).map((column) => (columns.find((c) => c.name === column)?.type === 'string_map' ? mapAsJson(column) : ident(column)));
      lines.push(
        `CREATE OR REPLACE EXTERNAL TABLE ${external}`,
        `WITH CONNECTION ${connection}`,
        `WITH PARTITION COLUMNS (${partitions.join(', ')})`,
        `OPTIONS (format = 'PARQUET', uris = [${quote(`${folder}/*.parquet`)}], hive_partition_uri_prefix = ${quote(folder)}, enable_list_inference = true);`,
        `CREATE OR REPLACE VIEW ${name(`${table}_all`)} AS SELECT ${select.join(', ')} FROM ${external};`,
      );
    }
  }
  lines.push(
    `-- ${SNAPSHOT_TABLES.join(', ')}: each pool's newest run in each table (snapshot ids sort by time). BigQuery cannot read latest.json (one pretty-printed object), so a partial run (--no-groups, --filter) written here counts too.`,
  );
  for (const table of SNAPSHOT_TABLES) {
    lines.push(
      `CREATE OR REPLACE VIEW ${name(table)} AS SELECT t.* FROM ${name(`${table}_all`)} AS t JOIN (SELECT ${ident('user_pool_id')}, MAX(${ident('run')}) AS ${ident('run')} FROM ${name(`${table}_all`)} GROUP BY ${ident('user_pool_id')}) AS l ON t.${ident('user_pool_id')} = l.${ident('user_pool_id')} AND t.${ident('run')} = l.${ident('run')};`,
    );
  }
  for (const table of CHANGE_TABLES) lines.push(`CREATE OR REPLACE VIEW ${name(table)} AS SELECT * FROM ${name(`${table}_all`)};`);
  return `${lines.join('\n')}\n`;
}

/**
 * A BigQuery script that applies one run's change tables (the query parameter `@cognito_run`) to
 * tables of the target dataset, in a Google Cloud region, holding the previous snapshot: it copies
 * the run's change rows out of the Omni location (a cross-cloud CREATE TABLE AS SELECT), MERGEs them
 * and drops the copies. Pure.
 */
export function bigQueryMerge(schema: string, target: string): string {
  const copy = (changes: string): string => `${ident(target)}.${ident(`_cognito_${changes}`)}`;
  const lines = [
    `-- cognito-export ddl --dialect bigquery --merge-into ${target}: apply one run's change tables to ${target}.users, ${target}.groups and ${target}.group_memberships.`,
    `-- ${target} is a dataset in a Google Cloud region. Once, from a snapshot: CREATE TABLE ${target}.users AS SELECT * FROM ${schema}.users; (and groups, group_memberships)`,
    `-- Then for each later run, in commit order: bq query --use_legacy_sql=false --parameter=cognito_run::<snapshot_id> < this.sql`,
    ...MERGES.map(({ changes }) => `CREATE OR REPLACE TABLE ${copy(changes)} AS SELECT * FROM ${ident(schema)}.${ident(changes)} WHERE ${ident('run')} = @cognito_run;`),
    ...mergeStatements({ ident, verb: 'MERGE', target: (table) => `${ident(target)}.${ident(table)}`, source: copy }),
    ...MERGES.map(({ changes }) => `DROP TABLE ${copy(changes)};`),
  ];
  return `${lines.join('\n')}\n`;
}
