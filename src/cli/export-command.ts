import { InvalidArgumentError, type Command } from 'commander';
import { buildRunSpec, DEFAULT_SHARDS, ExportRequestError, type ExportRequest } from '../runs/export-request.js';
import type { RunStatus } from '../runs/run-store.js';
import { changesSummary, filesOfRun } from '../runs/run-views.js';
import { parseShardCount, type ShardCount } from '../runs/shard-plan.js';
import { startExportWorker, type ExportWorker } from '../../jobs/export-worker.js';
import { holdInlineRun } from '../../jobs/inline-owner.js';
import { requestExport, type RequestedRun, type RequestOptions } from '../../jobs/request-export.js';
import { RunConflictError } from '../runs/run-conflict.js';
import { partialNotice, type RunSpec } from '../runs/run-spec.js';
import { waitForRun } from '../../jobs/wait-for-run.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE, openContext, quietUnlessAsked, readConfig, type CliContext } from './cli-context.js';
import { createProgressReporter, type ProgressReporter } from './progress-reporter.js';
import { startJobId } from '../../jobs/queues.js';

interface ExportFlags {
  userPoolId: string;
  destination: string;
  region?: string;
  shards: ShardCount;
  filter?: string;
  attributes?: string;
  format?: string;
  gzip: boolean;
  groups: boolean;
  changes: boolean;
  excludeAttributes?: string;
  pseudonymize?: string;
  roleArn?: string;
  externalId?: string;
  s3RoleArn?: string;
  glueDatabase?: string;
  glueTablePrefix?: string;
  fileMaxRecords?: number;
  keepLast?: number;
  wait?: boolean;
  inline?: boolean;
  queue?: boolean;
  name?: string;
}

