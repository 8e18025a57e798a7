import type { Command } from 'commander';
import { ConfigFileError, loadExportConfig, type ExportConfigFile } from '../config/config-file.js';
import { applyConfigFile, EmptyScheduleError, listSchedules, removeSchedule, type ScheduleView } from '../../jobs/schedules.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE, openContext, quietUnlessAsked, readConfig } from './cli-context.js';

/** Reads and validates a schedules file, or fails with exit code 2 and the bad key. */
export async function readScheduleFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<ExportConfigFile> {
  try {
    const file = await loadExportConfig(path);
    const pseudonymizing = file.pools.find((pool) => pool.pseudonymize.length > 0);
    if (pseudonymizing && !env.PSEUDONYMIZATION_KEY) {
      throw new CliError(`${path}: pool ${pseudonymizing.userPoolId} pseudonymizes ${pseudonymizing.pseudonymize.join(', ')}, but PSEUDONYMIZATION_KEY is not set: set it (the hex or base64 of 32 random bytes, e.g. openssl rand -hex 32, the same on every worker)`, EXIT_USAGE);
    }
    return file;
  } catch (error) {
    if (error instanceof ConfigFileError) throw new CliError(configProblems(path, error.issues), EXIT_USAGE);
    throw error;
  }
}

/**
 * A config file's problems for a person: one line when there is one; else a line saying how many,
 * then each on a line of its own (a wrong file has several, and one 700-character line hides them).
 */
export function configProblems(path: string, issues: readonly string[]): string {
  if (issues.length <= 1) return issues[0] ?? `${path}: invalid`;
  const prefix = `${path}: `;
  return `${path}: ${issues.length} problems:\n${issues.map((issue) => `  ${issue.startsWith(prefix) ? issue.slice(prefix.length) : issue}`).join('\n')}`;
}

/** Adds `schedule apply`, `schedule remove` and `schedule list`. */
export function registerScheduleCommand(program: Command): void {
  const schedule = program.command('schedule').description('nightly exports from a config file (BullMQ job schedulers)');
  schedule
    .command('apply')
    .description('create or update a schedule per pool in the file and remove schedules of pools no longer in it')
    .requiredOption('--config <file>', 'YAML or JSON file listing the pools (see examples/cognito-export.yaml)')
    .option('--prune', 'with a file that lists no pools (pools: []), remove every schedule')
    .action(async (flags: { config: string; prune?: boolean }) => {
      const file = await readScheduleFile(flags.config);
      const context = await openContext(quietUnlessAsked(readConfig()));
      try {
        const applied = await applyConfigFile(context.runtime, context.queues, file, { prune: flags.prune ?? false, source: flags.config }).catch((error: unknown) => {
          if (error instanceof EmptyScheduleError) throw new CliError(error.message, EXIT_USAGE);
          throw error;
        });
        for (const [what, pools] of Object.entries(applied) as [string, string[]][]) {
          if (pools.length > 0) process.stderr.write(`${what}: ${pools.join(', ')}\n`);
        }
        process.stdout.write(renderSchedules(await listSchedules(context.queues)));
      } finally {
        await context.close();
      }
    });
  schedule
    .command('remove')
    .description("remove one pool's schedule (runs in flight go on)")
    .argument('<user_pool_id>', 'the pool whose schedule goes')
    .action(async (userPoolId: string) => {
      const context = await openContext(quietUnlessAsked(readConfig()));
      try {
        if (!(await removeSchedule(context.queues, userPoolId))) {
          const known = (await listSchedules(context.queues)).map((s) => s.userPoolId);
          throw new CliError(`pool ${userPoolId} has no schedule${known.length > 0 ? `: the scheduled pools are ${known.join(', ')}` : ''}`, EXIT_FAILURE);
        }
        process.stderr.write(`removed: ${userPoolId}\n`);
        process.stdout.write(renderSchedules(await listSchedules(context.queues)));
      } finally {
        await context.close();
      }
    });
  schedule
    .command('list')
    .description("show each pool's schedule and next run")
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const context = await openContext(quietUnlessAsked(readConfig()));
      try {
        const schedules = await listSchedules(context.queues);
        process.stdout.write(flags.json ? `${JSON.stringify(schedules.map(scheduleJson), null, 2)}\n` : renderSchedules(schedules));
      } finally {
        await context.close();
      }
    });
}

/** One schedule as `schedule list --json` prints it: snake_case, like every JSON output. */
export interface ScheduleJson {
  readonly user_pool_id: string;
  readonly pattern: string;
  readonly timezone: string;
  /** ISO 8601 UTC; null when BullMQ has no next run. */
  readonly next_run: string | null;
  readonly destination: string;
}

/** A schedule as `schedule list --json` prints it. */
export function scheduleJson(schedule: ScheduleView): ScheduleJson {
  return {
    user_pool_id: schedule.userPoolId,
    pattern: schedule.pattern,
    timezone: schedule.timezone,
    next_run: schedule.next?.toISOString() ?? null,
    destination: schedule.destination,
  };
}

/** The schedules as an aligned table. */
export function renderSchedules(schedules: readonly ScheduleView[]): string {
  if (schedules.length === 0) return 'no schedules\n';
  const rows = [
    ['pool', 'schedule', 'time zone', 'next run (UTC)', 'destination'],
    ...schedules.map((s) => [s.userPoolId, s.pattern, s.timezone, s.next?.toISOString() ?? '—', s.destination]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return `${rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')}\n`;
}
