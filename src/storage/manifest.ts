import type { ObjectSink } from './object-sink.js';
import { DATA_FILE_NAME, latestKey, manifestKey, poolManifestPrefix, runDataPrefix, TABLES, USERS_TABLE, type DataFormat } from './output-layout.js';
import { keyOfUrl } from './record-lines.js';

/** One data file of a snapshot. */
export interface ManifestFile {
  readonly url: string;
  readonly records: number;
  /** Size of the stored object (compressed if gzip). */
  readonly bytes: number;
  /** SHA-256 of the stored bytes, hex. */
  readonly sha256: string;
}

/** The commit marker of a snapshot: written last, it lists exactly the run's data files. */
export interface Manifest {
  readonly schema_version: 1;
  readonly user_pool_id: string;
  readonly snapshot_id: string;
  readonly region: string;
  readonly started_at: string;
  readonly completed_at: string;
  readonly record_count: number;
  readonly shards: number;
  readonly filter: string | null;
  readonly attributes: readonly string[] | null;
  /** How the data files are encoded: NDJSON lines, or Parquet (from the first version: always `ndjson`). */
  readonly format: DataFormat;
  /** NDJSON: `gzip` (whole files) or `none`; Parquet: `snappy`, inside the file, per page. */
  readonly compression: 'gzip' | 'none' | 'snappy';
  /**
   * `pool` for a run of the pool's own dataset (the whole pool, its configured attributes: it moves
   * `latest.json`); `partial` for any other (a filter, other attributes).
   */
  readonly dataset: 'pool' | 'partial';
  /** The pointer file this run moved (`latest.json`, `latest-<name>.json`), or null. */
  readonly pointer: string | null;
  /** The users table's files (as `tables.users.files`: kept at the top for readers of the first version). */
  readonly files: readonly ManifestFile[];
  /**
   * The previous snapshot the change tables (`user_changes`, …) are relative to, or null when the
   * run has none; `changes_reason` then says why (no previous snapshot, not comparable, turned off).
   */
  readonly changes_since: string | null;
  readonly changes_reason: string | null;
  /**
   * What the run kept out of its records: attributes dropped, fields pseudonymized (HMAC-SHA256)
   * and the id of the key (a short hash of it, never the key). Absent in manifests written before.
   */
  readonly privacy?: ManifestPrivacy;
  /** Every table the run wrote, with its records and files. */
  readonly tables: Readonly<Record<string, ManifestTable>>;
  /**
   * The run's place in its dataset's commit order, issued by Redis at its commit point: what orders
   * runs for pointers, change tables and retention (never the snapshot id's clock). Absent in
   * manifests written before it existed (ordered as 0, then by id).
   */
  readonly commit_seq?: number;
}

/** See {@link Manifest.privacy}. */
export interface ManifestPrivacy {
  readonly excluded_attributes: readonly string[];
  readonly pseudonymized: readonly string[];
  readonly key_id: string | null;
}

/** The privacy block of a run (none: empty lists, no key). */
export function manifestPrivacy(run: Pick<ManifestRun, 'excludeAttributes' | 'pseudonymize' | 'pseudonymizationKeyId'>): ManifestPrivacy {
  const pseudonymized = [...(run.pseudonymize ?? [])];
  return { excluded_attributes: [...(run.excludeAttributes ?? [])], pseudonymized, key_id: pseudonymized.length > 0 ? (run.pseudonymizationKeyId ?? null) : null };
}

/** One table of a snapshot. */
export interface ManifestTable {
  readonly record_count: number;
  readonly files: readonly ManifestFile[];
  /** Memberships: groups deleted between ListGroups and their ListUsersInGroup, so not walked. */
  readonly groups_skipped?: readonly string[];
  /** A change table's records by op. */
  readonly counts?: Readonly<Record<string, number>>;
}

/**
 * `latest.json` (and `latest-<name>.json`): which manifest is the newest complete snapshot of a
 * dataset; the same JSON as the committed head Redis holds for it. Readers need only `snapshot_id`
 * and `manifest_url`.
 */
