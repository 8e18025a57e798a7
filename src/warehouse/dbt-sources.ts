import { stringify } from 'yaml';
import type { ColumnType } from './table-columns.js';
import { PARTITION_KEYS, TABLE_COLUMNS } from './table-columns.js';
import { TABLES } from '../storage/output-layout.js';

/** What each table is, for the sources' descriptions. */
const DESCRIPTIONS: Readonly<Record<string, string>> = {
  users: "The users of each pool's latest complete snapshot, one row per user.",
  groups: "The groups of each pool's latest complete snapshot.",
  group_memberships: "Who is in which group in each pool's latest complete snapshot: one row per group and member.",
  user_changes: 'Users inserted, updated or deleted by each run, relative to the previous snapshot of its dataset.',
  group_changes: 'Groups inserted, updated or deleted by each run.',
  group_membership_changes: 'Memberships inserted or deleted by each run.',
};

const DATA_TYPES: Readonly<Record<ColumnType, string>> = {
  string: 'varchar',
  boolean: 'boolean',
  int: 'integer',
  date: 'date',
  timestamp: 'timestamp',
  string_map: 'map(varchar, varchar)',
  string_list: 'varchar[]',
  mfa_options: 'struct(delivery_medium varchar, attribute_name varchar)[]',
};

/** Tests on a column of a table, for the snapshot views (one row per key per pool). */
function testsOf(table: string, column: string): unknown[] | undefined {
  const ref = (to: string, field: string) => ({ relationships: { to: `source('cognito', '${to}')`, field } });
  if (table === 'users' && column === 'sub') return ['not_null', 'unique'];
  if (table === 'users' && column === 'username') return ['not_null'];
  if (table === 'groups' && column === 'group_name') return ['not_null'];
  if (table === 'group_memberships' && column === 'sub') return ['not_null', ref('users', 'sub')];
  if (table === 'group_memberships' && column === 'group_name') return ['not_null', ref('groups', 'group_name')];
  if (table.endsWith('_changes') && column === 'op') return [{ accepted_values: { values: table === 'group_membership_changes' ? ['insert', 'delete'] : ['insert', 'update', 'delete'] } }];
  return undefined;
}

/**
 * A dbt sources file (`models/sources.yml`) for the views `ddl --dialect duckdb` creates in `schema`:
 * every table with its columns, data types and descriptions, and the tests a snapshot keeps (a
 * user's `sub` unique, every membership's user and group present, the change ops known). Pure.
 */
export function dbtSources(schema: string): string {
  const tables = TABLES.map((table) => ({
    name: table,
    description: DESCRIPTIONS[table] ?? table,
    columns: [
      ...PARTITION_KEYS.map((key) => ({ name: key.name, data_type: DATA_TYPES[key.type], description: `From the file's path (${key.name}=…).` })),
      ...(TABLE_COLUMNS[table] ?? []).map((column) => {
        const tests = testsOf(table, column.name);
        return { name: column.name, data_type: DATA_TYPES[column.type], ...(tests ? { data_tests: tests } : {}) };
      }),
    ],
  }));
  const sources = { version: 2, sources: [{ name: 'cognito', schema, description: 'Amazon Cognito user pools exported by cognito-export.', tables }] };
  return `# cognito-export ddl --dialect dbt: sources over the views of ddl --dialect duckdb in schema ${schema}\n${stringify(sources, { lineWidth: 0 })}`;
}
