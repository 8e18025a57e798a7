import { BatchCreatePartitionCommand, BatchDeletePartitionCommand, CreateDatabaseCommand, CreateTableCommand, GetDatabaseCommand, GetPartitionCommand, GetTableCommand, UpdatePartitionCommand, UpdateTableCommand } from '@aws-sdk/client-glue';
import type { Column as GlueColumn, GlueClient, Partition, PartitionError, PartitionInput, StorageDescriptor, Table, TableInput } from '@aws-sdk/client-glue';
import { runDataPrefix } from '../storage/output-layout.js';
import type { ColumnType } from './table-columns.js';
import { PARTITION_KEYS, TABLE_COLUMNS } from './table-columns.js';

/**
 * The Glue Data Catalog of a destination, kept in step with its runs: a database, one external
 * table per data table (`<root><table>/`, partitioned by `user_pool_id`, `dt`, `run`, all strings)
 * and one partition per table and committed run, so Athena, Redshift Spectrum or Glue jobs query a
 * run the moment it is committed, without a crawler or `MSCK REPAIR TABLE`.
 *
 * NDJSON tables use the OpenX JSON SerDe and declare timestamps as `string`: the records hold
 * ISO 8601 UTC with milliseconds (`2024-05-01T12:34:56.789Z`), which only Trino's reimplementation
 * of that SerDe (Athena engine 3) reads as a Hive `timestamp`; the original OpenX SerDe (Hive, EMR,
 * Glue ETL, Athena engine 2) parses `yyyy-MM-dd'T'HH:mm:ss'Z'` without a fraction and fails the
 * query on the rest, so a `timestamp` column would break every other reader. Query them with
 * `from_iso8601_timestamp(created_at)`. Parquet stores INT64 TIMESTAMP(MILLIS, UTC): `timestamp`.
 */

/** How the destination's data files are encoded. */
export type GlueDataFormat = 'ndjson' | 'parquet';

/** Where the catalog is and what it describes. */
export interface GlueCatalogOptions {
  /** Built by the caller: region, endpoint (`AWS_ENDPOINT_URL_GLUE`), credentials or role. Throttling is retried by its retry strategy. */
  readonly client: GlueClient;
  /** The Glue database, created when missing (see {@link glueNameError}). */
  readonly database: string;
  /** Prepended to every table name: `${prefix}users`. @default '' */
  readonly tablePrefix?: string | undefined;
  /** Another account's catalog (12 digits); undefined: the credentials' account's. */
  readonly catalogId?: string | undefined;
  /** The destination root as S3 URL, e.g. `s3://bucket/prefix/` (a missing final `/` is added). */
  readonly rootUrl: string;
  readonly format: GlueDataFormat;
  /** Whether NDJSON files are gzipped (`.ndjson.gz`); ignored for Parquet. */
  readonly gzip: boolean;
}

/** One committed run, as the catalog partitions it. */
export interface CatalogRun {
  readonly userPoolId: string;
  /** The run's `dt=` partition, `YYYY-MM-DD` (its start date, UTC). */
  readonly dt: string;
  readonly snapshotId: string;
  /** The tables the run wrote (each gets a partition). */
  readonly tables: readonly string[];
}

/** What {@link GlueCatalog.ensureTables} did, by Glue table name. */
export interface EnsureTablesResult {
  readonly databaseCreated: boolean;
  readonly created: string[];
  readonly updated: string[];
  readonly unchanged: string[];
}

/** What {@link GlueCatalog.registerRun} did, by Glue table name. */
export interface RegisterRunResult {
  readonly created: string[];
  /** The partition existed with another definition (location, format, columns) and was rewritten. */
  readonly updated: string[];
  readonly unchanged: string[];
}

/** What {@link GlueCatalog.removeRuns} did. */
export interface RemoveRunsResult {
  readonly removed: number;
  /** Partitions (or whole tables) that were not there: nothing to do. */
  readonly missing: number;
}

/** A catalog call that failed for good; the message is one line naming the database, the catalog and what to do. */
export class GlueCatalogError extends Error {
  override readonly name = 'GlueCatalogError';