export interface LatestPointer {
  readonly schema_version: 1;
  readonly user_pool_id: string;
  readonly snapshot_id: string;
  readonly manifest_url: string;
  readonly completed_at: string;
  readonly record_count: number;
  /** The run's place in its dataset's commit order (absent in pointers written before it existed: 0). */
  readonly commit_seq?: number;
}

/** What a manifest says about its run (a RunSpec has it). */
export interface ManifestRun {
  readonly userPoolId: string;
  readonly snapshotId: string;
  readonly region: string;
  readonly startedAt: string;
  readonly shards: number;
  readonly filter: string | null;
  readonly attributes: readonly string[] | null;
  readonly gzip: boolean;
  /** How the data files are encoded. @default 'ndjson' (a run asked for before Parquet existed) */
  readonly format?: DataFormat | undefined;
  /** The pointer the run moves: `latest.json` for the pool's own dataset; else a partial run. */
  readonly pointer?: string | null | undefined;
  readonly excludeAttributes?: readonly string[] | undefined;
  readonly pseudonymize?: readonly string[] | undefined;
  readonly pseudonymizationKeyId?: string | undefined;
}

/** A table's files, in shard then sequence order, and what else the manifest says of it. */
export interface TableFiles {
  readonly files: readonly ManifestFile[];
  readonly groupsSkipped?: readonly string[];
  readonly counts?: Readonly<Record<string, number>>;
}

/** What a manifest says of its change tables. */
export interface ManifestChanges {
  readonly since: string | null;
  readonly reason: string | null;
}

/**
 * Builds the manifest of a finished run from its tables' files (`users` first). The top-level
 * `record_count` and `files` describe the users table, as in the first version. Pure.
 */
export function buildManifest(
  spec: ManifestRun,
  tables: ReadonlyMap<string, TableFiles>,
  completedAt: string,
  changes: ManifestChanges = { since: null, reason: 'change tables are turned off for this run (--no-changes)' },
  commitSeq?: number,
): Manifest {
  const files = tables.get('users')?.files ?? [];
  const pointer = spec.pointer === undefined ? 'latest.json' : spec.pointer;
  const listed = (list: readonly ManifestFile[]) => list.map(({ url, records, bytes, sha256 }) => ({ url, records, bytes, sha256 }));
  const count = (list: readonly ManifestFile[]) => list.reduce((sum, file) => sum + file.records, 0);
  return {
    schema_version: 1,
    user_pool_id: spec.userPoolId,
    snapshot_id: spec.snapshotId,
    region: spec.region,
    started_at: spec.startedAt,
    completed_at: completedAt,
    record_count: count(files),
    shards: spec.shards,
    filter: spec.filter,
    attributes: spec.attributes,
    format: spec.format ?? 'ndjson',
    compression: spec.format === 'parquet' ? 'snappy' : spec.gzip ? 'gzip' : 'none',
    // A partial run without --name has pointer null (not the pool's own dataset); undefined is an old run.
    dataset: pointer === 'latest.json' ? 'pool' : 'partial',
    pointer,
    files: listed(files),
    changes_since: changes.since,
    changes_reason: changes.reason,
    privacy: manifestPrivacy(spec),
    ...(commitSeq === undefined ? {} : { commit_seq: commitSeq }),
    tables: Object.fromEntries(
      [...tables].map(([table, content]) => [
        table,
        {
          record_count: count(content.files),
          ...(content.counts ? { counts: { ...content.counts } } : {}),
          files: listed(content.files),
          ...(content.groupsSkipped ? { groups_skipped: [...content.groupsSkipped] } : {}),
        },
      ]),
    ),
  };
}

/** Writes a finished run's manifest, its commit marker; returns its URL. Idempotent: a retry writes the same bytes. */
export async function writeManifest(sink: ObjectSink, manifest: Manifest): Promise<string> {
  const key = manifestKey({
    userPoolId: manifest.user_pool_id,
    snapshotId: manifest.snapshot_id,
    startedAt: new Date(manifest.started_at),
  });
  await sink.putText(key, `${JSON.stringify(manifest, null, 2)}\n`, 'application/json');
  return sink.urlOf(key);
}

