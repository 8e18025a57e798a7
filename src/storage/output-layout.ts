/**
 * Object keys of a snapshot, relative to the destination root. Data prefixes hold data only
 * (Athena and Glue read every object under a table location); markers live under `manifests/`.
 *
 * ```
 * users/user_pool_id=<pool>/dt=<YYYY-MM-DD>/run=<snapshot_id>/part-<shard>-<seq>.ndjson.gz
 * manifests/user_pool_id=<pool>/dt=<YYYY-MM-DD>/run=<snapshot_id>.json
 * manifests/user_pool_id=<pool>/latest.json
 * ```
 */

/** What names a run's objects. */
export interface RunLocation {
  readonly userPoolId: string;
  readonly snapshotId: string;
  /** When the run started; its UTC date partitions the data (`dt=`). */
  readonly startedAt: Date;
}

const datePartition = (run: RunLocation): string => `dt=${run.startedAt.toISOString().slice(0, 10)}`;

/** The folder of every run's data of a pool, ending in `/` so that pool `A` never matches pool `AB`. */
export function poolDataPrefix(userPoolId: string): string {
  return `users/user_pool_id=${userPoolId}/`;
}

/** The folder of a pool's manifests and `latest.json`, ending in `/`. */
export function poolManifestPrefix(userPoolId: string): string {
  return `manifests/user_pool_id=${userPoolId}/`;
}

/** The folder holding every data file of a run, ending in `/`. */
export function runDataPrefix(run: RunLocation): string {
  return `${poolDataPrefix(run.userPoolId)}${datePartition(run)}/run=${run.snapshotId}/`;
}

/** Key of data file `seq` of `shard`: deterministic, so a resumed file overwrites its earlier copy. */
export function dataFileKey(run: RunLocation, shard: string, seq: number, gzip: boolean): string {
  return `${runDataPrefix(run)}part-${shard}-${String(seq).padStart(5, '0')}.ndjson${gzip ? '.gz' : ''}`;
}

/** Key of the run's manifest, written last: its presence marks the run complete. */
export function manifestKey(run: RunLocation): string {
  return `${poolManifestPrefix(run.userPoolId)}${datePartition(run)}/run=${run.snapshotId}.json`;
}

/** Key of the pointer to the pool's newest complete manifest. */
export function latestKey(userPoolId: string): string {
  return `${poolManifestPrefix(userPoolId)}latest.json`;
}
