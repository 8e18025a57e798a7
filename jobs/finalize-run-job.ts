import { UnrecoverableError, WaitingChildrenError, type Job } from 'bullmq';
import { FencedError, FatalExportError, StagedFileGoneError } from '../src/limits/export-errors.js';
import { classifyError, describeError } from '../src/limits/error-classification.js';
import { diffUnits } from '../src/changes/change-plan.js';
import { addDiffShards, opCounts, pendingDiffs, runChangePlan } from './change-diff.js';
import { GROUP_MEMBERSHIPS_TABLE, TABLES } from '../src/storage/output-layout.js';
import { buildManifest, movePointer, pointerTo, writeManifest, type Manifest, type TableFiles } from '../src/storage/manifest.js';
import { keyOfUrl } from '../src/storage/record-lines.js';
import { tableOfUnit } from '../src/walk/checkpoint-store.js';
import { runUnits } from './membership-plan.js';
import { applyRetention } from '../src/storage/retention.js';
import { runLocation, runShards, runTables, type RunSpec } from '../src/runs/run-spec.js';
import { isEnded } from '../src/runs/run-store.js';
import { CheckpointStore } from '../src/walk/checkpoint-store.js';
import type { SealedPart } from '../src/walk/part-file.js';
import { publishRunFiles } from '../src/walk/run-commit.js';
import type { ObjectSink, StagedLocation } from '../src/storage/object-sink.js';
import { runSink, type ExportRuntime } from './export-runtime.js';
import { atJobBoundary } from './job-boundary.js';
import { withdraw } from './run-withdrawal.js';
import type { ExportQueues, FinalizeJobData } from './queues.js';
import { captureRunPrevious, datasetOf, storedHead } from './run-pointers.js';
import { catalogRun, prepareCatalog, runCatalog } from './run-catalog.js';
import { rewalkUnitOf } from './shard-rewalk.js';

/** What a finished run returns. */
export interface FinalizeResult {
  readonly manifestUrl: string;
  readonly records: number;
}

/**
 * Runs when every shard is done, and is the only writer of what readers see. The end of a run is
 * one transaction (Iceberg's commit, Hadoop's job committer):
 *
 * 1. It takes a new finalizer epoch: any earlier attempt (a paused worker that comes back) is
 *    refused at its next write, and every visible write below checks the epoch right before it.
 * 2. The commit point, one atomic Redis step: running → committing, with the run's place in its
 *    dataset's commit order. A cancel or failure that came first wins: nothing visible is written.
 *    After it, a cancel is refused and the run only rolls forward.
 * 3. It publishes exactly the staged files the checkpoints list (with change tables: the tables
 *    first, then the diff jobs' files), removes every other staged file and every stray object in
 *    the run's table folders, and writes the manifest.
 * 4. The point of no return (`published_at`): it advances the dataset's committed head in Redis and
 *    moves the pointer forward by compare-and-swap; then retention (per dataset, never what a
 *    pointer names); then the run is completed.
 *
 * Until the point of no return an error no retry mends fails the run and withdraws everything it
 * published; after it, errors are retried until the publication is finished. Every step is
 * idempotent, so any attempt (a retry, another worker) ends in the same state.
 */
export async function processFinalizeJob(runtime: ExportRuntime, queues: ExportQueues, job: Job<FinalizeJobData>, token?: string): Promise<FinalizeResult | string> {
  const { snapshotId } = job.data;
  const spec = await runtime.runs.spec(snapshotId);
  if (!spec) return `run ${snapshotId} is unknown or expired`;
  return atJobBoundary(runtime, job, spec, async () => {
    const status = await runtime.runs.status(snapshotId);
    if (isEnded(status?.state)) {
      // Failed or cancelled before its commit point: finish taking it back if nobody has yet.
      if (status?.state !== 'completed') await withdraw(runtime, spec);
      return `run ${snapshotId} already ${status?.state}`;
    }
    const epoch = await runtime.commits.claimFinalizer(snapshotId);
    // When publishing began (status, the publish bench): the first attempt's time is kept.
    await runtime.runs.markFinalizing(snapshotId);
    let gathered: GatheredRun;
    try {
      gathered = await gatherRun(runtime, spec);
    } catch (error) {
      // Another finalizer completed the run meanwhile (and removed its checkpoints): nothing to do.
      const now = await runtime.runs.state(snapshotId);
      if (now === 'completed') throw new FencedError(`run ${snapshotId} was completed by another finalizer`);
      throw error;
    }
    const sink = runSink(runtime, spec);
    // Before the commit point: a catalog that cannot be written fails the run, unpublished.
    await prepareCatalog(runtime, spec);
    const captured = await captureRunPrevious(runtime, spec, sink);
    const commit = await runtime.commits.commitPoint(snapshotId, spec.userPoolId, datasetOf(spec), epoch, captured.seqFloor);
    if (commit.kind === 'fenced') throw new FencedError(`lost the finalizer of run ${snapshotId} to another attempt`);
    if (commit.kind === 'ended') {
      await withdraw(runtime, spec);
      return `run ${snapshotId} was ${commit.state} before its commit point: nothing of it was published`;
    }
    try {
      return await rollForward({ runtime, queues, job, token, spec, epoch, seq: commit.seq, sink, gathered, previous: captured.previous });
    } catch (error) {
      if (!(error instanceof StagedFileGoneError)) throw await afterCommitFailure(runtime, job, spec, epoch, error);
      let waiting: boolean;
      try {
        await rewalkUnitOf(runtime, queues, spec, gathered.unitOfKey, error);
        waiting = await waitForChildren(job, token);
      } catch (rewalk) {
        throw await afterCommitFailure(runtime, job, spec, epoch, rewalk);
      }
      if (waiting) throw new WaitingChildrenError();
      // The shard walked again already finished: the next attempt publishes it.
      throw new Error(`run ${snapshotId}: a shard walked again has finished; finalizing again`);
    }
  });
}

