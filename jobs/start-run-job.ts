import { DescribeUserPoolCommand, type UserPoolType } from '@aws-sdk/client-cognito-identity-provider';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { describeError, errorCode, fatalHint, httpStatus } from '../src/limits/error-classification.js';
import { FatalExportError } from '../src/limits/export-errors.js';
import { buildRunSpec, ExportRequestError } from '../src/runs/export-request.js';
import { runSink, type ExportRuntime } from './export-runtime.js';
import { withRetries } from '../src/limits/retry-policy.js';
import { runPointer, runRole, runS3Role, runShards, type RunSpec } from '../src/runs/run-spec.js';
import { manifestOfPointer } from '../src/storage/manifest.js';
import { isEnded } from '../src/runs/run-store.js';
import { isDestinationAllowed } from '../src/storage/destination.js';
import { adminRolePolicy } from '../src/config/role-policy.js';
import { GROUP_MEMBERSHIPS_TABLE, GROUPS_TABLE, latestKey } from '../src/storage/output-layout.js';
import { atJobBoundary } from './job-boundary.js';
import {
  FINALIZE_JOB,
  FINALIZE_JOB_OPTIONS,
  SHARD_JOB,
  SHARD_JOB_OPTIONS,
  finalizeJobId,
  groupsJobId,
  shardJobId,
  type ExportQueues,
  type StartJobData,
} from './queues.js';
import { withdraw } from './run-withdrawal.js';
import { RunConflictError } from '../src/runs/run-conflict.js';
import { requestExport } from './request-export.js';
import { schedulerId } from './schedules.js';
import { deadRunReason, INLINE_ABANDONED } from './run-liveness.js';
import { finishPendingWithdrawals, sweepStalePoolStaging } from './run-withdrawal.js';
import { captureRunPrevious, checkConditionalWrites, repairPoolPointers } from './run-pointers.js';
import { fixRunKey } from './table-sources.js';
import { unknownAttributeProblem } from './pool-schema.js';

/**
 * Starts a registered run: checks the destination and the pool before any walking (a missing bucket
 * or pool fails the run at once), records the pool's estimated size for progress, then enqueues the
 * run as a flow: one child job per shard under a `finalize` parent.
 */
