import type { Command } from 'commander';
import { forgetPool, forgetRefusal } from '../../jobs/forget-pool.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE, openContext, quietUnlessAsked, readConfig } from './cli-context.js';

/** Adds `forget <pool_id>`: drop a pool's history from Redis, so `status` no longer lists it. */
export function registerForgetCommand(program: Command): void {
  program
    .command('forget')
    .description("remove a pool's history (last good, failed, cancelled runs) so `status` no longer lists it; refused while it has a schedule or a run in flight")
    .argument('<pool_id>', 'the pool, as `status` lists it')
    .action(async (userPoolId: string) => {
      const context = await openContext(quietUnlessAsked(readConfig()));
      try {
        const outcome = await forgetPool(context.runtime, context.queues, userPoolId);
        if (outcome.kind !== 'forgotten') throw new CliError(forgetRefusal(userPoolId, outcome), outcome.kind === 'unknown' ? EXIT_USAGE : EXIT_FAILURE);
        process.stderr.write(`forgot pool ${userPoolId}: \`status\` no longer lists it; its snapshots and pointers at the destination are untouched\n`);
      } finally {
        await context.close();
      }
    });
}
