import { GROUP_CHANGES_TABLE, GROUP_MEMBERSHIP_CHANGES_TABLE, GROUP_MEMBERSHIPS_TABLE, GROUPS_TABLE, USER_CHANGES_TABLE, USERS_TABLE } from '../storage/output-layout.js';

/** What a change says happened to a record between two snapshots (Debezium's `op`, spelt out). */
export type ChangeOp = 'insert' | 'update' | 'delete';

/** Every op, in the order counts are shown. */
export const CHANGE_OPS: readonly ChangeOp[] = ['insert', 'update', 'delete'];

/** A parsed data record: what the diff compares. */
export type DataRecord = Readonly<Record<string, unknown>>;

/**
 * A change record: the record of the table (as of this snapshot; for a delete, as of the previous
 * one) plus what happened to it. `changed_fields` lists what an update changed (`enabled`,
 * `attributes.email`, …) and is null on inserts and deletes.
 */
export type ChangeRecord = DataRecord & {
  readonly op: ChangeOp;
  readonly from_snapshot_id: string;
  readonly changed_fields: readonly string[] | null;
};

/** How one table's records are compared: the change table it feeds, its key, and which part of the pool a record is in. */
export interface ChangeKind {
  /** The table compared (`users`). */
  readonly table: string;
  /** The change table it feeds (`user_changes`). */
  readonly changes: string;
  /** The record's identity across snapshots: users by sub, groups by name, memberships by (group, sub). */
  key(record: DataRecord): string;
  /** Whether a record with the same key can be `update`d (memberships are only inserted and deleted). */
  readonly updates: boolean;
  /** Whether records are split into partitions by their `sub` (groups are few: one partition). */
  readonly bySub: boolean;
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/**
 * The user's own key. A user without a `sub` (Cognito always has one) falls back to its username,
 * in a space no sub can be in.
 */
const userKey = (record: DataRecord): string => (typeof record.sub === 'string' ? record.sub : `\u0000${text(record.username)}`);

export const USER_CHANGES: ChangeKind = { table: USERS_TABLE, changes: USER_CHANGES_TABLE, key: userKey, updates: true, bySub: true };
export const GROUP_CHANGES: ChangeKind = { table: GROUPS_TABLE, changes: GROUP_CHANGES_TABLE, key: (record) => text(record.group_name), updates: true, bySub: false };
export const GROUP_MEMBERSHIP_CHANGES: ChangeKind = {
  table: GROUP_MEMBERSHIPS_TABLE,
  changes: GROUP_MEMBERSHIP_CHANGES_TABLE,
  // A NUL cannot be in a group name (Cognito's pattern refuses control characters).
  key: (record) => `${text(record.group_name)}\u0000${userKey(record)}`,
  updates: false,
  bySub: true,
};

/** The change kinds by the change table they write. */
export const CHANGE_KINDS: readonly ChangeKind[] = [USER_CHANGES, GROUP_CHANGES, GROUP_MEMBERSHIP_CHANGES];

/** The kind that writes `changeTable`, or undefined. */
export function changeKindOf(changeTable: string): ChangeKind | undefined {
  return CHANGE_KINDS.find((kind) => kind.changes === changeTable);
}

/** Fields that never count as a change: which snapshot a record came from, and the pool it is in. */
const IGNORED = new Set(['snapshot_id', 'user_pool_id']);

const same = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);

/**
 * The fields whose values differ between two versions of a record, in the newer one's order then
 * any only the older has: top-level names, and for `attributes` one entry per attribute
 * (`attributes.email`) that was added, removed or changed. `snapshot_id` never counts. Pure.
 */
export function changedFields(before: DataRecord, after: DataRecord): string[] {
  const changed: string[] = [];
  const names = [...new Set([...Object.keys(after), ...Object.keys(before)])];
  for (const name of names) {
    if (IGNORED.has(name)) continue;
    const [a, b] = [before[name], after[name]];
    if (name === 'attributes' && isObject(a) && isObject(b)) {
      for (const attribute of [...new Set([...Object.keys(b), ...Object.keys(a)])]) {
        if (!same(a[attribute], b[attribute])) changed.push(`attributes.${attribute}`);
      }
    } else if (!same(a, b)) {
      changed.push(name);
    }
  }
  return changed;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
