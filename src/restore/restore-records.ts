import type { AttributeType, GroupType, SchemaAttributeType, UserType } from '@aws-sdk/client-cognito-identity-provider';
import type { Manifest } from '../storage/manifest.js';
import type { GroupRecord, MembershipRecord } from '../tables/group-record.js';
import type { UserRecord } from '../tables/user-record.js';

/**
 * What a restore writes for each record of a snapshot, and how it compares a record with what the
 * target pool holds. Pure: the restore's walk (restore-source.ts) makes the calls.
 */

/**
 * Attributes Cognito keeps itself: `sub` (a new one is made for every user created), `identities`
 * (federated links, made by AdminLinkProviderForUser) and Cognito's own `cognito:*`. Never written.
 */
export function isReadOnlyAttribute(name: string): boolean {
  return name === 'sub' || name === 'identities' || name.startsWith('cognito:');
}

/** A snapshot's user as Cognito attributes to create it with: every attribute but the read-only ones, in the snapshot's order. */
export function restorableAttributes(record: Pick<UserRecord, 'attributes'>): AttributeType[] {
  return Object.entries(record.attributes)
    .filter(([name]) => !isReadOnlyAttribute(name))
    .map(([Name, Value]) => ({ Name, Value }));
}

/** A user of an identity provider (Google, SAML…): Cognito makes it again at its next sign-in, so a restore does not. */
export function isFederated(record: Pick<UserRecord, 'status'>): boolean {
  return record.status === 'EXTERNAL_PROVIDER';
}

/** A user's attributes as ListUsers or AdminGetUser returns them, by name. */
export function attributesOf(user: Pick<UserType, 'Attributes'> | { readonly UserAttributes?: readonly AttributeType[] | undefined }): Map<string, string> {
  const list = 'Attributes' in user ? user.Attributes : 'UserAttributes' in user ? user.UserAttributes : undefined;
  return new Map((list ?? []).filter((a) => a.Name !== undefined).map((a) => [a.Name ?? '', a.Value ?? '']));
}

/** How a target's user differs from the snapshot's: attributes to set, attributes to delete, the enabled flag. */
export interface UserDifference {
  /** Attributes the target lacks or holds another value of. */
  readonly set: readonly AttributeType[];
  /** Attributes the target has and the snapshot does not (read-only ones aside). */
  readonly remove: readonly string[];
  /** The enabled flag to set, or undefined when it is the same. */
  readonly enabled: boolean | undefined;
}

/**
 * What to write so that `target` holds the snapshot's user (its `sub` and read-only attributes
 * aside). `speaksFor` says which attributes the snapshot exported at all: one it left out (a run
 * with `--attributes` or `--exclude-attributes`) is never removed from the target. Pure.
 */
export function userDifference(
  record: Pick<UserRecord, 'attributes' | 'enabled'>,
  target: { readonly attributes: ReadonlyMap<string, string>; readonly enabled: boolean },
  speaksFor: (name: string) => boolean = () => true,
): UserDifference {
  const wanted = restorableAttributes(record);
  const set = wanted.filter(({ Name, Value }) => target.attributes.get(Name ?? '') !== Value);
  const names = new Set(wanted.map((a) => a.Name));
  const remove = [...target.attributes.keys()].filter((name) => !isReadOnlyAttribute(name) && !names.has(name) && speaksFor(name));
  return { set, remove, enabled: target.enabled === record.enabled ? undefined : record.enabled };
}

/** Whether a difference is none: the user is restored as it is. */
export function isSame(difference: UserDifference): boolean {
  return difference.set.length === 0 && difference.remove.length === 0 && difference.enabled === undefined;
}

/** A group's fields as CreateGroup and UpdateGroup take them (absent ones left out). */
export function groupFields(record: Pick<GroupRecord, 'description' | 'role_arn' | 'precedence'>): { Description?: string; RoleArn?: string; Precedence?: number } {
  return {
    ...(record.description !== null ? { Description: record.description } : {}),
    ...(record.role_arn !== null ? { RoleArn: record.role_arn } : {}),
    ...(record.precedence !== null ? { Precedence: record.precedence } : {}),
  };
}

