import type { Command } from 'commander';
import { startAdminServer } from '../../jobs/admin-port.js';
import { startExportWorker } from '../../jobs/export-worker.js';
import { applySchedules } from '../../jobs/schedules.js';
import { openContext, readConfig } from './cli-context.js';
import { positiveInteger } from './export-command.js';
import { readScheduleFile } from './schedule-command.js';

interface WorkerFlags {
  concurrency?: number;
  config?: string;
}

/** Adds `worker`: process export runs and shards until SIGTERM/SIGINT, with the admin port. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run a worker: export runs, shards and schedules from the shared Redis, with /healthz and /metrics')
    .option('--concurrency <n>', 'shard jobs at once in this process (default: WORKER_CONCURRENCY)', positiveInteger)
    .option('--config <file>', 'apply the schedules in this file at start (as `schedule apply` does)')
    .action(async (flags: WorkerFlags) => {
      // Listen before taking any job: a SIGTERM during start-up must still end in a clean stop.
      const stopRequested = shutdownSignal();
      const config = readConfig();
      const schedules = flags.config ? await readScheduleFile(flags.config) : undefined;
      const context = await openContext(config);
      const log = context.runtime.log;
      if (schedules) {
        const applied = await applySchedules(context.queues, schedules.pools);
        log.info({ ...applied }, 'schedules applied');
      }
      const worker = startExportWorker(context.runtime, context.queues, { concurrency: flags.concurrency });
      const admin =
        config.adminPort === null
          ? undefined
          : await startAdminServer(context.runtime, context.queues, worker, {
              host: config.adminHost,
              port: config.adminPort,
              token: config.adminToken,
              dashboard: config.adminDashboard,
            });
      log.info(
        { concurrency: flags.concurrency ?? config.workerConcurrency, prefix: config.redisKeyPrefix, admin: admin?.url, exportsEndpoint: Boolean(config.adminToken) },
        'worker started',
      );
      const signal = await stopRequested;
      log.info({ signal }, 'shutting down: sealing open files and handing jobs back');
      await worker.close();
      await admin?.close();
      await context.close();
      log.info('worker stopped');
    });
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
