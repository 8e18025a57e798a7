#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { describeError } from './limits/error-classification.js';
import { registerEmulatorCommand } from './emulator/emulator-command.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './cli/cli-context.js';
import { registerCancelCommand } from './cli/cancel-command.js';
import { registerCatalogCommands, registerDdlCommand } from './cli/catalog-command.js';
import { registerDemoCommand } from './cli/demo-command.js';
import { registerExportCommand } from './cli/export-command.js';
import { registerForgetCommand } from './cli/forget-command.js';
import { registerScheduleCommand } from './cli/schedule-command.js';
import { registerStatusCommand } from './cli/status-command.js';
import { registerRestoreCommand } from './cli/restore-command.js';
import { registerWorkerCommand } from './cli/worker-command.js';

/** The `cognito-export` command line. Errors are one line on stderr; bad usage exits with 2. */
export function buildProgram(): Command {
  const program = new Command('cognito-export')
    .description('Export Amazon Cognito user pools to S3 as resumable NDJSON snapshots')
    .version('0.1.0')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      // One line: Commander puts its suggestion ("Did you mean …?") on a line of its own.
      outputError: (text, write) => write(`cognito-export: ${text.replace(/^error: /, '').trimEnd().replace(/\n+/g, ' ')}\n`),
    });
  registerWorkerCommand(program);
  registerExportCommand(program);
  registerCancelCommand(program);
  registerScheduleCommand(program);
  registerStatusCommand(program);
  registerForgetCommand(program);
  registerRestoreCommand(program);
  registerCatalogCommands(program);
  registerDdlCommand(program);
  registerEmulatorCommand(program);
  registerDemoCommand(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

async function main(argv: string[]): Promise<number> {
  // The SDK warns on every start that its 2027 releases need Node 22; our lockfile pins a release
  // that supports Node 20, so the notice only adds noise to one-line errors. Opt back in with =false.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed its message already; help and version are not errors.
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (error instanceof CliError) {
      process.stderr.write(`cognito-export: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`cognito-export: ${describeError(error)}\n`);
    if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') console.error(error);
    return EXIT_FAILURE;
  }
}

process.exitCode = await main(process.argv);
