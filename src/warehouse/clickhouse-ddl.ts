import type { ColumnType } from './table-columns.js';
import { SNAPSHOT_TABLES } from './table-columns.js';
import { CHANGE_TABLES, columnsOf, formatsOf, headerLine, s3Location, viewColumns, type DataFormat, type WarehouseDdlInput } from './ddl-input.js';
import { TABLES } from '../storage/output-layout.js';

/** ClickHouse's types; scalars Nullable as in the records (a Map or an Array cannot be: null reads as empty). */
const CLICKHOUSE_TYPES: Readonly<Record<ColumnType, string>> = {
  string: 'Nullable(String)',
  boolean: 'Nullable(Bool)',
  int: 'Nullable(Int32)',
  date: 'Date',
  timestamp: "Nullable(DateTime64(3, 'UTC'))",
  string_map: 'Map(String, String)',
  string_list: 'Array(String)',
  mfa_options: 'Array(Tuple(delivery_medium Nullable(String), attribute_name Nullable(String)))',
};

/** A string literal: ClickHouse reads backslash escapes, and a doubled quote. */
const quote = (text: string): string => `'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
const ident = (name: string): string => `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;

const FORMATS: Readonly<Record<DataFormat, { readonly name: string; readonly files: string }>> = {
  ndjson: { name: 'JSONEachRow', files: '*.ndjson*' },
  parquet: { name: 'Parquet', files: '*.parquet' },
};

/** Why `--merge-into` is refused for ClickHouse, one line. */
export const CLICKHOUSE_MERGE_PROBLEM =
  '--merge-into is not supported for --dialect clickhouse: ClickHouse has no MERGE; query the views of each run, or insert each snapshot into a ReplacingMergeTree (docs/warehouses.md)';

/** Refuses: ClickHouse has no MERGE (see {@link CLICKHOUSE_MERGE_PROBLEM}). */
export function clickHouseMerge(): never {
  throw new RangeError(CLICKHOUSE_MERGE_PROBLEM);
}

/**
 * The URL of the destination's root as ClickHouse's s3() takes it (https, no slash at the end): an
 * S3-compatible endpoint path-style, else virtual-hosted style in the bucket's region (path-style
 * for a bucket with a dot, which virtual-hosted HTTPS cannot name). Each key segment percent-encoded.
 */
function httpsRoot(root: string, input: WarehouseDdlInput): string {
  const { bucket, prefix: keyPrefix } = s3Location(root, undefined);
  const prefix = keyPrefix.split('/').filter((segment) => segment !== '').map(encodeURIComponent);
  if (input.s3Endpoint) return [input.s3Endpoint.replace(/\/+$/, ''), bucket, ...prefix].join('/');
  const host = input.region ? `s3.${input.region}.amazonaws.com` : 's3.amazonaws.com';
  return bucket.includes('.') ? [`https://${host}`, bucket, ...prefix].join('/') : [`https://${bucket}.${host}`, ...prefix].join('/');
}

/**
 * SQL for ClickHouse: views over the `s3()` table function (an `s3://` destination; credentials from
 * the server's environment, or add them to each s3() call) or the `file()` function (a local
 * directory: clickhouse-local only, a server reads files under its user_files_path only). The views
 * are DuckDB's: `<schema>.<table>_all` with `user_pool_id`, `dt` and `run` taken from each file's
 * `_path` (which works on every version, and never clashes with the records' own `user_pool_id`),
 * the latest snapshots as the pools' `latest.json` name them, and the change tables. Files are read at
 * each query: nothing to refresh; a table with no file yet gets an empty view. Pure.
 */
