import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LimiterState } from '../limits/rate-limiter.js';

/** Metric name prefix: `cognito_export_…`. */
const PREFIX = 'cognito_export_';

/** Reads the state that scrape-time gauges report (kept abstract so this module stays free of Redis and BullMQ). */
export interface MetricsSource {
  /** Pool id → last successful snapshot's completion time (ms since epoch). */
  lastSuccessTimes(): Promise<Map<string, number>>;
  /** Queue name → job state → count. */
  queueDepths(): Promise<Map<string, Record<string, number>>>;
  /** Rate-limit scope (`<account>:<region>`) → its shared bucket, for the scopes this process uses. */
  limiterStates?(): Promise<Map<string, LimiterState>>;
}

/**
 * The worker's Prometheus metrics. Counters count what this process did (Prometheus sums workers);
 * gauges that describe the deployment (last success per pool, queue depth) are read at scrape time.
 */
export class ExportMetrics {
  readonly registry = new Registry();
  readonly usersExported: Counter<'user_pool_id'>;
  readonly recordsExported: Counter<'user_pool_id' | 'table'>;
  readonly filesWritten: Counter<'user_pool_id'>;
  readonly calls: Counter<'user_pool_id'>;
  readonly cognitoCalls: Counter<'user_pool_id' | 'operation'>;
  readonly throttles: Counter<'user_pool_id'>;
  readonly retries: Counter<'user_pool_id'>;
  readonly slotWait: Counter<'user_pool_id'>;
  readonly runsFinished: Counter<'user_pool_id' | 'outcome'>;
  readonly runDuration: Histogram<'user_pool_id' | 'outcome'>;
  /** A restore's rows as they become durable, by table and action (created, existing, updated, …). */
  readonly restoreRecords: Counter<'user_pool_id' | 'table' | 'action'>;
  readonly restoresFinished: Counter<'user_pool_id' | 'outcome'>;
  private source: MetricsSource | undefined;
  private processMetrics = false;

  constructor() {
    const registers = [this.registry];
    this.usersExported = new Counter({
      name: `${PREFIX}users_exported_total`,
      help: 'Users written to durable data files (counted when a file is checkpointed)',
      labelNames: ['user_pool_id'],
      registers,
    });
    this.recordsExported = new Counter({
      name: `${PREFIX}records_exported_total`,
      help: 'Records written to durable data files, by table (users, groups, group_memberships)',
      labelNames: ['user_pool_id', 'table'],
      registers,
    });
    this.filesWritten = new Counter({ name: `${PREFIX}files_written_total`, help: 'Data files made durable', labelNames: ['user_pool_id'], registers });
    this.calls = new Counter({ name: `${PREFIX}list_users_calls_total`, help: 'ListUsers calls made, retries included', labelNames: ['user_pool_id'], registers });
    this.cognitoCalls = new Counter({
      name: `${PREFIX}cognito_calls_total`,
      help: 'Cognito calls made by operation (ListUsers, ListGroups, ListUsersInGroup), retries included',
      labelNames: ['user_pool_id', 'operation'],
      registers,
    });
    this.throttles = new Counter({ name: `${PREFIX}throttles_total`, help: 'Cognito calls throttled (every list operation)', labelNames: ['user_pool_id'], registers });
    this.retries = new Counter({
      name: `${PREFIX}retries_total`,
      help: 'Cognito calls retried after a transient error (5xx, reset, timeout)',
      labelNames: ['user_pool_id'],
      registers,
    });
    this.slotWait = new Counter({
      name: `${PREFIX}slot_wait_seconds_total`,
      help: 'Time ListUsers calls waited for a slot of the shared rate limit, summed over shards',
      labelNames: ['user_pool_id'],
      registers,
    });
    this.runsFinished = new Counter({
      name: `${PREFIX}runs_finished_total`,
      help: 'Export runs this worker finished, by outcome (completed, failed or cancelled)',
      labelNames: ['user_pool_id', 'outcome'],
      registers,
    });
    this.restoreRecords = new Counter({
      name: `${PREFIX}restore_records_total`,
      help: "A restore's rows made durable, by target pool, table (restore_users, restore_groups, restore_memberships) and action",
      labelNames: ['user_pool_id', 'table', 'action'],
      registers,
    });
    this.restoresFinished = new Counter({
      name: `${PREFIX}restores_finished_total`,
      help: 'Restores this worker finished, by target pool and outcome (completed, failed or cancelled)',
      labelNames: ['user_pool_id', 'outcome'],
      registers,
    });
    this.runDuration = new Histogram({
      name: `${PREFIX}run_duration_seconds`,
      help: 'Wall time of export runs from trigger to manifest (or failure)',
      labelNames: ['user_pool_id', 'outcome'],
      buckets: [10, 30, 60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600],
      registers,
    });
    // prom-client calls collect() with the gauge as `this`; reach the source through a closure.
    const source = (): MetricsSource | undefined => this.source;
    new Gauge({
      name: `${PREFIX}last_success_timestamp_seconds`,
      help: 'When the newest complete snapshot of each pool finished (Unix time)',
      labelNames: ['user_pool_id'],
      registers,
      async collect() {
        this.reset();
        for (const [pool, ms] of (await source()?.lastSuccessTimes()) ?? []) this.set({ user_pool_id: pool }, ms / 1000);
      },
    });
    new Gauge({
      name: `${PREFIX}queue_jobs`,
      help: 'Jobs in the export queues by state; the jobs of a cancelled run, which BullMQ holds as failed, are counted as cancelled, not failed',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const [queue, counts] of (await source()?.queueDepths()) ?? []) {
          for (const [state, count] of Object.entries(counts)) this.set({ queue, state }, count);
        }
      },
    });
    // The shared limiter, one bucket per scope (AWS account and region); each gauge reads it (a few Redis reads a scrape).
    const limiterGauge = (name: string, help: string, value: (state: LimiterState) => number | null) =>
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        labelNames: ['scope'],
        registers,
        async collect() {
          this.reset();
          for (const [scope, state] of (await source()?.limiterStates?.()) ?? []) {
            const v = value(state);
            if (v !== null) this.set({ scope }, v);
          }
        },
      });
    limiterGauge('rate_limit_rps', 'Calls/s the shared rate limit hands out now, per AWS account and region', (s) => s.rateRps);
    limiterGauge('rate_limit_ceiling_rps', 'The rate the last throttle hit, which the limit settles under', (s) => s.ceilingRps);
    limiterGauge('rate_limit_max_rps', 'The configured rate: the limit never exceeds it', (s) => s.maxRps);
    limiterGauge('throttles_per_minute', 'Throttles reported to the shared rate limit in the last minute, by every worker', (s) => s.throttlesPerMinute);
  }

  /**
   * Adds Node's process metrics (CPU, memory, event loop lag). Only a process that is scraped needs
   * them: they start an event-loop monitor, which CLI commands have no use for.
   */
  enableProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
  }

  /** Connects the scrape-time gauges to the deployment's state. */
  setSource(source: MetricsSource): void {
    this.source = source;
  }

  /** Records how a run ended and how long it took. */
  runFinished(userPoolId: string, outcome: 'completed' | 'failed' | 'cancelled', seconds: number): void {
    this.runsFinished.inc({ user_pool_id: userPoolId, outcome });
    this.runDuration.observe({ user_pool_id: userPoolId, outcome }, seconds);
  }

  /** The exposition text for a scrape. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
