import type { ObjectSink } from '../storage/object-sink.js';
import { RESTORE_GROUPS_TABLE, RESTORE_MEMBERSHIPS_TABLE, RESTORE_TABLES, RESTORE_USERS_TABLE } from '../storage/output-layout.js';
import { readLines } from '../storage/record-lines.js';
import type { GroupRecord, MembershipRecord } from '../tables/group-record.js';
import type { UserRecord } from '../tables/user-record.js';
import type { TablePage, TableSource } from '../walk/table-source.js';
import {
  groupFields,
  isFederated,
  isSame,
  membershipKey,
  restorableAttributes,
  sameGroup,
  userDifference,
  type RestoreAction,
  type RestoredGroupRecord,
  type RestoredUserRecord,
} from './restore-records.js';
import { TargetRefusedError, type TargetPool } from './target-pool.js';

export { RESTORE_GROUPS_TABLE, RESTORE_MEMBERSHIPS_TABLE, RESTORE_TABLES, RESTORE_USERS_TABLE };

/** Records restored at once in a page (calls made concurrently, each paced by its quota's limiter). */
export const RESTORE_BATCH = 20;

/**
 * What the target held when the restore started, and what the restore has learnt of the snapshot
 * so far (Redis sets in production): a user, group or membership found in the target that was not
 * there at the start was made by this restore (before a worker died), and is counted as created.
 */
export interface RestoreMemory {
  /** Whether the target held this user, group or membership (`group\0username`) when the restore started. */
  hadUser(username: string): Promise<boolean>;
  hadGroup(name: string): Promise<boolean>;
  hadMembership(key: string): Promise<boolean>;
  /** Remembers a snapshot's federated user (its memberships are skipped too). */
  addFederated(usernames: readonly string[]): Promise<void>;
  isFederated(username: string): Promise<boolean>;
  /** Remembers a user the target refused (its memberships are skipped, not failed again). */
  addNotRestored(username: string): Promise<void>;
  isNotRestored(username: string): Promise<boolean>;
  /**
   * Remembers, before the write, a user or group this restore updates: found the same after a
   * resume, it is still counted as updated.
   */
  markUpdated(kind: 'user' | 'group', name: string): Promise<void>;
  wasUpdated(kind: 'user' | 'group', name: string): Promise<boolean>;
}

/** What every unit of one restore shares. */
export interface RestoreUnitContext {
  readonly pool: TargetPool;
  readonly memory: RestoreMemory;
  /** Update what differs in users and groups that were in the target before the restore. */
  readonly merge: boolean;
  /** Which attributes the snapshot exported at all (see attributesSpokenFor). */
  readonly speaksFor: (name: string) => boolean;
  readonly restoreId: string;
  /** The snapshot's destination, where its data files are read. */
  readonly source: ObjectSink;
}

/**
 * The records of `keys` (data files of one snapshot table, in order) from `cursor` on, a batch at a
 * time, each batch with the cursor after it: `<file index>:<records of that file done>`.
 */
async function* batches<R>(source: ObjectSink, keys: readonly string[], cursor: string | undefined, size: number): AsyncGenerator<{ records: R[]; next: string | undefined }, void, undefined> {
  const [startFile, startRecord] = (cursor ?? '0:0').split(':').map(Number) as [number, number];
  let batch: R[] = [];
  for (let file = startFile; file < keys.length; file++) {
    let index = 0;
    for await (const line of readLines(source, keys[file] ?? '')) {
      index++;
      if (file === startFile && index <= startRecord) continue;
      batch.push(JSON.parse(line) as R);
      if (batch.length >= size) {
        yield { records: batch, next: `${file}:${index}` };
        batch = [];
      }
    }
    if (batch.length > 0) {
      yield { records: batch, next: `${file}:${index}` };
      batch = [];
    }
  }
}