export function clickHouseDdl(input: WarehouseDdlInput): string {
  const local = !input.root.startsWith('s3://');
  const root = local ? input.root.replace(/\/+$/, '') : httpsRoot(input.root, input);
  const pool = input.userPoolId ? `user_pool_id=${input.userPoolId}` : '*';
  const read = (path: string, format: string, structure?: string): string =>
    `${local ? 'file' : 's3'}(${[quote(`${root}/${path}`), quote(format), ...(structure ? [quote(structure)] : [])].join(', ')})`;
  const name = (view: string): string => `${ident(input.schema)}.${ident(view)}`;
  const lines = [
    headerLine('clickhouse', input, 'views'),
    local
      ? `-- file() reads local files in clickhouse-local only: (cat this.sql; echo 'SELECT count() FROM ${input.schema}.users') | clickhouse local (a server reads only under its user_files_path).`
      : '-- s3() signs with the server\'s AWS credentials (use_environment_credentials), or add them (or a named collection) to each s3() call. Files are read at each query: nothing to refresh.',
    '-- Run it again after a run writes a table that had no file yet (its view is empty until then).',
    `CREATE DATABASE IF NOT EXISTS ${ident(input.schema)};`,
  ];
  for (const table of TABLES) {
    const columns = columnsOf(table);
    const fromPath = (key: string): string => `extract(_path, ${quote(`/${key}=([^/]+)/`)})`;
    const select = viewColumns(table).map((column) => {
      if (column === 'user_pool_id' || column === 'run') return `${fromPath(column)} AS ${ident(column)}`;
      if (column === 'dt') return `toDate(${fromPath(column)}) AS ${ident(column)}`;
      return ident(column);
    });
    const structure = columns.map((column) => `${column.name} ${CLICKHOUSE_TYPES[column.type]}`).join(', ');
    if (!input.tablesWithFiles.has(table)) {
      // The types the readers give: the path's keys String (dt a Date), the columns as declared.
      const typeOf = (column: string): string => (column === 'dt' ? 'Date' : column === 'user_pool_id' || column === 'run' ? 'String' : CLICKHOUSE_TYPES[columns.find((c) => c.name === column)?.type ?? 'string']);
      const empty = viewColumns(table).map((column) => `defaultValueOfTypeName(${quote(typeOf(column))}) AS ${ident(column)}`);
      lines.push(`-- ${table}: no file yet`, `CREATE OR REPLACE VIEW ${name(`${table}_all`)} AS SELECT ${empty.join(', ')} LIMIT 0;`);
      continue;
    }
    const formats = formatsOf(input, table);
    if (formats.length > 1) lines.push(`-- ${table}: files of both formats (the pool switched format): both are read`);
    const selects = formats.map(
      (format) => `SELECT ${select.join(', ')} FROM ${read(`${table}/${pool}/dt=*/run=*/${FORMATS[format].files}`, FORMATS[format].name, structure)}`,
    );
    lines.push(`CREATE OR REPLACE VIEW ${name(`${table}_all`)} AS ${selects.join(' UNION ALL ')} SETTINGS date_time_input_format = 'best_effort', input_format_skip_unknown_fields = 1;`);
  }
  // latest.json is one pretty-printed object: JSONAsString reads it whole.
  const latest = `SELECT JSONExtractString(json, 'user_pool_id') AS user_pool_id, JSONExtractString(json, 'snapshot_id') AS snapshot_id FROM ${read(`manifests/${pool}/latest.json`, 'JSONAsString')}`;
  for (const table of SNAPSHOT_TABLES) {
    lines.push(`-- ${table}: the latest complete snapshot of each pool, as its latest.json names it`);
    lines.push(
      input.hasLatest
        ? `CREATE OR REPLACE VIEW ${name(table)} AS SELECT t.* FROM ${name(`${table}_all`)} AS t INNER JOIN (${latest}) AS l ON t.user_pool_id = l.user_pool_id AND t.run = l.snapshot_id;`
        : `CREATE OR REPLACE VIEW ${name(table)} AS SELECT * FROM ${name(`${table}_all`)} LIMIT 0; -- no latest.json yet`,
    );
  }
  for (const table of CHANGE_TABLES) lines.push(`CREATE OR REPLACE VIEW ${name(table)} AS SELECT * FROM ${name(`${table}_all`)};`);
  return `${lines.join('\n')}\n`;
}