/** What the run's checkpoints list: every unit, its files (by table) and every staged file recorded. */
interface GatheredRun {
  readonly units: string[];
  /** Which unit each listed file's key belongs to (to walk a shard again whose staged upload expired). */
  readonly unitOfKey: Map<string, string>;
  readonly files: SealedPart[];
  readonly known: StagedLocation[];
  readonly tables: Map<string, TableFiles>;
}

async function gatherRun(runtime: ExportRuntime, spec: RunSpec): Promise<GatheredRun> {
  const { snapshotId } = spec;
  const checkpoints = new CheckpointStore(runtime.redis, runtime.keys, snapshotId);
  const { units, planned } = await runUnits(runtime, spec, runShards(spec).map((shard) => shard.id));
  if (!planned) throw new Error(`the groups walk of run ${snapshotId} has not finished`);
  const files: SealedPart[] = [];
  const known: StagedLocation[] = [];
  const tables = new Map<string, TableFiles>(runTables(spec).map((table) => [table, { files: [] }]));
  const unitOfKey = new Map<string, string>();
  for (const unit of units) {
    const checkpoint = await checkpoints.peek(unit);
    if (!checkpoint?.done) throw new Error(`shard ${unit} of run ${snapshotId} has not finished`);
    const committed = await checkpoints.files(unit);
    if (committed.reduce((sum, file) => sum + file.records, 0) !== checkpoint.records) {
      throw new Error(`run ${snapshotId}: the files of shard ${unit} hold other records than its checkpoint says`);
    }
    files.push(...committed);
    for (const file of committed) unitOfKey.set(file.key, unit);
    known.push(...(await checkpoints.staged(unit)));
    const table = tableOfUnit(unit);
    tables.set(table, { files: [...(tables.get(table)?.files ?? []), ...committed] });
  }
  if (spec.groups) {
    const skipped = await runtime.runs.skippedGroups(snapshotId);
    tables.set(GROUP_MEMBERSHIPS_TABLE, { ...tables.get(GROUP_MEMBERSHIPS_TABLE), files: tables.get(GROUP_MEMBERSHIPS_TABLE)?.files ?? [], groupsSkipped: skipped });
  }
  return { units, unitOfKey, files, known, tables };
}

interface Committed {
  readonly runtime: ExportRuntime;
  readonly queues: ExportQueues;
  readonly job: Job<FinalizeJobData>;
  readonly token: string | undefined;
  readonly spec: RunSpec;
  readonly epoch: number;
  readonly seq: number;
  readonly sink: ObjectSink;
  readonly gathered: GatheredRun;
  readonly previous: Parameters<typeof runChangePlan>[4];
}