/** Wraps a batch source as a walk's page source: the last page has no next cursor. */
function pagesOf<R, Out>(
  source: ObjectSink,
  keys: readonly string[],
  restoreOne: (record: R) => Promise<Out>,
  before?: (records: readonly R[]) => Promise<void>,
): (cursor: string | undefined, signal: AbortSignal) => AsyncGenerator<TablePage<Out>, void, undefined> {
  return async function* (cursor, signal) {
    for await (const { records, next } of batches<R>(source, keys, cursor, RESTORE_BATCH)) {
      signal.throwIfAborted();
      await before?.(records);
      yield { items: await Promise.all(records.map(restoreOne)), next };
    }
    yield { items: [], next: undefined };
  };
}

/** Why Cognito refused, as one line for the table's `reason` column; other errors go up (and retry the unit). */
function refusal(error: unknown): string {
  if (error instanceof TargetRefusedError) return error.message;
  throw error;
}

/** A unit restoring the users of some of the snapshot's users files. */
export function usersUnit(context: RestoreUnitContext, keys: readonly string[]): TableSource<RestoredUserRecord, RestoredUserRecord> {
  const { pool, memory, merge, restoreId, speaksFor } = context;
  const row = (record: UserRecord, action: RestoreAction, newSub: string | null, reason: string | null = null): RestoredUserRecord => ({
    user_pool_id: pool.userPoolId,
    restore_id: restoreId,
    username: record.username,
    old_sub: record.sub,
    new_sub: newSub,
    action,
    reason,
  });
  const restoreOne = async (record: UserRecord): Promise<RestoredUserRecord> => {
    if (isFederated(record)) return row(record, 'skipped_federated', null, 'federated (EXTERNAL_PROVIDER): Cognito makes it again at its next sign-in');
    try {
      const created = await pool.createUser(record.username, restorableAttributes(record));
      if (created !== undefined) {
        if (!record.enabled) await pool.applyDifference(record.username, { set: [], remove: [], enabled: false });
        return row(record, 'created', created);
      }
      const existing = await pool.user(record.username);
      if (existing === undefined) return row(record, 'failed', null, 'the user was deleted from the target while it was being restored');
      const difference = userDifference(record, existing, speaksFor);
      // Not in the target when the restore began: this restore made it (before a worker died).
      if (!(await memory.hadUser(record.username))) {
        await pool.applyDifference(record.username, difference);
        return row(record, 'created', existing.sub);
      }
      if (isSame(difference)) return row(record, (await memory.wasUpdated('user', record.username)) ? 'updated' : 'existing', existing.sub);
      if (!merge) return failed(record, existing.sub, 'the target holds this user with other attributes: restore with --merge to update it');
      await memory.markUpdated('user', record.username);
      await pool.applyDifference(record.username, difference);
      return row(record, 'updated', existing.sub);
    } catch (error) {
      return failed(record, null, refusal(error));
    }
  };
  const failed = async (record: UserRecord, sub: string | null, reason: string): Promise<RestoredUserRecord> => {
    await memory.addNotRestored(record.username);
    return row(record, 'failed', sub, reason);
  };
  return {
    table: RESTORE_USERS_TABLE,
    pages: pagesOf<UserRecord, RestoredUserRecord>(context.source, keys, restoreOne, async (records) => {
      const federated = records.filter(isFederated).map((record) => record.username);
      if (federated.length > 0) await memory.addFederated(federated);
    }),
    toRecord: (record) => record,
    tallyOf: (record) => record.action,
  };
}

