import type { CognitoIdentityProviderClient, UserType } from '@aws-sdk/client-cognito-identity-provider';
import { listMemberPages } from '../cognito/list-groups.js';
import { errorCode } from '../limits/error-classification.js';
import { FatalExportError } from '../limits/export-errors.js';
import type { CallLimiter, CallSlot } from '../limits/rate-limiter.js';
import type { RetryEvent, RetryPolicy } from '../limits/retry-policy.js';
import { GROUP_MEMBERSHIPS_TABLE } from '../storage/output-layout.js';
import type { TablePage, TableSource } from '../walk/table-source.js';
import { subOf, toMembershipRecord, type MembershipRecord, type RunContext } from './group-record.js';
import { keyTag, SeenKeys } from './seen-keys.js';


/** One member of one group, as the walk meets it. */
export interface Member {
  readonly group: string;
  readonly user: UserType;
}

/** One shard of the memberships table: a batch of groups, walked one after the other. */
export interface MembershipsTableOptions {
  readonly client: CognitoIdentityProviderClient;
  readonly userPoolId: string;
  /** The batch's groups, in the order they are walked. */
  readonly groups: readonly string[];
  /** ListUsersInGroup draws on the UserList quota, with ListUsers: the users' limiter. */
  readonly limiter: CallLimiter;
  readonly retryPolicy?: Partial<RetryPolicy> | undefined;
  readonly onRetry?: ((event: RetryEvent) => void) | undefined;
  readonly onCall?: ((slot: CallSlot) => void) | undefined;
  /** A group deleted mid-walk (ResourceNotFoundException on its ListUsersInGroup): skipped, and told here. */
  readonly onGroupSkipped: (group: string) => Promise<void>;
  readonly records: RunContext;
  /** Members one group's walk may return before it fails as runaway (the users walk's cap). @default no cap */
  readonly maxMembersPerGroup?: number | undefined;
  /**
   * The keys (see {@link memberKey}) of the members of `group` that the shard's durable files
   * already hold, asked for when the walk resumes in the middle of that group: ListUsersInGroup may
   * return a member met before the checkpoint again after it. Without it, a resumed walk knows
   * only the members it meets itself. In production: the tails of the checkpoint's files (`tailKeys`).
   */
  readonly writtenKeys?: ((group: string) => AsyncIterable<string>) | undefined;
}

/** Where a membership walk stands: which group of the batch, and its token (null at its start). */
interface Position {
  readonly g: number;
  readonly t: string | null;
}

const encode = (position: Position): string => JSON.stringify(position);

function decode(cursor: string | undefined): Position {
  if (cursor === undefined) return { g: 0, t: null };
  const position = JSON.parse(cursor) as Position;
  return { g: Number(position.g) || 0, t: typeof position.t === 'string' ? position.t : null };
}

/**
 * What a group's walk dedupes a member on, as it stands in the member's record: its sub, or (for a
 * member without one) its username as written. A short tag of it (see `keyTag`), as checkpoints keep it.
 */
export function memberKey(record: Pick<MembershipRecord, 'sub' | 'username'>): string {
  return keyTag(record.sub ?? `\u0000${record.username}`);
}

/**
 * The `group_memberships` table for one batch of groups: each group's ListUsersInGroup chain in
 * turn (the cursor is the group's index in the batch and its token, so a checkpoint lands between
 * any two pages), each member a {@link MembershipRecord}. ListUsersInGroup promises no uniqueness,
 * so a member a group's walk meets twice is written once, across checkpoints too: each file records
 * the keys of its last group (`tailKeyOf`), and a walk resumed mid-group starts from them.
 */
export function groupMembershipsTable(options: MembershipsTableOptions): TableSource<Member, MembershipRecord> {
  return {
    table: GROUP_MEMBERSHIPS_TABLE,
    pages: (cursor, signal) => memberPages(options, decode(cursor), signal),
    toRecord: (member) => toMembershipRecord(member.group, member.user, options.records),
    tailKeyOf: (record) => ({ scope: record.group_name, key: memberKey(record) }),
  };
}

async function* memberPages(options: MembershipsTableOptions, from: Position, signal: AbortSignal): AsyncGenerator<TablePage<Member>, void, undefined> {
  const { groups } = options;
  const after = (g: number): string | undefined => (g + 1 < groups.length ? encode({ g: g + 1, t: null }) : undefined);
  for (let g = from.g, token = from.t; g < groups.length; g++, token = null) {
    const group = groups[g] as string;
    const seen = new SeenKeys();
    // Resumed mid-group: the members before the checkpoint are in durable files, and may come again.
    if (token !== null && options.writtenKeys) for await (const key of options.writtenKeys(group)) seen.add(key);
    // The record's username only for a member without a sub (pseudonymizing it costs an HMAC).
    const keyOf = (user: UserType): string => {
      const sub = subOf(user);
      return memberKey({ sub, username: sub === null ? toMembershipRecord(group, user, options.records).username : '' });
    };
    const pages = listMemberPages({
      client: options.client,
      userPoolId: options.userPoolId,
      groupName: group,
      startToken: token ?? undefined,
      maxItems: options.maxMembersPerGroup,
      limiters: [options.limiter],
      signal,
      retryPolicy: options.retryPolicy,
      onRetry: options.onRetry,
      onCall: options.onCall,
    });
    try {
      for await (const page of pages) {
        const items = page.items.filter((user) => seen.add(keyOf(user))).map((user) => ({ group, user }));
        yield { items, next: page.nextToken === undefined ? after(g) : encode({ g, t: page.nextToken }) };
      }
    } catch (error) {
      if (!groupDeleted(error)) throw error;
      await options.onGroupSkipped(group);
      yield { items: [], next: after(g) };
    }
  }
}

/** ResourceNotFoundException about the group (not the pool): the group was deleted after ListGroups saw it. */
function groupDeleted(error: unknown): boolean {
  if (!(error instanceof FatalExportError)) return false;
  return errorCode(error.cause) === 'ResourceNotFoundException' && !/User pool/i.test(error.message.split(' failed: ')[1] ?? '');
}
