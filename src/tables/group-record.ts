import type { GroupType, UserType } from '@aws-sdk/client-cognito-identity-provider';
import { NO_PRIVACY, privateValue, type RecordPrivacy } from './privacy.js';

/** One group as an output line: snake_case keys, absent values null, ISO 8601 UTC timestamps. */
export interface GroupRecord {
  readonly user_pool_id: string;
  readonly snapshot_id: string;
  readonly group_name: string;
  readonly description: string | null;
  readonly role_arn: string | null;
  readonly precedence: number | null;
  readonly created_at: string | null;
  readonly last_modified_at: string | null;
}

/** One membership as an output line: which user (by `sub`, the join key) is in which group. */
export interface MembershipRecord {
  readonly user_pool_id: string;
  readonly snapshot_id: string;
  readonly group_name: string;
  readonly username: string;
  readonly sub: string | null;
}

/** What every record of a run shares. */
export interface RunContext {
  readonly userPoolId: string;
  readonly snapshotId: string;
  /** Exclusions and pseudonyms (a membership's `username` is pseudonymized as in `users`). @default none */
  readonly privacy?: RecordPrivacy | undefined;
}

/** Maps a ListGroups group to its output record. Pure. */
export function toGroupRecord(group: GroupType, context: RunContext): GroupRecord {
  return {
    user_pool_id: context.userPoolId,
    snapshot_id: context.snapshotId,
    group_name: group.GroupName ?? '',
    description: group.Description ?? null,
    role_arn: group.RoleArn ?? null,
    precedence: group.Precedence ?? null,
    created_at: group.CreationDate?.toISOString() ?? null,
    last_modified_at: group.LastModifiedDate?.toISOString() ?? null,
  };
}

/** The `sub` of a user as ListUsers and ListUsersInGroup return it (an attribute), or null. */
export function subOf(user: UserType): string | null {
  return user.Attributes?.find((attribute) => attribute.Name === 'sub')?.Value ?? null;
}

/** Maps one member of a group to its membership record. Pure. */
export function toMembershipRecord(groupName: string, user: UserType, context: RunContext): MembershipRecord {
  const username = privateValue(context.privacy ?? NO_PRIVACY, 'username', user.Username ?? '');
  return { user_pool_id: context.userPoolId, snapshot_id: context.snapshotId, group_name: groupName, username, sub: subOf(user) };
}
