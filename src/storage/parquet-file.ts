import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import type { SchemaElement } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { Column, ColumnType } from './table-columns.js';

/**
 * Parquet data files, written with hyparquet-writer (pure JavaScript, streaming by row group) and
 * read with hyparquet. A file holds a table's records with the same fields in the same order as
 * its NDJSON lines: `user_pool_id`, then the table's columns (see table-columns.ts). Types:
 * strings UTF8, `enabled` BOOLEAN, `precedence` INT32, timestamps INT64 TIMESTAMP(MILLIS, UTC),
 * `attributes` MAP<STRING, STRING>, `mfa_options` LIST<STRUCT<delivery_medium, attribute_name>>,
 * `changed_fields` LIST<STRING>; every column is nullable, as in NDJSON. Compression is snappy,
 * inside the file, per page.
 */

/** The columns of a Parquet file of a table: `user_pool_id` first (as in the record), then the table's. */
export function fileColumns(columns: readonly Column[]): readonly Column[] {
  return [{ name: 'user_pool_id', type: 'string' }, ...columns];
}

const optional = 'OPTIONAL' as const;
const utf8 = (name: string, repetition: 'OPTIONAL' | 'REQUIRED' = optional): SchemaElement => ({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type: repetition });

/** The schema elements of one column, depth first (a nested column is a group and its children). */
function columnElements(column: Column): SchemaElement[] {
  const { name } = column;
  const type: ColumnType = column.type;
  switch (type) {
    case 'string':
      return [utf8(name)];
    case 'boolean':
      return [{ name, type: 'BOOLEAN', repetition_type: optional }];
    case 'int':
      return [{ name, type: 'INT32', repetition_type: optional }];
    case 'date':
      return [{ name, type: 'INT32', converted_type: 'DATE', logical_type: { type: 'DATE' }, repetition_type: optional }];
    case 'timestamp':
      return [{ name, type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' }, repetition_type: optional }];
    case 'string_map':
      return [
        { name, converted_type: 'MAP', logical_type: { type: 'MAP' }, repetition_type: optional, num_children: 1 },
        { name: 'key_value', repetition_type: 'REPEATED', num_children: 2 },
        utf8('key', 'REQUIRED'),
        utf8('value'),
      ];
    case 'string_list':
      return [
        { name, converted_type: 'LIST', logical_type: { type: 'LIST' }, repetition_type: optional, num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        utf8('element'),
      ];
    case 'mfa_options':
      return [
        { name, converted_type: 'LIST', logical_type: { type: 'LIST' }, repetition_type: optional, num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', repetition_type: optional, num_children: 2 },
        utf8('delivery_medium'),
        utf8('attribute_name'),
      ];
  }
}

/** The Parquet schema of a file holding `columns` (see {@link fileColumns}). Pure. */
export function parquetSchemaOf(columns: readonly Column[]): SchemaElement[] {
  return [{ name: 'schema', num_children: columns.length }, ...columns.flatMap(columnElements)];
}

/** A record's value of `column` as the writer takes it: timestamps as Dates, the rest as they are. */
function toParquetValue(type: ColumnType, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (type === 'timestamp') {
    if (typeof value !== 'string') throw new TypeError(`a timestamp must be an ISO 8601 string, got ${typeof value}`);
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) throw new TypeError(`${JSON.stringify(value)} is not an ISO 8601 timestamp`);
    return date;
  }
  if (type === 'date' && typeof value === 'string') return new Date(`${value}T00:00:00Z`);
  return value;
}

/** A record as read back: the same fields, in the same order, with the same values as its NDJSON line. */
function fromParquetValue(type: ColumnType, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  switch (type) {
    case 'timestamp':
      return value instanceof Date ? value.toISOString() : new Date(Number(value)).toISOString();
    case 'date':
      return value instanceof Date ? value.toISOString().slice(0, 10) : value;
    case 'int':
      return typeof value === 'bigint' ? Number(value) : value;
    case 'string_map':
      return mapOf(value);
    case 'mfa_options':
      return (value as readonly Record<string, unknown>[]).map((option) => ({ delivery_medium: option.delivery_medium ?? null, attribute_name: option.attribute_name ?? null }));
    default:
      return value;
  }
}

/** A MAP as hyparquet returns it (an object, or key/value entries) as a plain object, entries in file order. */
function mapOf(value: unknown): Record<string, unknown> {
  if (Array.isArray(value)) {
    const out: Record<string, unknown> = {};
    for (const entry of value as readonly { key: string; value: unknown }[]) out[entry.key] = entry.value ?? null;
    return out;
  }
  return { ...(value as Record<string, unknown>) };
}

/** Where an encoder's bytes go, chunk by chunk; a returned promise holds the encoder back (backpressure). */
export type ByteOutput = (bytes: Uint8Array) => Promise<void> | void;

/**
 * A ByteWriter whose bytes leave at every flush (after each row group, and at the end), so that
 * memory holds at most one row group's encoded bytes. Offsets keep counting across flushes: the
 * footer's column chunk offsets are absolute, as Parquet requires.
 */
class StreamingByteWriter extends ByteWriter {
  constructor(private readonly output: ByteOutput) {
    super(64 * 1024);
  }

  flush(): Promise<void> | void {
    if (this.index === 0) return;
    // The buffer is reused: what leaves must be a copy.
    const bytes = new Uint8Array(this.buffer.slice(0, this.index));
    this.index = 0;
    return this.output(bytes);
  }

  // ParquetWriter returns (and the encoder awaits) what the Writer's finish() returns.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  override finish(): Promise<void> | void {
    return this.flush();
  }
}

/**
 * One Parquet file being written: records in, row groups of `rowGroupRows` records out to
 * `output` as they fill, the footer at `finish()`. Memory holds the records of one row group and
 * its encoded bytes, whatever the file's size. A file is only readable once finished.
 */
export class ParquetEncoder {
  private readonly writer: ParquetWriter;
  private readonly columns: readonly Column[];
  private pending: object[] = [];

  constructor(columns: readonly Column[], output: ByteOutput, private readonly rowGroupRows: number) {
    this.columns = fileColumns(columns);
    this.writer = new ParquetWriter({ writer: new StreamingByteWriter(output), schema: parquetSchemaOf(this.columns), codec: 'SNAPPY', createdBy: 'cognito-export' });
  }

  /** Adds records; a full row group is encoded and handed to the output before this resolves. */
  async add(records: readonly object[]): Promise<void> {
    for (const record of records) {
      this.pending.push(record);
      if (this.pending.length >= this.rowGroupRows) await this.writeGroup();
    }
  }

  /** Writes the last row group and the footer. */
  async finish(): Promise<void> {
    if (this.pending.length > 0) await this.writeGroup();
    await this.writer.finish();
  }

  private async writeGroup(): Promise<void> {
    const rows = this.pending;
    this.pending = [];
    const columnData = this.columns.map((column) => ({
      name: column.name,
      data: rows.map((row) => toParquetValue(column.type, (row as Record<string, unknown>)[column.name])),
    }));
    await this.writer.write({ columnData, rowGroupSize: rows.length });
  }
}

/**
 * The records of a Parquet file written by {@link ParquetEncoder}, in file order, a row group at a
 * time (a file's records are never all decoded at once): each with the fields of `columns` in
 * record order, valued as in the NDJSON line of the same record (ISO timestamps, attributes an
 * object). Throws when the bytes are not such a Parquet file.
 */
export async function* parquetRecords(bytes: Uint8Array, columns: readonly Column[]): AsyncGenerator<Record<string, unknown>, void, undefined> {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  const file = whole ? (bytes.buffer) : (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  const metadata = parquetMetadata(file);
  const all = fileColumns(columns);
  let start = 0;
  for (const group of metadata.row_groups) {
    const end = start + Number(group.num_rows);
    const rows = end === start ? [] : await parquetReadObjects({ file, metadata, rowStart: start, rowEnd: end, columns: all.map((column) => column.name) });
    start = end;
    for (const row of rows) {
      const record: Record<string, unknown> = {};
      for (const column of all) record[column.name] = fromParquetValue(column.type, (row as Record<string, unknown>)[column.name]);
      yield record;
    }
  }
}
