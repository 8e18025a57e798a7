import type { Manifest, ManifestPrivacy } from '../storage/manifest.js';
import { DATA_FILE_NAME, GROUP_MEMBERSHIPS_TABLE, GROUPS_TABLE, USERS_TABLE } from '../storage/output-layout.js';
import { CHANGE_KINDS, changeKindOf, type ChangeKind } from './change-kinds.js';

/**
 * What a run compares itself with, decided once at its end: the previous complete snapshot of its
 * dataset (the one its pointer named) when that is comparable, and how each change table's diff is
 * split into partitions. Stored with the run, so every diff job and a retried finalizer use the same plan.
 */
export interface ChangePlan {
  /** The previous snapshot the changes are relative to, or null: no change tables. */
  readonly since: string | null;
  /** Why there are no change tables (`since` is null), or null. */
  readonly reason: string | null;
  /** The previous snapshot's manifest, as a key under the destination (null without `since`). */
  readonly previous: string | null;
  /** Each change table written, with the `sub` prefixes of its partitions ('' is the whole table). */
  readonly tables: readonly ChangeTablePlan[];
}

export interface ChangeTablePlan {
  /** The change table (`user_changes`). */
  readonly changes: string;
  readonly partitions: readonly string[];
}

/** What the diff needs to know of this run. */
export interface CurrentRun {
  readonly snapshotId: string;
  readonly filter: string | null;
  readonly attributes: readonly string[] | null;
  /** Whether this run wrote groups and memberships. */
  readonly groups: boolean;
  /** Records this run wrote, by table. */
  readonly records: Readonly<Record<string, number>>;
  /** What it kept out of its records (see Manifest.privacy). */
  readonly privacy: ManifestPrivacy;
}

/**
 * Records a partition holds at most (about: subs are random, so partitions are even). The diff of a
 * partition keeps each record's key and a 48-bit hash in memory, about 120 bytes a record, so this
 * bounds a diff job at about 16 MB whatever the pool's size.
 */
export const PARTITION_RECORDS = 131_072;

/** The hex prefix length whose 16^k partitions each hold at most PARTITION_RECORDS of `records`. */
export function partitionLength(records: number): number {
  let length = 0;
  while (records / 16 ** length > PARTITION_RECORDS && length < 4) length += 1;
  return length;
}

/** Every hex prefix of `length` characters, in order ('' alone for 0). */
export function partitionsOf(length: number): string[] {
  if (length === 0) return [''];
  return Array.from({ length: 16 ** length }, (_, i) => i.toString(16).padStart(length, '0'));
}

/** The shard name of a partition in unit and file names: its prefix, or `all` for the whole table. */
export const partitionShard = (partition: string): string => (partition === '' ? 'all' : partition);

/** The checkpoint unit of one partition of a change table (`user_changes.3`, `group_changes.all`). */
export const diffUnit = (changes: string, partition: string): string => `${changes}.${partitionShard(partition)}`;

/** Every diff unit of a plan. */
export function diffUnits(plan: ChangePlan): string[] {
  return plan.tables.flatMap((table) => table.partitions.map((partition) => diffUnit(table.changes, partition)));
}

// A manifest is read back as untrusted input: a list that is missing or not a list counts as none.
const sorted = (list: readonly string[] | null | undefined): string | null => (Array.isArray(list) ? JSON.stringify([...(list as readonly string[])].sort()) : null);

/** A plan without change tables, saying why. */
export const noChanges = (reason: string): ChangePlan => ({ since: null, reason, previous: null, tables: [] });

/**
 * Plans a run's change tables against `previous` (the manifest its pointer named before it, with its
 * key), or says why there are none: no previous snapshot, this run itself, or one that selected other
 * records or fields (a filter, the attributes kept). Groups are compared only when both runs have them. Pure.
 */
export function planChanges(current: CurrentRun, previous: { manifest: Manifest; key: string } | undefined): ChangePlan {
  if (!previous) return noChanges('no previous complete snapshot of this dataset');
  const { manifest } = previous;
  const id = manifest.snapshot_id;
  // The previous snapshot is the dataset's committed head when this run started, so it committed
  // before this one: ids (a requester's clock) decide nothing here.
  if (id === current.snapshotId) return noChanges(`the previous snapshot ${id} is this run itself`);
  if ((manifest.filter ?? null) !== current.filter) {
    return noChanges(`the previous snapshot ${id} has filter ${JSON.stringify(manifest.filter ?? null)}, this one ${JSON.stringify(current.filter)}`);
  }
  if (sorted(manifest.attributes ?? null) !== sorted(current.attributes)) {
    const list = (attributes: readonly string[] | null) => (attributes === null ? 'all attributes' : `attributes ${[...attributes].sort().join(',') || '(none)'}`);
    return noChanges(`the previous snapshot ${id} kept ${list(manifest.attributes ?? null)}, this one ${list(current.attributes)}`);
  }
  const before: ManifestPrivacy = manifest.privacy ?? { excluded_attributes: [], pseudonymized: [], key_id: null };
  const fields = (privacy: ManifestPrivacy) => `excluded ${sorted(privacy.excluded_attributes) ?? '[]'}, pseudonymized ${sorted(privacy.pseudonymized) ?? '[]'}`;
  if (fields(before) !== fields(current.privacy)) {
    return noChanges(`the previous snapshot ${id} ${fields(before).replace(/"/g, '')}, this one ${fields(current.privacy).replace(/"/g, '')}`);
  }
  if ((before.key_id ?? null) !== (current.privacy.key_id ?? null)) {
    return noChanges(`the previous snapshot ${id} was pseudonymized with key ${before.key_id ?? 'none'}, this one with key ${current.privacy.key_id ?? 'none'}: the same values hash differently`);
  }
  const previousRecords = (table: string): number => manifest.tables?.[table]?.record_count ?? (table === USERS_TABLE ? manifest.record_count : 0);
  const size = (table: string) => Math.max(current.records[table] ?? 0, previousRecords(table));
  const compared = (kind: ChangeKind) => kind.table === USERS_TABLE || (current.groups && manifest.tables?.[GROUPS_TABLE] !== undefined && manifest.tables[GROUP_MEMBERSHIPS_TABLE] !== undefined);
  const tables = CHANGE_KINDS.filter(compared).map((kind) => ({
    changes: kind.changes,
    partitions: partitionsOf(kind.bySub ? partitionLength(size(kind.table)) : 0),
  }));
  return { since: id, reason: null, previous: previous.key, tables };
}

/** The shard a data file was written by, from its name (`part-<shard>-<seq>`); '' for `all`. */
export function shardOfFile(url: string): string {
  const shard = DATA_FILE_NAME.exec(url.slice(url.lastIndexOf('/') + 1))?.[1] ?? '';
  return shard === 'all' ? '' : shard;
}

/**
 * Whether a data file of `table` may hold records of `partition`: a users file holds only the subs
 * its shard's `sub ^=` prefix selects; any other table's file (memberships are walked by group) may hold any.
 */
export function mayHold(table: string, url: string, partition: string): boolean {
  if (table !== USERS_TABLE) return true;
  const shard = shardOfFile(url);
  return shard.startsWith(partition) || partition.startsWith(shard);
}

/** The kind of a change table, or an error naming it (a plan and the code disagree). */
export function kindOf(changes: string): ChangeKind {
  const kind = changeKindOf(changes);
  if (!kind) throw new Error(`${changes} is not a change table`);
  return kind;
}
