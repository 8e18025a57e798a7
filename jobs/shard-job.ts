import { sinkUntil } from '../src/storage/object-sink.js';
import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import { CheckpointStore } from '../src/walk/checkpoint-store.js';
import { RunNotActiveError } from '../src/limits/export-errors.js';
import { isEnded } from '../src/runs/run-store.js';
import { runSink, type ExportRuntime } from './export-runtime.js';
import { walkShard, type ShardOutcome } from '../src/walk/table-walk.js';
import { runLocation } from '../src/runs/run-spec.js';
import { GROUPS_TABLE, USERS_TABLE } from '../src/storage/output-layout.js';
import { atJobBoundary } from './job-boundary.js';
import { withdraw, WITHDRAW_IN_JOB_MS } from './run-withdrawal.js';
import { addMembershipShards } from './membership-plan.js';
import type { ExportQueues, ShardJobData } from './queues.js';
import { shardSource } from './table-sources.js';

/** The Cognito operation each table's walk calls. */
const OPERATIONS: Readonly<Record<string, string>> = { users: 'ListUsers', groups: 'ListGroups', group_memberships: 'ListUsersInGroup' };

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
  queues: ExportQueues,
  job: Job<ShardJobData>,
  token: string | undefined,
  stop: AbortSignal,
  lost?: AbortSignal,
): Promise<ShardJobResult> {
  const { snapshotId, shard } = job.data;
  const spec = await runtime.runs.spec(snapshotId);
  if (!spec) throw new UnrecoverableError(`run ${snapshotId} is unknown or expired`);
  const table = job.data.table ?? USERS_TABLE;
  const log = runtime.log.child({ snapshotId, table, shard: shard.id });
  const state = await runtime.runs.state(snapshotId);
  // A run that ended (cancelled, failed) while this job waited: nothing to do, no call to make; what
  // the run published meanwhile (a finalizer publishes the tables before the diff jobs) is taken back.
  if (isEnded(state)) {
    await withdraw(runtime, spec, AbortSignal.timeout(WITHDRAW_IN_JOB_MS));
    throw new UnrecoverableError(`run ${snapshotId} is ${state}; shard ${shard.id} stops`);
  }
  const ended = watchRunEnd(runtime, snapshotId, shard.id);
  const abandon = lost ? AbortSignal.any([lost, ended.signal]) : ended.signal;
  let unit = shard.id;
  // What this attempt called and waited for, for the log line at its end.
  const attempt = { pages: 0, waitedMs: 0 };
  const outcome = await atJobBoundary(runtime, job, spec, async () => {
    const counters = { users: 0, pages: 0, throttles: 0, retries: 0 };
    // Time this shard's calls waited for a slot since the last page was recorded.
    let waitedMs = 0;
    // The last page's progress write, in flight while the next page is fetched.
    let recorded: Promise<void> = Promise.resolve();
    const labels = { user_pool_id: spec.userPoolId };
    const { metrics } = runtime;
    const walked = await shardSource(runtime, spec, job.data, {
      onCall: (slot) => {
        if (table === USERS_TABLE) metrics.calls.inc(labels);
        metrics.cognitoCalls.inc({ ...labels, operation: OPERATIONS[table] ?? table });
        metrics.slotWait.inc(labels, slot.waitedMs / 1000);
        waitedMs += slot.waitedMs;
        attempt.waitedMs += slot.waitedMs;
      },
      onRetry: (event) => {
        if (event.errorClass === 'throttled') {
          counters.throttles += 1;
          metrics.throttles.inc(labels);
        } else {
          counters.retries += 1;
          metrics.retries.inc(labels);
        }
        log.debug({ code: event.code, attempt: event.attempt, delayMs: event.delayMs }, 'retrying a Cognito call');
        void runtime.runs.recordRetry(snapshotId, event.errorClass === 'throttled').catch(() => undefined);
      },
    });
    unit = walked.unit;
    const result = await walkShard({
      source: walked.source,
      shard: shard.id,
      unit,
      run: runLocation(spec),
      files: { format: spec.format, parquetRowGroupRows: runtime.config.parquetRowGroupRows, gzip: spec.gzip, gzipLevel: spec.gzipLevel, maxRecords: spec.fileMaxRecords },
      // A run that ended stops the sink's retries too (S3 answering SlowDown to every write).
      sink: sinkUntil(runSink(runtime, spec), ended.signal),
      checkpoints: new CheckpointStore(runtime.redis, runtime.keys, snapshotId),
      stop,
      lost: abandon,
      log,
      // Redis lost this worker's writes: resume from what it holds, if the job is still ours.
      mayReclaim: async () =>
        ['running', 'committing'].includes((await runtime.runs.status(snapshotId))?.state ?? '') &&
        token !== undefined &&
        (await job.extendLock(token, runtime.config.workerLockDurationMs).then(
          (extended) => extended === 1,
          () => false,
        )),
      progress: {
        // A page's progress is written while the next page is fetched (a group's walk is one page
        // per round trip, so its time is what each page costs); a run that ended stops the shard a
        // page later.
        page: async (fetched, openRecords, durableRecords) => {
          counters.users += fetched;
          counters.pages += 1;
          attempt.pages += 1;
          const [waited, progress] = [waitedMs, { ...counters } satisfies ShardJobProgress];
          waitedMs = 0;
          const previous = recorded;
          recorded = (async () => {
            await previous;
            const now = await runtime.runs.recordPage(snapshotId, unit, fetched, durableRecords, openRecords, waited);
            // Diff jobs walk while their run is committing; any other state means it ended.
            if (now !== 'running' && now !== 'committing') throw new RunNotActiveError(`run ${snapshotId} is ${now ?? 'gone'}; shard ${shard.id} stops`);
            await job.updateProgress(progress);
          })();
          recorded.catch(() => undefined);
          await previous;
        },
        fileDone: (file) => {
          if (table === USERS_TABLE) metrics.usersExported.inc(labels, file.records);
          metrics.recordsExported.inc({ ...labels, table }, file.records);
          metrics.filesWritten.inc(labels);
        },
      },
    });
    await recorded;
    // The groups walk plans the memberships from the groups it committed, and adds their shards to the run.
    if (result.status === 'done' && table === GROUPS_TABLE) await addMembershipShards(runtime, queues, spec);
    return result;
  }).finally(() => ended.stop());
  if (outcome.status === 'paused') {
    log.info({ records: outcome.records }, 'shard checkpointed for shutdown; handing the job back');
    // Back to the wait list without counting an attempt: the next worker resumes from the checkpoint.
    await job.moveToWait(token);
    throw new WaitingError();
  }
  await runtime.runs.recordShardDone(snapshotId, unit);
  log.info({ records: outcome.records, files: outcome.files, pages: attempt.pages, slotWaitSeconds: Math.round(attempt.waitedMs / 100) / 10 }, 'shard done');
  return outcome;
}

/**
 * Aborts (with a RunNotActiveError) once the run has ended elsewhere, cancelled or failed: a shard
 * waiting out throttles or backoffs makes no page for a while, and must not keep the run's pool
 * busy. Checks every 2 s.
 */
function watchRunEnd(runtime: ExportRuntime, snapshotId: string, shard: string): { signal: AbortSignal; stop(): void } {
  const controller = new AbortController();
  const timer = setInterval(() => {
    void runtime.runs.state(snapshotId).then(
      (state) => {
        if (isEnded(state)) controller.abort(new RunNotActiveError(`run ${snapshotId} is ${state}; shard ${shard} stops`));
      },
      () => undefined,
    );
  }, 2000);
  timer.unref();
  return { signal: controller.signal, stop: () => clearInterval(timer) };
}
