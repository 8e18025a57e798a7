/**
 * The state and operations of the emulator's Glue Data Catalog: databases, tables and partitions per
 * catalog (an account id), answered in Glue's JSON shapes (timestamps as epoch seconds). No HTTP here:
 * {@link GlueEndpoint} parses requests, checks credentials and faults, and calls {@link GlueCatalogStore.run}.
 */

type Json = Record<string, unknown>;

/**
 * An error answered as Glue answers it: HTTP status, `{"__type", "Message"}` (Glue's error shapes
 * spell the member `Message`) and an `x-amzn-ErrorType` header.
 */
export class GlueServiceError extends Error {
  override readonly name = 'GlueServiceError';

  constructor(
    /** The error code the SDK reports as `error.name`, e.g. `EntityNotFoundException`. */
    readonly code: string,
    message: string,
    /** 400 for client errors (throttling included), 500 for Glue's own. */
    readonly status: number = 400,
  ) {
    super(message);
  }

  /** The JSON body. */
  toBody(): Json {
    return { __type: this.code, Message: this.message };
  }

  static entityNotFound(message: string): GlueServiceError {
    return new GlueServiceError('EntityNotFoundException', message);
  }

  static alreadyExists(message: string): GlueServiceError {
    return new GlueServiceError('AlreadyExistsException', message);
  }

  static invalidInput(message: string): GlueServiceError {
    return new GlueServiceError('InvalidInputException', message);
  }

  /** A constraint of the API model (a length, a list size, a missing member), worded as AWS words it. */
  static validation(value: string, at: string, constraint: string): GlueServiceError {
    return new GlueServiceError('ValidationException', `1 validation error detected: Value ${value} at '${at}' failed to satisfy constraint: ${constraint}`);
  }
}

/** Most partitions one BatchCreatePartition takes (Glue's API model). */
export const GLUE_MAX_BATCH_CREATE_PARTITIONS = 100;
/** Most partitions one BatchDeletePartition takes (Glue's API model). */
export const GLUE_MAX_BATCH_DELETE_PARTITIONS = 25;
/** Most partitions one GetPartitions page holds. */
export const GLUE_MAX_PARTITIONS_PAGE = 1000;

/** One table of a catalog as tests see it: the table as GetTable returns it, and its partitions sorted by values. */
export interface GlueTableState {
  readonly table: Json;
  readonly partitions: Json[];
}

/** One database as tests see it. */
export interface GlueDatabaseState {
  readonly database: Json;
  readonly tables: Record<string, GlueTableState>;
}

/** A catalog's content, by lowercase database and table name (copies: changing them changes nothing). */
export interface GlueCatalogSnapshot {
  readonly databases: Record<string, GlueDatabaseState>;
}

interface StoredTable {
  table: Json;
  readonly partitions: Map<string, Json>;
}

interface StoredDatabase {
  readonly database: Json;
  readonly tables: Map<string, StoredTable>;
}

/** What an operation works with besides its body. */
export interface GlueCallContext {
  /** The catalog of the calling account, used when the body names no CatalogId. */
  readonly account: string;
  readonly nowMs: number;
}

type Operation = (store: GlueCatalogStore, body: Json, context: GlueCallContext) => Json;

const NAME_PATTERN = /^[\u0020-\uD7FF\uE000-\uFFFD\t]*$/u;
const copy = <T>(value: T): T => structuredClone(value);
const seconds = (ms: number): number => ms / 1000;
const partitionKey = (values: readonly string[]): string => JSON.stringify(values);

/** Every database, table and partition of every catalog, with the operations of Glue's API on them. */
export class GlueCatalogStore {
  readonly #catalogs = new Map<string, Map<string, StoredDatabase>>();

  /** True when `operation` is one this store answers. */
  static knows(operation: string): boolean {
    return Object.hasOwn(OPERATIONS, operation);
  }

  /** Runs one operation; throws GlueServiceError as Glue would answer it. */
  run(operation: string, body: Json, context: GlueCallContext): Json {
    const handler = OPERATIONS[operation];
    if (handler === undefined) throw new GlueServiceError('UnknownOperationException', `Unknown operation ${operation}`);
    return handler(this, body, context);
  }

  /** A copy of one catalog's content. */
  snapshot(catalogId: string): GlueCatalogSnapshot {
    const databases: Record<string, GlueDatabaseState> = {};
    for (const [name, db] of this.#catalogs.get(catalogId) ?? []) {
      const tables: Record<string, GlueTableState> = {};
      for (const [tableName, table] of db.tables) {
        tables[tableName] = { table: copy(table.table), partitions: sortedPartitions(table).map(copy) };
      }
      databases[name] = { database: copy(db.database), tables };
    }
    return { databases };
  }

