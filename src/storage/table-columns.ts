import { GROUP_CHANGES_TABLE, GROUP_MEMBERSHIP_CHANGES_TABLE, GROUP_MEMBERSHIPS_TABLE, GROUPS_TABLE, RESTORE_GROUPS_TABLE, RESTORE_MEMBERSHIPS_TABLE, RESTORE_USERS_TABLE, USER_CHANGES_TABLE, USERS_TABLE } from './output-layout.js';

/** A column's logical type, which each warehouse dialect spells its own way. */
export type ColumnType = 'string' | 'boolean' | 'int' | 'date' | 'timestamp' | 'string_map' | 'string_list' | 'mfa_options';

/** One column of a table as a record holds it (the partition keys `user_pool_id`, `dt`, `run` come from the path). */
export interface Column {
  readonly name: string;
  readonly type: ColumnType;
}

const text = (name: string): Column => ({ name, type: 'string' });
const time = (name: string): Column => ({ name, type: 'timestamp' });

const USER: readonly Column[] = [
  text('snapshot_id'),
  text('username'),
  text('sub'),
  { name: 'enabled', type: 'boolean' },
  text('status'),
  time('created_at'),
  time('last_modified_at'),
  { name: 'attributes', type: 'string_map' },
  { name: 'mfa_options', type: 'mfa_options' },
];
const GROUP: readonly Column[] = [text('snapshot_id'), text('group_name'), text('description'), text('role_arn'), { name: 'precedence', type: 'int' }, time('created_at'), time('last_modified_at')];
const MEMBERSHIP: readonly Column[] = [text('snapshot_id'), text('group_name'), text('username'), text('sub')];
/** What a change record adds to its table's record. */
const CHANGE: readonly Column[] = [text('op'), text('from_snapshot_id'), { name: 'changed_fields', type: 'string_list' }];

/**
 * The columns of every table this tool writes, in record order, without `user_pool_id` (a record
 * holds it, but it is also the first partition key, and a warehouse refuses a column twice).
 */
export const TABLE_COLUMNS: Readonly<Record<string, readonly Column[]>> = {
  [USERS_TABLE]: USER,
  [GROUPS_TABLE]: GROUP,
  [GROUP_MEMBERSHIPS_TABLE]: MEMBERSHIP,
  [USER_CHANGES_TABLE]: [...USER, ...CHANGE],
  [GROUP_CHANGES_TABLE]: [...GROUP, ...CHANGE],
  [GROUP_MEMBERSHIP_CHANGES_TABLE]: [...MEMBERSHIP, ...CHANGE],
  // A restore's tables (`user_pool_id` is the target pool): what it did with each record, and why.
  [RESTORE_USERS_TABLE]: [text('restore_id'), text('username'), text('old_sub'), text('new_sub'), text('action'), text('reason')],
  [RESTORE_GROUPS_TABLE]: [text('restore_id'), text('group_name'), text('username'), text('action'), text('reason')],
  [RESTORE_MEMBERSHIPS_TABLE]: [text('restore_id'), text('group_name'), text('username'), text('action'), text('reason')],
};

/** The partition keys of every table, from its path: `user_pool_id=…/dt=…/run=…` (`dt` the run's start date, UTC). */
export const PARTITION_KEYS: readonly Column[] = [text('user_pool_id'), { name: 'dt', type: 'date' }, text('run')];

/** The tables a pool's latest snapshot is read from (the change tables are read run by run). */
export const SNAPSHOT_TABLES = [USERS_TABLE, GROUPS_TABLE, GROUP_MEMBERSHIPS_TABLE] as const;
