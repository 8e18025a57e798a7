import type { Command } from 'commander';
import { startAdminServer, type AdminServer } from '../../jobs/admin-port.js';
import { startExportWorker, type ExportWorker } from '../../jobs/export-worker.js';
import { applyConfigFile, EmptyScheduleError } from '../../jobs/schedules.js';
import type { AppConfig } from '../config/app-config.js';
import type { ScheduledPool } from '../config/config-file.js';
import { CliError, EXIT_USAGE, openContext, readConfig, type CliContext } from './cli-context.js';
import { positiveInteger } from './export-command.js';
import { readScheduleFile } from './schedule-command.js';

interface WorkerFlags {
  concurrency?: number;
  config?: string;
}

/** Ports tried after the default admin port when it is taken (by another worker on this machine). */
const ADMIN_PORT_TRIES = 20;

/** Adds `worker`: process export runs and shards until SIGTERM/SIGINT, with the admin port. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run a worker: export runs, shards and schedules from the shared Redis, with /healthz and /metrics')
    .option('--concurrency <n>', 'shard jobs at once in this process (default: WORKER_CONCURRENCY)', positiveInteger)
    .option('--config <file>', 'apply the schedules in this file at start (as `schedule apply` does)')
    .action(async (flags: WorkerFlags) => {
      // Listen before anything else: a SIGTERM during start-up must still end in a clean stop.
      const stopRequested = shutdownSignal();
      const config = readConfig();
      const schedules = flags.config ? await readScheduleFile(flags.config) : undefined;
      const context = await openContext(config);
      const log = context.runtime.log;
      let admin: AdminServer | undefined;
      let worker: ExportWorker | undefined;
      try {
        if (schedules) {
          const applied = await applyConfigFile(context.runtime, context.queues, schedules, { source: flags.config }).catch((error: unknown) => {
            if (error instanceof EmptyScheduleError) throw new CliError(error.message, EXIT_USAGE);
            throw error;
          });
          log.info({ ...applied }, 'schedules applied');
        }
        // The admin port first: a port that cannot be had fails the start before any job is taken.
        admin = await listenAdmin(context, config, () => worker, schedules?.pools ?? []);
        worker = startExportWorker(context.runtime, context.queues, { concurrency: flags.concurrency });
        log.info(
          { concurrency: flags.concurrency ?? config.workerConcurrency, prefix: config.redisKeyPrefix, admin: admin && boundUrl(config.adminHost, admin.url), exportsEndpoint: Boolean(config.adminToken) },
          'worker started',
        );
        const signal = await stopRequested;
        log.info({ signal }, 'shutting down: sealing open files and handing jobs back');
      } finally {
        await worker?.close();
        await admin?.close();
        await context.close();
        log.info('worker stopped');
      }
    });
}

/**
 * Starts the admin port: ADMIN_PORT if it was set (taken → a one-line error), else the default,
 * moving to the next free port when another worker on this machine has it.
 */
async function listenAdmin(context: CliContext, config: AppConfig, worker: () => ExportWorker | undefined, configPools: readonly ScheduledPool[]): Promise<AdminServer | undefined> {
  if (config.adminPort === null) return undefined;
  const configDestinations = configPools.map((pool) => pool.destination);
  const options = { host: config.adminHost, token: config.adminToken, dashboard: config.adminDashboard, configDestinations, configPools };
  const start = (port: number) => startAdminServer(context.runtime, context.queues, worker, { ...options, port });
  const tries = config.adminPortChosen || config.adminPort === 0 ? 1 : ADMIN_PORT_TRIES;
  for (let i = 0; ; i++) {
    const port = config.adminPort + i;
    try {
      const admin = await start(port);
      if (i > 0) context.runtime.log.warn({ port, taken: config.adminPort }, `admin port ${config.adminPort} is in use (another worker on this machine?); listening on ${port}`);
      return admin;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'EADDRINUSE' && code !== 'EACCES') || i + 1 >= tries) {
        const what = code === 'EADDRINUSE' ? 'is in use (another worker on this machine?)' : `cannot be opened (${code ?? String(error)})`;
        const range = i > 0 ? ` (tried ${config.adminPort}–${port})` : '';
        throw new CliError(`admin port ${config.adminHost}:${port} ${what}${range}: set ADMIN_PORT to a free port, 0 for any, or off`, EXIT_USAGE);
      }
    }
  }
}

/**
 * The admin port as it is bound (ADMIN_HOST and the port it got), not the loopback URL a client
 * would use: a log that says 127.0.0.1 while the port listens on every interface misleads.
 */
function boundUrl(host: string, url: string): string {
  const port = new URL(url).port;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Resolves with the first SIGTERM or SIGINT. Any signal after that (TERM or INT) exits at once,
 * for an operator who does not want to wait for open files to be sealed.
 */
function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (received) {
        process.stderr.write(`cognito-export: second signal (${signal}): exiting without waiting\n`);
        process.exit(1);
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