/**
 * Whether the target's group holds the snapshot's description, role and precedence, of those the
 * snapshot has: UpdateGroup cannot clear a field, so one the snapshot lacks is left as the target has it.
 */
export function sameGroup(record: Pick<GroupRecord, 'description' | 'role_arn' | 'precedence'>, target: Pick<GroupType, 'Description' | 'RoleArn' | 'Precedence'>): boolean {
  return (
    (record.description === null || target.Description === record.description) &&
    (record.role_arn === null || target.RoleArn === record.role_arn) &&
    (record.precedence === null || target.Precedence === record.precedence)
  );
}

/** Which attributes a snapshot exported at all (see userDifference): all but excluded ones, or only those `--attributes` kept. */
export function attributesSpokenFor(manifest: Pick<Manifest, 'attributes' | 'privacy'>): (name: string) => boolean {
  const excluded = new Set(manifest.privacy?.excluded_attributes ?? []);
  const kept = manifest.attributes === null || manifest.attributes === undefined ? null : new Set(manifest.attributes);
  return (name) => !excluded.has(name) && (kept === null || kept.has(name));
}

/** The custom attributes a snapshot's users hold that the target pool's schema lacks, sorted (`custom:tenant`). */
export function missingCustomAttributes(used: Iterable<string>, schema: readonly SchemaAttributeType[]): string[] {
  const known = new Set(schema.map((attribute) => (attribute.Name?.startsWith('custom:') ? attribute.Name : `custom:${attribute.Name ?? ''}`)));
  for (const attribute of schema) if (attribute.Name) known.add(attribute.Name);
  return [...new Set(used)].filter((name) => name.startsWith('custom:') && !known.has(name)).sort();
}

/** Why a snapshot cannot be restored at all (pseudonymized values are not the users' own), or undefined. */
export function unrestorableReason(manifest: Pick<Manifest, 'privacy' | 'snapshot_id' | 'dataset' | 'tables'>): string | undefined {
  const pseudonymized = manifest.privacy?.pseudonymized ?? [];
  if (pseudonymized.length > 0) {
    return `snapshot ${manifest.snapshot_id} is pseudonymized (${pseudonymized.join(', ')} are HMACs, not the users' values) and cannot be restored: restore a snapshot exported without --pseudonymize`;
  }
  if (!manifest.tables?.users) return `snapshot ${manifest.snapshot_id} has no users table`;
  return undefined;
}

/** What a restore did with one record: the `action` column of its tables, counted in its report. */
export type RestoreAction = 'created' | 'existing' | 'updated' | 'deleted' | 'skipped_federated' | 'skipped' | 'failed';

/** One row of the restore's users table: the old → new `sub` mapping, with what was done. */
export interface RestoredUserRecord {
  /** The target pool (the first partition key of the restore's tables, as `user_pool_id` is an export's). */
  readonly user_pool_id: string;
  readonly restore_id: string;
  readonly username: string;
  readonly old_sub: string | null;
  /** The user's sub in the target (null for one not created: federated, failed). */
  readonly new_sub: string | null;
  readonly action: RestoreAction;
  /** Why, for `skipped_federated` and `failed`. */
  readonly reason: string | null;
}

/** One row of the restore's groups or memberships table. */
export interface RestoredGroupRecord {
  /** The target pool. */
  readonly user_pool_id: string;
  readonly restore_id: string;
  readonly group_name: string;
  /** Memberships: the member. */
  readonly username: string | null;
  readonly action: RestoreAction;
  readonly reason: string | null;
}

/** The membership's key in a target: group and username. */
export function membershipKey(record: Pick<MembershipRecord, 'group_name' | 'username'>): string {
  return `${record.group_name}\u0000${record.username}`;
}

/** A restore refused before anything is queued or written; the message is one line naming what and the fix. */
export class RestoreRequestError extends Error {
  override readonly name = 'RestoreRequestError';
}
