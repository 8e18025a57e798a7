import type { Table } from '@aws-sdk/client-glue';
import { describe, expect, it } from 'vitest';
import { TABLES } from '../../src/storage/output-layout.js';
import { glueColumnType, GlueCatalogError, glueNameError, gluePartitionInput, glueTableInput, tableDifferences } from '../../src/warehouse/glue-catalog.js';
import type { GlueTableSpec } from '../../src/warehouse/glue-catalog.js';
import { PARTITION_KEYS, TABLE_COLUMNS } from '../../src/warehouse/table-columns.js';
import type { ColumnType } from '../../src/warehouse/table-columns.js';

const NDJSON: GlueTableSpec = { rootUrl: 's3://b/p', format: 'ndjson', gzip: true };
const PARQUET: GlueTableSpec = { rootUrl: 's3://b/p/', format: 'parquet', gzip: true };

describe('glueNameError', () => {
  it('accepts lowercase letters, digits and _ up to 255 characters; an empty prefix', () => {
    expect(glueNameError('database', 'cognito_export_2')).toBeNull();
    expect(glueNameError('table', 'a'.repeat(255))).toBeNull();
    expect(glueNameError('table prefix', '')).toBeNull();
    expect(glueNameError('table prefix', 'raw_')).toBeNull();
  });

  it('refuses anything else with one line naming the name', () => {
    expect(glueNameError('database', '')).toBe('Glue database name "" is empty; use lowercase letters, digits and _');
    expect(glueNameError('table', 'a'.repeat(256))).toBe(`Glue table name "${'a'.repeat(256)}" is 256 characters long; at most 255`);
    expect(glueNameError('database', 'cognito-export')).toBe('Glue database name "cognito-export" may hold only lowercase letters, digits and _');
    expect(glueNameError('database', 'Cognito')).toBe('Glue database name "Cognito" may hold only lowercase letters, digits and _ (Glue stores names lowercase: "cognito")');
    expect(glueNameError('table prefix', 'a b')).toBe('Glue table prefix name "a b" may hold only lowercase letters, digits and _');
    expect(glueNameError('database', 'db\n')).not.toBeNull();
  });
});

describe('glueColumnType', () => {
  it('spells each logical type in Hive DDL; timestamps are strings in NDJSON only', () => {
    const all: ColumnType[] = ['string', 'boolean', 'int', 'date', 'timestamp', 'string_map', 'string_list', 'mfa_options'];
    expect(all.map((type) => glueColumnType(type, 'parquet'))).toEqual([
      'string',
      'boolean',
      'int',
      'date',
      'timestamp',
      'map<string,string>',
      'array<string>',
      'array<struct<delivery_medium:string,attribute_name:string>>',
    ]);
    expect(all.map((type) => glueColumnType(type, 'ndjson'))).toEqual([
      'string',
      'boolean',
      'int',
      'date',
      'string',
      'map<string,string>',
      'array<string>',
      'array<struct<delivery_medium:string,attribute_name:string>>',
    ]);
  });
});

describe('glueTableInput', () => {
  it('describes every table: prefixed name, string partition keys never among the columns, location under the root', () => {
    for (const table of TABLES) {
      const input = glueTableInput(table, { ...NDJSON, tablePrefix: 'x_' });
      expect(input.Name).toBe(`x_${table}`);
      expect(input.PartitionKeys).toEqual(PARTITION_KEYS.map((key) => ({ Name: key.name, Type: 'string' })));
      const names = input.StorageDescriptor!.Columns!.map((c) => c.Name);
      expect(names).toEqual(TABLE_COLUMNS[table]!.map((c) => c.name));
      expect(names.filter((name) => PARTITION_KEYS.some((key) => key.name === name))).toEqual([]);
      expect(input.StorageDescriptor!.Location).toBe(`s3://b/p/${table}/`);
    }
  });

  it('sets compressionType only for gzipped NDJSON', () => {
    expect(glueTableInput('users', NDJSON).Parameters).toEqual({ classification: 'json', EXTERNAL: 'TRUE', compressionType: 'gzip' });
    expect(glueTableInput('users', { ...NDJSON, gzip: false }).Parameters).toEqual({ classification: 'json', EXTERNAL: 'TRUE' });
    expect(glueTableInput('users', PARQUET).Parameters).toEqual({ classification: 'parquet', EXTERNAL: 'TRUE' });
  });

  it('refuses a table the layout does not have', () => {
    expect(() => glueTableInput('nope', NDJSON)).toThrow(GlueCatalogError);
  });
});

