import type { Column } from './table-columns.js';
import { SNAPSHOT_TABLES, TABLE_COLUMNS } from './table-columns.js';
import { TABLES } from '../storage/output-layout.js';

/** The format of a table's data files: `part-…ndjson[.gz]` or `part-….parquet`. */
export type DataFormat = 'ndjson' | 'parquet';

/** What the DDL of every dialect is generated for: a destination as `ddl` found it. */
export interface WarehouseDdlInput {
  /** The destination's root: `s3://bucket/prefix`, or a local directory (DuckDB and ClickHouse only). */
  readonly root: string;
  /** Only this pool's folders (and its latest snapshot); undefined: every pool at the destination. */
  readonly userPoolId?: string | undefined;
  /** The format tables are declared in when `tableFormats` does not name theirs (a table with no file yet). */
  readonly format: DataFormat;
  /** Per table, the formats its files are in, the newest file's first (a pool that switched format has both). */
  readonly tableFormats?: ReadonlyMap<string, readonly DataFormat[]> | undefined;
  /** Tables with at least one data file (a reader over a glob matching nothing fails in some warehouses). */
  readonly tablesWithFiles: ReadonlySet<string>;
  /** Whether a pointer (`latest.json`) exists: the latest-snapshot views of DuckDB and ClickHouse read them. */
  readonly hasLatest: boolean;
  /** The schema (dataset, database) the tables and views are created in, e.g. `cognito`. */
  readonly schema: string;
  /** An S3-compatible endpoint (AWS_ENDPOINT_URL_S3): path-style URLs there. */
  readonly s3Endpoint?: string | undefined;
  /** The bucket's region when known (AWS_REGION, else the pool's): ClickHouse URLs, the BigQuery Omni location. */
  readonly region?: string | undefined;
  /** For the header comment. */
  readonly generatedAt: Date;
}

/** How a format is named in comments. */
export const FORMAT_LABELS: Readonly<Record<DataFormat, string>> = { ndjson: 'NDJSON', parquet: 'Parquet' };

/** The formats of `table`'s files, the newest file's first; `input.format` for a table not in `tableFormats`. */
export function formatsOf(input: WarehouseDdlInput, table: string): readonly DataFormat[] {
  const found = input.tableFormats?.get(table);
  return found !== undefined && found.length > 0 ? found : [input.format];
}

/** The formats of the whole destination, for the header comment: `NDJSON`, `Parquet` or `NDJSON and Parquet`. */
export function formatsLabel(input: WarehouseDdlInput): string {
  const all = new Set(TABLES.flatMap((table) => formatsOf(input, table)));
  return (['ndjson', 'parquet'] as const).filter((format) => all.has(format)).map((format) => FORMAT_LABELS[format]).join(' and ');
}

/** The first line of every dialect's output: what it is over, and when it was made. */
export function headerLine(dialect: string, input: WarehouseDdlInput, what: string): string {
  const root = input.root.replace(/\/+$/, '');
  return `-- cognito-export ddl --dialect ${dialect}: ${what} over ${root}${input.userPoolId ? ` for pool ${input.userPoolId}` : ''} (${formatsLabel(input)}), generated ${input.generatedAt.toISOString()}`;
}

/**
 * The comment of a table whose folder holds files of both formats, for a dialect that declares one
 * format per table location: the newest file's is declared, and `consequence` says what happens to
 * the others. Undefined when the table has one format.
 */
export function mixedFormatNote(input: WarehouseDdlInput, table: string, consequence: string): string | undefined {
  const [declared, ...others] = formatsOf(input, table);
  if (declared === undefined || others.length === 0) return undefined;
  return `-- ${table}: its folder holds ${FORMAT_LABELS[declared]} files and older ${others.map((format) => FORMAT_LABELS[format]).join(', ')} ones (the pool switched format); a table location is declared in one format only, the newest file's: ${consequence}`;
}