  /** Forgets everything. */
  clear(): void {
    this.#catalogs.clear();
  }

  /** @internal the databases of a catalog, created empty on first use. */
  catalog(catalogId: string): Map<string, StoredDatabase> {
    let catalog = this.#catalogs.get(catalogId);
    if (catalog === undefined) {
      catalog = new Map();
      this.#catalogs.set(catalogId, catalog);
    }
    return catalog;
  }
}

/** The catalog a request names, else the caller's. */
function catalogIdOf(body: Json, context: GlueCallContext): string {
  const id = optionalString(body, 'CatalogId');
  return id ?? context.account;
}

function optionalString(body: Json, member: string): string | undefined {
  const value = body[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new GlueServiceError('SerializationException', `Expected a string for ${member}`);
  return value;
}

/** A name member: required, 1..255 characters on one line; Glue keeps names lowercase. */
function nameOf(body: Json, member: string, at: string): string {
  const value = optionalString(body, member);
  if (value === undefined) throw GlueServiceError.validation('null', at, 'Member must not be null');
  if (value.length < 1) throw GlueServiceError.validation(`'${value}'`, at, 'Member must have length greater than or equal to 1');
  if (value.length > 255) throw GlueServiceError.validation(`'${value}'`, at, 'Member must have length less than or equal to 255');
  if (!NAME_PATTERN.test(value)) {
    throw GlueServiceError.validation(`'${value}'`, at, String.raw`Member must satisfy regular expression pattern: [\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*`);
  }
  return value.toLowerCase();
}

function objectOf(body: Json, member: string, at: string): Json {
  const value = body[member];
  if (value === undefined || value === null) throw GlueServiceError.validation('null', at, 'Member must not be null');
  if (typeof value !== 'object' || Array.isArray(value)) throw new GlueServiceError('SerializationException', `Expected an object for ${member}`);
  return value as Json;
}

function listOf(body: Json, member: string, at: string, max: number): unknown[] {
  const value = body[member];
  if (value === undefined || value === null) throw GlueServiceError.validation('null', at, 'Member must not be null');
  if (!Array.isArray(value)) throw new GlueServiceError('SerializationException', `Expected a list for ${member}`);
  if (value.length > max) throw GlueServiceError.validation(`'[${value.length} items]'`, at, `Member must have length less than or equal to ${max}`);
  return value;
}

function valuesOf(value: unknown, at: string): string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw GlueServiceError.validation('null', at, 'Member must not be null');
  }
  return value as string[];
}

function database(store: GlueCatalogStore, body: Json, context: GlueCallContext, member = 'DatabaseName', at = 'databaseName'): StoredDatabase {
  const name = nameOf(body, member, at);
  const db = store.catalog(catalogIdOf(body, context)).get(name);
  if (db === undefined) throw GlueServiceError.entityNotFound(`Database ${name} not found.`);
  return db;
}

function table(store: GlueCatalogStore, body: Json, context: GlueCallContext, member = 'Name', at = 'name'): StoredTable {
  const db = database(store, body, context);
  const name = nameOf(body, member, at);
  const found = db.tables.get(name);
  if (found === undefined) throw GlueServiceError.entityNotFound(`Table ${name} not found.`);
  return found;
}

interface ColumnShape {
  readonly Name: string;
  readonly Type?: string;
}

function columnsOf(value: unknown, at: string): ColumnShape[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new GlueServiceError('SerializationException', `Expected a list for ${at}`);
  return value.map((column: unknown, index) => {
    const name = (column as Json | null)?.Name;
    if (typeof name !== 'string' || name.length < 1 || name.length > 255) {
      throw GlueServiceError.validation(typeof name === 'string' ? `'${name}'` : 'null', `${at}.${index + 1}.member.name`, 'Member must have length between 1 and 255');
    }
    return column as ColumnShape;
  });
}

/**
 * The table as Glue stores it. A name among both the columns and the partition keys (or twice
 * among either) is refused with InvalidInputException. That is stricter than Glue promises to be
 * (its docs do not say it checks this), but Athena fails every query of such a table (`HIVE_INVALID_METADATA:
 * … duplicate columns`), and a test should find out when the table is written.
 */