/** The pointer a manifest makes. Pure. */
export function pointerTo(manifest: Manifest, manifestUrl: string): LatestPointer {
  return {
    schema_version: 1,
    user_pool_id: manifest.user_pool_id,
    snapshot_id: manifest.snapshot_id,
    manifest_url: manifestUrl,
    completed_at: manifest.completed_at,
    record_count: manifest.record_count,
    ...(manifest.commit_seq === undefined ? {} : { commit_seq: manifest.commit_seq }),
  };
}

/** A pointer's place in its dataset's commit order (0 for a pointer written before there was one). */
export const commitSeqOf = (pointer: Pick<LatestPointer, 'commit_seq'>): number => (typeof pointer.commit_seq === 'number' ? pointer.commit_seq : 0);

/** A pointer's text as JSON naming a snapshot, or undefined when it is not one. */
export function parsePointer(text: string | undefined): LatestPointer | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as LatestPointer;
    return typeof parsed?.snapshot_id === 'string' && typeof parsed.manifest_url === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** How a pointer move went: it now names the head, already did, or names a later commit (never moved back). */
export type PointerMove = 'moved' | 'current' | 'newer';

/**
 * Moves a pointer (`latest.json`, `latest-<name>.json`) to `head`, only forward: by
 * compare-and-swap on the version read (S3 `If-Match`, or `If-None-Match: *` when absent; a lock
 * and a rename on disk), retried while another writer moves it meanwhile; never over a pointer of
 * a later commit. `beforeWrite` runs right before each write (the finalizer's fence).
 */
export async function movePointer(sink: ObjectSink, head: LatestPointer, pointer: string, beforeWrite: () => Promise<void> = () => Promise.resolve()): Promise<PointerMove> {
  const key = latestKey(head.user_pool_id, pointer);
  const text = `${JSON.stringify(head, null, 2)}\n`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const stored = await sink.getVersioned(key);
    const current = parsePointer(stored?.text);
    if (current?.snapshot_id === head.snapshot_id && current.manifest_url === head.manifest_url && commitSeqOf(current) === commitSeqOf(head)) return 'current';
    if (current && current.snapshot_id !== head.snapshot_id && commitSeqOf(current) >= commitSeqOf(head)) return 'newer';
    await beforeWrite();
    if (await sink.putIfVersion(key, text, 'application/json', stored?.version ?? null)) return 'moved';
  }
  throw new Error(`${sink.urlOf(key)} kept changing while it was being moved to ${head.snapshot_id}: try the export again`);
}

/** A pool's pointer (`latest.json` or another), or undefined if none has been published (or it is unreadable). */
export async function readLatest(sink: ObjectSink, userPoolId: string, pointer = 'latest.json'): Promise<LatestPointer | undefined> {
  return parsePointer(await sink.getText(latestKey(userPoolId, pointer)));
}

/** What a user pool id looks like where it names folders (`<region>_<id>`): no `/`, no `.`. */
export const POOL_ID = /^[a-z]{2}(-[a-z]+)+-\d+_[0-9A-Za-z]+$/;
/** What a snapshot id looks like (see snapshot-id.ts): no `/`, no `.`. */
export const SNAPSHOT_ID = /^\d{8}T\d{9}Z-[0-9a-f]+$/;
/** A published data file's name (`part-<shard>-<seq>.ndjson[.gz]` or `.parquet`). */
const PART_NAME = DATA_FILE_NAME;

/**
 * Why the manifest at `key` is not a snapshot of `userPoolId` laid out as this tool lays one out, or
 * undefined when it is: its own pool and snapshot id, its key, and every file it lists in every
 * table a data file of that pool, table and snapshot under the same destination root. A manifest
 * read back from a destination is untrusted input (anyone who can write there can plant one): a file
 * URL with `..`, `%2e`, another root or another pool's folder would make a diff read someone else's
 * data. The reason is one line and never quotes what the manifest holds.
 */