  constructor(
    message: string,
    /** The Glue error code (`AccessDeniedException`, …), or null for a problem found before any call. */
    readonly code: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The pool of {@link GlueCatalog.checkPartitionWrites}' probe partition: not a pool id (no region, no `_`). */
const PROBE_POOL = 'cognito-export-probe';

/** Most partitions one BatchCreatePartition takes. */
export const GLUE_BATCH_CREATE_MAX = 100;
/** Most partitions one BatchDeletePartition takes. */
export const GLUE_BATCH_DELETE_MAX = 25;

/** The IAM actions this module calls, for the access-denied message and the docs. */
export const GLUE_ACTIONS: readonly string[] = [
  'glue:GetDatabase',
  'glue:CreateDatabase',
  'glue:GetTable',
  'glue:CreateTable',
  'glue:UpdateTable',
  'glue:BatchCreatePartition',
  'glue:GetPartition',
  'glue:UpdatePartition',
  'glue:BatchDeletePartition',
];

const MAX_NAME = 255;

/**
 * Why `name` cannot be a Glue database or table name that Athena reads without quoting (lowercase
 * letters, digits and `_`, 1 to 255 characters), as one line, or null when it can. A table prefix
 * may be empty. Pure.
 */
export function glueNameError(kind: 'database' | 'table' | 'table prefix', name: string): string | null {
  const label = `Glue ${kind} name ${JSON.stringify(name)}`;
  if (name === '' && kind !== 'table prefix') return `${label} is empty; use lowercase letters, digits and _`;
  if (name.length > MAX_NAME) return `${label} is ${name.length} characters long; at most ${MAX_NAME}`;
  if (!/^[a-z0-9_]*$/.test(name)) {
    const hint = /[A-Z]/.test(name) && /^[A-Za-z0-9_]*$/.test(name) ? ` (Glue stores names lowercase: ${JSON.stringify(name.toLowerCase())})` : '';
    return `${label} may hold only lowercase letters, digits and _${hint}`;
  }
  return null;
}

/** A column's Glue (Hive DDL) type; NDJSON timestamps are `string` (see the module comment). Pure. */
export function glueColumnType(type: ColumnType, format: GlueDataFormat): string {
  switch (type) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'int':
      return 'int';
    case 'date':
      return 'date';
    case 'timestamp':
      return format === 'parquet' ? 'timestamp' : 'string';
    case 'string_map':
      return 'map<string,string>';
    case 'string_list':
      return 'array<string>';
    case 'mfa_options':
      return 'array<struct<delivery_medium:string,attribute_name:string>>';
  }
}

interface FormatSpec {
  readonly classification: string;
  readonly inputFormat: string;
  readonly outputFormat: string;
  readonly serde: string;
  readonly serdeParameters: Record<string, string>;
}

const FORMATS: Readonly<Record<GlueDataFormat, FormatSpec>> = {
  ndjson: {
    classification: 'json',
    inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
    outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
    serde: 'org.openx.data.jsonserde.JsonSerDe',
    // Map keys keep their case (custom:TenantId): the OpenX SerDe lowercases them by default, as Hive and EMR read it.
    serdeParameters: { 'case.insensitive': 'false' },
  },
  parquet: {
    classification: 'parquet',
    inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
    outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
    serde: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
    serdeParameters: { 'serialization.format': '1' },
  },
};

/** What describes the tables, without the client. */
export type GlueTableSpec = Pick<GlueCatalogOptions, 'tablePrefix' | 'rootUrl' | 'format' | 'gzip'>;

function rootOf(rootUrl: string): string {
  return rootUrl.endsWith('/') ? rootUrl : `${rootUrl}/`;
}

function columnsOf(table: string): NonNullable<(typeof TABLE_COLUMNS)[string]> {
  const columns = TABLE_COLUMNS[table];
  if (columns === undefined) throw new GlueCatalogError(`unknown table ${JSON.stringify(table)}: expected one of ${Object.keys(TABLE_COLUMNS).join(', ')}`);
  return columns;
}

function storageDescriptor(table: string, spec: GlueTableSpec, location: string): StorageDescriptor {
  const format = FORMATS[spec.format];
  return {
    Columns: columnsOf(table).map((column) => ({ Name: column.name, Type: glueColumnType(column.type, spec.format) })),
    Location: location,
    InputFormat: format.inputFormat,
    OutputFormat: format.outputFormat,
    SerdeInfo: { SerializationLibrary: format.serde, Parameters: { ...format.serdeParameters } },
  };
}

/** The table's definition as CreateTable / UpdateTable take it (the layout's table `table`). Pure. */
export function glueTableInput(table: string, spec: GlueTableSpec): TableInput {
  const parameters: Record<string, string> = { classification: FORMATS[spec.format].classification, EXTERNAL: 'TRUE' };
  if (spec.format === 'ndjson' && spec.gzip) parameters.compressionType = 'gzip';
  return {
    Name: `${spec.tablePrefix ?? ''}${table}`,
    Description: `cognito-export ${table}: one partition per committed run`,
    TableType: 'EXTERNAL_TABLE',
    Parameters: parameters,
    PartitionKeys: PARTITION_KEYS.map((key) => ({ Name: key.name, Type: 'string' })),
    StorageDescriptor: storageDescriptor(table, spec, `${rootOf(spec.rootUrl)}${table}/`),
  };
}

const DT = /^\d{4}-\d{2}-\d{2}$/;

/** The partition values of a run: `[user_pool_id, dt, run]`. */
function partitionValues(run: Omit<CatalogRun, 'tables'>): string[] {
  return [run.userPoolId, run.dt, run.snapshotId];
}

/** The run's partition of `table`, located at its data folder with the table's format. Pure. */
export function gluePartitionInput(table: string, run: Omit<CatalogRun, 'tables'>, spec: GlueTableSpec): PartitionInput {
  const startedAt = new Date(`${run.dt}T00:00:00Z`);
  if (!DT.test(run.dt) || Number.isNaN(startedAt.getTime()) || startedAt.toISOString().slice(0, 10) !== run.dt) {
    throw new GlueCatalogError(`run ${run.snapshotId}: dt ${JSON.stringify(run.dt)} is not a YYYY-MM-DD date`);
  }
  const prefix = runDataPrefix({ userPoolId: run.userPoolId, snapshotId: run.snapshotId, startedAt }, table);
  return { Values: partitionValues(run), StorageDescriptor: storageDescriptor(table, spec, `${rootOf(spec.rootUrl)}${prefix}`) };
}

const normalType = (type: string | undefined): string => (type ?? '').toLowerCase().replace(/\s+/g, '');
const columnsKey = (columns: readonly GlueColumn[] | undefined): string => JSON.stringify((columns ?? []).map((c) => [(c.Name ?? '').toLowerCase(), normalType(c.Type)]));

/** How a storage descriptor differs from the one wanted: `columns`, `location`, `input format`, `output format`, `serde`. */
function descriptorDifferences(existing: StorageDescriptor | undefined, wanted: StorageDescriptor): string[] {
  const differences: string[] = [];
  if (columnsKey(existing?.Columns) !== columnsKey(wanted.Columns)) differences.push('columns');
  if (existing?.Location !== wanted.Location) differences.push('location');
  if (existing?.InputFormat !== wanted.InputFormat) differences.push('input format');
  if (existing?.OutputFormat !== wanted.OutputFormat) differences.push('output format');
  const serde = existing?.SerdeInfo;
  const serdeParameters = Object.entries(wanted.SerdeInfo?.Parameters ?? {});
  if (serde?.SerializationLibrary !== wanted.SerdeInfo?.SerializationLibrary || serdeParameters.some(([key, value]) => serde?.Parameters?.[key] !== value)) {
    differences.push('serde');
  }
  return differences;
}

/**
 * What makes an existing table other than the wanted one, e.g. `['columns', 'serde']`; empty when
 * it matches (names and types compared case- and space-insensitively; parameters, descriptions and
 * SerDe parameters of the table's own are left alone). Pure.
 */
export function tableDifferences(existing: Table, wanted: TableInput): string[] {
  const differences: string[] = [];
  if (existing.TableType !== wanted.TableType) differences.push('table type');
  const parameters = existing.Parameters ?? {};
  const wantedParameters = wanted.Parameters ?? {};
  const stale = wantedParameters.compressionType === undefined && parameters.compressionType !== undefined;
  if (stale || Object.entries(wantedParameters).some(([key, value]) => parameters[key] !== value)) differences.push('parameters');
  if (columnsKey(existing.PartitionKeys) !== columnsKey(wanted.PartitionKeys)) differences.push('partition keys');
  return [...differences, ...descriptorDifferences(existing.StorageDescriptor, wanted.StorageDescriptor ?? {})];
}

/** The UpdateTable input: the wanted table, keeping the existing table's own parameters, description and owner. */
function updatedTableInput(existing: Table, wanted: TableInput): TableInput {
  const kept = { ...(existing.Parameters ?? {}) };
  delete kept.compressionType;
  return {
    ...wanted,
    Description: existing.Description ?? wanted.Description,
    ...(existing.Owner === undefined ? {} : { Owner: existing.Owner }),
    Parameters: { ...kept, ...wanted.Parameters },
  };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: string };

/** The error code of an SDK failure (`error.name`), or null for anything else. */
function codeOf(error: unknown): string | null {
  if (typeof error !== 'object' || error === null) return null;
  const { name, $metadata } = error as { name?: unknown; $metadata?: unknown };
  return $metadata !== undefined && typeof name === 'string' ? name : null;
}

const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();

/**
 * Keeps a destination's Glue database, tables and partitions in step with its runs. Every method
 * is idempotent: run it again after a failure, or twice, and the catalog ends the same.
 */
export class GlueCatalog {
  readonly #options: GlueCatalogOptions;
  readonly #spec: GlueTableSpec;