/** The unit restoring the snapshot's groups (all its groups files). */
export function groupsUnit(context: RestoreUnitContext, keys: readonly string[]): TableSource<RestoredGroupRecord, RestoredGroupRecord> {
  const { pool, memory, merge, restoreId } = context;
  const row = (record: GroupRecord, action: RestoreAction, reason: string | null = null): RestoredGroupRecord => ({
    user_pool_id: pool.userPoolId,
    restore_id: restoreId,
    group_name: record.group_name,
    username: null,
    action,
    reason,
  });
  const restoreOne = async (record: GroupRecord): Promise<RestoredGroupRecord> => {
    const fields = groupFields(record);
    try {
      if (await pool.createGroup(record.group_name, fields)) return row(record, 'created');
      const existing = await pool.group(record.group_name);
      if (existing === undefined) return row(record, 'failed', 'the group was deleted from the target while it was being restored');
      const same = sameGroup(record, existing);
      if (!(await memory.hadGroup(record.group_name))) {
        if (!same) await pool.updateGroup(record.group_name, fields);
        return row(record, 'created');
      }
      if (same) return row(record, (await memory.wasUpdated('group', record.group_name)) ? 'updated' : 'existing');
      if (!merge) return row(record, 'failed', 'the target holds this group with another description, role or precedence: restore with --merge to update it');
      await memory.markUpdated('group', record.group_name);
      await pool.updateGroup(record.group_name, fields);
      return row(record, 'updated');
    } catch (error) {
      return row(record, 'failed', refusal(error));
    }
  };
  return { table: RESTORE_GROUPS_TABLE, pages: pagesOf(context.source, keys, restoreOne), toRecord: (record) => record, tallyOf: (record) => record.action };
}

/** A unit restoring the memberships of one of the snapshot's memberships files (after every user and group). */
export function membershipsUnit(context: RestoreUnitContext, keys: readonly string[]): TableSource<RestoredGroupRecord, RestoredGroupRecord> {
  const { pool, memory, restoreId } = context;
  // The members of each group as the target holds them now, read once per group a unit meets.
  const members = new Map<string, Promise<Set<string>>>();
  const membersOf = (group: string): Promise<Set<string>> => {
    let found = members.get(group);
    if (!found) {
      found = pool.members(group);
      members.set(group, found);
    }
    return found;
  };
  const row = (record: MembershipRecord, action: RestoreAction, reason: string | null = null): RestoredGroupRecord => ({
    user_pool_id: pool.userPoolId,
    restore_id: restoreId,
    group_name: record.group_name,
    username: record.username,
    action,
    reason,
  });
  const restoreOne = async (record: MembershipRecord): Promise<RestoredGroupRecord> => {
    if (await memory.isFederated(record.username)) return row(record, 'skipped_federated', 'the member is federated: not restored');
    if (await memory.isNotRestored(record.username)) return row(record, 'skipped', 'the member was not restored (see restore_users)');
    try {
      if ((await membersOf(record.group_name)).has(record.username)) {
        return row(record, (await memory.hadMembership(membershipKey(record))) ? 'existing' : 'created');
      }
      await pool.addToGroup(record.group_name, record.username);
      (await membersOf(record.group_name)).add(record.username);
      return row(record, 'created');
    } catch (error) {
      return row(record, 'failed', refusal(error));
    }
  };
  return { table: RESTORE_MEMBERSHIPS_TABLE, pages: pagesOf(context.source, keys, restoreOne), toRecord: (record) => record, tallyOf: (record) => record.action };
}

/**
 * The unit deleting the target's users absent from the snapshot (`--delete-missing`), from a list
 * made once before any deletion (deleting while paging ListUsers would skip users).
 */
export function deletionsUnit(context: RestoreUnitContext, usernames: readonly string[]): TableSource<RestoredUserRecord, RestoredUserRecord> {
  const { pool, restoreId } = context;
  return {
    table: RESTORE_USERS_TABLE,
    async *pages(cursor, signal) {
      for (let at = Number(cursor ?? '0'); at < usernames.length; at += RESTORE_BATCH) {
        signal.throwIfAborted();
        const batch = usernames.slice(at, at + RESTORE_BATCH);
        const items = await Promise.all(
          batch.map(async (username): Promise<RestoredUserRecord> => {
            const base = { user_pool_id: pool.userPoolId, restore_id: restoreId, username, old_sub: null, new_sub: null };
            try {
              await pool.deleteUser(username);
              return { ...base, action: 'deleted', reason: 'not in the snapshot (--delete-missing)' };
            } catch (error) {
              return { ...base, action: 'failed', reason: refusal(error) };
            }
          }),
        );
        yield { items, next: String(at + batch.length) };
      }
      yield { items: [], next: undefined };
    },
    toRecord: (record) => record,
    tallyOf: (record) => record.action,
  };
}
