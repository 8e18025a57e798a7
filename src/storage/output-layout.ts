/**
 * Object keys of a snapshot, relative to the destination root. Data prefixes hold data only
 * (Athena and Glue read every object under a table location); markers live under `manifests/`.
 *
 * ```
 * <table>/user_pool_id=<pool>/dt=<YYYY-MM-DD>/run=<snapshot_id>/part-<shard>-<seq>.ndjson.gz   (or .ndjson, or .parquet)
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

/** The table every run writes, and the only one the top-level manifest fields describe. */
export const USERS_TABLE = 'users';
/** The pool's groups (ListGroups). */
export const GROUPS_TABLE = 'groups';
/** Who is in which group (ListUsersInGroup of every group). */
export const GROUP_MEMBERSHIPS_TABLE = 'group_memberships';

/** What changed in each table since the previous snapshot of the pool (computed at the end of a run). */
export const USER_CHANGES_TABLE = 'user_changes';
export const GROUP_CHANGES_TABLE = 'group_changes';
export const GROUP_MEMBERSHIP_CHANGES_TABLE = 'group_membership_changes';

/** A restore's own tables (see restore/): what it did with each user (the old → new `sub` mapping), group and membership. */
export const RESTORE_USERS_TABLE = 'restore_users';
export const RESTORE_GROUPS_TABLE = 'restore_groups';
export const RESTORE_MEMBERSHIPS_TABLE = 'restore_memberships';
export const RESTORE_TABLES: readonly string[] = [RESTORE_USERS_TABLE, RESTORE_GROUPS_TABLE, RESTORE_MEMBERSHIPS_TABLE];

/** Every table a run can write (each a folder under the destination). */
export const TABLES: readonly string[] = [USERS_TABLE, GROUPS_TABLE, GROUP_MEMBERSHIPS_TABLE, USER_CHANGES_TABLE, GROUP_CHANGES_TABLE, GROUP_MEMBERSHIP_CHANGES_TABLE];

const datePartition = (run: RunLocation): string => `dt=${run.startedAt.toISOString().slice(0, 10)}`;

/** The folder of every run's data of a pool in `table`, ending in `/` so that pool `A` never matches pool `AB`. */
export function poolDataPrefix(userPoolId: string, table: string = USERS_TABLE): string {
  return `${table}/user_pool_id=${userPoolId}/`;
}

/** The folder of a pool's manifests and `latest.json`, ending in `/`. */
export function poolManifestPrefix(userPoolId: string): string {
  return `manifests/user_pool_id=${userPoolId}/`;
}

/** The folder holding every data file of a run in `table`, ending in `/`. */
export function runDataPrefix(run: RunLocation, table: string = USERS_TABLE): string {
  return `${poolDataPrefix(run.userPoolId, table)}${datePartition(run)}/run=${run.snapshotId}/`;
}

/** How a run's data files are encoded: NDJSON lines (gzipped or not) or Parquet. */
export type DataFormat = 'ndjson' | 'parquet';

/** The formats `--format` takes. */
export const DATA_FORMATS: readonly DataFormat[] = ['ndjson', 'parquet'];

/** A data file's extension: `ndjson.gz`, `ndjson` or `parquet` (Parquet compresses inside the file). */
export type DataFileExtension = 'ndjson.gz' | 'ndjson' | 'parquet';

/** The extension of a run's data files. */
export function dataFileExtension(format: DataFormat, gzip: boolean): DataFileExtension {
  if (format === 'parquet') return 'parquet';
  return gzip ? 'ndjson.gz' : 'ndjson';
}

/** A data file's name as `dataFileKey` writes it: `part-<shard>-<seq>.<extension>`, the shard its group 1. */
export const DATA_FILE_NAME = /^part-([0-9a-z]+)-\d{5,}\.(?:ndjson(?:\.gz)?|parquet)$/;

/** Key of data file `seq` of `shard` in `table`: deterministic, so a resumed file overwrites its earlier copy. */
export function dataFileKey(run: RunLocation, shard: string, seq: number, extension: DataFileExtension, table: string = USERS_TABLE): string {
  return `${runDataPrefix(run, table)}part-${shard}-${String(seq).padStart(5, '0')}.${extension}`;
}

/**
 * Staged files live apart from every table folder, by pool and run, so a sweep can remove a whole
 * run's at once. These keys are relative to the sink's staging folder (a local directory's
 * `.cognito-export-staging/`; S3 stages as unfinished multipart uploads instead).
 */
export function poolStagingPrefix(userPoolId: string): string {
  return `user_pool_id=${userPoolId}/`;
}

/** The staging folder of one run, ending in `/`. */
export function runStagingPrefix(run: RunLocation): string {
  return `${poolStagingPrefix(run.userPoolId)}run=${run.snapshotId}/`;
}

/** The snapshot id a staging key belongs to, or undefined. */
export function stagingRunOf(stagingKey: string): string | undefined {
  return /^user_pool_id=[^/]+\/run=([^/]+)\//.exec(stagingKey)?.[1];
}

/**
 * Where one writer stages data file `seq` of `shard`: `tag` (the writer's epoch and a random part)
 * keeps it apart from every other writer's copy of the same file, a zombie's included.
 */
export function stagedFileKey(run: RunLocation, table: string, shard: string, seq: number, extension: DataFileExtension, tag: string): string {
  return `${runStagingPrefix(run)}${table}/part-${shard}-${String(seq).padStart(5, '0')}.${tag}.${extension}`;
}

/** Key of the run's manifest, written last: its presence marks the run complete. */
export function manifestKey(run: RunLocation): string {
  return `${poolManifestPrefix(run.userPoolId)}${datePartition(run)}/run=${run.snapshotId}.json`;
}

/**
 * Key of a pointer to the pool's newest complete manifest of one kind: `latest.json` for the pool's
 * own dataset, `latest-<name>.json` for a named partial run.
 */
export function latestKey(userPoolId: string, pointer = 'latest.json'): string {
  return `${poolManifestPrefix(userPoolId)}${pointer}`;
}
