import type { ExportRuntime } from './export-runtime.js';
import type { MetricsSource } from '../src/ops/metrics.js';
import type { ExportQueues } from './queues.js';

/** The deployment state that scrape-time gauges report: last success per pool, queue depth, the shared rate limits. */
export function metricsSource(runtime: ExportRuntime, queues: ExportQueues): MetricsSource {
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
      for (const queue of [queues.runs, queues.shards, queues.groups]) depths.set(queue.name, await queue.getJobCounts(...states));
      return depths;
    },
    limiterStates: () => runtime.limiterStates(),
  };
}