  /** Throws GlueCatalogError (one line) when the database name or table prefix cannot be used. */
  constructor(options: GlueCatalogOptions) {
    const problem = glueNameError('database', options.database) ?? glueNameError('table prefix', options.tablePrefix ?? '');
    if (problem !== null) throw new GlueCatalogError(problem);
    if (options.catalogId !== undefined && !/^\d{12}$/.test(options.catalogId)) {
      throw new GlueCatalogError(`Glue catalog id ${JSON.stringify(options.catalogId)} must be an account id of 12 digits`);
    }
    this.#options = options;
    this.#spec = { tablePrefix: options.tablePrefix ?? '', rootUrl: rootOf(options.rootUrl), format: options.format, gzip: options.gzip };
  }

  /** The Glue name of a layout table: `${tablePrefix}${table}`. */
  tableName(table: string): string {
    return `${this.#spec.tablePrefix ?? ''}${table}`;
  }

  /**
   * Creates the database when missing (an existing one is used as it is), then each table when
   * missing, or rewrites it (UpdateTable) when its type, columns, partition keys, location, formats,
   * SerDe or our parameters differ; a table that matches costs one GetTable and no write.
   */
  async ensureTables(tables: readonly string[]): Promise<EnsureTablesResult> {
    const result: EnsureTablesResult = { databaseCreated: await this.#ensureDatabase(), created: [], updated: [], unchanged: [] };
    for (const table of tables) {
      const wanted = glueTableInput(table, this.#spec);
      const name = wanted.Name as string;
      const outcome = await this.#ensureTable(name, wanted);
      result[outcome].push(name);
    }
    return result;
  }

  /**
   * Registers the run's partition of each of its tables (BatchCreatePartition), located at the
   * run's data folder. A partition already there with the same definition is left alone; with
   * another (e.g. an older root or format) it is rewritten (UpdatePartition). Run ensureTables first.
   */
  async registerRun(run: CatalogRun): Promise<RegisterRunResult> {
    const result: RegisterRunResult = { created: [], updated: [], unchanged: [] };
    for (const table of run.tables) {
      const name = this.tableName(table);
      const input = gluePartitionInput(table, run, this.#spec);
      const what = `partition ${partitionValues(run).join('/')} of table ${name}`;
      const answer = await this.#send('BatchCreatePartition', what, () =>
        this.#client.send(new BatchCreatePartitionCommand({ ...this.#catalog(), DatabaseName: this.#options.database, TableName: name, PartitionInputList: [input] })),
      );
      const error = answer.Errors?.[0];
      if (error === undefined) {
        result.created.push(name);
      } else if (error.ErrorDetail?.ErrorCode === 'AlreadyExistsException') {
        result[await this.#reconcilePartition(name, input, what)].push(name);
      } else {
        throw this.#partitionFailure('BatchCreatePartition', what, error);
      }
    }
    return result;
  }

  /**
   * Checks that partitions of `table` can be written, before a run's commit point: registers a
   * probe partition (pool `cognito-export-probe`, which no pool id can be) and removes it again. A
   * worker without glue:BatchCreatePartition or glue:BatchDeletePartition then fails the run
   * unpublished, instead of a published run waiting on a catalog it can never write.
   */
  async checkPartitionWrites(table: string): Promise<void> {
    const probe: CatalogRun = { userPoolId: PROBE_POOL, dt: '1970-01-01', snapshotId: 'probe', tables: [table] };
    // Removal first (of nothing, or of a probe an interrupted check left): a worker that may not
    // remove partitions never leaves one behind.
    await this.removeRuns([probe]);
    await this.registerRun(probe);
    await this.removeRuns([probe]);
  }

  /** Deletes the runs' partitions (BatchDeletePartition, 25 a call); a partition or table already gone is fine. */
  async removeRuns(runs: readonly CatalogRun[]): Promise<RemoveRunsResult> {
    const byTable = new Map<string, string[][]>();
    for (const run of runs) {
      for (const table of run.tables) {
        const name = this.tableName(table);
        byTable.set(name, [...(byTable.get(name) ?? []), partitionValues(run)]);
      }
    }
    let removed = 0;
    let missing = 0;
    for (const [name, all] of byTable) {
      for (const batch of chunks(all, GLUE_BATCH_DELETE_MAX)) {
        const what = `${batch.length} partition(s) of table ${name}`;
        const answer = await this.#try(
          'BatchDeletePartition',
          what,
          () => this.#client.send(new BatchDeletePartitionCommand({ ...this.#catalog(), DatabaseName: this.#options.database, TableName: name, PartitionsToDelete: batch.map((Values) => ({ Values })) })),
          ['EntityNotFoundException'],
        );
        if (!answer.ok) {
          missing += batch.length; // the table (or the database) is gone, and its partitions with it
          continue;
        }
        const errors = answer.value.Errors ?? [];
        const failure = errors.find((error) => error.ErrorDetail?.ErrorCode !== 'EntityNotFoundException');
        if (failure !== undefined) throw this.#partitionFailure('BatchDeletePartition', `partition ${(failure.PartitionValues ?? []).join('/')} of table ${name}`, failure);
        missing += errors.length;
        removed += batch.length - errors.length;
      }
    }
    return { removed, missing };
  }

  get #client(): GlueClient {
    return this.#options.client;
  }

  #catalog(): { CatalogId?: string } {
    return this.#options.catalogId === undefined ? {} : { CatalogId: this.#options.catalogId };
  }

