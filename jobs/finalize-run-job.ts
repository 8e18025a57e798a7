import { WaitingChildrenError, type Job } from 'bullmq';
import { FencedError } from '../src/limits/export-errors.js';
import { diffUnits } from '../src/changes/change-plan.js';
import { addDiffShards, opCounts, pendingDiffs, runChangePlan } from './change-diff.js';
import { GROUP_MEMBERSHIPS_TABLE, latestKey } from '../src/storage/output-layout.js';
import { buildManifest, movePointer, writeManifest, type TableFiles } from '../src/storage/manifest.js';
import { tableOfUnit } from '../src/walk/checkpoint-store.js';
import { runUnits } from './membership-plan.js';
import { applyRetention } from '../src/storage/retention.js';
import { runLocation, runPointer, runShards, runTables, runS3Role } from '../src/runs/run-spec.js';
import { isEnded } from '../src/runs/run-store.js';
import { CheckpointStore } from '../src/walk/checkpoint-store.js';
import type { SealedPart } from '../src/walk/part-file.js';
import { publishRunFiles } from '../src/walk/run-commit.js';
import type { ObjectSink, StagedLocation } from '../src/storage/object-sink.js';
import type { ExportRuntime } from './export-runtime.js';
import { atJobBoundary } from './job-boundary.js';
import type { ExportQueues, FinalizeJobData } from './queues.js';
import { withdrawRun } from './run-withdrawal.js';

/** What a finished run returns. */
export interface FinalizeResult {
  readonly manifestUrl: string;
  readonly records: number;
}

/**
 * Runs when every shard is done, and is the only writer of what readers see: it publishes exactly
 * the staged files the checkpoints list (each checked against its recorded identity and SHA-256),
 * removes every other staged file of the run, writes the manifest (the commit marker), moves
 * `latest.json`, applies retention and marks the run complete. Every step is idempotent, so a retry,
 * or a second finalizer that comes back from a stall, ends in the same state.
 *
 * With change tables it runs twice: first it publishes the tables' files (not the manifest: no
 * reader looks yet), plans the diff against the previous snapshot and adds one diff job per
 * partition as its children, then waits for them; when they are done it runs again and publishes
 * the change tables' files with the rest.
 */
