import type { Queue } from 'bullmq';
import type { ExportRuntime } from './export-runtime.js';
import type { MetricsSource } from '../src/ops/metrics.js';
import { isEnded, type RunState } from '../src/runs/run-store.js';
import type { ExportQueues } from './queues.js';

/** The deployment state that scrape-time gauges report: last success per pool, queue depth, the shared rate limits. */
export function metricsSource(runtime: ExportRuntime, queues: ExportQueues): MetricsSource {
  // `<queue>:<job id>` → whether the failed job belongs to a cancelled run. Known for good once its
  // run has ended, so each failed job costs two reads once, not at every scrape.
  const ofCancelledRun = new Map<string, boolean>();

  /**
   * Splits BullMQ's failed jobs into `failed` and `cancelled`: a cancelled run's shards (and its
   * finalizer, failed with them) end as failed jobs, and an alert on failed jobs must not fire on a cancel.
   */
  async function splitCancelled(queue: Queue, counts: Record<string, number>): Promise<Record<string, number>> {
    const failed = counts.failed ?? 0;
    const prefix = `${queue.name}:`;
    const seen = new Set<string>();
    let cancelled = 0;
    if (failed > 0) {
      const runStates = new Map<string, Promise<RunState | undefined>>();
      const stateOf = (snapshotId: string): Promise<RunState | undefined> => {
        let state = runStates.get(snapshotId);
        if (!state) runStates.set(snapshotId, (state = runtime.runs.state(snapshotId)));
        return state;
      };
      const classify = async (id: string): Promise<boolean> => {
        const key = `${prefix}${id}`;
        seen.add(key);
        const cached = ofCancelledRun.get(key);
        if (cached !== undefined) return cached;
        const snapshotId = ((await queue.getJob(id))?.data as { snapshotId?: unknown } | undefined)?.snapshotId;
        const state = typeof snapshotId === 'string' ? await stateOf(snapshotId) : undefined;
        // Final once its run has ended, or is gone from Redis, or when it names no run (a scheduled
        // start job's request): each failed job costs its reads once, not at every scrape.
        if (state === undefined || isEnded(state)) ofCancelledRun.set(key, state === 'cancelled');
        return state === 'cancelled';
      };
      // Concurrently: ioredis pipelines the reads, so a scrape after a restart costs round trips, not one per job.
      cancelled = (await Promise.all((await queue.getRanges(['failed'], 0, -1)).map(classify))).filter(Boolean).length;
    }
    for (const key of ofCancelledRun.keys()) if (key.startsWith(prefix) && !seen.has(key)) ofCancelledRun.delete(key);
    return { ...counts, failed: Math.max(0, failed - cancelled), cancelled };
  }

  return {
    async lastSuccessTimes() {
      const times = new Map<string, number>();
      for (const pool of await runtime.runs.pools()) {
        const success = (await runtime.runs.history(pool)).lastSuccess;
        if (success) times.set(pool, Date.parse(success.completedAt));
      }
      return times;
    },
    async queueDepths() {
      const states = ['waiting', 'active', 'delayed', 'waiting-children', 'failed', 'prioritized'] as const;
      const depths = new Map<string, Record<string, number>>();
      for (const queue of [queues.runs, queues.shards, queues.groups]) depths.set(queue.name, await splitCancelled(queue, await queue.getJobCounts(...states)));
      return depths;
    },
    limiterStates: () => runtime.limiterStates(),
  };
}
