import { regionOfUserPool } from '../src/cognito/cognito-client.js';
import { runPointer, type RunSpec } from '../src/runs/run-spec.js';
import type { CommittedHead, DatasetRef, StoredHead } from '../src/runs/commit-store.js';
import { commitSeqOf, movePointer, readLatest } from '../src/storage/manifest.js';
import type { ObjectSink } from '../src/storage/object-sink.js';
import { keyOfUrl } from '../src/storage/record-lines.js';
import { runSink, type ExportRuntime } from './export-runtime.js';

/**
 * Pointers follow Redis's committed heads: a run captures its dataset's head when it starts (its
 * change tables' "previous"), the finalizer advances the head before it moves the pointer, and any
 * worker puts a pointer that lags its head (a stale write that landed late on a store without
 * conditional writes, a finalizer that died between the two) forward again: at every run start and
 * on the worker's reconcile tick.
 */

/** The dataset a run's pointer names, or null for a run that moves none. */
export function datasetOf(spec: RunSpec): DatasetRef | null {
  const pointer = runPointer(spec);
  return pointer === null ? null : { userPoolId: spec.userPoolId, destination: spec.destination, pointer };
}

/** What the finalizer keeps of a head in Redis: the pointer's JSON and where it lives. */
export function storedHead(spec: RunSpec, dataset: DatasetRef, head: CommittedHead): StoredHead {
  return { ...dataset, head, ...(spec.s3RoleArn ? { s3RoleArn: spec.s3RoleArn } : {}), ...(spec.externalId ? { externalId: spec.externalId } : {}) };
}

/**
 * The run's "previous" snapshot and the highest commit sequence its dataset has shown, captured
 * once (the first caller reads, every later one gets the same): Redis's head, or the pointer file
 * when it names a later commit (a Redis that lost its state) or Redis has none. Never the run itself.
 */
export async function captureRunPrevious(runtime: ExportRuntime, spec: RunSpec, sink: ObjectSink): Promise<{ previous: CommittedHead | undefined; seqFloor: number }> {
  return runtime.commits.capturePrevious(spec.snapshotId, async () => {
    const dataset = datasetOf(spec);
    if (dataset === null) return { previous: undefined, seqFloor: 0 };
    const head = (await runtime.commits.head(dataset))?.head;
    const file = await readLatest(sink, spec.userPoolId, dataset.pointer);
    const candidates = [head, file].filter((pointer): pointer is CommittedHead => pointer !== undefined && pointer.snapshot_id !== spec.snapshotId);
    const previous = candidates.sort((a, b) => commitSeqOf(b) - commitSeqOf(a))[0];
    return { previous, seqFloor: Math.max(0, ...candidates.map(commitSeqOf)) };
  });
}

/** Puts one dataset's pointer forward to its committed head if it lags (never back); true if it moved it. */
export async function repairPointer(runtime: ExportRuntime, stored: StoredHead): Promise<boolean> {
  const role = stored.s3RoleArn ? { roleArn: stored.s3RoleArn, ...(stored.externalId ? { externalId: stored.externalId } : {}) } : undefined;
  const sink = runtime.sink(stored.destination, role, regionOfUserPool(stored.userPoolId));
  const current = await readLatest(sink, stored.userPoolId, stored.pointer);
  if (current && (current.snapshot_id === stored.head.snapshot_id || commitSeqOf(current) >= commitSeqOf(stored.head))) return false;
  // Never point at a snapshot that is gone (a destination emptied by hand): the pointer stays as it is.
  const key = keyOfUrl(sink, stored.head.manifest_url);
  if (key === undefined || (await sink.getText(key)) === undefined) {
    runtime.log.warn({ userPoolId: stored.userPoolId, pointer: stored.pointer, manifest: stored.head.manifest_url }, "the committed head's manifest is gone; its pointer is not repaired");
    return false;
  }
  const moved = (await movePointer(sink, stored.head, stored.pointer)) === 'moved';
  if (moved) runtime.log.warn({ userPoolId: stored.userPoolId, pointer: stored.pointer, snapshotId: stored.head.snapshot_id }, 'put a pointer that lagged its committed head forward again');
  return moved;
}

/** Repairs every pointer of a pool that lags its committed head; a destination that cannot be reached is left for the next tick. */
export async function repairPoolPointers(runtime: ExportRuntime, userPoolId: string): Promise<void> {
  for (const stored of await runtime.commits.heads(userPoolId)) {
    try {
      await repairPointer(runtime, stored);
    } catch (error) {
      runtime.log.debug({ userPoolId, pointer: stored.pointer, err: error }, 'could not check a pointer against its committed head; the next tick will');
    }
  }
}

const warned = new Set<string>();

/**
 * Says once per destination and process when the store ignores conditional writes: its pointers
 * are then kept forward by the repair alone (a late stale write is undone within a reconcile tick).
 */
export async function checkConditionalWrites(runtime: ExportRuntime, spec: RunSpec): Promise<void> {
  const sink = runSink(runtime, spec);
  // Once per bucket (or directory): the probe's answer is the store's, not a prefix's.
  const store = sink.rootUrl.startsWith('s3://') ? sink.rootUrl.split('/').slice(0, 3).join('/') : sink.rootUrl;
  if (warned.has(store) || (await sink.honoursConditions())) return;
  warned.add(store);
  runtime.log.warn(
    { destination: sink.rootUrl },
    'the destination ignores conditional writes (If-Match): pointers are moved without compare-and-swap, and workers repair a pointer that lags its committed head within a reconcile tick',
  );
}
