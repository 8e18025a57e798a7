import type { CognitoIdentityProviderClient, GroupType } from '@aws-sdk/client-cognito-identity-provider';
import { listGroupPages } from '../cognito/list-groups.js';
import type { CallLimiter, CallSlot } from '../limits/rate-limiter.js';
import type { RetryEvent, RetryPolicy } from '../limits/retry-policy.js';
import { GROUPS_TABLE } from '../storage/output-layout.js';
import type { TablePage, TableSource } from '../walk/table-source.js';
import { toGroupRecord, type GroupRecord, type RunContext } from './group-record.js';


/** The (one) shard of the groups table. */
export interface GroupsTableOptions {
  readonly client: CognitoIdentityProviderClient;
  readonly userPoolId: string;
  /**
   * Every ListGroups call waits for a slot in each: UserPoolResourceRead allows 5 calls/s per pool
   * and 20 per account, so a per-pool and a per-account limiter.
   */
  readonly limiters: readonly CallLimiter[];
  readonly retryPolicy?: Partial<RetryPolicy> | undefined;
  readonly onRetry?: ((event: RetryEvent) => void) | undefined;
  readonly onCall?: ((slot: CallSlot) => void) | undefined;
  readonly records: RunContext;
}

/**
 * The `groups` table: ListGroups pages, each group mapped to a {@link GroupRecord}. Its files
 * remember the group names they hold (`keyOf`), from which the membership walk is planned.
 */
export function groupsTable(options: GroupsTableOptions): TableSource<GroupType, GroupRecord> {
  return {
    table: GROUPS_TABLE,
    pages: (cursor, signal) => groupPages(options, cursor, signal),
    toRecord: (group) => toGroupRecord(group, options.records),
    keyOf: (record) => record.group_name,
  };
}

async function* groupPages(options: GroupsTableOptions, cursor: string | undefined, signal: AbortSignal): AsyncGenerator<TablePage<GroupType>, void, undefined> {
  const pages = listGroupPages({ ...options, startToken: cursor, signal });
  for await (const page of pages) yield { items: page.items, next: page.nextToken };
}