/** Everything after the commit point: publish, manifest, head and pointer, retention, complete. */
async function rollForward(run: Committed): Promise<FinalizeResult | string> {
  const { runtime, queues, job, token, spec, epoch, seq, sink } = run;
  const { snapshotId } = spec;
  const { units, files, known, tables } = run.gathered;
  const fence = () => runtime.commits.assertFinalizer(snapshotId, epoch);
  const checkpoints = new CheckpointStore(runtime.redis, runtime.keys, snapshotId);
  const records = Object.fromEntries([...tables].map(([table, content]) => [table, content.files.reduce((sum, file) => sum + file.records, 0)]));
  const plan = await runChangePlan(runtime, spec, sink, records, run.previous);
  const scope = { run: runLocation(spec), tables: runTables(spec) };
  if (plan.since !== null) {
    if ((await pendingDiffs(checkpoints, plan)).length > 0) {
      // The diff jobs read this run's tables where readers will: publish them (no manifest yet).
      await publishRunFiles(sink, { ...scope, tablesOnly: true }, files, known, fence);
      await addDiffShards(runtime, queues, spec, plan);
    }
    // Also when every diff checkpoint is done: BullMQ must have marked the diff jobs completed
    // before this job may complete (else it refuses, and a completed run's job shows as failed).
    if (await waitForChildren(job, token)) throw new WaitingChildrenError();
    const changeFiles = new Map<string, SealedPart[]>(plan.tables.map(({ changes }) => [changes, []]));
    for (const unit of diffUnits(plan)) {
      const checkpoint = await checkpoints.peek(unit);
      if (!checkpoint?.done) throw new Error(`the diff ${unit} of run ${snapshotId} has not finished`);
      const committed = await checkpoints.files(unit);
      files.push(...committed);
      for (const file of committed) run.gathered.unitOfKey.set(file.key, unit);
      known.push(...(await checkpoints.staged(unit)));
      changeFiles.get(tableOfUnit(unit))?.push(...committed);
      units.push(unit);
    }
    for (const [changes, list] of changeFiles) tables.set(changes, { files: list, counts: opCounts(list) });
  }
  const completedAt = await runtime.runs.completionTime(snapshotId);
  const manifest = buildManifest(spec, tables, completedAt, plan, seq);
  const changes = { since: plan.since, reason: plan.reason, counts: Object.fromEntries(plan.tables.map(({ changes }) => [changes, manifest.tables[changes]?.counts ?? {}])) };
  await runtime.runs.recordChanges(snapshotId, changes);
  // Every table folder of the run is checked for strays, planned or not (a plan made before a lost second).
  const report = await publishRunFiles(sink, { ...scope, tables: TABLES }, files, known, fence);
  if (report.strays.length > 0) runtime.log.warn({ snapshotId, files: report.strays }, 'removed data files no checkpoint lists');
  if (!report.swept.listed) runtime.log.debug({ snapshotId }, 'the S3 server cannot list unfinished uploads; removed the recorded ones only');
  await fence();
  const manifestUrl = await writeManifest(sink, manifest);
  // The point of no return: from here the run only rolls forward.
  try {
    await runtime.commits.markPublished(snapshotId, epoch);
  } catch (error) {
    // Fenced between its check and its write: if the run was completed meanwhile and retention
    // removed the snapshot since, that write brought back a manifest of files that are gone.
    if (error instanceof FencedError) await withdrawStaleManifest(runtime, sink, manifest, manifestUrl);
    throw error;
  }
  // The catalog learns of the run with its data published and before any pointer names it: a
  // query that follows latest.json finds the run's partitions. Idempotent, so a retry re-registers.
  const catalog = runCatalog(runtime, spec);
  if (catalog) {
    await fence();
    const written = TABLES.filter((table) => (manifest.tables[table]?.files.length ?? 0) > 0);
    const registered = await catalog.registerRun(catalogRun(spec, written));
    runtime.log.info({ snapshotId, database: spec.glueDatabase, ...registered }, 'registered the run in the Glue catalog');
  }
  const dataset = datasetOf(spec);
  if (dataset) {
    const head = pointerTo(manifest, manifestUrl);
    await runtime.commits.advanceHead(snapshotId, epoch, storedHead(spec, dataset, head));
    const moved = await movePointer(sink, head, dataset.pointer, fence);
    if (moved === 'newer') runtime.log.warn({ snapshotId, pointer: dataset.pointer }, 'the pointer already names a later commit; left as it is');
  }
  // Retention is part of the run: a caller told the run is complete sees the old snapshots gone.
  if (spec.keepLast !== null) await retain(runtime, sink, spec, spec.keepLast, fence);
  if (!(await runtime.runs.complete(spec, epoch, manifestUrl, manifest.record_count, completedAt, changes))) {
    throw new FencedError(`lost the finalizer of run ${snapshotId} to another attempt, which completes it`);
  }
  runtime.metrics.runFinished(spec.userPoolId, 'completed', (Date.parse(completedAt) - Date.parse(spec.startedAt)) / 1000);
  await checkpoints.remove(units);
  runtime.log.info({ userPoolId: spec.userPoolId, snapshotId, records: manifest.record_count, files: files.length, manifestUrl, commitSeq: seq }, 'export complete');
  return { manifestUrl, records: manifest.record_count };
}

/**
 * What an error after the commit point becomes. One that no retry mends (or the last attempt's)
 * fails the run and withdraws what it published, if the run has not passed its point of no return;
 * past it, the run only rolls forward: the error is retried (and a reconcile retries the job again).
 */