export async function processStartJob(runtime: ExportRuntime, queues: ExportQueues, job: Job<StartJobData>, token?: string): Promise<string> {
  if ('request' in job.data) {
    // A scheduled trigger: register now, or do nothing if the pool's run is still going.
    let spec: RunSpec;
    try {
      spec = buildRunSpec(job.data.request, runtime.config);
    } catch (error) {
      // `schedule apply` validated the request; this one was changed by hand or by an older version.
      if (error instanceof ExportRequestError) throw new UnrecoverableError(`scheduled export is invalid: ${error.message}`);
      throw error;
    }
    const refusal = await startJobRefusal(runtime, queues, job, spec);
    if (refusal !== undefined) {
      runtime.log.warn({ userPoolId: spec.userPoolId, jobId: job.id, destination: spec.destination }, 'refused a start job that is not from a registered schedule');
      throw new UnrecoverableError(refusal);
    }
    try {
      const requested = await requestExport(runtime, queues, spec);
      if (!requested.created) return `pool already has run ${requested.snapshotId} in flight`;
      return `requested run ${requested.snapshotId}`;
    } catch (error) {
      // A run with other options (a resync) is going: this tick is skipped, the next one runs.
      if (error instanceof RunConflictError) return `skipped: ${error.message}`;
      throw error;
    }
  }
  const snapshotId = job.data.snapshotId;
  const spec = await runtime.runs.spec(snapshotId);
  if (!spec) return `run ${snapshotId} is unknown or expired`;
  if ((await runtime.runs.status(snapshotId))?.behind !== undefined && !(await takePool(runtime, queues, spec))) {
    // Queued behind the pool's run in flight (--queue): wait, without using an attempt.
    await job.moveToDelayed(Date.now() + 2000, token);
    throw new DelayedError();
  }
  return atJobBoundary(runtime, job, spec, async () => {
    const status = await runtime.runs.status(snapshotId);
    if (isEnded(status?.state)) return `run ${snapshotId} already ${status?.state}`;
    await runSink(runtime, spec).preflight();
    // Which account's rate limit the shards share: a worker that cannot tell fails the run here.
    const role = runRole(spec);
    if (role) await runtime.assumeRole(spec.region, role);
    const s3Role = runS3Role(spec);
    if (s3Role) await runtime.assumeRole(spec.region, s3Role);
    await runtime.rateLimiter(spec.region, spec.rateLimitRps, role);
    // What earlier runs left undone: withdrawals that did not finish, a pointer behind its head.
    await finishPendingWithdrawals(runtime, spec.userPoolId);
    await repairPoolPointers(runtime, spec.userPoolId);
    // Only a warning: never holds a run up (an S3 answering SlowDown to every write, say).
    void checkConditionalWrites(runtime, spec).catch(() => undefined);
    await sweepStalePoolStaging(runtime, spec);
    // The previous snapshot of the run's dataset, from Redis's committed head: its change tables' base.
    await captureRunPrevious(runtime, spec, runSink(runtime, spec));
    await fixRunKey(runtime, spec);
    const pool = await describePool(runtime, spec);
    // A run that names an attribute the pool lacks (a typo) fails here, before any walk, with one line.
    const unknownAttribute = unknownAttributeProblem(spec, pool?.SchemaAttributes);
    if (unknownAttribute !== undefined) throw new FatalExportError(unknownAttribute);
    const estimatedUsers = pool?.EstimatedNumberOfUsers;
    const state = await runtime.runs.markRunning(snapshotId, estimatedUsers, await previousSizes(runtime, spec));
    // Cancelled (or failed) while this job was preparing, or paused: no shard is enqueued.
    if (state !== 'running') return `run ${snapshotId} is ${state ?? 'gone'}; not started`;
    await queues.flows.add({
      name: FINALIZE_JOB,
      queueName: queues.runs.name,
      data: { snapshotId },
      opts: { ...FINALIZE_JOB_OPTIONS, jobId: finalizeJobId(snapshotId) },
      children: [
        // The groups walk, in its own queue: the memberships it plans include the one group that
        // cannot be sharded, whose walk bounds the run's time, so it must not wait behind the users' shards.
        ...(spec.groups
          ? [{ name: SHARD_JOB, queueName: queues.groups.name, data: { snapshotId, shard: { id: 'all', filter: null }, table: GROUPS_TABLE }, opts: { ...SHARD_JOB_OPTIONS, jobId: groupsJobId(snapshotId) } }]
          : []),
        ...runShards(spec).map((shard) => ({
          name: SHARD_JOB,
          queueName: queues.shards.name,
          data: { snapshotId, shard },
          opts: { ...SHARD_JOB_OPTIONS, jobId: shardJobId(snapshotId, shard.id) },
        })),
      ],
    });
    runtime.log.info({ userPoolId: spec.userPoolId, snapshotId, shards: spec.shards, estimatedUsers }, 'export started');
    return `started run ${snapshotId}`;
  });
}

/**
 * Why a `request` start job is not honoured, or undefined: one is honoured only when it comes from
 * the pool's registered schedule (BullMQ's scheduler id and the exact data `schedule apply` stored)
 * or passes the checks of `POST /exports` (the destination under ALLOWED_DESTINATIONS, roles in
 * ALLOWED_ROLE_ARNS with the server's external id). Anyone who can add a job (Redis, a dashboard)
 * otherwise chooses where a pool's PII goes and with whose credentials.
 */
async function startJobRefusal(runtime: ExportRuntime, queues: ExportQueues, job: Job<StartJobData>, spec: RunSpec): Promise<string | undefined> {
  const scheduler = schedulerId(spec.userPoolId);
  if (job.repeatJobKey === scheduler) {
    const registered = await queues.runs.getJobScheduler(scheduler);
    if (registered !== undefined && JSON.stringify(registered.template?.data) === JSON.stringify(job.data)) return undefined;
  }
  const refused = (why: string): string =>
    `start job ${job.id ?? ''} for ${spec.userPoolId} is refused: it is not from the pool's registered schedule and ${why}; ` +
    'schedule exports with `schedule apply`, start them with the CLI or POST /exports';
  if (!isDestinationAllowed(spec.destination, runtime.config.allowedDestinations)) return refused(`destination ${spec.destination} is not under ALLOWED_DESTINATIONS`);
  const pools = runtime.config.allowedPools;
  if (pools !== undefined && !pools.includes(spec.userPoolId)) return refused(`user pool ${spec.userPoolId} is not in ALLOWED_POOLS`);
  // Roles as POST /exports allows them: listed by the server, assumed with the server's external id.
  const roles = adminRolePolicy(runtime.config);
  for (const role of [spec.roleArn, spec.s3RoleArn]) {
    if (role === undefined) continue;
    if (!roles.allowed.includes(role)) return refused(`role ${role} is not in ALLOWED_ROLE_ARNS`);
    if (spec.externalId !== roles.externalIdOf(role)) return refused(`its external id for role ${role} is not the one the worker is configured with (ROLE_EXTERNAL_IDS)`);
  }
  return undefined;
}

