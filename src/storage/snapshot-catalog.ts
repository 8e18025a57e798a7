import { manifestLayoutProblem, manifestOfPointer, parsePointer, POOL_ID, SNAPSHOT_ID, type Manifest } from './manifest.js';
import type { ObjectSink } from './object-sink.js';
import { poolManifestPrefix, USERS_TABLE } from './output-layout.js';

/** One complete snapshot of a pool at a destination, as `snapshots` lists it. */
export interface SnapshotEntry {
  readonly snapshot_id: string;
  readonly completed_at: string;
  /** Its place in its dataset's commit order (0 for manifests written before there was one). */
  readonly commit_seq: number;
  /** `pool` (the pool's own dataset) or `partial`. */
  readonly dataset: string;
  /** The pointers at the destination that name it now (`latest.json`, `latest-<name>.json`). */
  readonly named_by: readonly string[];
  /** Records per table, change tables included. */
  readonly records: Readonly<Record<string, number>>;
  readonly format: string;
  readonly manifest_url: string;
}

/** A manifest file's place: `manifests/user_pool_id=<pool>/dt=<date>/run=<id>.json`. */
const MANIFEST_REST = /^dt=\d{4}-\d{2}-\d{2}\/run=([^/]+)\.json$/;
/** A pointer file's name below the pool's manifests folder. */
const POINTER_NAME = /^latest(?:-[^/]+)?\.json$/;

/**
 * Every complete snapshot of `userPoolId` at the destination, newest first (by commit order, then
 * id): one listing of the pool's manifests folder and a read of each manifest and pointer. A manifest
 * that cannot be read, or that is not where its snapshot keeps it, is left out and reported in
 * `skipped` (a destination is untrusted input: the reasons never quote what it holds).
 */
export async function listSnapshots(sink: ObjectSink, userPoolId: string): Promise<{ snapshots: SnapshotEntry[]; skipped: string[] }> {
  if (!POOL_ID.test(userPoolId)) throw new RangeError(`"${userPoolId}" is not a user pool id: expected <region>_<id>, e.g. eu-west-1_AbCdEf123`);
  const prefix = poolManifestPrefix(userPoolId);
  const keys = (await sink.listObjects(prefix)).map((object) => object.key).sort();
  const namedBy = new Map<string, string[]>();
  const skipped: string[] = [];
  for (const key of keys) {
    const name = key.slice(prefix.length);
    if (!POINTER_NAME.test(name)) continue;
    const pointer = parsePointer(await sink.getText(key));
    if (pointer) namedBy.set(pointer.snapshot_id, [...(namedBy.get(pointer.snapshot_id) ?? []), name]);
  }
  const snapshots: SnapshotEntry[] = [];
  for (const key of keys) {
    const id = MANIFEST_REST.exec(key.slice(prefix.length))?.[1];
    if (id === undefined || !SNAPSHOT_ID.test(id)) continue;
    const read = await readManifestAt(sink, key, userPoolId, id);
    if ('reason' in read) {
      skipped.push(read.reason);
      continue;
    }
    const entry = entryOf(read.manifest, id, namedBy.get(id) ?? [], sink.urlOf(key));
    if (typeof entry === 'string') skipped.push(`${sink.urlOf(key)} ${entry}`);
    else snapshots.push(entry);
  }
  snapshots.sort((a, b) => b.commit_seq - a.commit_seq || (a.snapshot_id < b.snapshot_id ? 1 : a.snapshot_id > b.snapshot_id ? -1 : 0));
  return { snapshots, skipped };
}

/** Printable text: no control characters (a planted value could carry terminal escapes). */
const PRINTABLE = { test: (text: string): boolean => ![...text].some((char) => (char.codePointAt(0) ?? 0) < 0x20 || ((char.codePointAt(0) ?? 0) >= 0x7f && (char.codePointAt(0) ?? 0) <= 0x9f)) };

/**
 * A manifest's entry, or why it has none: every field `snapshots` shows must be of its type and
 * printable (the layout check covers only the file lists). Manifests written before `dataset`
 * existed are the pool's own dataset unless their pointer field says otherwise.
 */