export function manifestLayoutProblem(sink: ObjectSink, manifest: unknown, key: string, userPoolId: string, snapshotId: string): string | undefined {
  const what = `the previous snapshot's manifest (${sink.urlOf(key)})`;
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) return `${what} is not a JSON object`;
  const m = manifest as Partial<Record<keyof Manifest, unknown>>;
  if (m.user_pool_id !== userPoolId) return `${what} is not a snapshot of pool ${userPoolId}`;
  if (m.snapshot_id !== snapshotId) return `${what} is not snapshot ${snapshotId}, as its pointer says`;
  const startedAt = typeof m.started_at === 'string' ? new Date(m.started_at) : undefined;
  if (startedAt === undefined || Number.isNaN(startedAt.getTime())) return `${what} has no valid started_at`;
  const run = { userPoolId, snapshotId, startedAt };
  if (key !== manifestKey(run)) return `${what} is not where snapshot ${snapshotId} of pool ${userPoolId} keeps its manifest`;
  const listed: [string, unknown][] = [[USERS_TABLE, m.files ?? []]];
  if (m.tables !== undefined) {
    if (typeof m.tables !== 'object' || m.tables === null || Array.isArray(m.tables)) return `${what} has no valid tables`;
    for (const [table, content] of Object.entries(m.tables as Record<string, unknown>)) {
      if (!TABLES.includes(table)) return `${what} lists a table this tool does not write`;
      listed.push([table, (content as { files?: unknown } | null)?.files ?? []]);
    }
  }
  for (const [table, files] of listed) {
    if (!Array.isArray(files)) return `${what} has no valid file list for ${table}`;
    const prefix = runDataPrefix(run, table);
    for (const file of files as unknown[]) {
      const url = (file as { url?: unknown } | null)?.url;
      const fileKey = typeof url === 'string' ? keyOfUrl(sink, url) : undefined;
      if (fileKey === undefined || !fileKey.startsWith(prefix) || !PART_NAME.test(fileKey.slice(prefix.length))) {
        return `${what} lists a ${table} file outside ${sink.urlOf(prefix)} (another folder, another root or a path with . or .. segments)`;
      }
    }
  }
  return undefined;
}

/**
 * The manifest a pointer's text (`latest.json`'s, as read before the run moved it) names, with its
 * key under `sink`, or why there is none to compare with: no pointer, an unreadable one, a manifest
 * elsewhere, gone, unreadable, of another pool or listing files outside its snapshot's folders (see
 * {@link manifestLayoutProblem}). `userPoolId` is the pool the caller reads for (default: the one
 * the pointer names). Never throws for what the destination holds; reasons never quote its content.
 */
export async function manifestOfPointer(
  sink: ObjectSink,
  pointerText: string | undefined,
  pointer: string,
  userPoolId?: string,
): Promise<{ manifest: Manifest; key: string } | { reason: string }> {
  if (pointerText === undefined) return { reason: 'no previous complete snapshot of this dataset' };
  let parsed: Partial<Record<keyof LatestPointer, unknown>>;
  try {
    parsed = JSON.parse(pointerText) as Partial<Record<keyof LatestPointer, unknown>>;
  } catch {
    return { reason: `${pointer} could not be read as JSON` };
  }
  const pool = userPoolId ?? parsed?.user_pool_id;
  if (typeof pool !== 'string' || !POOL_ID.test(pool)) return { reason: `${pointer} names no valid user pool` };
  if (parsed?.user_pool_id !== undefined && parsed.user_pool_id !== pool) return { reason: `${pointer} is not a pointer of pool ${pool}` };
  const snapshotId = parsed?.snapshot_id;
  if (typeof snapshotId !== 'string' || !SNAPSHOT_ID.test(snapshotId)) return { reason: `${pointer} names no valid snapshot id` };
  const url = parsed.manifest_url;
  const key = typeof url === 'string' ? keyOfUrl(sink, url) : undefined;
  if (key === undefined || !key.startsWith(`${poolManifestPrefix(pool)}dt=`) || !key.endsWith(`/run=${snapshotId}.json`)) {
    return { reason: `the previous snapshot ${snapshotId}'s manifest named by ${pointer} is not under this destination's manifests of pool ${pool}` };
  }
  const text = await sink.getText(key);
  if (text === undefined) return { reason: `the previous snapshot's manifest ${sink.urlOf(key)} is gone` };
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch {
    return { reason: `the previous snapshot's manifest ${sink.urlOf(key)} could not be read as JSON` };
  }
  const problem = manifestLayoutProblem(sink, manifest, key, pool, snapshotId);
  if (problem !== undefined) return { reason: `${problem}: not compared` };
  return { manifest: manifest as Manifest, key };
}