async function afterCommitFailure(runtime: ExportRuntime, job: Job, spec: RunSpec, epoch: number, error: unknown): Promise<unknown> {
  if (error instanceof WaitingChildrenError || error instanceof FencedError) return error;
  // A finalizer that was taken over fails in whatever it does next (its run's checkpoints are gone,
  // its staged files published): that is losing the run, not an error of the run.
  try {
    await runtime.commits.assertFinalizer(spec.snapshotId, epoch);
  } catch (fenced) {
    return fenced;
  }
  const fatal = error instanceof FatalExportError || classifyError(error) === 'fatal';
  if (!fatal && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) return error;
  const reason = error instanceof FatalExportError ? error.message : describeError(error);
  const aborted = await runtime.runs.abortCommit(spec, epoch, reason);
  if (aborted.ended) {
    runtime.metrics.runFinished(spec.userPoolId, 'failed', (Date.now() - Date.parse(spec.startedAt)) / 1000);
    runtime.log.error({ userPoolId: spec.userPoolId, snapshotId: spec.snapshotId, reason }, 'export run failed before its point of no return; its files are withdrawn');
    await withdraw(runtime, spec);
    return new UnrecoverableError(reason);
  }
  runtime.log.error({ userPoolId: spec.userPoolId, snapshotId: spec.snapshotId, reason, state: aborted.state }, 'the publication of a committed run failed; it is retried until it completes');
  // Not a FatalExportError: the job boundary must not try to fail a committed run.
  return new Error(reason);
}

/**
 * Parks the finalizer until its diff jobs are done (true), or says they already are (false). A
 * finalizer that lost its lock (it stalled and another took over) stops without failing the run.
 */
async function waitForChildren(job: Job<FinalizeJobData>, token: string | undefined): Promise<boolean> {
  try {
    return await job.moveToWaitingChildren(token ?? '');
  } catch (error) {
    if (error instanceof Error && /missing lock/i.test(error.message)) throw new FencedError(`lost the finalizer of run ${job.data.snapshotId} to another worker`);
    throw error;
  }
}

/**
 * Removes a manifest a fenced finalizer wrote after its run was completed by another, if a file it
 * lists is gone (retention removed the snapshot in between): no manifest may list a missing file.
 */
async function withdrawStaleManifest(runtime: ExportRuntime, sink: ObjectSink, manifest: Manifest, manifestUrl: string): Promise<void> {
  const listed = Object.values(manifest.tables).flatMap((table) => table.files);
  for (const file of listed) {
    const key = keyOfUrl(sink, file.url);
    if (key !== undefined && (await sink.listObjects(key)).some((object) => object.key === key)) continue;
    const manifestKey = keyOfUrl(sink, manifestUrl);
    if (manifestKey !== undefined) await sink.deleteObjects([manifestKey]);
    runtime.log.info({ snapshotId: manifest.snapshot_id }, 'removed a manifest written late by a finalizer that had lost its run; its snapshot was already removed');
    return;
  }
}

/**
 * Keeps each dataset's newest `keepLast` snapshots of the pool, never one a pointer or a committed
 * head names, nor the run applying it; fenced. The run is already published, so a failure here is
 * logged, not fatal (the next run's pass catches up), except losing the run to another finalizer.
 */
async function retain(runtime: ExportRuntime, sink: ObjectSink, spec: RunSpec, keepLast: number, fence: () => Promise<void>): Promise<void> {
  const { userPoolId, snapshotId } = spec;
  const catalog = runCatalog(runtime, spec);
  try {
    const active = await runtime.runs.activeRun(userPoolId);
    const heads = (await runtime.commits.heads(userPoolId)).filter((head) => head.destination === spec.destination);
    const result = await applyRetention(sink, userPoolId, keepLast, {
      activeSnapshotIds: new Set([snapshotId, ...(active ? [active] : [])]),
      protectedSnapshotIds: new Set(heads.map((head) => head.head.snapshot_id)),
      deadSnapshotIds: async (candidates) => {
        const dead = new Set<string>();
        for (const id of candidates) {
          const state = await runtime.runs.state(id);
          if (state === undefined || state === 'failed' || state === 'cancelled') dead.add(id);
        }
        return dead;
      },
      beforeDelete: fence,
      // The catalog first: partitions never outlive their data, and a failure deletes nothing (the next run tries again).
      ...(catalog
        ? {
            beforeDeleteRuns: async (snapshotIds: readonly string[]) => {
              await fence();
              const partitions = await catalog.removeRuns(snapshotIds.map((id) => catalogRun({ userPoolId, snapshotId: id }, TABLES)));
              runtime.log.info({ userPoolId, database: spec.glueDatabase, ...partitions }, 'retention removed the Glue partitions of the snapshots it deletes');
            },
          }
        : {}),
    });
    if (result.objects > 0) runtime.log.info({ userPoolId, keepLast, ...result }, 'retention removed old snapshots');
  } catch (error) {
    if (error instanceof FencedError) throw error;
    runtime.log.warn({ userPoolId, err: error }, 'retention failed; the next run will try again');
  }
}
