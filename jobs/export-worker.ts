import { Worker, type Job } from 'bullmq';
import type { ExportRuntime } from './export-runtime.js';
import { processFinalizeJob } from './finalize-run-job.js';
import { startReconciler } from './reconciler.js';
import { processShardJob } from './shard-job.js';
import { processStartJob } from './start-run-job.js';
import { processRestoreJob, processRestoreUnitJob } from './restore-job.js';
import {
  type RestoreJobData,
  type RestoreUnitJobData,
  FINALIZE_JOB,
  START_JOB,
  type ExportQueues,
  type FinalizeJobData,
  type ShardJobData,
  type StartJobData,
} from './queues.js';

/** How a worker process takes jobs. */
export interface ExportWorkerOptions {
  /** Users shard jobs at once in this process, and as many groups and membership jobs. @default config.workerConcurrency */
  readonly concurrency?: number;
  /**
   * How long a job's lock lasts without renewal; a worker that dies (kill -9) has its jobs taken
   * over by another after about this long. @default config.workerLockDurationMs
   */
  readonly lockDurationMs?: number;
}

/** A running worker: every queue, and a graceful way to stop. */
export interface ExportWorker {
  readonly runs: Worker;
  readonly shards: Worker;
  readonly groups: Worker;
  readonly restores: Worker;
  readonly restoreUnits: Worker;
  /**
   * Stops taking jobs, has every shard in flight seal its file, checkpoint and hand its job back,
   * then closes. Nothing is fetched twice by whoever resumes.
   */
  close(): Promise<void>;
}

/** Starts the workers of every queue in this process. */
export function startExportWorker(runtime: ExportRuntime, queues: ExportQueues, options: ExportWorkerOptions = {}): ExportWorker {
  const stopping = new AbortController();
  const lockDuration = options.lockDurationMs ?? runtime.config.workerLockDurationMs;
  const common = {
    // Shown as a job's processedBy (dashboards, tests): which process on which machine has it.
    name: runtime.name,
    connection: runtime.redis,
    prefix: runtime.keys.bullPrefix,
    lockDuration,
    stalledInterval: lockDuration,
    // kill -9 leaves jobs stalled; let them be picked up again several times before giving up.
    maxStalledCount: 10,
  };

  const runs = new Worker<StartJobData | FinalizeJobData>(
    queues.runs.name,
    async (job: Job<StartJobData | FinalizeJobData>, token?: string) => {
      if (job.name === START_JOB) return processStartJob(runtime, queues, job as Job<StartJobData>, token);
      if (job.name === FINALIZE_JOB) return processFinalizeJob(runtime, queues, job as Job<FinalizeJobData>, token);
      throw new Error(`unknown job ${job.name} in queue ${queues.runs.name}`);
    },
    { ...common, concurrency: 4 },
  );

  // Users shards in one queue; the groups walk and the membership shards in another, served at the
  // same concurrency, so a group's walk never waits for a users shard to end (see GROUPS_QUEUE).
  const [shards, groups] = [queues.shards, queues.groups].map(
    (queue) =>
      new Worker<ShardJobData>(
        queue.name,
        // BullMQ's signal aborts when we cancel the job because its lock was lost: that is not a
        // shutdown, so the shard discards its open file instead of sealing it.
        (job, token, signal) => processShardJob(runtime, queues, job, token, stopping.signal, signal),
        { ...common, concurrency: options.concurrency ?? runtime.config.workerConcurrency },
      ),
  ) as [Worker<ShardJobData>, Worker<ShardJobData>];

  // A restore job walks its units itself; BullMQ's signal aborts when its lock was lost.
  const restores = new Worker<RestoreJobData>(queues.restores.name, (job, _token, signal) => processRestoreJob(runtime, queues, job, stopping.signal, signal), { ...common, concurrency: 2 });
  // Its units, spread over every worker (a restore's job waits for them).
  const restoreUnits = new Worker<RestoreUnitJobData>(queues.restoreUnits.name, (job, _token, signal) => processRestoreUnitJob(runtime, job, stopping.signal, signal), { ...common, concurrency: 4 });
  for (const worker of [restores, restoreUnits] as Worker[]) {
    worker.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) worker.cancelJob(id, 'job lock lost');
    });
  }

  const stopReconciler = startReconciler(runtime, queues, runtime.config.reconcileIntervalMs);
  const report = connectionErrorReporter(runtime);
  for (const worker of [shards, groups]) {
    // A lost lock means another worker may take the shard: stop it at the next page (fencing makes
    // sure nothing it writes after that counts).
    worker.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) worker.cancelJob(id, 'job lock lost');
    });
  }
  for (const worker of [runs, shards, groups, restores, restoreUnits] as Worker[]) worker.on('error', (error) => report(worker.name, error));

  return {
    runs,
    shards,
    groups,
    restores,
    restoreUnits,
    close: async () => {
      stopping.abort(new Error('worker shutting down'));
      stopReconciler();
      await Promise.all([shards.close(), groups.close(), runs.close(), restores.close(), restoreUnits.close()]);
    },
  };
}

/**
 * Logs a worker's errors; while Redis is unreachable, BullMQ reports every reconnect attempt of
 * every connection, so those are logged as one warning per half minute with a count.
 */
function connectionErrorReporter(runtime: ExportRuntime): (queue: string, error: Error) => void {
  let quietUntil = 0;
  let suppressed = 0;
  return (queue, error) => {
    // A job whose lock lapsed (a paused or slow worker) and was taken over: expected, and fenced.
    if (/missing lock for job|lock mismatch/i.test(error.message)) {
      runtime.log.info({ queue, reason: error.message }, 'lost a job to another worker (its lock lapsed); it goes on there');
      return;
    }
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const connection = /^E(CONNREFUSED|CONNRESET|TIMEDOUT|PIPE|HOSTUNREACH|NETUNREACH)$/.test(code) || /Connection is closed|could not renew lock|All sentinels are unreachable|Cluster is ended|CLUSTERDOWN|None of startup nodes is available/i.test(error.message);
    if (!connection) {
      runtime.log.error({ queue, err: error }, 'worker error');
      return;
    }
    const now = Date.now();
    if (now < quietUntil) {
      suppressed++;
      return;
    }
    runtime.log.warn({ queue, reason: error.message, suppressed }, 'Redis connection trouble; reconnecting (jobs whose locks lapse are resumed from their checkpoints)');
    quietUntil = now + 30_000;
    suppressed = 0;
  };
}
