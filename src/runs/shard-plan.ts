import { formatFilter, type UserFilter } from '../cognito/cognito-filter.js';

/** Shard counts a run may use: one walk, one per first hex digit of sub, one per first two. */
export const SHARD_COUNTS = [1, 16, 256] as const;
export type ShardCount = (typeof SHARD_COUNTS)[number];

/** One disjoint slice of a pool, walked by one shard job. */
export interface Shard {
  /** Names the shard in keys and file names: the hex prefix, or `all` for a single walk. */
  readonly id: string;
  /** The server-side filter of its ListUsers calls, or null for the whole pool. */
  readonly filter: string | null;
}

const HEX = '0123456789abcdef';

/**
 * Splits a run into shards. Subs are UUIDs, so `sub ^= "<prefix>"` over every hex prefix of one
 * length covers the pool exactly once. Cognito takes one filter a call, so a user-supplied filter
 * makes the run a single shard.
 */
export function planShards(count: ShardCount, userFilter: UserFilter | null): Shard[] {
  if (userFilter !== null) return [{ id: 'all', filter: formatFilter(userFilter) }];
  if (count === 1) return [{ id: 'all', filter: null }];
  const prefixes = count === 16 ? [...HEX] : [...HEX].flatMap((a) => [...HEX].map((b) => a + b));
  return prefixes.map((prefix) => ({ id: prefix, filter: formatFilter({ attribute: 'sub', operator: '^=', value: prefix }) }));
}

/** Parses `--shards`, throwing a RangeError that lists the allowed counts. */
export function parseShardCount(value: string | number): ShardCount {
  const n = Number(value);
  const found = SHARD_COUNTS.find((allowed) => allowed === n);
  if (found === undefined) throw new RangeError(`shards must be one of ${SHARD_COUNTS.join(', ')}, got ${JSON.stringify(value)}`);
  return found;
}