function storedTable(input: Json, databaseName: string, catalogId: string, nowMs: number, previous?: Json): Json {
  const name = nameOf(input, 'Name', 'tableInput.name');
  const sd = input.StorageDescriptor as Json | undefined;
  const columns = columnsOf(sd?.Columns, 'tableInput.storageDescriptor.columns');
  const keys = columnsOf(input.PartitionKeys, 'tableInput.partitionKeys');
  const seen = new Set<string>();
  for (const column of [...columns, ...keys]) {
    const lower = column.Name.toLowerCase();
    if (seen.has(lower)) throw GlueServiceError.invalidInput(`Duplicate column name ${column.Name} in table ${name}: a name may appear once among the columns and partition keys.`);
    seen.add(lower);
  }
  const version = previous === undefined ? 0 : Number(previous.VersionId ?? 0) + 1;
  return {
    Retention: 0,
    PartitionKeys: [],
    Parameters: {},
    ...copy(input),
    Name: name,
    DatabaseName: databaseName,
    CatalogId: catalogId,
    CreateTime: previous?.CreateTime ?? seconds(nowMs),
    UpdateTime: seconds(nowMs),
    IsRegisteredWithLakeFormation: false,
    VersionId: String(version),
  };
}

function sortedPartitions(stored: StoredTable): Json[] {
  return [...stored.partitions.values()].sort((a, b) => partitionKey(a.Values as string[]).localeCompare(partitionKey(b.Values as string[])));
}

function storedPartition(input: Json, stored: StoredTable, catalogId: string, nowMs: number, created?: unknown): Json {
  return {
    ...copy(input),
    Values: copy(input.Values),
    DatabaseName: stored.table.DatabaseName,
    TableName: stored.table.Name,
    CatalogId: catalogId,
    CreationTime: created ?? seconds(nowMs),
  };
}

/** Why these values cannot name a partition of the table, or null when they can. */
function valuesProblem(values: readonly string[], stored: StoredTable): string | null {
  const keys = (stored.table.PartitionKeys as unknown[] | undefined) ?? [];
  return values.length === keys.length ? null : `The number of partition keys do not match the number of partition values (${keys.length} keys, ${values.length} values).`;
}

/**
 * A GetPartitions `Expression`: conditions `key = 'value'` joined with AND (what this emulator
 * understands of Glue's SQL-like filter); anything else is an InvalidInputException.
 */
function parseExpression(expression: string, keys: readonly string[]): (values: readonly string[]) => boolean {
  const conditions = expression.trim() === '' ? [] : expression.split(/\s+and\s+/i);
  const tests = conditions.map((condition) => {
    const match = /^\s*\(?\s*([A-Za-z_][\w]*)\s*=\s*'((?:[^']|'')*)'\s*\)?\s*$/.exec(condition);
    if (match === null) throw GlueServiceError.invalidInput(`Unsupported expression: ${expression} (the emulator understands key = 'value' [AND …])`);
    const index = keys.indexOf((match[1] ?? '').toLowerCase());
    if (index < 0) throw GlueServiceError.invalidInput(`${match[1] ?? ''} is not a partition key.`);
    const value = (match[2] ?? '').replaceAll("''", "'");
    return (values: readonly string[]) => values[index] === value;
  });
  return (values) => tests.every((test) => test(values));
}

function pageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset }), 'utf8').toString('base64url');
}

