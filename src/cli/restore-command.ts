import type { Command } from 'commander';
import { prepareRestore, queueRestore, RestoreRequestError, type PreparedRestore } from '../../jobs/request-restore.js';
import { runRestore } from '../../jobs/restore-job.js';
import { planRestore, type RestorePlan } from '../restore/restore-plan.js';
import { attributesSpokenFor } from '../restore/restore-records.js';
import { RestoreStore, type RestoreStatus } from '../restore/restore-store.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE, openContext, quietUnlessAsked, readConfig, type CliContext } from './cli-context.js';

interface RestoreFlags {
  from: string;
  userPoolId: string;
  merge?: boolean;
  deleteMissing?: boolean;
  dryRun?: boolean;
  wait?: boolean;
  inline?: boolean;
  json?: boolean;
  verify?: boolean;
}

/** Adds `restore`: a snapshot back into a user pool. */
export function registerRestoreCommand(program: Command): void {
  program
    .command('restore')
    .description('restore a snapshot (its users, groups and memberships) into a user pool; passwords, MFA and federated users do not come back')
    .requiredOption('--from <url>', "a snapshot's manifest URL, or a pointer's (…/manifests/user_pool_id=<pool>/latest.json)")
    .requiredOption('--user-pool-id <id>', 'the target pool, e.g. eu-west-1_AbCdEf123 (empty unless --merge)')
    .option('--merge', 'restore into a pool that has users: update the users and groups that differ')
    .option('--delete-missing', "with --merge: delete the target's users absent from the snapshot (a pool-to-pool sync)")
    .option('--dry-run', 'print what would be done (counts per action, what is skipped and why) and write nothing')
    .option('--verify', 'once restored, compare the target with the snapshot (attributes but sub, enabled, groups, memberships); the report says verified, or lists what differs')
    .option('--wait', 'follow the restore; print its report')
    .option('--inline', 'run the restore in this process (implies --wait)')
    .option('--json', 'print the plan or the report as JSON (the last line of stdout)')
    .action(async (flags: RestoreFlags) => {
      const config = readConfig();
      const context = await openContext(quietUnlessAsked(config));
      try {
        let prepared: PreparedRestore;
        try {
          prepared = await prepareRestore(context.runtime, { from: flags.from, targetPoolId: flags.userPoolId, merge: flags.merge, deleteMissing: flags.deleteMissing, verify: flags.verify, inline: flags.inline });
        } catch (error) {
          if (error instanceof RestoreRequestError) throw new CliError(error.message, EXIT_USAGE);
          throw error;
        }
        if (flags.dryRun) {
          const plan = await planRestore(prepared.pool, prepared.sink, prepared.keys, { merge: prepared.spec.merge, deleteMissing: prepared.spec.deleteMissing, speaksFor: attributesSpokenFor(prepared.manifest) });
          process.stdout.write(flags.json ? `${JSON.stringify({ dry_run: true, target_pool_id: prepared.spec.targetPoolId, snapshot_id: prepared.manifest.snapshot_id, ...plan })}\n` : renderPlan(prepared, plan));
          return;
        }
        const { restoreId, joined } = await queueRestore(context.runtime, context.queues, prepared);
        if (joined) process.stderr.write(`pool ${flags.userPoolId} already has restore ${restoreId} in flight; following that one\n`);
        if (!flags.wait && !flags.inline) {
          process.stderr.write(`restore ${restoreId} queued; a worker runs it (cognito-export worker). Its report: ${prepared.sink.urlOf(`restores/user_pool_id=${flags.userPoolId}/run=${restoreId}.json`)}\n`);
          process.stdout.write(`${restoreId}\n`);
          return;
        }
        const status = flags.inline && !joined ? await runInline(context, restoreId) : await followRestore(context, restoreId);
        await printReport(context, status, flags.json ?? false);
      } finally {
        await context.close();
      }
    });
}