describe('gluePartitionInput', () => {
  it('locates the partition at the run folder of the layout', () => {
    const input = gluePartitionInput('group_memberships', { userPoolId: 'us-east-1_X', dt: '2024-02-29', snapshotId: 's1' }, PARQUET);
    expect(input.Values).toEqual(['us-east-1_X', '2024-02-29', 's1']);
    expect(input.StorageDescriptor!.Location).toBe('s3://b/p/group_memberships/user_pool_id=us-east-1_X/dt=2024-02-29/run=s1/');
    expect(input.StorageDescriptor!.SerdeInfo).toEqual(glueTableInput('group_memberships', PARQUET).StorageDescriptor!.SerdeInfo);
  });

  it('refuses a dt that is not a date', () => {
    for (const dt of ['2024-2-1', '2023-02-29', '20240101', '']) {
      expect(() => gluePartitionInput('users', { userPoolId: 'p', dt, snapshotId: 's' }, NDJSON), dt).toThrow(/is not a YYYY-MM-DD date/);
    }
  });
});

describe('tableDifferences', () => {
  const wanted = glueTableInput('users', NDJSON);
  const asTable = (input = wanted): Table => structuredClone({ ...input, Name: input.Name! });

  it('finds none for the table as created, whatever the case and spacing of types, extra parameters or description', () => {
    const table = asTable();
    table.StorageDescriptor!.Columns![7]!.Type = 'MAP<string, string>';
    table.Parameters = { ...table.Parameters, owner_team: 'identity' };
    table.Description = 'mine';
    expect(tableDifferences(table, wanted)).toEqual([]);
  });

  it('names each aspect that differs', () => {
    const cases: [string, (t: Table) => void][] = [
      ['table type', (t) => (t.TableType = 'MANAGED_TABLE')],
      ['parameters', (t) => (t.Parameters = { ...t.Parameters, classification: 'csv' })],
      ['parameters', (t) => delete t.Parameters!.compressionType],
      ['partition keys', (t) => t.PartitionKeys!.pop()],
      ['columns', (t) => (t.StorageDescriptor!.Columns![0]!.Name = 'snapshot')],
      ['columns', (t) => (t.StorageDescriptor!.Columns![5]!.Type = 'timestamp')],
      ['location', (t) => (t.StorageDescriptor!.Location = 's3://b/other/users/')],
      ['input format', (t) => (t.StorageDescriptor!.InputFormat = 'x')],
      ['output format', (t) => (t.StorageDescriptor!.OutputFormat = 'x')],
      ['serde', (t) => (t.StorageDescriptor!.SerdeInfo = { SerializationLibrary: 'org.apache.hive.hcatalog.data.JsonSerDe' })],
    ];
    for (const [aspect, change] of cases) {
      const table = asTable();
      change(table);
      expect(tableDifferences(table, wanted), aspect).toEqual([aspect]);
    }
    const gzipOff = glueTableInput('users', { ...NDJSON, gzip: false });
    expect(tableDifferences(asTable(), gzipOff)).toEqual(['parameters']);
    const parquet = glueTableInput('users', PARQUET);
    expect(tableDifferences(asTable(), parquet)).toEqual(['parameters', 'columns', 'input format', 'output format', 'serde']);
  });
});
