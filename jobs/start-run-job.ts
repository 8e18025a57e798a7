import { DescribeUserPoolCommand } from '@aws-sdk/client-cognito-identity-provider';
import { UnrecoverableError, type Job } from 'bullmq';
import { describeError, errorCode, fatalHint } from '../src/limits/error-classification.js';
import { FatalExportError } from '../src/limits/export-errors.js';
import { buildRunSpec, ExportRequestError } from '../src/runs/export-request.js';
import type { ExportRuntime } from './export-runtime.js';
import { withRetries } from '../src/limits/retry-policy.js';
import { runShards, type RunSpec } from '../src/runs/run-spec.js';
import { atJobBoundary } from './job-boundary.js';
import {
  FINALIZE_JOB,
  FINALIZE_JOB_OPTIONS,
  RUNS_QUEUE,
  SHARD_JOB,
  SHARD_JOB_OPTIONS,
  SHARDS_QUEUE,
  finalizeJobId,
  shardJobId,
  type ExportQueues,
  type StartJobData,
} from './queues.js';
import { requestExport } from './request-export.js';
import { sweepStalePoolStaging } from './run-withdrawal.js';

/**
 * Starts a registered run: checks the destination and the pool before any walking (a missing bucket
 * or pool fails the run at once), records the pool's estimated size for progress, then enqueues the
 * run as a flow: one child job per shard under a `finalize` parent.
 */
export async function processStartJob(runtime: ExportRuntime, queues: ExportQueues, job: Job<StartJobData>): Promise<string> {
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
    const requested = await requestExport(runtime, queues, spec);
    if (!requested.created) return `pool already has run ${requested.snapshotId} in flight`;
    return `requested run ${requested.snapshotId}`;
  }
  const snapshotId = job.data.snapshotId;
  const spec = await runtime.runs.spec(snapshotId);
  if (!spec) return `run ${snapshotId} is unknown or expired`;
  return atJobBoundary(runtime, job, spec, async () => {
    const status = await runtime.runs.status(snapshotId);
    if (status?.state === 'completed' || status?.state === 'failed') return `run ${snapshotId} already ${status.state}`;
    await runtime.sink(spec.destination).preflight();
    // Which account's rate limit the shards share: a worker that cannot tell fails the run here.
    await runtime.rateLimiter(spec.region, spec.rateLimitRps);
    await sweepStalePoolStaging(runtime, spec);
    const estimatedUsers = await estimateUsers(runtime, spec);
    await runtime.runs.markRunning(snapshotId, estimatedUsers);
    await queues.flows.add({
      name: FINALIZE_JOB,
      queueName: RUNS_QUEUE,
      data: { snapshotId },
      opts: { ...FINALIZE_JOB_OPTIONS, jobId: finalizeJobId(snapshotId) },
      children: runShards(spec).map((shard) => ({
        name: SHARD_JOB,
        queueName: SHARDS_QUEUE,
        data: { snapshotId, shard },
        opts: { ...SHARD_JOB_OPTIONS, jobId: shardJobId(snapshotId, shard.id) },
      })),
    });
    runtime.log.info({ userPoolId: spec.userPoolId, snapshotId, shards: spec.shards, estimatedUsers }, 'export started');
    return `started run ${snapshotId}`;
  });
}

/** DescribeUserPool's estimate: proves the pool and credentials work, and sizes the progress bar. */
async function estimateUsers(runtime: ExportRuntime, spec: RunSpec): Promise<number | undefined> {
  try {
    const response = await withRetries(
      () => runtime.cognito(spec.region).send(new DescribeUserPoolCommand({ UserPoolId: spec.userPoolId })),
      { policy: runtime.options.retryPolicy },
    );
    return response.UserPool?.EstimatedNumberOfUsers;
  } catch (error) {
    // DescribeUserPool only sizes the progress bar: a policy that grants ListUsers alone still exports.
    if (errorCode(error) === 'AccessDeniedException') {
      runtime.log.warn({ userPoolId: spec.userPoolId }, 'no cognito-idp:DescribeUserPool permission; progress will show no total');
      return undefined;
    }
    const hint = fatalHint(error);
    if (hint) throw new FatalExportError(`user pool ${spec.userPoolId} cannot be read: ${describeError(error)}; ${hint}`);
    throw error;
  }
}
