import { manifestKey, poolDataPrefix, poolManifestPrefix, runDataPrefix, TABLES, type RunLocation } from './output-layout.js';
import { parsePointer, type Manifest } from './manifest.js';
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

/** What a complete run's manifest says of its place: its dataset (the pointer it moves) and commit order. */
export interface ManifestPlace {
  /** The pointer its dataset moves (`latest.json`, `latest-<name>.json`), or null for an unnamed partial run. */
  readonly dataset: string | null;
  /** Its commit sequence (0 for a manifest written before there was one). */
  readonly seq: number;
}

/** What a pool's destination holds, as listed: the input of {@link planRetention}. */
export interface RetentionListing {
  readonly userPoolId: string;
  /** Every key under `manifests/user_pool_id=<pool>/` (see {@link poolManifestPrefix}). */
  readonly manifestKeys: readonly string[];
  /** Every key under each table's `<table>/user_pool_id=<pool>/` (see {@link poolDataPrefix}). */
  readonly dataKeys: readonly string[];
  /**
   * Each complete run's place, as its manifest says, by snapshot id. A manifest missing here (it
   * could not be read) is kept and not counted: we never delete what we cannot classify.
   */
  readonly places: ReadonlyMap<string, ManifestPlace>;
  /** Snapshots a pointer names (every `latest*.json`, and each dataset's committed head): never deleted. */
  readonly protectedSnapshotIds: ReadonlySet<string>;
  /** Runs in progress: never touched, whatever their age. */
  readonly activeSnapshotIds: ReadonlySet<string>;
  /** Run folders without a manifest known to belong to runs that ended without completing (or are unknown). @default all */
  readonly deadSnapshotIds?: ReadonlySet<string>;
}

/** A retention decision, with the keys to delete in the order to delete them. */
export interface RetentionPlan extends RetentionResult {
  /** Manifests of the runs in `deleted`: deleted first, so no manifest ever lists a missing file. */
  readonly manifestKeys: readonly string[];
  /** Data files of the runs in `deleted` and `orphansDeleted`: deleted once the manifests are gone. */
  readonly dataKeys: readonly string[];
}

/** Data file names as `dataFileKey` writes them: `part-<shard>-<seq>.ndjson[.gz]` or `.parquet`. */
const PART_FILE = /^part-(?:[0-9a-f]+|all)-\d{5,}\.(?:ndjson(?:\.gz)?|parquet)$/;
// These only pull the id out of a key below the pool's folder; the strict check is the round trip
// through output-layout.ts in planRetention.
const MANIFEST_REST = /^dt=[^/]+\/run=([^/]+)\.json$/;
const DATA_REST = /^dt=[^/]+\/run=([^/]+)\/([^/]+)$/;

/**
 * Decides what a retention pass deletes, from what is listed. Pure.
 *
 * Keys are recognized strictly: a key counts only if the layout functions of output-layout.ts,
 * given the snapshot id it names, rebuild exactly that key (so `dt=` must be the id's start date),
 * the id is one `newSnapshotId` can make, and a data file is named like `part-<shard>-<seq>.ndjson[.gz]` or `.parquet`.
 * Anything else (a stray file, a misspelt partition, a hand-made folder) is ignored, never deleted:
 * we only delete what we know we wrote.
 *
 * Complete runs are those with a manifest, counted per dataset (the pointer the run moves: the
 * pool's `latest.json`, each `latest-<name>.json`, unnamed partial runs) in commit order (the
 * manifest's `commit_seq`, then the id): the newest `keepLast` of each are kept, the rest deleted
 * (manifest and data), except what a pointer names and active runs. A run folder without a manifest
 * (an orphan) goes only when its run is known dead and it is older than every kept run.
 */
export function planRetention(listing: RetentionListing, keepLast: number): RetentionPlan {
  checkKeepLast(keepLast);
  const { userPoolId, protectedSnapshotIds, activeSnapshotIds, places } = listing;

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

  const untouchable = (id: string): boolean => protectedSnapshotIds.has(id) || activeSnapshotIds.has(id);
  const byDataset = new Map<string, string[]>();
  for (const id of manifests.keys()) {
    const place = places.get(id);
    if (!place) continue;
    const dataset = place.dataset ?? '';
    byDataset.set(dataset, [...(byDataset.get(dataset) ?? []), id]);
  }
  const deletedSet = new Set<string>();
  const keptCounted: string[] = [];
  for (const ids of byDataset.values()) {
    ids.sort((a, b) => (places.get(b)?.seq ?? 0) - (places.get(a)?.seq ?? 0) || newestFirst(a, b));
    keptCounted.push(...ids.slice(0, keepLast));
    for (const id of ids.slice(keepLast)) if (!untouchable(id)) deletedSet.add(id);
  }
  const complete = [...manifests.keys()].sort(newestFirst);
  const deleted = complete.filter((id) => deletedSet.has(id));
  const kept = complete.filter((id) => !deletedSet.has(id));
  // Orphans go only once some dataset holds keepLast runs, and only below every kept run.
  const full = [...byDataset.values()].some((ids) => ids.length >= keepLast);
  const oldestKept = full ? [...keptCounted].sort(newestFirst).at(-1) : undefined;
  const dead = (id: string): boolean => listing.deadSnapshotIds === undefined || listing.deadSnapshotIds.has(id);
  const orphansDeleted = [...data.keys()]
    .filter((id) => !manifests.has(id) && oldestKept !== undefined && id < oldestKept && !untouchable(id) && dead(id))
    .sort(newestFirst);
  const manifestKeys = deleted.map((id) => manifests.get(id) ?? '');
  const dataKeys = [...deleted, ...orphansDeleted].flatMap((id) => data.get(id) ?? []);
  return { kept, deleted, orphansDeleted, objects: manifestKeys.length + dataKeys.length, manifestKeys, dataKeys };
}