/** Runs the restore in this process; Ctrl-C cancels it (what it wrote to the target stays). */
async function runInline(context: CliContext, restoreId: string): Promise<RestoreStatus> {
  const stop = new AbortController();
  const store = new RestoreStore(context.runtime.redis, context.runtime.keys);
  const onSignal = (): void => {
    stop.abort(new Error('interrupted'));
    void store.setState(restoreId, 'cancelled');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = setInterval(() => void store.status(restoreId).then((status) => status && process.stderr.write(`${progressLine(status)}\n`)), 2000);
  // Held while this process runs it: if the process dies, the next restore of the target replaces it.
  const release = store.hold(restoreId);
  try {
    await runRestore(context.runtime, restoreId, stop.signal);
  } catch (error) {
    if (!stop.signal.aborted) {
      await store.setState(restoreId, 'failed', { error: (error as Error).message.split('\n')[0] ?? 'error' });
      throw error;
    }
  } finally {
    clearInterval(progress);
    await release();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (stop.signal.aborted) throw new CliError(`interrupted: restore ${restoreId} was cancelled; what it already wrote to the target stays (a new restore with --merge finishes it)`, 130);
  const status = await store.status(restoreId);
  if (!status) throw new CliError(`restore ${restoreId} is gone from Redis`, EXIT_FAILURE);
  return status;
}

/** Follows a restore the workers run to its end, a progress line every few seconds. */
async function followRestore(context: CliContext, restoreId: string): Promise<RestoreStatus> {
  const store = new RestoreStore(context.runtime.redis, context.runtime.keys);
  let last = 0;
  for (;;) {
    const status = await store.status(restoreId);
    if (!status) throw new CliError(`restore ${restoreId} is unknown (its state expired, or another REDIS_KEY_PREFIX)`, EXIT_FAILURE);
    if (['completed', 'failed', 'cancelled'].includes(status.state)) return status;
    if (Date.now() - last > 2000) {
      process.stderr.write(`${progressLine(status)}\n`);
      last = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function progressLine(status: RestoreStatus): string {
  const d = status.durable;
  return `restore ${status.spec.restoreId} ${status.state}: users=${d.restore_users ?? 0} groups=${d.restore_groups ?? 0} memberships=${d.restore_memberships ?? 0} (in durable files)`;
}

/** Prints a finished restore's report (JSON with --json); a failed or cancelled restore is exit 1. */
async function printReport(context: CliContext, status: RestoreStatus, json: boolean): Promise<void> {
  const id = status.spec.restoreId;
  if (status.state === 'failed') throw new CliError(`restore ${id} failed: ${status.error ?? 'unknown reason'}`, EXIT_FAILURE);
  if (status.state === 'cancelled') throw new CliError(`restore ${id} was cancelled; what it wrote to the target stays`, EXIT_FAILURE);
  const sink = context.runtime.sink(status.spec.destination, undefined, status.spec.region);
  const text = await sink.getText(`restores/user_pool_id=${status.spec.targetPoolId}/run=${id}.json`);
  if (text === undefined) throw new CliError(`restore ${id} completed but its report ${status.reportUrl ?? ''} is missing`, EXIT_FAILURE);
  const report = JSON.parse(text) as Record<string, unknown>;
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...report, report_url: status.reportUrl })}\n`);
    return;
  }
  const n = (key: string) => String(typeof report[key] === 'number' ? report[key] : 0);
  process.stderr.write(
    `restored snapshot into ${status.spec.targetPoolId}: ${n('created')} users created, ${n('existing')} existing, ${n('updated')} updated, ${n('deleted')} deleted, ` +
      `${n('skipped_federated')} federated skipped, ${n('failed')} failed; ${n('groups_created')} groups created, ${n('memberships_added')} memberships added\n` +
      `the old → new sub mapping: ${String(report.mapping_url)}\n` +
      'users come back in FORCE_CHANGE_PASSWORD: passwords and MFA secrets are not exported, so each must set a new one\n' +
      (typeof report.verified === 'boolean' ? (report.verified ? 'verified: the target holds the snapshot\n' : `NOT verified: ${String((report.verification as { differences?: number } | undefined)?.differences ?? '?')} differences (the report lists them)\n`) : ''),
  );
  process.stdout.write(`${status.reportUrl ?? ''}\n`);
}

function renderPlan(prepared: PreparedRestore, plan: RestorePlan): string {
  // What is skipped, refused, updated or deleted, and why: a user to create needs no line of its own.
  const notes = plan.notes.filter((note) => note.action !== 'created');
  const line = (what: string, counts: Readonly<Record<string, number>>) =>
    `${what}: ${Object.entries(counts).filter(([, n]) => n > 0).map(([action, n]) => `${n} ${action.replace('_', ' ')}`).join(', ') || 'nothing'}`;
  return [
    `dry run: restoring snapshot ${prepared.manifest.snapshot_id} of ${prepared.spec.sourcePoolId} into ${prepared.spec.targetPoolId} would do (nothing was written):`,
    `  ${line('users', plan.users)}${plan.created_disabled > 0 ? ` (${plan.created_disabled} of the created disabled)` : ''}`,
    `  ${line('groups', plan.groups)}`,
    `  ${line('memberships', plan.memberships)}`,
    ...notes.slice(0, 20).map((note) => `  ${note.action.replace('_', ' ')} ${note.name}: ${note.reason}`),
    ...(notes.length > 20 ? [`  … and more (--json lists up to 100)`] : []),
    '',
  ].join('\n');
}
