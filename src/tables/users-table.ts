import type { CognitoIdentityProviderClient, UserType } from '@aws-sdk/client-cognito-identity-provider';
import { listUserPages } from '../cognito/list-users.js';
import type { CallLimiter, CallSlot } from '../limits/rate-limiter.js';
import type { RetryEvent, RetryPolicy } from '../limits/retry-policy.js';
import { USERS_TABLE } from '../storage/output-layout.js';
import type { TablePage, TableSource } from '../walk/table-source.js';
import { toUserRecord, type RecordContext, type UserRecord } from './user-record.js';

/** One shard of the users table: which pool, which slice, and how its calls are paced. */
export interface UsersTableOptions {
  readonly client: CognitoIdentityProviderClient;
  readonly userPoolId: string;
  /** The shard's ListUsers filter (`sub ^= "a"`, or the user's own), or null for the whole pool. */
  readonly filter: string | null;
  /** Every call, retries included, waits for a slot here first (the run's `users` flow of the shared bucket). */
  readonly limiter: CallLimiter;
  readonly retryPolicy?: Partial<RetryPolicy> | undefined;
  /** Told about every retried failure. */
  readonly onRetry?: (event: RetryEvent) => void;
  /** Told just before every ListUsers call goes out, with its slot (for metrics). */
  readonly onCall?: (slot: CallSlot) => void;
  /** What every record of the run shares (pool, snapshot, attribute selection). */
  readonly records: RecordContext;
  /**
   * Users this shard's walk may return before it fails as runaway: `walkCapOf` of DescribeUserPool's
   * EstimatedNumberOfUsers (ten times it plus a million). @default no cap
   */
  readonly maxRecords?: number | undefined;
}

/** The `users` table: ListUsers pages of one shard, each user mapped to a {@link UserRecord}. */
export function usersTable(options: UsersTableOptions): TableSource<UserType, UserRecord> {
  return {
    table: USERS_TABLE,
    pages: (cursor, signal) => userPages(options, cursor, signal),
    toRecord: (user) => toUserRecord(user, options.records),
  };
}

async function* userPages(options: UsersTableOptions, cursor: string | undefined, signal: AbortSignal): AsyncGenerator<TablePage<UserType>, void, undefined> {
  const pages = listUserPages({
    client: options.client,
    userPoolId: options.userPoolId,
    filter: options.filter,
    startToken: cursor,
    limiters: [options.limiter],
    signal,
    retryPolicy: options.retryPolicy,
    onRetry: options.onRetry,
    onCall: options.onCall,
    maxItems: options.maxRecords,
  });
  for await (const page of pages) yield { items: page.items, next: page.nextToken };
}
