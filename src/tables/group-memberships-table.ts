import type { CognitoIdentityProviderClient, UserType } from '@aws-sdk/client-cognito-identity-provider';
import { listMemberPages } from '../cognito/list-groups.js';
import { errorCode } from '../limits/error-classification.js';
import { FatalExportError } from '../limits/export-errors.js';
import type { CallLimiter, CallSlot } from '../limits/rate-limiter.js';
import type { RetryEvent, RetryPolicy } from '../limits/retry-policy.js';
import { GROUP_MEMBERSHIPS_TABLE } from '../storage/output-layout.js';
import type { TablePage, TableSource } from '../walk/table-source.js';
import { subOf, toMembershipRecord, type MembershipRecord, type RunContext } from './group-record.js';
import { SeenKeys } from './seen-keys.js';


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
 * The `group_memberships` table for one batch of groups: each group's ListUsersInGroup chain in
 * turn (the cursor is the group's index in the batch and its token, so a checkpoint lands between
 * any two pages), each member a {@link MembershipRecord}. ListUsersInGroup promises no uniqueness,
 * so a member a group's walk meets twice is written once.
 */
export function groupMembershipsTable(options: MembershipsTableOptions): TableSource<Member, MembershipRecord> {
  return {
    table: GROUP_MEMBERSHIPS_TABLE,
    pages: (cursor, signal) => memberPages(options, decode(cursor), signal),
    toRecord: (member) => toMembershipRecord(member.group, member.user, options.records),
  };
}

async function* memberPages(options: MembershipsTableOptions, from: Position, signal: AbortSignal): AsyncGenerator<TablePage<Member>, void, undefined> {
  const { groups } = options;
  const after = (g: number): string | undefined => (g + 1 < groups.length ? encode({ g: g + 1, t: null }) : undefined);
  for (let g = from.g, token = from.t; g < groups.length; g++, token = null) {
    const group = groups[g] as string;
    // Within one walk of a group (a resumed walk starts a new set: its earlier pages are in files already).
    const seen = new SeenKeys();
    const pages = listMemberPages({
      client: options.client,
      userPoolId: options.userPoolId,
      groupName: group,
      startToken: token ?? undefined,
      limiters: [options.limiter],
      signal,
      retryPolicy: options.retryPolicy,
      onRetry: options.onRetry,
      onCall: options.onCall,
    });
    try {
      for await (const page of pages) {
        const items = page.items.filter((user) => seen.add(subOf(user) ?? user.Username ?? '')).map((user) => ({ group, user }));
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