export async function processFinalizeJob(runtime: ExportRuntime, queues: ExportQueues, job: Job<FinalizeJobData>, token?: string): Promise<FinalizeResult | string> {
  const { snapshotId } = job.data;
  const spec = await runtime.runs.spec(snapshotId);
  if (!spec) return `run ${snapshotId} is unknown or expired`;
  return atJobBoundary(runtime, job, spec, async () => {
    const status = await runtime.runs.status(snapshotId);
    if (isEnded(status?.state)) return `run ${snapshotId} already ${status?.state}`;
    const checkpoints = new CheckpointStore(runtime.redis, runtime.keys, snapshotId);
    const { units, planned } = await runUnits(runtime, spec, runShards(spec).map((shard) => shard.id));
    if (!planned) throw new Error(`the groups walk of run ${snapshotId} has not finished`);
    const files: SealedPart[] = [];
    const known: StagedLocation[] = [];
    const tables = new Map<string, TableFiles>(runTables(spec).map((table) => [table, { files: [] }]));
    for (const unit of units) {
      const checkpoint = await checkpoints.peek(unit);
      if (!checkpoint?.done) throw new Error(`shard ${unit} of run ${snapshotId} has not finished`);
      const committed = await checkpoints.files(unit);
      if (committed.reduce((sum, file) => sum + file.records, 0) !== checkpoint.records) {
        throw new Error(`run ${snapshotId}: the files of shard ${unit} hold other records than its checkpoint says`);
      }
      files.push(...committed);
      known.push(...(await checkpoints.staged(unit)));
      const table = tableOfUnit(unit);
      tables.set(table, { files: [...(tables.get(table)?.files ?? []), ...committed] });
    }
    if (spec.groups) {
      const skipped = await runtime.runs.skippedGroups(snapshotId);
      tables.set(GROUP_MEMBERSHIPS_TABLE, { ...tables.get(GROUP_MEMBERSHIPS_TABLE), files: tables.get(GROUP_MEMBERSHIPS_TABLE)?.files ?? [], groupsSkipped: skipped });
    }
    await runtime.runs.markFinalizing(snapshotId);
    const sink = runtime.sink(spec.destination, runS3Role(spec));
    // Kept before the pointer first moves, so a publication withdrawn later can put it back.
    const pointer = runPointer(spec);
    if (pointer) await runtime.runs.previousPointer(snapshotId, () => sink.getText(latestKey(spec.userPoolId, pointer)));
    const records = Object.fromEntries([...tables].map(([table, content]) => [table, content.files.reduce((sum, file) => sum + file.records, 0)]));
    const plan = await runChangePlan(runtime, spec, sink, records);
    const scope = { run: runLocation(spec), tables: runTables(spec) };
    if (plan.since !== null) {
      if ((await pendingDiffs(checkpoints, plan)).length > 0) {
        // The diff jobs read this run's tables where readers will: publish them (no manifest yet).
        await publishRunFiles(sink, { ...scope, tablesOnly: true }, files, known);
        // Cancelled or failed while publishing: nothing will finalize the run, so take it back now.
        if (isEnded(await runtime.runs.state(snapshotId))) {
          await withdrawRun(runtime, spec);
          return `run ${snapshotId} ended while its tables were being published; its files were withdrawn`;
        }
        await addDiffShards(runtime, queues, spec, plan);
        if (await waitForChildren(job, token)) throw new WaitingChildrenError();
      }
      const changeFiles = new Map<string, SealedPart[]>(plan.tables.map(({ changes }) => [changes, []]));
      for (const unit of diffUnits(plan)) {
        const checkpoint = await checkpoints.peek(unit);
        if (!checkpoint?.done) throw new Error(`the diff ${unit} of run ${snapshotId} has not finished`);
        const committed = await checkpoints.files(unit);
        files.push(...committed);
        known.push(...(await checkpoints.staged(unit)));
        changeFiles.get(tableOfUnit(unit))?.push(...committed);
        units.push(unit);
      }
      for (const [changes, list] of changeFiles) tables.set(changes, { files: list, counts: opCounts(list) });
    }
    const completedAt = await runtime.runs.completionTime(snapshotId);
    const manifest = buildManifest(spec, tables, completedAt, plan);
    const changes = { since: plan.since, reason: plan.reason, counts: Object.fromEntries(plan.tables.map(({ changes }) => [changes, manifest.tables[changes]?.counts ?? {}])) };
    await runtime.runs.recordChanges(snapshotId, changes);
    const report = await publishRunFiles(sink, { ...scope, tables: [...scope.tables, ...plan.tables.map((table) => table.changes)] }, files, known);
    if (report.strays.length > 0) runtime.log.warn({ snapshotId, files: report.strays }, 'removed data files no checkpoint lists');
    if (!report.swept.listed) runtime.log.debug({ snapshotId }, 'the S3 server cannot list unfinished uploads; removed the recorded ones only');
    const manifestUrl = await writeManifest(sink, manifest);
    if (pointer) await movePointer(sink, manifest, manifestUrl, pointer);
    // Retention is part of the run: a caller told the run is complete sees the old snapshots gone.
    if (spec.keepLast !== null) await retain(runtime, sink, spec.userPoolId, spec.keepLast, snapshotId);
    if (!(await runtime.runs.complete(spec, manifestUrl, manifest.record_count, completedAt, changes))) {
      // Failed or cancelled while this was publishing: take the publication back.
      await withdrawRun(runtime, spec);
      return `run ${snapshotId} ended while it was being published; its files were withdrawn`;
    }
    runtime.metrics.runFinished(spec.userPoolId, 'completed', (Date.parse(completedAt) - Date.parse(spec.startedAt)) / 1000);
    await checkpoints.remove(units);
    runtime.log.info({ userPoolId: spec.userPoolId, snapshotId, records: manifest.record_count, files: files.length, manifestUrl }, 'export complete');
    return { manifestUrl, records: manifest.record_count };
  });
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
 * Keeps the pool's newest `keepLast` snapshots. The run is already published, so a failure here is
 * logged, not fatal: the next run's pass catches up.
 */
async function retain(runtime: ExportRuntime, sink: ObjectSink, userPoolId: string, keepLast: number, snapshotId: string): Promise<void> {
  try {
    // This run is still the pool's active one here; it is published, so it counts as complete.
    const active = await runtime.runs.activeRun(userPoolId);
    const inProgress = new Set(active && active !== snapshotId ? [active] : []);
    const result = await applyRetention(sink, userPoolId, keepLast, inProgress);
    if (result.objects > 0) runtime.log.info({ userPoolId, keepLast, ...result }, 'retention removed old snapshots');
  } catch (error) {
    runtime.log.warn({ userPoolId, err: error }, 'retention failed; the next run will try again');
  }
}
