import type { Command } from 'commander';
import { startExportWorker } from '../../jobs/export-worker.js';
import { openContext, readConfig } from './cli-context.js';
import { positiveInteger } from './export-command.js';

interface WorkerFlags {
  concurrency?: number;
}

/** Adds `worker`: process export runs and shards until SIGTERM/SIGINT. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run a worker: export runs, shards and schedules from the shared Redis')
    .option('--concurrency <n>', 'shard jobs at once in this process (default: WORKER_CONCURRENCY)', positiveInteger)
    .action(async (flags: WorkerFlags) => {
      const config = readConfig();
      const context = await openContext(config);
      const log = context.runtime.log;
      const worker = startExportWorker(context.runtime, context.queues, { concurrency: flags.concurrency });
      log.info({ concurrency: flags.concurrency ?? config.workerConcurrency, redis: config.redisKeyPrefix }, 'worker started');
      await new Promise<void>((resolve) => {
        const shutdown = (signal: NodeJS.Signals): void => {
          log.info({ signal }, 'shutting down: sealing open files and handing jobs back');
          process.once(signal, () => {
            log.warn('second signal: exiting without waiting');
            process.exit(1);
          });
          resolve();
        };
        process.once('SIGTERM', shutdown);
        process.once('SIGINT', shutdown);
      });
      await worker.close();
      await context.close();
      log.info('worker stopped');
    });
}
