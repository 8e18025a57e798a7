import { setMaxListeners } from 'node:events';
import { UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { Logger } from 'pino';
import { FatalExportError, FencedError } from '../src/limits/export-errors.js';
import { describeError } from '../src/limits/error-classification.js';
import type { Manifest } from '../src/storage/manifest.js';
import type { ObjectSink, StagedLocation } from '../src/storage/object-sink.js';
import type { DataFormat, RunLocation } from '../src/storage/output-layout.js';
import { keyOfUrl, readLines } from '../src/storage/record-lines.js';
import { manifestAtUrl, splitManifestUrl } from '../src/storage/snapshot-catalog.js';
import { attributesSpokenFor, membershipKey } from '../src/restore/restore-records.js';
import { RestoreStore, type RestoreSpec } from '../src/restore/restore-store.js';
import { deletionsUnit, groupsUnit, membershipsUnit, RESTORE_TABLES, usersUnit, type RestoreUnitContext } from '../src/restore/restore-units.js';
import { TargetPool, type TargetLimiters } from '../src/restore/target-pool.js';
import { planRestore, verificationOf, type RestoreVerification } from '../src/restore/restore-plan.js';
import { CheckpointStore } from '../src/walk/checkpoint-store.js';
import type { SealedPart } from '../src/walk/part-file.js';
import { publishRunFiles, withdrawRunFiles } from '../src/walk/run-commit.js';
import type { TableSource } from '../src/walk/table-source.js';
import { walkShard } from '../src/walk/table-walk.js';
import { FLOW_PRIORITY } from '../src/limits/rate-limiter.js';
import type { ExportRuntime } from './export-runtime.js';
import { RESTORE_UNIT_JOB, RESTORE_UNIT_JOB_OPTIONS, restoreUnitJobId, type ExportQueues, type RestoreJobData, type RestoreUnitJobData } from './queues.js';

/** Records per file of the restore's own tables. */
const RESTORE_FILE_RECORDS = 10_000;
/** Units of one phase restored at once (each unit's calls are paced by the shared limiters anyway). */
const PARALLEL_UNITS = 4;

/** The outcome of one pass of a restore job. */
export type RestoreOutcome = 'completed' | 'cancelled' | 'paused' | 'ended';

/** A restore stopped by shutdown: its job is retried, and resumes from its checkpoints. */
export class RestorePausedError extends Error {
  override readonly name = 'RestorePausedError';
}

/** Where a restore's report is written: beside its tables, at the snapshot's destination. */
export function restoreReportKey(spec: Pick<RestoreSpec, 'targetPoolId' | 'restoreId'>): string {
  return `restores/user_pool_id=${spec.targetPoolId}/run=${spec.restoreId}.json`;
}

/** The run location of a restore's tables: `restore_users/user_pool_id=<target>/dt=<date>/run=<restore id>/`. */
export function restoreLocation(spec: RestoreSpec): RunLocation {
  return { userPoolId: spec.targetPoolId, snapshotId: spec.restoreId, startedAt: new Date(spec.startedAt) };
}

/** The manifest a restore reads, checked as untrusted input. */
export async function restoreManifest(sink: ObjectSink, spec: Pick<RestoreSpec, 'manifestUrl' | 'sourcePoolId'>): Promise<Manifest> {
  const place = splitManifestUrl(spec.manifestUrl);
  if (!place) throw new FatalExportError(`${spec.manifestUrl} is not a snapshot's manifest URL`);
  try {
    return (await manifestAtUrl(sink, place.key, spec.sourcePoolId)).manifest;
  } catch (error) {
    if (error instanceof RangeError) throw new FatalExportError(error.message);
    throw error;
  }
}

/** The keys of a snapshot table's files under `sink`. */
export function tableKeys(sink: ObjectSink, manifest: Manifest, table: string): string[] {
  const files = table === 'users' && !manifest.tables ? manifest.files : (manifest.tables[table]?.files ?? []);
  return files.map((file) => {
    const key = keyOfUrl(sink, file.url);
    if (key === undefined) throw new FatalExportError(`a file of snapshot ${manifest.snapshot_id} is not under its destination: ${file.url}`);
    return key;
  });
}

/** The limiters of a restore's calls: the write categories' buckets and the UserList one (see TargetLimiters). */
export async function restoreLimiters(runtime: ExportRuntime, spec: RestoreSpec): Promise<TargetLimiters> {
  const flow = `restore-${spec.restoreId}`;
  const rps = runtime.config.restoreRps;
  const category = (name: string, rate: number) => runtime.categoryLimiter(spec.region, name, rate, flow);
  return {
    userCreation: [await category('user-creation', rps.userCreation)],
    userUpdate: [await category('user-update', rps.userUpdate)],
    membershipUpdate: [await category('user-resource-update', rps.membershipUpdate)],
    resourceWrite: [await category('resource-write', rps.resourceWrite)],
    read: [await runtime.limiter(spec.region, undefined, flow, FLOW_PRIORITY.SHARDED)],
  };
}

/** Everything one pass of a restore uses. */
interface Pass {
  readonly runtime: ExportRuntime;
  readonly store: RestoreStore;
  readonly spec: RestoreSpec;
  readonly sink: ObjectSink;
  readonly checkpoints: CheckpointStore;
  readonly signal: AbortSignal;
  readonly lost: AbortSignal | undefined;
  readonly log: Logger;
  /** The queue units go to, one job each, for any worker; undefined: walked in this process. */
  readonly units?: Queue | undefined;
}

/**
 * Runs (or resumes) a restore: records what the target holds, then restores groups, users (one
 * unit per users file, several at once), deletions (`--delete-missing`) and memberships, each unit
 * a checkpointed walk whose records are its table's rows; then publishes the tables and writes the
 * report. A unit resumed after a crash redoes at most its open file's records, and every write is
 * idempotent, so the counts of a restore that was interrupted equal those of one that was not.
 */
export async function runRestore(runtime: ExportRuntime, restoreId: string, stop: AbortSignal, lost?: AbortSignal, queues?: ExportQueues): Promise<RestoreOutcome> {
  const store = new RestoreStore(runtime.redis, runtime.keys);
  const spec = await store.spec(restoreId);
  if (!spec) return 'ended';
  const status = await store.status(restoreId);
  if (status && ['completed', 'failed', 'cancelled'].includes(status.state)) return status.state === 'cancelled' ? 'cancelled' : 'ended';
  await store.setState(restoreId, 'running');
  const log = runtime.log.child({ restoreId, targetPoolId: spec.targetPoolId });
  const cancelled = watchCancel(store, restoreId);
  const signal = AbortSignal.any([stop, cancelled.signal]);
  // Every unit walked at once listens on it (and on `lost`).
  setMaxListeners(100, signal, stop, cancelled.signal, ...(lost ? [lost] : []));
  const sink = runtime.sink(spec.destination, undefined, spec.region);
  const checkpoints = new CheckpointStore(runtime.redis, runtime.keys, restoreId);
  // A queued restore spreads its users and memberships units over the workers; an --inline one walks them here.
  const pass: Pass = { runtime, store, spec, sink, checkpoints, signal, lost, log, units: spec.inline ? undefined : queues?.restoreUnits };
  // Cancelled meanwhile (the watch may not have seen it yet: Ctrl-C on --inline sets it and stops at once).
  const isCancelled = async () => cancelled.signal.aborted || (await store.status(restoreId))?.state === 'cancelled';
  try {
    const outcome = await restorePass(pass);
    if (outcome === 'paused' && (await isCancelled())) return await withdrawRestore(pass);
    return outcome;
  } catch (error) {
    if (await isCancelled()) return await withdrawRestore(pass);
    throw error;
  } finally {
    cancelled.stop();
  }
}

/** Aborts `signal` once the restore's state is `cancelled` (a cancel is a state in Redis, polled); `stop` ends the polling. */
function watchCancel(store: RestoreStore, restoreId: string): { readonly signal: AbortSignal; stop(): void } {
  const cancelled = new AbortController();
  const watch = setInterval(() => {
    void store.status(restoreId).then(
      (now) => {
        if (now?.state === 'cancelled') cancelled.abort(new Error('restore cancelled'));
      },
      () => undefined,
    );
  }, 500);
  return { signal: cancelled.signal, stop: () => clearInterval(watch) };
}

/** What every unit of a restore shares: the target pool (its calls paced, stopped by `signal`) and the restore's memory. */
async function unitContext(runtime: ExportRuntime, store: RestoreStore, spec: RestoreSpec, sink: ObjectSink, manifest: Manifest, signal: AbortSignal): Promise<RestoreUnitContext> {
  const pool = new TargetPool(runtime.cognito(spec.region), spec.targetPoolId, await restoreLimiters(runtime, spec), { signal, retryPolicy: runtime.retryPolicy });
  return { pool, memory: store.memory(spec.restoreId), merge: spec.merge, speaksFor: attributesSpokenFor(manifest), restoreId: spec.restoreId, source: sink };
}

async function restorePass(pass: Pass): Promise<RestoreOutcome> {
  const { runtime, store, spec, sink, signal, log } = pass;
  const manifest = await restoreManifest(sink, spec);
  const context = await unitContext(runtime, store, spec, sink, manifest, signal);
  const { pool } = context;
  if (!(await store.hasBaseline(spec.restoreId))) {
    log.info('recording what the target pool holds before any write');
    await store.recordBaseline(spec.restoreId, async (add) => {
      for await (const page of pool.users()) await add('users', page.map((user) => user.username));
      const groups = (await pool.groups()).map((group) => group.GroupName ?? '').filter((name) => name !== '');
      await add('groups', groups);
      for (const group of groups) await add('members', [...(await pool.members(group))].map((username) => membershipKey({ group_name: group, username })));
    });
  }
  const units: { unit: string; shard: string; source: TableSource<unknown, object> }[] = [];
  const phase = async (list: typeof units): Promise<boolean> => {
    units.push(...list);
    if (pass.units && list.length > 1) return spread(pass, pass.units, list.map((entry) => entry.unit));
    let paused = false;
    for (let i = 0; i < list.length; i += PARALLEL_UNITS) {
      const outcomes = await Promise.all(list.slice(i, i + PARALLEL_UNITS).map((entry) => walkUnit(pass, entry.unit, entry.shard, entry.source, manifest.format ?? 'ndjson')));
      if (outcomes.includes('paused')) paused = true;
      if (paused) return false;
    }
    return true;
  };
  const groupKeys = tableKeys(sink, manifest, 'groups');
  if (!(await phase([{ unit: 'restore_groups.all', shard: 'all', source: groupsUnit(context, groupKeys) }]))) return 'paused';
  const userKeys = tableKeys(sink, manifest, 'users');
  if (!(await phase(userKeys.map((key, k) => ({ unit: `restore_users.${k}`, shard: `u${k}`, source: usersUnit(context, [key]) }))))) return 'paused';
  if (spec.deleteMissing) {
    let usernames = await store.deletions(spec.restoreId);
    if (usernames === undefined) {
      const keep = new Set<string>();
      for (const key of userKeys) for await (const line of readLines(sink, key)) keep.add((JSON.parse(line) as { username: string }).username);
      const gone: string[] = [];
      for await (const page of pool.users()) for (const user of page) if (!keep.has(user.username)) gone.push(user.username);
      await store.setDeletions(spec.restoreId, gone);
      usernames = gone;
    }
    if (!(await phase([{ unit: 'restore_users.deleted', shard: 'deleted', source: deletionsUnit(context, usernames) }]))) return 'paused';
  }
  const memberKeys = tableKeys(sink, manifest, 'group_memberships');
  if (!(await phase(memberKeys.map((key, k) => ({ unit: `restore_memberships.${k}`, shard: `m${k}`, source: membershipsUnit(context, [key]) }))))) return 'paused';
  const verification = spec.verify
    ? verificationOf(await planRestore(pool, sink, { users: userKeys, groups: groupKeys, memberships: memberKeys }, { merge: true, deleteMissing: spec.deleteMissing, speaksFor: attributesSpokenFor(manifest) }))
    : undefined;
  await finishRestore(pass, manifest, units.map((entry) => entry.unit), verification);
  return 'completed';
}

/**
 * Spreads units over every worker, a `restore-unit` job each, and waits until each unit's checkpoint
 * is done: false when this job is stopped first (the unit jobs go on), an error when a unit's job
 * failed for good.
 */
async function spread(pass: Pass, queue: Queue, units: readonly string[]): Promise<boolean> {
  const { spec, checkpoints, signal } = pass;
  await queue.addBulk(units.map((unit) => ({ name: RESTORE_UNIT_JOB, data: { restoreId: spec.restoreId, unit }, opts: { jobId: restoreUnitJobId(spec.restoreId, unit), ...RESTORE_UNIT_JOB_OPTIONS } })));
  for (;;) {
    let done = 0;
    for (const unit of units) {
      if ((await checkpoints.peek(unit))?.done) {
        done++;
        continue;
      }
      const job = await queue.getJob(restoreUnitJobId(spec.restoreId, unit));
      if (job && (await job.getState()) === 'failed') throw new FatalExportError(`unit ${unit} of restore ${spec.restoreId} failed: ${job.failedReason.split('\n')[0] ?? ''}`);
    }
    if (done === units.length) return true;
    if (signal.aborted) return false;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * The BullMQ processor of one unit of a restore (see spread): walks it; a stop hands the job back;
 * a cancelled restore ends it.
 */
export async function processRestoreUnitJob(runtime: ExportRuntime, job: Job<RestoreUnitJobData>, stop: AbortSignal, lost?: AbortSignal): Promise<string> {
  const { restoreId, unit } = job.data;
  const store = new RestoreStore(runtime.redis, runtime.keys);
  const spec = await store.spec(restoreId);
  const state = (await store.status(restoreId))?.state;
  if (!spec || state === undefined || ['completed', 'failed', 'cancelled'].includes(state)) return `restore ${restoreId} is ${state ?? 'unknown'}`;
  const cancelled = watchCancel(store, restoreId);
  const signal = AbortSignal.any([stop, cancelled.signal]);
  setMaxListeners(100, signal);
  try {
    const sink = runtime.sink(spec.destination, undefined, spec.region);
    const manifest = await restoreManifest(sink, spec);
    const context = await unitContext(runtime, store, spec, sink, manifest, signal);
    const [table, index] = unit.split('.') as [string, string];
    const k = Number(index);
    const source = table === 'restore_users' ? usersUnit(context, [tableKeys(sink, manifest, 'users')[k] ?? '']) : membershipsUnit(context, [tableKeys(sink, manifest, 'group_memberships')[k] ?? '']);
    const pass: Pass = { runtime, store, spec, sink, checkpoints: new CheckpointStore(runtime.redis, runtime.keys, restoreId), signal, lost, log: runtime.log.child({ restoreId, unit }) };
    const outcome = await walkUnit(pass, unit, `${table === 'restore_users' ? 'u' : 'm'}${k}`, source, manifest.format ?? 'ndjson');
    if (outcome === 'paused') {
      if (cancelled.signal.aborted || (await store.status(restoreId))?.state === 'cancelled') return 'cancelled';
      throw new RestorePausedError(`unit ${unit} of restore ${restoreId} paused (the worker is stopping); it resumes from its checkpoint`);
    }
    return 'done';
  } finally {
    cancelled.stop();
  }
}

/** Walks one unit to its end (or a pause), its rows into the restore's table files. */
async function walkUnit(pass: Pass, unit: string, shard: string, source: TableSource<unknown, object>, format: DataFormat): Promise<'done' | 'paused'> {
  const { spec, sink, checkpoints, signal, lost, log, runtime } = pass;
  const outcome = await walkShard({
    source,
    shard,
    unit,
    run: restoreLocation(spec),
    // The snapshot's format: a Parquet snapshot gets a Parquet mapping.
    files: { format, parquetRowGroupRows: runtime.config.parquetRowGroupRows, gzip: true, gzipLevel: 6, maxRecords: RESTORE_FILE_RECORDS },
    sink,
    checkpoints,
    progress: {
      page: () => Promise.resolve(),
      fileDone: (file) => {
        for (const [action, n] of Object.entries(file.tally ?? {})) pass.runtime.metrics.restoreRecords.inc({ user_pool_id: spec.targetPoolId, table: source.table, action }, n);
      },
    },
    stop: signal,
    lost,
    log: log.child({ unit }),
  });
  return outcome.status;
}

/** The report's counts of one table: its rows by action, from the tallies of its files (exact however often a unit resumed). */
function countsOf(files: readonly SealedPart[]): Record<string, number> {
  const counts: Record<string, number> = { created: 0, existing: 0, updated: 0, deleted: 0, skipped_federated: 0, skipped: 0, failed: 0 };
  for (const file of files) for (const [action, n] of Object.entries(file.tally ?? {})) counts[action] = (counts[action] ?? 0) + n;
  return counts;
}

/** Publishes the restore's tables, writes its report and completes it. Idempotent. */
async function finishRestore(pass: Pass, manifest: Manifest, units: readonly string[], verification: RestoreVerification | undefined): Promise<void> {
  const { store, spec, sink, checkpoints, log } = pass;
  // A worker paused here (SIGSTOP) while another took the job over and finished it must write
  // nothing more: gone checkpoints would make it publish no file and sweep the published ones as
  // strays, then overwrite the report with empty tables.
  const fence = async (): Promise<void> => {
    if (pass.lost?.aborted) throw new FencedError(`lost restore ${spec.restoreId} to another worker`);
    if ((await store.status(spec.restoreId))?.state !== 'running') throw new FencedError(`restore ${spec.restoreId} is no longer running: another worker finished it`);
  };
  const files: SealedPart[] = [];
  const known: StagedLocation[] = [];
  const byTable = new Map<string, SealedPart[]>(RESTORE_TABLES.map((table) => [table, []]));
  for (const unit of units) {
    if (!(await checkpoints.peek(unit))?.done) throw new FencedError(`unit ${unit} of restore ${spec.restoreId} is not done here: another worker finished the restore`);
    const committed = await checkpoints.files(unit);
    files.push(...committed);
    known.push(...(await checkpoints.staged(unit)));
    byTable.get(unit.slice(0, unit.indexOf('.')))?.push(...committed);
  }
  await fence();
  await publishRunFiles(sink, { run: restoreLocation(spec), tables: RESTORE_TABLES }, files, known, fence);
  const failures: { table: string; name: string; reason: string }[] = [];
  const federated: string[] = [];
  for (const [table, list] of byTable) {
    for (const file of list) {
      if (!file.tally?.failed && !(table === 'restore_users' && file.tally?.skipped_federated)) continue;
      for await (const line of readLines(sink, file.key)) {
        const row = JSON.parse(line) as { action: string; username: string | null; group_name?: string; reason: string | null };
        const name = row.username ?? row.group_name ?? '';
        if (row.action === 'failed' && failures.length < 1000) failures.push({ table, name: table === 'restore_memberships' ? `${row.group_name ?? ''}/${name}` : name, reason: row.reason ?? '' });
        if (row.action === 'skipped_federated' && table === 'restore_users' && federated.length < 1000) federated.push(name);
      }
    }
  }
  const users = countsOf(byTable.get('restore_users') ?? []);
  const groups = countsOf(byTable.get('restore_groups') ?? []);
  const memberships = countsOf(byTable.get('restore_memberships') ?? []);
  const folder = (table: string) => sink.urlOf(`${table}/user_pool_id=${spec.targetPoolId}/dt=${spec.startedAt.slice(0, 10)}/run=${spec.restoreId}/`);
  const report = {
    schema_version: 1,
    restore_id: spec.restoreId,
    target_pool_id: spec.targetPoolId,
    source: { user_pool_id: manifest.user_pool_id, snapshot_id: manifest.snapshot_id, manifest_url: spec.manifestUrl },
    merge: spec.merge,
    delete_missing: spec.deleteMissing,
    started_at: spec.startedAt,
    completed_at: new Date().toISOString(),
    created: users.created ?? 0,
    existing: users.existing ?? 0,
    updated: users.updated ?? 0,
    deleted: users.deleted ?? 0,
    skipped_federated: users.skipped_federated ?? 0,
    failed: (users.failed ?? 0) + (groups.failed ?? 0) + (memberships.failed ?? 0),
    groups_created: groups.created ?? 0,
    groups_updated: groups.updated ?? 0,
    memberships_added: memberships.created ?? 0,
    counts: { users, groups, memberships },
    failures,
    federated_users: federated,
    mapping_url: folder('restore_users'),
    tables: Object.fromEntries([...byTable].map(([table, list]) => [table, { folder: folder(table), files: list.map((file) => ({ url: file.url, records: file.records, bytes: file.bytes, sha256: file.sha256 })) }])),
    ...(verification ? { verified: verification.verified, verification } : {}),
    not_restored: 'passwords, MFA secrets and devices (Cognito exports none of them): created users must set a new password (FORCE_CHANGE_PASSWORD); federated users come back at their next sign-in',
  };
  await fence();
  await sink.putText(restoreReportKey(spec), `${JSON.stringify(report, null, 2)}\n`, 'application/json');
  const reportUrl = sink.urlOf(restoreReportKey(spec));
  await store.setState(spec.restoreId, 'completed', { report_url: reportUrl });
  pass.runtime.metrics.restoresFinished.inc({ user_pool_id: spec.targetPoolId, outcome: 'completed' });
  await store.forgetMemory(spec.restoreId);
  await checkpoints.remove(units);
  log.info({ reportUrl, created: report.created, existing: report.existing, failed: report.failed }, 'restore complete');
}

/** A cancelled restore: its staged table files go; what it wrote to the target stays (said in the state). */
async function withdrawRestore(pass: Pass): Promise<'cancelled'> {
  const { sink, spec, checkpoints } = pass;
  // Its units, as restorePass names them (no KEYS scan: a Redis Cluster answers it for one node only).
  let names: string[] = [];
  try {
    const manifest = await restoreManifest(sink, spec);
    names = [
      'restore_groups.all',
      ...tableKeys(sink, manifest, 'users').map((_, k) => `restore_users.${k}`),
      'restore_users.deleted',
      ...tableKeys(sink, manifest, 'group_memberships').map((_, k) => `restore_memberships.${k}`),
    ];
  } catch {
    // The snapshot is gone: its units' checkpoints expire with their TTL, the staged files with the next sweep.
  }
  // Units spread to other workers stop within their next cancel check: wait for them, so that none
  // writes to the target or commits a file after the restore is withdrawn.
  if (pass.units) await unitsStopped(pass.units, spec.restoreId, names);
  const known: StagedLocation[] = [];
  for (const unit of names) known.push(...(await checkpoints.staged(unit)));
  await withdrawRunFiles(sink, { run: restoreLocation(spec), tables: RESTORE_TABLES }, known).catch(() => undefined);
  await checkpoints.remove(names);
  await pass.store.forgetMemory(spec.restoreId);
  pass.runtime.metrics.restoresFinished.inc({ user_pool_id: spec.targetPoolId, outcome: 'cancelled' });
  return 'cancelled';
}

/**
 * The BullMQ processor of a restore job: runs it; a pause (shutdown) hands the job back to be
 * resumed from its checkpoints; a fatal error, or the last attempt's, fails the restore.
 */
export async function processRestoreJob(runtime: ExportRuntime, queues: ExportQueues, job: Job<RestoreJobData>, stop: AbortSignal, lost?: AbortSignal): Promise<RestoreOutcome> {
  const { restoreId } = job.data;
  try {
    const outcome = await runRestore(runtime, restoreId, stop, lost, queues);
    if (outcome === 'paused') throw new RestorePausedError(`restore ${restoreId} paused (the worker is stopping); it resumes from its checkpoints`);
    return outcome;
  } catch (error) {
    if (error instanceof RestorePausedError || lost?.aborted) throw error;
    // Another worker took the restore over and finished it: nothing left to do here.
    if (error instanceof FencedError) return 'ended';
    if (error instanceof FatalExportError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
      await failRestore(runtime, restoreId, error);
      throw new UnrecoverableError(describeError(error));
    }
    throw error;
  }
}

/** Waits (up to a minute) until none of the restore's unit jobs is running. */
async function unitsStopped(queue: Queue, restoreId: string, units: readonly string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (const unit of units) {
    const job = await queue.getJob(restoreUnitJobId(restoreId, unit));
    while (job && Date.now() < deadline && (await job.getState()) === 'active') await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Marks a restore failed, with a one-line reason. */
export async function failRestore(runtime: ExportRuntime, restoreId: string, error: unknown): Promise<void> {
  const store = new RestoreStore(runtime.redis, runtime.keys);
  if (await store.setState(restoreId, 'failed', { error: describeError(error).split('\n')[0] ?? 'error' })) {
    runtime.metrics.restoresFinished.inc({ user_pool_id: (await store.spec(restoreId))?.targetPoolId ?? '', outcome: 'failed' });
  }
}
