import type { Job } from 'bullmq';
import { CheckpointStore } from '../src/walk/checkpoint-store.js';
import type { ExportRuntime } from './export-runtime.js';
import { FatalExportError } from '../src/limits/export-errors.js';
import { buildManifest, publishManifest } from '../src/storage/manifest.js';
import type { ObjectSink } from '../src/storage/object-sink.js';
import { runDataPrefix } from '../src/storage/output-layout.js';
import type { SealedPart } from '../src/walk/part-file.js';
import { applyRetention } from '../src/storage/retention.js';
import { runLocation, runShards, type RunSpec } from '../src/runs/run-spec.js';
import { atJobBoundary } from './job-boundary.js';
import type { FinalizeJobData } from './queues.js';

/** What a finished run returns. */
export interface FinalizeResult {
  readonly manifestUrl: string;
  readonly records: number;
}

/**
 * Runs when every shard is done: lists the durable files of every shard's finished walk, writes the
 * manifest (the commit marker), then `latest.json`, and frees the pool for its next run.
 */
export async function processFinalizeJob(runtime: ExportRuntime, job: Job<FinalizeJobData>): Promise<FinalizeResult | string> {
  const { snapshotId } = job.data;
  const spec = await runtime.runs.spec(snapshotId);
  if (!spec) return `run ${snapshotId} is unknown or expired`;
  return atJobBoundary(runtime, job, spec, async () => {
    const status = await runtime.runs.status(snapshotId);
    if (status?.state === 'failed') return `run ${snapshotId} already failed`;
    const checkpoints = new CheckpointStore(runtime.redis, runtime.keys, snapshotId);
    const shards = runShards(spec);
    const files: SealedPart[] = [];
    let expected = 0;
    for (const shard of shards) {
      const checkpoint = await checkpoints.peek(shard.id);
      if (status?.state === 'completed' && !checkpoint) return `run ${snapshotId} already completed`;
      if (!checkpoint?.done) throw new Error(`shard ${shard.id} of run ${snapshotId} has not finished`);
      expected += checkpoint.records;
      files.push(...(await checkpoints.files(shard.id)));
    }
    const completedAt = await runtime.runs.completionTime(snapshotId);
    const manifest = buildManifest(spec, files, completedAt);
    if (manifest.record_count !== expected) {
      throw new Error(`run ${snapshotId}: files hold ${manifest.record_count} records, checkpoints say ${expected}`);
    }
    const sink = runtime.sink(spec.destination);
    await reconcileDataFolder(runtime, sink, spec, files);
    const manifestUrl = await publishManifest(sink, manifest);
    // Retention is part of the run: a caller told the run is complete sees the old snapshots gone.
    if (spec.keepLast !== null) await retain(runtime, spec.destination, spec.userPoolId, spec.keepLast, snapshotId);
    await runtime.runs.complete(spec, manifestUrl, manifest.record_count, completedAt);
    runtime.metrics.runFinished(spec.userPoolId, 'completed', (Date.parse(completedAt) - Date.parse(spec.startedAt)) / 1000);
    await checkpoints.remove(shards.map((shard) => shard.id));
    runtime.log.info({ userPoolId: spec.userPoolId, snapshotId, records: manifest.record_count, files: files.length, manifestUrl }, 'export complete');
    return { manifestUrl, records: manifest.record_count };
  });
}

/**
 * Keeps the pool's newest `keepLast` snapshots. The run is already published, so a failure here is
 * logged, not fatal: the next run's pass catches up.
 */
async function retain(runtime: ExportRuntime, destination: string, userPoolId: string, keepLast: number, snapshotId: string): Promise<void> {
  try {
    // This run is still the pool's active one here; it is published, so it counts as complete.
    const active = await runtime.runs.activeRun(userPoolId);
    const inProgress = new Set(active && active !== snapshotId ? [active] : []);
    const result = await applyRetention(runtime.sink(destination), userPoolId, keepLast, inProgress);
    if (result.objects > 0) runtime.log.info({ userPoolId, keepLast, ...result }, 'retention removed old snapshots');
  } catch (error) {
    runtime.log.warn({ userPoolId, err: error }, 'retention failed; the next run will try again');
  }
}

/**
 * Makes the run's data folder hold exactly the files the manifest will list, as stored: files no
 * checkpoint lists (left by a worker that lost its job, or a restarted walk) are deleted, and a
 * listed file that is missing or has another size (overwritten by such a worker) fails the run
 * rather than publish a manifest that does not match the data.
 */
async function reconcileDataFolder(runtime: ExportRuntime, sink: ObjectSink, spec: RunSpec, files: readonly SealedPart[]): Promise<void> {
  const stored = new Map((await sink.listObjects(runDataPrefix(runLocation(spec)))).map((object) => [object.key, object.bytes]));
  for (const file of files) {
    const bytes = stored.get(file.key);
    if (bytes !== file.bytes) {
      throw new FatalExportError(
        `run ${spec.snapshotId}: ${file.url} ${bytes === undefined ? 'is missing' : `has ${bytes} bytes, not ${file.bytes}`}; ` +
          'a worker that lost its job may have written it: run the export again',
      );
    }
    stored.delete(file.key);
  }
  if (stored.size > 0) {
    runtime.log.warn({ snapshotId: spec.snapshotId, files: [...stored.keys()] }, 'removing data files no checkpoint lists');
    await sink.deleteObjects([...stored.keys()]);
  }
}