function entryOf(manifest: Manifest, id: string, namedBy: readonly string[], manifestUrl: string): SnapshotEntry | string {
  const m = manifest as Partial<Record<keyof Manifest, unknown>>;
  if (typeof m.completed_at !== 'string' || !PRINTABLE.test(m.completed_at)) return 'has no valid completed_at';
  const dataset = m.dataset === undefined ? (m.pointer === undefined || m.pointer === 'latest.json' ? 'pool' : 'partial') : m.dataset;
  if (dataset !== 'pool' && dataset !== 'partial') return 'has no valid dataset';
  const format = m.format === undefined ? 'ndjson' : m.format;
  if (typeof format !== 'string' || !/^[a-z]+$/.test(format)) return 'has no valid format';
  const tables = (m.tables ?? { [USERS_TABLE]: { record_count: m.record_count } }) as Record<string, unknown>;
  const records: Record<string, number> = {};
  for (const [table, content] of Object.entries(tables)) {
    const count = (content as { record_count?: unknown } | null)?.record_count;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) return `has no valid record count for ${table}`;
    records[table] = count;
  }
  return {
    snapshot_id: id,
    completed_at: m.completed_at,
    commit_seq: typeof m.commit_seq === 'number' ? m.commit_seq : 0,
    dataset,
    named_by: namedBy.filter((name) => PRINTABLE.test(name)),
    records,
    format,
    manifest_url: manifestUrl,
  };
}

/** The manifest at `key`, checked like every manifest read back (see manifestLayoutProblem), or why not. */
async function readManifestAt(sink: ObjectSink, key: string, userPoolId: string, snapshotId: string): Promise<{ manifest: Manifest } | { reason: string }> {
  const text = await sink.getText(key);
  if (text === undefined) return { reason: `${sink.urlOf(key)} is gone` };
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch {
    return { reason: `${sink.urlOf(key)} could not be read as JSON` };
  }
  const problem = manifestLayoutProblem(sink, manifest, key, userPoolId, snapshotId);
  return problem === undefined ? { manifest: manifest as Manifest } : { reason: problem.replace("the previous snapshot's manifest", 'the manifest') };
}

/**
 * Where a manifest or pointer URL lives: the destination it belongs to (everything before
 * `/manifests/user_pool_id=`) and its key there; undefined for a URL this tool did not write.
 */
export function splitManifestUrl(url: string): { destination: string; key: string; userPoolId: string } | undefined {
  const match = /^(.+?)\/(manifests\/user_pool_id=([^/]+)\/(?:latest(?:-[^/]+)?\.json|dt=\d{4}-\d{2}-\d{2}\/run=[^/]+\.json))$/.exec(url);
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { destination: match[1], key: match[2], userPoolId: match[3] };
}

/**
 * The manifest a URL names: a snapshot's manifest, or a pointer (`latest.json`, `latest-<name>.json`)
 * followed to the manifest it names. Either checked as untrusted input. Throws a RangeError, one line.
 */
export async function manifestAtUrl(sink: ObjectSink, key: string, userPoolId: string): Promise<{ manifest: Manifest; url: string }> {
  const name = key.slice(poolManifestPrefix(userPoolId).length);
  if (POINTER_NAME.test(name)) {
    const text = await sink.getText(key);
    if (text === undefined) throw new RangeError(`${sink.urlOf(key)} does not exist: no complete snapshot of this dataset yet, or another destination`);
    const found = await manifestOfPointer(sink, text, name, userPoolId);
    if ('reason' in found) throw new RangeError(found.reason.replace("the previous snapshot's manifest", 'the manifest'));
    return { manifest: found.manifest, url: sink.urlOf(found.key) };
  }
  const id = MANIFEST_REST.exec(name)?.[1] ?? '';
  if (!SNAPSHOT_ID.test(id)) throw new RangeError(`${sink.urlOf(key)} is not a snapshot's manifest: expected …/run=<snapshot_id>.json`);
  const read = await readManifestAt(sink, key, userPoolId, id);
  if ('reason' in read) throw new RangeError(read.reason);
  return { manifest: read.manifest, url: sink.urlOf(key) };
}
