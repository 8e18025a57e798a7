import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import { CheckpointStore } from '../src/walk/checkpoint-store.js';
import { RunNotActiveError } from '../src/limits/export-errors.js';
import type { ExportRuntime } from './export-runtime.js';
import { walkShard, type ShardOutcome } from '../src/walk/table-walk.js';
import { usersTable } from '../src/tables/users-table.js';
import { rateLimitFlow } from '../src/limits/rate-limiter.js';
import { USERS_TABLE } from '../src/storage/output-layout.js';
import { runLocation } from '../src/runs/run-spec.js';
import { atJobBoundary } from './job-boundary.js';
import type { ShardJobData } from './queues.js';

/** Progress a shard job reports to BullMQ (visible in dashboards) after every page. */
export interface ShardJobProgress {
  readonly users: number;
  readonly pages: number;
  readonly throttles: number;
  readonly retries: number;
}

/** What a finished shard job returns. */
export type ShardJobResult = Extract<ShardOutcome, { status: 'done' }>;

/**
 * Walks one shard. On shutdown (`stop` aborts) the shard seals its open file, checkpoints, and hands
 * the job back to the queue without using up an attempt; another worker resumes it from there. When
 * the job's lock is lost (`lost` aborts) it stops without writing anything more.
 */
export async function processShardJob(
  runtime: ExportRuntime,
  job: Job<ShardJobData>,
  token: string | undefined,
  stop: AbortSignal,
  lost?: AbortSignal,
): Promise<ShardJobResult> {
  const { snapshotId, shard } = job.data;
  const spec = await runtime.runs.spec(snapshotId);
  if (!spec) throw new UnrecoverableError(`run ${snapshotId} is unknown or expired`);
  const log = runtime.log.child({ snapshotId, shard: shard.id });
  const outcome = await atJobBoundary(runtime, job, spec, async () => {
    const counters = { users: 0, pages: 0, throttles: 0, retries: 0 };
    // Time this shard's calls waited for a slot since the last page was recorded.
    let waitedMs = 0;
    const labels = { user_pool_id: spec.userPoolId };
    const { metrics } = runtime;
    const source = usersTable({
      client: runtime.cognito(spec.region),
      userPoolId: spec.userPoolId,
      filter: shard.filter,
      limiter: await runtime.limiter(spec.region, spec.rateLimitRps, rateLimitFlow(snapshotId, USERS_TABLE)),
      retryPolicy: runtime.options.retryPolicy,
      records: { userPoolId: spec.userPoolId, snapshotId, attributes: spec.attributes === null ? null : new Set(spec.attributes) },
      onCall: (slot) => {
        metrics.calls.inc(labels);
        metrics.slotWait.inc(labels, slot.waitedMs / 1000);
        waitedMs += slot.waitedMs;
      },
      onRetry: (event) => {
        if (event.errorClass === 'throttled') {
          counters.throttles += 1;
          metrics.throttles.inc(labels);
        } else {
          counters.retries += 1;
          metrics.retries.inc(labels);
        }
        log.debug({ code: event.code, attempt: event.attempt, delayMs: event.delayMs }, 'retrying ListUsers');
        void runtime.runs.recordRetry(snapshotId, event.errorClass === 'throttled').catch(() => undefined);
      },
    });
    return walkShard({
      source,
      shard: shard.id,
      run: runLocation(spec),
      files: { gzip: spec.gzip, gzipLevel: spec.gzipLevel, maxRecords: spec.fileMaxRecords },
      sink: runtime.sink(spec.destination),
      checkpoints: new CheckpointStore(runtime.redis, runtime.keys, snapshotId),
      stop,
      lost,
      log,
      // Redis lost this worker's writes: resume from what it holds, if the job is still ours.
      mayReclaim: async () =>
        (await runtime.runs.status(snapshotId))?.state === 'running' &&
        token !== undefined &&
        (await job.extendLock(token, runtime.config.workerLockDurationMs).then(
          (extended) => extended === 1,
          () => false,
        )),
      progress: {
        page: async (fetched, openRecords) => {
          counters.users += fetched;
          counters.pages += 1;
          const state = await runtime.runs.recordPage(snapshotId, shard.id, fetched, openRecords, waitedMs);
          waitedMs = 0;
          if (state !== 'running') throw new RunNotActiveError(`run ${snapshotId} is ${state ?? 'gone'}; shard ${shard.id} stops`);
          await job.updateProgress({ ...counters } satisfies ShardJobProgress);
        },
        fileDone: (file) => {
          metrics.usersExported.inc(labels, file.records);
          metrics.filesWritten.inc(labels);
        },
      },
    });
  });
  if (outcome.status === 'paused') {
    log.info({ records: outcome.records }, 'shard checkpointed for shutdown; handing the job back');
    // Back to the wait list without counting an attempt: the next worker resumes from the checkpoint.
    await job.moveToWait(token);
    throw new WaitingError();
  }
  await runtime.runs.recordShardDone(snapshotId, shard.id);
  log.info({ records: outcome.records, files: outcome.files }, 'shard done');
  return outcome;
}