function offsetOf(token: string | undefined): number {
  if (token === undefined) return 0;
  try {
    const { offset } = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { offset?: unknown };
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw GlueServiceError.invalidInput('Invalid NextToken.');
}

const OPERATIONS: Readonly<Record<string, Operation>> = {
  GetDatabase(store, body, context) {
    return { Database: copy(database(store, body, context, 'Name', 'name').database) };
  },

  CreateDatabase(store, body, context) {
    const input = objectOf(body, 'DatabaseInput', 'databaseInput');
    const name = nameOf(input, 'Name', 'databaseInput.name');
    const catalogId = catalogIdOf(body, context);
    const catalog = store.catalog(catalogId);
    if (catalog.has(name)) throw GlueServiceError.alreadyExists('Database already exists.');
    catalog.set(name, { database: { Parameters: {}, ...copy(input), Name: name, CatalogId: catalogId, CreateTime: seconds(context.nowMs) }, tables: new Map() });
    return {};
  },

  GetTable(store, body, context) {
    return { Table: copy(table(store, body, context).table) };
  },

  CreateTable(store, body, context) {
    const db = database(store, body, context);
    const input = objectOf(body, 'TableInput', 'tableInput');
    const stored = storedTable(input, db.database.Name as string, catalogIdOf(body, context), context.nowMs);
    if (db.tables.has(stored.Name as string)) throw GlueServiceError.alreadyExists('Table already exists.');
    db.tables.set(stored.Name as string, { table: stored, partitions: new Map() });
    return {};
  },

  UpdateTable(store, body, context) {
    const db = database(store, body, context);
    const input = objectOf(body, 'TableInput', 'tableInput');
    const name = nameOf(input, 'Name', 'tableInput.name');
    const found = db.tables.get(name);
    if (found === undefined) throw GlueServiceError.entityNotFound(`Table ${name} not found.`);
    found.table = storedTable(input, db.database.Name as string, catalogIdOf(body, context), context.nowMs, found.table);
    return {};
  },

  DeleteTable(store, body, context) {
    const db = database(store, body, context);
    const name = nameOf(body, 'Name', 'name');
    if (!db.tables.delete(name)) throw GlueServiceError.entityNotFound(`Table ${name} not found.`);
    return {};
  },

  BatchCreatePartition(store, body, context) {
    const inputs = listOf(body, 'PartitionInputList', 'partitionInputList', GLUE_MAX_BATCH_CREATE_PARTITIONS);
    const stored = table(store, body, context, 'TableName', 'tableName');
    const catalogId = catalogIdOf(body, context);
    const errors: Json[] = [];
    for (const [index, raw] of inputs.entries()) {
      const input = (raw ?? {}) as Json;
      const values = valuesOf(input.Values, `partitionInputList.${index + 1}.member.values`);
      const problem = valuesProblem(values, stored);
      const key = partitionKey(values);
      if (problem !== null) errors.push(partitionError(values, 'InvalidInputException', problem));
      else if (stored.partitions.has(key)) errors.push(partitionError(values, 'AlreadyExistsException', 'Partition already exists.'));
      else stored.partitions.set(key, storedPartition(input, stored, catalogId, context.nowMs));
    }
    return errors.length === 0 ? {} : { Errors: errors };
  },

  BatchDeletePartition(store, body, context) {
    const toDelete = listOf(body, 'PartitionsToDelete', 'partitionsToDelete', GLUE_MAX_BATCH_DELETE_PARTITIONS);
    const stored = table(store, body, context, 'TableName', 'tableName');
    const errors: Json[] = [];
    for (const [index, raw] of toDelete.entries()) {
      const values = valuesOf((raw as Json | null)?.Values, `partitionsToDelete.${index + 1}.member.values`);
      if (!stored.partitions.delete(partitionKey(values))) errors.push(partitionError(values, 'EntityNotFoundException', 'Partition not found.'));
    }
    return errors.length === 0 ? {} : { Errors: errors };
  },

  GetPartition(store, body, context) {
    const stored = table(store, body, context, 'TableName', 'tableName');
    const values = valuesOf(body.PartitionValues, 'partitionValues');
    const partition = stored.partitions.get(partitionKey(values));
    if (partition === undefined) throw GlueServiceError.entityNotFound('Cannot find partition.');
    return { Partition: copy(partition) };
  },

  UpdatePartition(store, body, context) {
    const stored = table(store, body, context, 'TableName', 'tableName');
    const values = valuesOf(body.PartitionValueList, 'partitionValueList');
    const input = objectOf(body, 'PartitionInput', 'partitionInput');
    const key = partitionKey(values);
    const existing = stored.partitions.get(key);
    if (existing === undefined) throw GlueServiceError.entityNotFound('Cannot find partition.');
    const next = storedPartition({ ...input, Values: input.Values ?? values }, stored, catalogIdOf(body, context), context.nowMs, existing.CreationTime);
    const problem = valuesProblem(next.Values as string[], stored);
    if (problem !== null) throw GlueServiceError.invalidInput(problem);
    stored.partitions.delete(key);
    stored.partitions.set(partitionKey(next.Values as string[]), next);
    return {};
  },

  GetPartitions(store, body, context) {
    const stored = table(store, body, context, 'TableName', 'tableName');
    const keys = ((stored.table.PartitionKeys as ColumnShape[] | undefined) ?? []).map((key) => key.Name.toLowerCase());
    const expression = optionalString(body, 'Expression');
    const matches = expression === undefined ? () => true : parseExpression(expression, keys);
    const max = body.MaxResults;
    if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > GLUE_MAX_PARTITIONS_PAGE)) {
      throw GlueServiceError.validation(`'${JSON.stringify(max)}'`, 'maxResults', `Member must have value between 1 and ${GLUE_MAX_PARTITIONS_PAGE}`);
    }
    const limit = typeof max === 'number' ? max : GLUE_MAX_PARTITIONS_PAGE;
    const offset = offsetOf(optionalString(body, 'NextToken'));
    const all = sortedPartitions(stored).filter((partition) => matches(partition.Values as string[]));
    const page = all.slice(offset, offset + limit).map(copy);
    return offset + limit < all.length ? { Partitions: page, NextToken: pageToken(offset + limit) } : { Partitions: page };
  },
};

function partitionError(values: readonly string[], code: string, message: string): Json {
  return { PartitionValues: [...values], ErrorDetail: { ErrorCode: code, ErrorMessage: message } };
}
