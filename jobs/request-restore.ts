import { isUserPoolId, regionOfUserPool } from '../src/cognito/cognito-client.js';
import { FatalExportError } from '../src/limits/export-errors.js';
import type { Manifest } from '../src/storage/manifest.js';
import type { ObjectSink } from '../src/storage/object-sink.js';
import { readLines } from '../src/storage/record-lines.js';
import { splitManifestUrl } from '../src/storage/snapshot-catalog.js';
import { newSnapshotId } from '../src/storage/snapshot-id.js';
import { missingCustomAttributes, RestoreRequestError, unrestorableReason } from '../src/restore/restore-records.js';
import { RestoreStore, type RestoreSpec } from '../src/restore/restore-store.js';
import { TargetPool, TargetRefusedError } from '../src/restore/target-pool.js';
import type { ExportRuntime } from './export-runtime.js';
import { RESTORE_JOB, RESTORE_JOB_OPTIONS, restoreJobId, type ExportQueues } from './queues.js';
import { restoreLimiters, restoreManifest, tableKeys } from './restore-job.js';

/** What a caller (CLI, HTTP) asks to restore. */
export interface RestoreRequest {
  /** A snapshot's manifest URL, or a pointer's (`…/latest.json`). */
  readonly from: string;
  readonly targetPoolId: string;
  readonly merge?: boolean | undefined;
  readonly deleteMissing?: boolean | undefined;
  /** Compare the target with the snapshot once restored (the report says `verified`). */
  readonly verify?: boolean | undefined;
  readonly inline?: boolean | undefined;
}

export { RestoreRequestError };

/** A restore checked and ready to queue (or to plan, for --dry-run). */
export interface PreparedRestore {
  readonly spec: RestoreSpec;
  readonly manifest: Manifest;
  readonly sink: ObjectSink;
  readonly pool: TargetPool;
  readonly keys: { readonly users: string[]; readonly groups: string[]; readonly memberships: string[] };
}

/**
 * Checks a restore before anything is queued: the URL names a snapshot this tool wrote (followed
 * from a pointer), not pseudonymized; the target pool exists, has every custom attribute the
 * snapshot's users hold, and has no user unless `merge`. Throws a RestoreRequestError, one line.
 */
export async function prepareRestore(runtime: ExportRuntime, request: RestoreRequest, now = new Date()): Promise<PreparedRestore> {
  const fail = (message: string): never => {
    throw new RestoreRequestError(message);
  };
  const place = splitManifestUrl(request.from);
  if (!place) fail(`--from ${JSON.stringify(request.from)} is not a snapshot's manifest or pointer URL: expected <destination>/manifests/user_pool_id=<pool>/latest.json or …/dt=<date>/run=<id>.json`);
  const { destination, userPoolId: sourcePoolId } = place as NonNullable<typeof place>;
  if (!isUserPoolId(request.targetPoolId)) fail(`"${request.targetPoolId}" is not a user pool id: expected <region>_<id>, e.g. eu-west-1_AbCdEf123`);
  if (request.deleteMissing && !request.merge) fail('--delete-missing deletes users of a target that has some: pass --merge too');
  const region = regionOfUserPool(request.targetPoolId) ?? fail(`cannot tell the region of ${request.targetPoolId}`);
  const sink = runtime.sink(destination, undefined, region);
  let manifest: Manifest;
  try {
    manifest = await restoreManifest(sink, { manifestUrl: request.from, sourcePoolId });
  } catch (error) {
    if (error instanceof FatalExportError) fail(error.message);
    throw error;
  }
  const unrestorable = unrestorableReason(manifest);
  if (unrestorable !== undefined) fail(unrestorable);
  if (request.deleteMissing && manifest.filter !== null && manifest.filter !== undefined) {
    fail(`snapshot ${manifest.snapshot_id} holds only the users of its filter (${manifest.filter}): --delete-missing would delete every other user of the target; restore a snapshot of the whole pool`);
  }
  const restoreId = newSnapshotId(now);
  const spec: RestoreSpec = {
    restoreId,
    targetPoolId: request.targetPoolId,
    region,
    manifestUrl: request.from,
    sourcePoolId,
    snapshotId: manifest.snapshot_id,
    destination,
    merge: request.merge ?? false,
    deleteMissing: request.deleteMissing ?? false,
    ...(request.verify ? { verify: true } : {}),
    startedAt: now.toISOString(),
    ...(request.inline ? { inline: true } : {}),
  };
  const keys = { users: tableKeys(sink, manifest, 'users'), groups: tableKeys(sink, manifest, 'groups'), memberships: tableKeys(sink, manifest, 'group_memberships') };
  const pool = new TargetPool(runtime.cognito(region), request.targetPoolId, await restoreLimiters(runtime, spec), { retryPolicy: runtime.retryPolicy });
  let schema;
  try {
    schema = await pool.schema();
  } catch (error) {
    if (error instanceof TargetRefusedError && error.code === 'ResourceNotFoundException') fail(`target pool ${request.targetPoolId} does not exist in ${region} (or the worker's credentials cannot see it)`);
    throw error;
  }
  const used = new Set<string>();
  for (const key of keys.users) {
    for await (const line of readLines(sink, key)) {
      const attributes = (JSON.parse(line) as { attributes?: Record<string, string> }).attributes ?? {};
      for (const name of Object.keys(attributes)) if (name.startsWith('custom:')) used.add(name);
    }
  }
  const missing = missingCustomAttributes(used, schema);
  if (missing.length > 0) fail(`target pool ${request.targetPoolId} lacks the custom attributes ${missing.join(', ')} that the snapshot's users hold: add them to its schema (AddCustomAttributes) and restore again`);
  if (!spec.merge && (await pool.hasUsers())) fail(`target pool ${request.targetPoolId} already has users: restore into an empty pool, or pass --merge to update it (and --delete-missing to make it a sync)`);
  return { spec, manifest, sink, pool, keys };
}

/** Registers and queues a prepared restore; a target with a restore in flight gets that one instead. */
export async function queueRestore(runtime: ExportRuntime, queues: ExportQueues, prepared: PreparedRestore): Promise<{ restoreId: string; joined: boolean }> {
  const store = new RestoreStore(runtime.redis, runtime.keys);
  const active = await store.create(prepared.spec);
  if (active !== undefined) return { restoreId: active, joined: true };
  if (!prepared.spec.inline) await queues.restores.add(RESTORE_JOB, { restoreId: prepared.spec.restoreId }, { jobId: restoreJobId(prepared.spec.restoreId), ...RESTORE_JOB_OPTIONS });
  return { restoreId: prepared.spec.restoreId, joined: false };
}