/** Why `dialect` cannot read the files of a local directory, or undefined if it can. */
export function localRootProblem(dialect: string): string | undefined {
  const reads: Readonly<Record<string, string>> = { athena: 'Athena', bigquery: 'BigQuery (through BigQuery Omni)', snowflake: 'Snowflake external stages' };
  const who = reads[dialect];
  return who === undefined ? undefined : `${who} reads only from Amazon S3: export to s3://bucket/prefix, or query a local directory with DuckDB or clickhouse-local`;
}

/** The bucket and key prefix (no slash at either end) of an `s3://` root; throws a RangeError naming `problem` for anything else. */
export function s3Location(root: string, problem: string | undefined): { readonly bucket: string; readonly prefix: string } {
  const match = /^s3:\/\/([^/]+)\/*(.*?)\/*$/.exec(root);
  if (!match) throw new RangeError(problem ?? `${JSON.stringify(root)} is not an s3:// URL`);
  return { bucket: match[1] ?? '', prefix: match[2] ?? '' };
}

/** The change tables, read run by run (the others are snapshot tables). */
export const CHANGE_TABLES: readonly string[] = TABLES.filter((table) => !(SNAPSHOT_TABLES as readonly string[]).includes(table));

/** A table's columns as the record holds them, without `user_pool_id` (a partition key). */
export function columnsOf(table: string): readonly Column[] {
  return TABLE_COLUMNS[table] ?? [];
}

/** The columns of every view of `table`, in order: `user_pool_id`, the record's columns, `dt`, `run`. */
export function viewColumns(table: string): readonly string[] {
  return ['user_pool_id', ...columnsOf(table).map((column) => column.name), 'dt', 'run'];
}

/** A snapshot table, the change table that applies to it, its key within a pool, and whether its rows are updated. */
export interface MergeTarget {
  readonly table: string;
  readonly changes: string;
  readonly key: readonly string[];
  readonly updates: boolean;
}

/** The snapshot tables a MERGE keeps, keyed within the pool (group names repeat across pools). */
export const MERGES: readonly MergeTarget[] = [
  { table: 'users', changes: 'user_changes', key: ['user_pool_id', 'sub'], updates: true },
  { table: 'groups', changes: 'group_changes', key: ['user_pool_id', 'group_name'], updates: true },
  { table: 'group_memberships', changes: 'group_membership_changes', key: ['user_pool_id', 'group_name', 'sub'], updates: false },
];

/** How a dialect spells the parts of a `MERGE` that differ: names, where the run's changes come from, the verb. */
export interface MergeSpelling {
  /** Quotes a column name. */
  readonly ident: (name: string) => string;
  /** The target table, fully named. */
  readonly target: (table: string) => string;
  /** The rows of one run's changes to a change table: a parenthesised query, or a table. */
  readonly source: (changes: string) => string;
  /** `MERGE INTO` (standard) or `MERGE` (BigQuery). */
  readonly verb?: string;
}

/**
 * One `MERGE` per snapshot table, applying the change rows of `source` to `target`: deletes and
 * updates of matched keys, inserts of new ones; updates carry every column. Pure.
 */
export function mergeStatements(spelling: MergeSpelling): string[] {
  const lines: string[] = [];
  for (const { table, changes, key, updates } of MERGES) {
    const columns = viewColumns(table);
    const { ident } = spelling;
    const on = key.map((column) => `t.${ident(column)} = c.${ident(column)}`).join(' AND ');
    const set = columns.filter((column) => !key.includes(column)).map((column) => `${ident(column)} = c.${ident(column)}`).join(', ');
    lines.push(
      `${spelling.verb ?? 'MERGE INTO'} ${spelling.target(table)} t`,
      `USING ${spelling.source(changes)} c`,
      `ON ${on}`,
      `WHEN MATCHED AND c.${ident('op')} = 'delete' THEN DELETE`,
      ...(updates ? [`WHEN MATCHED AND c.${ident('op')} = 'update' THEN UPDATE SET ${set}`] : []),
      `WHEN NOT MATCHED AND c.${ident('op')} = 'insert' THEN INSERT (${columns.map(ident).join(', ')}) VALUES (${columns.map((column) => `c.${ident(column)}`).join(', ')});`,
    );
  }
  return lines;
}