/** Commander parser for `--shards`. */
function shardsArgument(value: string): ShardCount {
  try {
    return parseShardCount(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** Commander parser for positive integers. */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected an integer from 1, got ${JSON.stringify(value)}`);
  return n;
}

/** Adds `export`: enqueue an on-demand export, optionally follow it or run it in this process. */
export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('export a user pool now (returns the running export if the pool already has one)')
    .requiredOption('--user-pool-id <id>', 'the pool to export, e.g. eu-west-1_AbCdEf123')
    .requiredOption('--destination <url>', 's3://bucket/prefix or file:///absolute/dir')
    .option('--region <region>', 'the pool\'s region (default: from the pool id)')
    .option('--shards <n>', 'parallel sub-prefix shards: 1, 16 or 256', shardsArgument, DEFAULT_SHARDS as ShardCount)
    .option('--filter <expr>', 'server-side ListUsers filter, e.g. \'email ^= "a"\' (makes the run one shard)')
    .option('--attributes <list>', 'keep only these attributes, e.g. email,custom:tenant')
    .option('--format <format>', 'ndjson (gzipped lines, the default) or parquet (typed columns, snappy inside the file), for every table')
    .option('--no-gzip', 'write plain .ndjson files')
    .option('--no-groups', "skip the pool's groups and memberships (users only)")
    .option('--no-changes', 'write no change tables (user_changes, …) against the previous snapshot')
    .option('--exclude-attributes <list>', 'drop these attributes from every record, e.g. name,address')
    .option('--role-arn <arn>', "assume this role (in the pool's account) for the Cognito calls; its account's rate limit applies")
    .option('--external-id <id>', "the ExternalId the role's trust policy asks for")
    .option('--s3-role-arn <arn>', "assume this role for the destination's S3 calls (the same external id is sent)")
    .option('--glue-database <name>', "register the run's tables and partitions in this Glue database as part of its commit (Athena, Spectrum, EMR query it at once)")
    .option('--glue-table-prefix <prefix>', 'prefix of the Glue table names, e.g. cognito_ (cognito_users, …)')
    .option('--pseudonymize <list>', 'write these fields as HMAC-SHA256 under PSEUDONYMIZATION_KEY, e.g. email,phone_number,username')
    .option('--file-max-records <n>', 'records per data file (default: FILE_MAX_RECORDS)', positiveInteger)
    .option('--keep-last <n>', "after this run, delete all but the pool's newest N snapshots at the destination", positiveInteger)
    .option('--name <name>', 'a partial run (a filter, other attributes) moves latest-<name>.json, never latest.json')
    .option('--queue', 'if the pool has a run with other options in flight, run after it instead of refusing')
    .option('--wait', 'follow the run; print the manifest URL as the last line of stdout')
    .option('--inline', 'run the export in this process (implies --wait)')
    .action(async (flags: ExportFlags) => {
      await runExportCommand(flags);
    });
}

async function runExportCommand(flags: ExportFlags): Promise<void> {
  const config = readConfig();
  const request: ExportRequest = {
    userPoolId: flags.userPoolId,
    destination: flags.destination,
    region: flags.region,
    shards: flags.shards,
    filter: flags.filter,
    attributes: flags.attributes,
    format: flags.format,
    gzip: flags.gzip,
    groups: flags.groups,
    changes: flags.changes,
    excludeAttributes: flags.excludeAttributes,
    pseudonymize: flags.pseudonymize,
    roleArn: flags.roleArn,
    externalId: flags.externalId,
    s3RoleArn: flags.s3RoleArn,
    glueDatabase: flags.glueDatabase,
    glueTablePrefix: flags.glueTablePrefix,
    fileMaxRecords: flags.fileMaxRecords,
    keepLast: flags.keepLast,
    inline: flags.inline ?? false,
    name: flags.name,
    trigger: 'cli',
  };
  let spec;
  try {
    spec = buildRunSpec(request, config);
  } catch (error) {
    if (error instanceof ExportRequestError) throw new CliError(error.message, EXIT_USAGE);
    throw error;
  }
  const context = await openContext(quietUnlessAsked(config));
  const inline = flags.inline ? new InlineRun(context) : undefined;
  const options = { queue: flags.queue ?? false };
  try {
    let requested: RequestedRun;
    try {
      requested = inline ? await inline.request(spec, options) : await requestExport(context.runtime, context.queues, spec, options);
    } catch (error) {
      if (error instanceof RunConflictError) throw new CliError(error.message, EXIT_FAILURE);
      throw error;
    }
    const state = (await context.runtime.runs.status(requested.snapshotId))?.state ?? 'queued';
    const partial = requested.created ? partialNotice(requested.spec) : undefined;
    if (partial) process.stderr.write(`${partial}\n`);
    if (!requested.created) {
      const how = inline?.resumed ? 'resuming it here (its --inline process had stopped)' : flags.wait || flags.inline ? 'following that one' : 'this request joins it';
      process.stderr.write(`pool ${spec.userPoolId} already has export ${requested.snapshotId} ${state} with the same options; ${how}\n`);
    } else if (requested.behind) {
      process.stderr.write(`export ${requested.snapshotId} queued behind ${requested.behind}: it starts when that one ends\n`);
    }
    if (!flags.wait && !flags.inline) {
      if (requested.created && !requested.behind) process.stderr.write(`export ${requested.snapshotId} ${state}; `);
      process.stderr.write(`follow it with: cognito-export status --user-pool-id ${spec.userPoolId}\n`);
      process.stdout.write(`${requested.snapshotId}\n`);
      return;
    }
    const status = await follow(context, requested.snapshotId, inline?.worker !== undefined);
    process.stdout.write(`${status.manifestUrl}\n`);
  } finally {
    await inline?.close();
    await context.close();
  }
}

/**
 * An export run in this process (`--inline`): in queues of its own, so this process takes no other
 * pool's shards and no schedule, and held by it, so a run whose process stopped is known abandoned.
 */
export class InlineRun {
  worker: ExportWorker | undefined;
  resumed = false;
  private release: (() => Promise<void>) | undefined;

  constructor(private readonly context: CliContext) {}

  /** Requests the run (or resumes the pool's abandoned inline run with the same options) and serves it. */
  async request(spec: RunSpec, options: RequestOptions = {}): Promise<RequestedRun> {
    const { runtime, queues } = this.context;
    // Held before it is registered, so no liveness check finds it unattended.
    this.release = holdInlineRun(runtime, spec.snapshotId);
    let requested: RequestedRun;
    try {
      requested = await requestExport(runtime, queues, spec, options);
    } catch (error) {
      await this.release();
      this.release = undefined;
      throw error;
    }
    if (requested.snapshotId !== spec.snapshotId) {
      await this.release();
      this.release = undefined;
      // A run another process started (a schedule's, a worker's): follow it, serve nothing.
      if (!requested.spec.inline) return requested;
      this.release = holdInlineRun(runtime, requested.snapshotId);
      this.resumed = true;
    }
    this.worker = startExportWorker(runtime, queues.forRun(requested.spec));
    return requested;
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.release?.();
  }
}

/**
 * Follows a run to its end with a progress display on stderr; returns the completed run's status,
 * or throws a CliError with the failure's reason.
 */
export async function follow(context: CliContext, snapshotId: string, inline: boolean): Promise<RunStatus> {
  const reporter = createProgressReporter();
  const interrupted = new AbortController();
  const onSignal = (): void => interrupted.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const hint = setTimeout(() => void hintIfUnattended(context, snapshotId, reporter), UNATTENDED_HINT_MS);
  try {
    const status = await waitForRun(context.runtime, context.queues, snapshotId, {
      onProgress: (s) => reporter.update(s),
      signal: interrupted.signal,
    });
    reporter.stop();
    if (status.state === 'failed') throw new CliError(`export ${snapshotId} failed: ${status.error ?? 'unknown reason'}`, EXIT_FAILURE);
    if (status.state === 'cancelled') throw new CliError(`export ${snapshotId} was cancelled: nothing was published`, EXIT_FAILURE);
    const seconds = ((Date.parse(status.completedAt ?? '') - Date.parse(status.spec.startedAt)) / 1000).toFixed(1);
    const groups = status.tables.groups;
    const memberships = status.tables.group_memberships;
    const others = groups && memberships ? `, ${groups.durable} groups and ${memberships.durable} memberships` : '';
    // Files over every table, change tables included: what the manifest lists.
    process.stderr.write(`exported ${status.durableUsers} users${others} in ${filesOfRun(status)} files in ${seconds} s\n`);
    if (status.changes) process.stderr.write(`${changesSummary(status.changes)}\n`);
    return status;
  } catch (error) {
    reporter.stop();
    if (interrupted.signal.aborted) {
      const what = inline
        ? 'the shards in this process were checkpointed; run the same command again to resume the run'
        : 'the run continues in the workers';
      throw new CliError(`interrupted: stopped following export ${snapshotId}; ${what}`, 130);
    }
    throw error;
  } finally {
    clearTimeout(hint);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** A run no worker has taken after this long gets a hint, once. */
const UNATTENDED_HINT_MS = 10_000;

/** Says once, on stderr, that no worker has taken a run that is still queued. */
async function hintIfUnattended(context: CliContext, snapshotId: string, reporter: ProgressReporter): Promise<void> {
  const status = await context.runtime.runs.status(snapshotId).catch(() => undefined);
  if (status?.state !== 'queued' || status.behind !== undefined) return;
  const start = await context.queues.forRun(status.spec).runs.getJob(startJobId(snapshotId));
  const state = start ? await start.getState() : 'unknown';
  if (state === 'active' || state === 'completed') return;
  reporter.note('no worker has picked this run up: start `cognito-export worker`, or use --inline');
}
