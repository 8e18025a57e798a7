import type { Command } from 'commander';
import { cancelRun } from '../../jobs/cancel-run.js';
import { snapshotIdProblem } from '../storage/snapshot-id.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE, openContext, quietUnlessAsked, readConfig } from './cli-context.js';

/** Adds `cancel <snapshot_id>`: stop a run, publish nothing, free its pool. */
export function registerCancelCommand(program: Command): void {
  program
    .command('cancel')
    .description('stop a run: nothing is published, its staged files are removed, the pool is free at once')
    .argument('<snapshot_id>', 'the run, as `export` and `status` print it')
    .action(async (snapshotId: string) => {
      const problem = snapshotIdProblem(snapshotId);
      if (problem !== undefined) throw new CliError(problem, EXIT_USAGE);
      const context = await openContext(quietUnlessAsked(readConfig()));
      try {
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
