import { latestKey, manifestKey, poolDataPrefix, poolManifestPrefix, runDataPrefix, TABLES, type RunLocation } from './output-layout.js';
import { readLatest } from './manifest.js';
import type { ObjectSink } from './object-sink.js';
import { newSnapshotId, snapshotIdTime } from './snapshot-id.js';

/** What one retention pass kept and deleted. */
export interface RetentionResult {
  /** Snapshot ids of complete runs kept, newest first. */
  readonly kept: readonly string[];
  /** Snapshot ids whose manifest and data were deleted (complete runs beyond N), newest first. */
  readonly deleted: readonly string[];
  /** Snapshot ids of run folders without a manifest (failed or abandoned runs, or a crash mid-retention) that were removed. */
  readonly orphansDeleted: readonly string[];
  /** Objects deleted in all. */
  readonly objects: number;
}

/** What a pool's destination holds, as listed: the input of {@link planRetention}. */
export interface RetentionListing {
  readonly userPoolId: string;
  /** Every key under `manifests/user_pool_id=<pool>/` (see {@link poolManifestPrefix}). */
  readonly manifestKeys: readonly string[];
  /** Every key under each table's `<table>/user_pool_id=<pool>/` (see {@link poolDataPrefix}). */
  readonly dataKeys: readonly string[];
  /** The snapshot `latest.json` names, or undefined if there is none. */
  readonly latestSnapshotId: string | undefined;
  /** Runs in progress: never touched, whatever their age. */
  readonly activeSnapshotIds: ReadonlySet<string>;
}

/** A retention decision, with the keys to delete in the order to delete them. */
export interface RetentionPlan extends RetentionResult {
  /** Manifests of the runs in `deleted`: deleted first, so no manifest ever lists a missing file. */
  readonly manifestKeys: readonly string[];
  /** Data files of the runs in `deleted` and `orphansDeleted`: deleted once the manifests are gone. */
  readonly dataKeys: readonly string[];
}

/** Data file names as `dataFileKey` writes them: `part-<shard>-<seq>.ndjson[.gz]`. */
const PART_FILE = /^part-(?:[0-9a-f]+|all)-\d{5,}\.ndjson(?:\.gz)?$/;
// These only pull the id out of a key below the pool's folder; the strict check is the round trip
// through output-layout.ts in planRetention.
const MANIFEST_REST = /^dt=[^/]+\/run=([^/]+)\.json$/;
const DATA_REST = /^dt=[^/]+\/run=([^/]+)\/([^/]+)$/;

/**
 * Decides what a retention pass deletes, from what is listed. Pure.
 *
 * Keys are recognized strictly: a key counts only if the layout functions of output-layout.ts,
 * given the snapshot id it names, rebuild exactly that key (so `dt=` must be the id's start date),
 * the id is one `newSnapshotId` can make, and a data file is named like `part-<shard>-<seq>.ndjson[.gz]`.
 * Anything else (a stray file, a misspelt partition, a hand-made folder) is ignored, never deleted:
 * we only delete what we know we wrote.
 *
 * Complete runs are those with a manifest. The newest `keepLast` of them are kept; the oldest of
 * those is the cutoff, and only runs strictly older than it are candidates. Candidates with a
 * manifest are deleted (manifest and data), candidates without one are orphans (data only), except
 * the run `latest.json` names and active runs. With fewer than `keepLast` complete runs there is no
 * cutoff and nothing is deleted.
 */
export function planRetention(listing: RetentionListing, keepLast: number): RetentionPlan {
  checkKeepLast(keepLast);
  const { userPoolId, latestSnapshotId, activeSnapshotIds } = listing;

  const manifests = new Map<string, string>();
  const manifestPrefix = poolManifestPrefix(userPoolId);
  for (const key of listing.manifestKeys) {
    if (!key.startsWith(manifestPrefix)) continue;
    const id = MANIFEST_REST.exec(key.slice(manifestPrefix.length))?.[1];
    const run = id === undefined ? undefined : runOf(userPoolId, id);
    if (run && manifestKey(run) === key) manifests.set(run.snapshotId, key);
  }

  const data = new Map<string, string[]>();
  for (const key of listing.dataKeys) {
    const table = TABLES.find((candidate) => key.startsWith(poolDataPrefix(userPoolId, candidate)));
    if (table === undefined) continue;
    const match = DATA_REST.exec(key.slice(poolDataPrefix(userPoolId, table).length));
    const run = match?.[1] === undefined ? undefined : runOf(userPoolId, match[1]);
    const name = match?.[2] ?? '';
    if (!run || !PART_FILE.test(name) || `${runDataPrefix(run, table)}${name}` !== key) continue;
    const keys = data.get(run.snapshotId);
    if (keys) keys.push(key);
    else data.set(run.snapshotId, [key]);
  }

  const complete = [...manifests.keys()].sort(newestFirst);
  // Ids sort by start time, so "older than the cutoff" is a string comparison.
  const cutoff = complete[keepLast - 1];
  const removable = (id: string): boolean =>
    cutoff !== undefined && id < cutoff && id !== latestSnapshotId && !activeSnapshotIds.has(id);

  const deleted = complete.filter(removable);
  const kept = complete.filter((id) => !removable(id));
  const orphansDeleted = [...data.keys()].filter((id) => !manifests.has(id) && removable(id)).sort(newestFirst);
  const manifestKeys = deleted.map((id) => manifests.get(id) ?? '');
  const dataKeys = [...deleted, ...orphansDeleted].flatMap((id) => data.get(id) ?? []);
  return { kept, deleted, orphansDeleted, objects: manifestKeys.length + dataKeys.length, manifestKeys, dataKeys };
}