/**
 * For a run queued behind another: takes the pool once its run in flight has ended (or can never
 * finish); false while it is still going. A cancelled queued run takes nothing.
 */
async function takePool(runtime: ExportRuntime, queues: ExportQueues, spec: RunSpec): Promise<boolean> {
  if (isEnded(await runtime.runs.state(spec.snapshotId))) return true;
  const active = await runtime.runs.activate(spec);
  if (active === spec.snapshotId) return true;
  const reason = await deadRunReason(runtime, queues, active);
  if (reason === undefined || reason === INLINE_ABANDONED) return false;
  const existing = await runtime.runs.spec(active);
  if (existing) {
    const end = await runtime.runs.fail(existing, `abandoned: ${reason}`);
    // It reached its commit point meanwhile: it finishes, and this run waits.
    if (!end.ended && !isEnded(end.state)) return false;
    if (end.ended) await withdraw(runtime, existing);
  }
  return (await runtime.runs.activate(spec, active)) === spec.snapshotId;
}

/**
 * Groups and memberships the previous snapshot of the run's dataset held (Cognito says nothing of
 * them before they are walked): the ETA counts them. Empty when there is none or it cannot be read.
 */
async function previousSizes(runtime: ExportRuntime, spec: RunSpec): Promise<Record<string, number>> {
  const pointer = runPointer(spec);
  if (!spec.groups || pointer === null) return {};
  try {
    const sink = runSink(runtime, spec);
    const previous = await manifestOfPointer(sink, await sink.getText(latestKey(spec.userPoolId, pointer)), pointer);
    if ('reason' in previous) return {};
    const sizes: Record<string, number> = {};
    for (const table of [GROUPS_TABLE, GROUP_MEMBERSHIPS_TABLE]) {
      const records = previous.manifest.tables?.[table]?.record_count;
      if (typeof records === 'number') sizes[table] = records;
    }
    return sizes;
  } catch (error) {
    runtime.log.debug({ snapshotId: spec.snapshotId, err: error }, 'could not read the previous snapshot for the ETA');
    return {};
  }
}

/**
 * DescribeUserPool: proves the pool and credentials work, sizes the progress bar (its estimate) and
 * gives the schema the run's attribute names are checked against. Undefined without the permission.
 */
async function describePool(runtime: ExportRuntime, spec: RunSpec): Promise<UserPoolType | undefined> {
  try {
    const response = await withRetries(
      () => runtime.cognito(spec.region, runRole(spec)).send(new DescribeUserPoolCommand({ UserPoolId: spec.userPoolId })),
      // A short budget: at the start of a run, a Cognito that cannot be reached is most likely a wrong endpoint.
      { policy: { ...runtime.options.retryPolicy, transientRetries: 3 } },
    );
    return response.UserPool;
  } catch (error) {
    // DescribeUserPool only sizes the progress bar: a policy that grants ListUsers alone still exports.
    if (errorCode(error) === 'AccessDeniedException') {
      runtime.log.warn({ userPoolId: spec.userPoolId }, 'no cognito-idp:DescribeUserPool permission; progress will show no total and attribute names are not checked against the pool');
      return undefined;
    }
    const hint = fatalHint(error);
    if (hint) throw new FatalExportError(`user pool ${spec.userPoolId} cannot be read: ${describeError(error)}; ${hint}`);
    if (httpStatus(error) === undefined) {
      throw new FatalExportError(
        `cannot reach Cognito for user pool ${spec.userPoolId} (${describeError(error)}): check AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER, the region and the network`,
      );
    }
    throw error;
  }
}