  get #catalogLabel(): string {
    return this.#options.catalogId === undefined ? "the account's default catalog" : `catalog ${this.#options.catalogId}`;
  }

  async #ensureDatabase(): Promise<boolean> {
    const { database } = this.#options;
    const what = `database ${database}`;
    const found = await this.#try('GetDatabase', what, () => this.#client.send(new GetDatabaseCommand({ ...this.#catalog(), Name: database })), ['EntityNotFoundException']);
    if (found.ok) return false;
    const created = await this.#try(
      'CreateDatabase',
      what,
      () => this.#client.send(new CreateDatabaseCommand({ ...this.#catalog(), DatabaseInput: { Name: database, Description: 'Cognito user pools exported by cognito-export' } })),
      ['AlreadyExistsException'],
    );
    return created.ok;
  }

  async #ensureTable(name: string, wanted: TableInput): Promise<'created' | 'updated' | 'unchanged'> {
    const what = `table ${name}`;
    const get = () => this.#try('GetTable', what, () => this.#client.send(new GetTableCommand({ ...this.#catalog(), DatabaseName: this.#options.database, Name: name })), ['EntityNotFoundException']);
    let found = await get();
    if (!found.ok) {
      const created = await this.#try(
        'CreateTable',
        what,
        () => this.#client.send(new CreateTableCommand({ ...this.#catalog(), DatabaseName: this.#options.database, TableInput: wanted })),
        ['AlreadyExistsException'],
      );
      if (created.ok) return 'created';
      found = await get(); // another writer created it between our GetTable and CreateTable
      if (!found.ok) throw new GlueCatalogError(`Glue table ${name} in database ${this.#options.database} (${this.#catalogLabel}) exists and does not: try again`, found.code);
    }
    const existing: Table = found.value.Table ?? { Name: name };
    if (tableDifferences(existing, wanted).length === 0) return 'unchanged';
    await this.#send('UpdateTable', what, () =>
      this.#client.send(new UpdateTableCommand({ ...this.#catalog(), DatabaseName: this.#options.database, TableInput: updatedTableInput(existing, wanted) })),
    );
    return 'updated';
  }

  async #reconcilePartition(name: string, input: PartitionInput, what: string): Promise<'updated' | 'unchanged'> {
    const answer = await this.#send('GetPartition', what, () =>
      this.#client.send(new GetPartitionCommand({ ...this.#catalog(), DatabaseName: this.#options.database, TableName: name, PartitionValues: input.Values })),
    );
    const existing: Partition = answer.Partition ?? {};
    if (descriptorDifferences(existing.StorageDescriptor, input.StorageDescriptor ?? {}).length === 0) return 'unchanged';
    await this.#send('UpdatePartition', what, () =>
      this.#client.send(
        new UpdatePartitionCommand({ ...this.#catalog(), DatabaseName: this.#options.database, TableName: name, PartitionValueList: input.Values, PartitionInput: { ...input, Parameters: existing.Parameters ?? {} } }),
      ),
    );
    return 'updated';
  }

  /** Sends one call; any error is thrown explained (GlueCatalogError). */
  async #send<T>(operation: string, what: string, send: () => Promise<T>): Promise<T> {
    const outcome = await this.#try(operation, what, send, []);
    if (!outcome.ok) throw new GlueCatalogError(`Glue ${operation} of ${what} failed: ${outcome.code}`, outcome.code); // unreachable: nothing tolerated
    return outcome.value;
  }

  /** Sends one call; an error whose code is in `tolerated` comes back as an outcome, any other is thrown explained. */
  async #try<T>(operation: string, what: string, send: () => Promise<T>, tolerated: readonly string[]): Promise<Outcome<T>> {
    try {
      return { ok: true, value: await send() };
    } catch (error) {
      const code = codeOf(error);
      if (code !== null && tolerated.includes(code)) return { ok: false, code };
      throw this.#explain(operation, what, error, code);
    }
  }

  #explain(operation: string, what: string, error: unknown, code: string | null): GlueCatalogError {
    const { database } = this.#options;
    const detail = oneLine(error instanceof Error ? error.message : String(error));
    const where = `database ${database} in ${this.#catalogLabel}`;
    if (code === 'AccessDeniedException') {
      return new GlueCatalogError(`Glue denied glue:${operation} on ${what} (${where}): ${detail}; the exporter's credentials need ${GLUE_ACTIONS.join(', ')} on the catalog, the database and its tables`, code, { cause: error });
    }
    if ((code === 'InvalidInputException' || code === 'ValidationException') && (operation === 'GetDatabase' || operation === 'CreateDatabase')) {
      return new GlueCatalogError(`Glue refused the database name ${JSON.stringify(database)} in ${this.#catalogLabel}: ${detail}`, code, { cause: error });
    }
    return new GlueCatalogError(`Glue ${operation} of ${what} (${where}) failed: ${code ?? 'error'}: ${detail}`, code, { cause: error });
  }

  #partitionFailure(operation: string, what: string, error: PartitionError): GlueCatalogError {
    const code = error.ErrorDetail?.ErrorCode ?? 'error';
    return new GlueCatalogError(`Glue ${operation} of ${what} (database ${this.#options.database} in ${this.#catalogLabel}) failed: ${code}: ${oneLine(error.ErrorDetail?.ErrorMessage ?? '')}`, code);
  }
}
