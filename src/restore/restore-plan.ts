import type { ObjectSink } from '../storage/object-sink.js';
import { readLines } from '../storage/record-lines.js';
import type { GroupRecord, MembershipRecord } from '../tables/group-record.js';
import type { UserRecord } from '../tables/user-record.js';
import { isFederated, isSame, sameGroup, userDifference, type RestoreAction } from './restore-records.js';
import type { TargetPool, TargetUser } from './target-pool.js';

/** What a restore would do, counted per table and action, with some of the records it would skip or refuse and why. */
export interface RestorePlan {
  readonly users: Readonly<Record<RestoreAction, number>>;
  /** Of the users to create, those created disabled. */
  readonly created_disabled: number;
  readonly groups: Readonly<Record<RestoreAction, number>>;
  readonly memberships: Readonly<Record<RestoreAction, number>>;
  /** Up to 100 records that would not be restored as they are, with why. */
  readonly notes: readonly { readonly name: string; readonly action: RestoreAction; readonly reason: string }[];
}

const zero = (): Record<RestoreAction, number> => ({ created: 0, existing: 0, updated: 0, deleted: 0, skipped_federated: 0, skipped: 0, failed: 0 });

/** The snapshot's records of some data files, one at a time. */
async function* recordsOf<R>(sink: ObjectSink, keys: readonly string[]): AsyncGenerator<R, void, undefined> {
  for (const key of keys) for await (const line of readLines(sink, key)) yield JSON.parse(line) as R;
}

/**
 * What restoring the snapshot's tables (the data files `keys` names) into `pool` would do, read
 * only: the target's users, groups and members are listed and compared with the snapshot's, as the
 * restore itself compares them. Writes nothing.
 */
export async function planRestore(
  pool: TargetPool,
  sink: ObjectSink,
  keys: { readonly users: readonly string[]; readonly groups: readonly string[]; readonly memberships: readonly string[] },
  options: { readonly merge: boolean; readonly deleteMissing: boolean; readonly speaksFor?: (name: string) => boolean },
): Promise<RestorePlan> {
  const notes: { name: string; action: RestoreAction; reason: string }[] = [];
  const note = (name: string, action: RestoreAction, reason: string) => {
    if (notes.length < 100) notes.push({ name, action, reason });
  };
  const target = new Map<string, TargetUser>();
  for await (const page of pool.users()) for (const user of page) target.set(user.username, user);
  const users = zero();
  let createdDisabled = 0;
  const snapshotUsers = new Set<string>();
  const federated = new Set<string>();
  const restored = new Set<string>();
  for await (const record of recordsOf<UserRecord>(sink, keys.users)) {
    snapshotUsers.add(record.username);
    if (isFederated(record)) {
      users.skipped_federated++;
      federated.add(record.username);
      note(record.username, 'skipped_federated', 'federated (EXTERNAL_PROVIDER): Cognito makes it again at its next sign-in');
      continue;
    }
    restored.add(record.username);
    const existing = target.get(record.username);
    if (existing === undefined) {
      users.created++;
      note(record.username, 'created', 'not in the target');
      if (!record.enabled) createdDisabled++;
    } else if (isSame(userDifference(record, existing, options.speaksFor))) {
      users.existing++;
    } else if (options.merge) {
      users.updated++;
      const difference = userDifference(record, existing, options.speaksFor);
      const fields = [...difference.set.map((a) => a.Name ?? ''), ...difference.remove, ...(difference.enabled === undefined ? [] : ['enabled'])];
      note(record.username, 'updated', `differs in ${fields.join(', ')}`);
    } else {
      users.failed++;
      note(record.username, 'failed', 'the target holds this user with other attributes: restore with --merge to update it');
    }
  }
  if (options.deleteMissing) {
    for (const username of target.keys()) {
      if (snapshotUsers.has(username)) continue;
      users.deleted++;
      note(username, 'deleted', 'not in the snapshot');
    }
  }
  const groups = zero();
  const targetGroups = new Map((await pool.groups()).map((group) => [group.GroupName ?? '', group]));
  for await (const record of recordsOf<GroupRecord>(sink, keys.groups)) {
    const existing = targetGroups.get(record.group_name);
    if (existing === undefined) {
      groups.created++;
      note(record.group_name, 'created', 'group not in the target');
    } else if (sameGroup(record, existing)) groups.existing++;
    else if (options.merge) {
      groups.updated++;
      note(record.group_name, 'updated', 'group differs in description, role or precedence');
    }
    else {
      groups.failed++;
      note(record.group_name, 'failed', 'the target holds this group with another description, role or precedence: restore with --merge to update it');
    }
  }
  const memberships = zero();
  const members = new Map<string, Set<string>>();
  for await (const record of recordsOf<MembershipRecord>(sink, keys.memberships)) {
    if (federated.has(record.username)) {
      memberships.skipped_federated++;
      continue;
    }
    let current = members.get(record.group_name);
    if (current === undefined) {
      current = targetGroups.has(record.group_name) ? await pool.members(record.group_name) : new Set<string>();
      members.set(record.group_name, current);
    }
    if (current.has(record.username)) memberships.existing++;
    else if (restored.has(record.username) || target.has(record.username)) {
      memberships.created++;
      note(`${record.group_name}/${record.username}`, 'created', 'membership not in the target');
    }
    else {
      memberships.failed++;
      note(`${record.group_name}/${record.username}`, 'failed', 'the member is not in the snapshot\'s users');
    }
  }
  return { users, created_disabled: createdDisabled, groups, memberships, notes };
}

/** What verifying a restore found: the target compared with the snapshot as a second `--merge` restore would (see planRestore). */
export interface RestoreVerification {
  /** True when a second restore would write nothing. */
  readonly verified: boolean;
  /** Users, groups and memberships that differ (would be created, updated or deleted). */
  readonly differences: number;
  /** Up to 100 of them, with what differs. */
  readonly examples: RestorePlan['notes'];
}

/** The verification of a plan made after a restore. Pure. */
export function verificationOf(plan: RestorePlan): RestoreVerification {
  const differing = (counts: Readonly<Record<RestoreAction, number>>) => counts.created + counts.updated + counts.deleted;
  const differences = differing(plan.users) + differing(plan.groups) + differing(plan.memberships);
  return { verified: differences === 0, differences, examples: plan.notes.filter((note) => note.action !== 'skipped_federated') };
}
