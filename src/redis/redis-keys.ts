/**
 * Every Redis key this product writes, built in one place. BullMQ writes its own keys as
 * `<prefix>:<queue>:…`; ours live under `<prefix>:ce:…`, which no queue is named. With the default
 * prefix `{cognito-export}` all keys share one hash tag, so scripts touching several keys work on
 * Redis Cluster.
 */
export interface RedisKeys {
  /** The prefix BullMQ is given, so queues and our state share it. */
  readonly bullPrefix: string;
  /** Hash pool id → snapshot id of the run in flight for that pool (one active run per pool). */
  readonly activeRuns: string;
  /** Hash of one run: its parameters, state, counters and live per-shard progress. */
  run(snapshotId: string): string;
  /** Hash of one shard's checkpoint: fencing epoch, walk state and the files it has made durable. */
  checkpoint(snapshotId: string, shard: string): string;
  /** Hash of a pool's history: last good snapshot and last failure. */
  pool(poolId: string): string;
  /** Set of every pool id this deployment has exported. */
  readonly pools: string;
  /** Hash pool id → its dataset as the config file names it (what a run must export to move `latest.json`). */
  readonly poolConfig: string;
  /** String held (with a TTL) by the process running an `--inline` run, while it runs it. */
  inlineOwner(snapshotId: string): string;
  /** Hash target pool id → the restore in flight into it (one at a time per target). */
  readonly activeRestores: string;
  /** A restore's keys: `state` (its hash), and the sets of what the target held when it began. */
  restore(restoreId: string, part: string): string;
}

/**
 * The hash holding the shared token bucket of one AWS account and region (`<account>:<region>`).
 * Not under the deployment's prefix: Cognito's quota belongs to the account, so every deployment
 * on one Redis (every REDIS_KEY_PREFIX) must draw on the same bucket. For the default prefix it is
 * the deployment's own namespace. Two Redis servers mean two buckets, each taking the full rate.
 */
export function rateLimitKey(scope: string): string {
  return `{cognito-export}:ce:rate-limit:${scope}`;
}

/** Builds the key set for a deployment's prefix (`REDIS_KEY_PREFIX`). */
export function redisKeys(prefix: string): RedisKeys {
  const ns = `${prefix}:ce`;
  return Object.freeze({
    bullPrefix: prefix,
    activeRuns: `${ns}:active-runs`,
    run: (snapshotId: string) => `${ns}:run:${snapshotId}`,
    checkpoint: (snapshotId: string, shard: string) => `${ns}:checkpoint:${snapshotId}:${shard}`,
    pool: (poolId: string) => `${ns}:pool:${poolId}`,
    pools: `${ns}:pools`,
    poolConfig: `${ns}:pool-config`,
    inlineOwner: (snapshotId: string) => `${ns}:inline-owner:${snapshotId}`,
    activeRestores: `${ns}:active-restores`,
    restore: (restoreId: string, part: string) => `${ns}:restore:${restoreId}:${part}`,
  });
}
