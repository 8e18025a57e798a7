import type { Command } from 'commander';
import { cancelRun } from '../../jobs/cancel-run.js';
import { RestoreStore } from '../restore/restore-store.js';
import { snapshotIdProblem } from '../storage/snapshot-id.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE, openContext, quietUnlessAsked, readConfig } from './cli-context.js';

/** Adds `cancel <snapshot_id>`: stop a run, publish nothing, free its pool. */
export function registerCancelCommand(program: Command): void {
  program
    .command('cancel')
    .description('stop a run: nothing is published, its staged files are removed, the pool is free at once (or stop a restore: what it wrote stays)')
    .argument('<snapshot_id>', 'the run, as `export` and `status` print it, or a restore, as `restore` prints it')
    .action(async (snapshotId: string) => {
      const problem = snapshotIdProblem(snapshotId);
      if (problem !== undefined) throw new CliError(problem, EXIT_USAGE);
      const context = await openContext(quietUnlessAsked(readConfig()));
      try {
        const restores = new RestoreStore(context.runtime.redis, context.runtime.keys);
        const restore = await restores.status(snapshotId);
        if (restore) {
          if (!(await restores.setState(snapshotId, 'cancelled'))) throw new CliError(`restore ${snapshotId} into ${restore.spec.targetPoolId} already ${restore.state}: nothing to cancel`, EXIT_FAILURE);
          process.stderr.write(`cancelled restore ${snapshotId} into ${restore.spec.targetPoolId}: its worker stops at the next batch; what it already wrote to the pool stays (a restore with --merge finishes it)\n`);
          return;
        }
        const outcome = await cancelRun(context.runtime, snapshotId);
        if (outcome.kind === 'unknown') throw new CliError(`no export ${snapshotId}: check the id with \`cognito-export status\``, EXIT_FAILURE);
        const { spec, state } = outcome.status;
        if (outcome.kind === 'ended') throw new CliError(`export ${snapshotId} of pool ${spec.userPoolId} already ${state}: nothing to cancel`, EXIT_FAILURE);
        if (outcome.kind === 'committing') {
          throw new CliError(`export ${snapshotId} of pool ${spec.userPoolId} is already committing: it is past its commit point and will complete; nothing to cancel`, EXIT_FAILURE);
        }
        const staging = outcome.status.withdrawn ? 'its staged files were removed' : 'its staged files will be removed by a worker (the destination could not be cleaned now)';
        process.stderr.write(`cancelled export ${snapshotId} of pool ${spec.userPoolId}: nothing was published, ${staging}, the pool is free\n`);
      } finally {
        await context.close();
      }
    });
}
