import type { ScheduledPool } from '../src/config/config-file.js';
import { RestoreStore } from '../src/restore/restore-store.js';
import { prepareRestore, queueRestore } from './request-restore.js';
import { adminRolePolicy } from '../src/config/role-policy.js';
import { createDashboard } from '../src/ops/admin-dashboard.js';
import { serveAdmin, type AdminServer } from '../src/ops/admin-server.js';
import { buildRunSpec } from '../src/runs/export-request.js';
import { partialNotice, runPointer } from '../src/runs/run-spec.js';
import type { ExportRuntime } from './export-runtime.js';
import type { ExportWorker } from './export-worker.js';
import { metricsSource } from './metrics-source.js';
import type { ExportQueues } from './queues.js';
import { requestExport } from './request-export.js';
import { reconcileRun } from './run-liveness.js';
import { cancelRun } from './cancel-run.js';
import { forgetPool, forgetRefusal } from './forget-pool.js';

export type { AdminServer } from '../src/ops/admin-server.js';

/** Where and how the worker's admin port listens. */
export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Bearer token for POST /exports and GET /exports/:id (and the dashboard's password); without one they are off. */
  readonly token: string | undefined;
  /** Serve the bull-board dashboard at /dashboard (needs the token). */
  readonly dashboard: boolean;
  /**
   * Destinations `POST /exports` may use besides ALLOWED_DESTINATIONS: the worker's config file's.
   * @default []
   */
  readonly configDestinations?: readonly string[];
  /** The worker's config file's pools: their roles may be named by `POST /exports`, with their external ids. @default [] */
  readonly configPools?: readonly ScheduledPool[];
}

/**
 * The worker's admin port, wired to this deployment's queues: triggers go through the same
 * `requestExport` as the CLI and schedules, health and metrics read this process's runtime.
 */
export async function startAdminServer(
  runtime: ExportRuntime,
  queues: ExportQueues,
  /** The worker this port reports on (or how to find it: the port opens before the worker starts). */
  worker: ExportWorker | (() => ExportWorker | undefined) | undefined,
  options: AdminServerOptions,
): Promise<AdminServer> {
  const current = typeof worker === 'function' ? worker : () => worker;
  runtime.metrics.setSource(metricsSource(runtime, queues));
  runtime.metrics.enableProcessMetrics();
  return serveAdmin(
    {
      log: runtime.log,
      metrics: runtime.metrics,
      ping: () => runtime.redis.ping(),
      workerRunning: () => {
        const running = current();
        return running ? running.runs.isRunning() && running.shards.isRunning() && running.groups.isRunning() : false;
      },
      trigger: async (request, queue) => {
        const requested = await requestExport(runtime, queues, buildRunSpec(request, runtime.config), { queue });
        return { ...requested, pointer: runPointer(requested.spec), partial: partialNotice(requested.spec) };
      },
      cancel: (snapshotId) => cancelRun(runtime, snapshotId),
      restore: async (request) => queueRestore(runtime, queues, await prepareRestore(runtime, request)),
      restoreStatus: (restoreId) => new RestoreStore(runtime.redis, runtime.keys).status(restoreId),
      cancelRestore: (restoreId) => new RestoreStore(runtime.redis, runtime.keys).setState(restoreId, 'cancelled'),
      forget: async (userPoolId) => {
        const outcome = await forgetPool(runtime, queues, userPoolId);
        return outcome.kind === 'forgotten' ? outcome : { kind: outcome.kind, error: forgetRefusal(userPoolId, outcome) };
      },
      allowedDestinations: [...runtime.config.allowedDestinations, ...(options.configDestinations ?? [])],
      roles: adminRolePolicy(runtime.config, options.configPools ?? []),
      ...(runtime.config.allowedPools !== undefined
        ? { allowedPools: [...runtime.config.allowedPools, ...(options.configPools ?? []).map((pool) => pool.userPoolId)] }
        : {}),
      status: (snapshotId) => reconcileRun(runtime, queues, snapshotId),
      dashboard: options.dashboard && options.token ? await createDashboard([queues.runs, queues.shards, queues.groups, queues.restores], '/dashboard') : undefined,
    },
    { host: options.host, port: options.port, token: options.token },
  );
}