/**
 * Keeps the pool's newest `keepLast` complete snapshots (those with a manifest) and deletes older ones:
 * manifest first (so a crash never leaves a manifest listing missing files), then every data file in the
 * run's data folder. Run folders that have no manifest and are older than the oldest kept snapshot
 * are deleted too, unless their id is in `activeSnapshotIds` (a run in progress). Never deletes the
 * snapshot latest.json names, nor anything newer than the oldest kept snapshot.
 *
 * Lists the pool's data folder once and its manifests folder once, whatever the number of runs.
 * Throws a RangeError for a bad `keepLast`, and an Error (deleting nothing) if `latest.json` exists
 * but cannot be read, since then the run it names cannot be protected.
 */
export async function applyRetention(
  sink: ObjectSink,
  userPoolId: string,
  keepLast: number,
  activeSnapshotIds: ReadonlySet<string>,
): Promise<RetentionResult> {
  checkKeepLast(keepLast);
  if (userPoolId === '' || userPoolId.includes('/')) {
    throw new RangeError(`Expected \`userPoolId\` to be a user pool id, got \`${userPoolId}\``);
  }
  // Data before manifests: a run that completes between the two listings is then seen with its
  // manifest, so its folder is never mistaken for an orphan. (The reverse order could delete it.)
  const dataKeys: string[] = [];
  for (const table of TABLES) dataKeys.push(...(await sink.listObjects(poolDataPrefix(userPoolId, table))).map((object) => object.key));
  const manifestKeys = (await sink.listObjects(poolManifestPrefix(userPoolId))).map((object) => object.key);
  const latest = await readLatest(sink, userPoolId);
  const latestSnapshotId = typeof latest?.snapshot_id === 'string' ? latest.snapshot_id : undefined;
  if (latestSnapshotId === undefined && manifestKeys.includes(latestKey(userPoolId))) {
    throw new Error(
      `${sink.urlOf(latestKey(userPoolId))} cannot be read: retention deletes nothing until the next run rewrites it`,
    );
  }

  const plan = planRetention({ userPoolId, manifestKeys, dataKeys, latestSnapshotId, activeSnapshotIds }, keepLast);
  if (plan.manifestKeys.length > 0) await sink.deleteObjects(plan.manifestKeys);
  // A crash here leaves data folders without manifests, older than the cutoff: the next pass deletes them as orphans.
  if (plan.dataKeys.length > 0) await sink.deleteObjects(plan.dataKeys);
  const { kept, deleted, orphansDeleted, objects } = plan;
  return { kept, deleted, orphansDeleted, objects };
}

/** Throws unless `keepLast` is an integer from 1. */
function checkKeepLast(keepLast: number): void {
  if (!Number.isInteger(keepLast) || keepLast < 1) {
    throw new RangeError(`Expected \`keepLast\` to be an integer from 1, got \`${keepLast}\``);
  }
}

/** The run an id names, if it is an id `newSnapshotId` could have made (no rolled-over dates, lowercase hex). */
function runOf(userPoolId: string, snapshotId: string): RunLocation | undefined {
  const startedAt = snapshotIdTime(snapshotId);
  if (!startedAt || Number.isNaN(startedAt.getTime())) return undefined;
  const random = snapshotId.slice(snapshotId.indexOf('-') + 1);
  if (newSnapshotId(startedAt, () => Buffer.from(random, 'hex')) !== snapshotId) return undefined;
  return { userPoolId, snapshotId, startedAt };
}

function newestFirst(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}