/** What a retention pass protects besides what it reads, and how it is fenced. */
export interface RetentionGuards {
  /** Runs in progress: never touched. */
  readonly activeSnapshotIds: ReadonlySet<string>;
  /** More snapshots never to delete (each dataset's committed head in Redis). @default none */
  readonly protectedSnapshotIds?: ReadonlySet<string>;
  /** Of the run folders without a manifest, which runs are known dead (ended without completing, or unknown). @default all */
  readonly deadSnapshotIds?: (candidates: readonly string[]) => Promise<ReadonlySet<string>>;
  /** Runs right before each delete: the finalizer's fence (throws when it no longer holds its run). */
  readonly beforeDelete?: () => Promise<void>;
  /**
   * Runs once before anything is deleted, with every snapshot whose objects are about to go (the
   * Glue catalog's partitions are removed here): when it throws, nothing is deleted, and the next
   * pass, which finds the same snapshots, calls it again.
   */
  readonly beforeDeleteRuns?: (snapshotIds: readonly string[]) => Promise<void>;
}

/**
 * Keeps each dataset's newest `keepLast` complete snapshots of the pool (in commit order) and
 * deletes older ones: manifest first (so a crash never leaves a manifest listing missing files),
 * then every data file in the run's data folders. Never deletes a snapshot any pointer names
 * (`latest.json`, every `latest-<name>.json`, or a committed head in `guards`), nor an active run.
 *
 * Lists the pool's data folders once and its manifests folder once, and reads each pointer and
 * each manifest. Throws a RangeError for a bad `keepLast`, and an Error (deleting nothing) if a
 * pointer exists but cannot be read, since then the run it names cannot be protected.
 */
export async function applyRetention(sink: ObjectSink, userPoolId: string, keepLast: number, guards: RetentionGuards): Promise<RetentionResult> {
  checkKeepLast(keepLast);
  if (userPoolId === '' || userPoolId.includes('/')) {
    throw new RangeError(`Expected \`userPoolId\` to be a user pool id, got \`${userPoolId}\``);
  }
  // Data before manifests: a run that completes between the two listings is then seen with its
  // manifest, so its folder is never mistaken for an orphan. (The reverse order could delete it.)
  const dataKeys: string[] = [];
  for (const table of TABLES) dataKeys.push(...(await sink.listObjects(poolDataPrefix(userPoolId, table))).map((object) => object.key));
  const manifestKeys = (await sink.listObjects(poolManifestPrefix(userPoolId))).map((object) => object.key);
  const protectedSnapshotIds = new Set(guards.protectedSnapshotIds ?? []);
  const places = new Map<string, ManifestPlace>();
  for (const key of manifestKeys) {
    const rest = key.slice(poolManifestPrefix(userPoolId).length);
    if (POINTER.test(rest)) {
      const pointer = parsePointer(await sink.getText(key));
      if (pointer === undefined) throw new Error(`${sink.urlOf(key)} cannot be read: retention deletes nothing until the next run rewrites it`);
      protectedSnapshotIds.add(pointer.snapshot_id);
      continue;
    }
    const id = MANIFEST_REST.exec(rest)?.[1];
    if (id === undefined) continue;
    const place = placeOf(await sink.getText(key).catch(() => undefined));
    if (place) places.set(id, place);
  }
  const orphans = [...new Set(dataKeys.map((key) => /\/run=([^/]+)\//.exec(key)?.[1]).filter((id): id is string => id !== undefined))];
  const deadSnapshotIds = guards.deadSnapshotIds ? await guards.deadSnapshotIds(orphans.filter((id) => !places.has(id))) : undefined;
  const plan = planRetention(
    { userPoolId, manifestKeys, dataKeys, places, protectedSnapshotIds, activeSnapshotIds: guards.activeSnapshotIds, ...(deadSnapshotIds ? { deadSnapshotIds } : {}) },
    keepLast,
  );
  const fence = guards.beforeDelete ?? (() => Promise.resolve());
  const going = [...plan.deleted, ...plan.orphansDeleted];
  if (going.length > 0 && guards.beforeDeleteRuns) await guards.beforeDeleteRuns(going);
  if (plan.manifestKeys.length > 0) {
    await fence();
    await sink.deleteObjects(plan.manifestKeys);
  }
  // A crash here leaves data folders without manifests, older than the cutoff: the next pass deletes them as orphans.
  if (plan.dataKeys.length > 0) {
    await fence();
    await sink.deleteObjects(plan.dataKeys);
  }
  const { kept, deleted, orphansDeleted, objects } = plan;
  return { kept, deleted, orphansDeleted, objects };
}

/** A pointer's name below the pool's manifests folder. */
const POINTER = /^latest(?:-[^/]+)?\.json$/;

/** A manifest's dataset and commit order, or undefined when it cannot be read. */
function placeOf(text: string | undefined): ManifestPlace | undefined {
  if (text === undefined) return undefined;
  try {
    const manifest = JSON.parse(text) as Partial<Manifest>;
    const dataset = manifest.pointer === undefined ? (manifest.dataset === 'partial' ? null : 'latest.json') : manifest.pointer;
    return { dataset, seq: typeof manifest.commit_seq === 'number' ? manifest.commit_seq : 0 };
  } catch {
    return undefined;
  }
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
