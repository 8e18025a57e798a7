import type { ExportRuntime } from './export-runtime.js';
import { sameRunOptions, type RunSpec } from '../src/runs/run-spec.js';
import { START_JOB, START_JOB_OPTIONS, startJobId, type ExportQueues } from './queues.js';
import { withdraw } from './job-boundary.js';
import { deadRunReason, INLINE_ABANDONED } from './run-liveness.js';

/** What a trigger got: its own new run, or the pool's run already in flight. */
export interface RequestedRun {
  readonly snapshotId: string;
  readonly created: boolean;
  readonly spec: RunSpec;
}

/**
 * Starts an export of a pool (its spec made by `buildRunSpec`) unless one is in flight, in which case the running one is returned
 * (one active run per pool, whether triggered by the CLI, HTTP or a schedule). Only touches Redis:
 * the AWS preflight happens in the worker's start job, with the worker's credentials.
 */
export async function requestExport(runtime: ExportRuntime, queues: ExportQueues, spec: RunSpec): Promise<RequestedRun> {
  let active = await runtime.runs.register(spec);
  if (active !== spec.snapshotId) {
    const reason = await deadRunReason(runtime, queues, active);
    const existing = await runtime.runs.status(active);
    if (reason === undefined && existing) return { snapshotId: active, created: false, spec: existing.spec };
    // An inline run whose process stopped resumes in the process that asks for it again.
    if (reason === INLINE_ABANDONED && existing && spec.inline && sameRunOptions(existing.spec, spec)) {
      return { snapshotId: active, created: false, spec: existing.spec };
    }
    runtime.log.warn({ userPoolId: spec.userPoolId, snapshotId: active, reason }, 'replacing a run that cannot finish');
    if (existing && (await runtime.runs.fail(existing.spec, `abandoned: ${reason ?? 'unknown'}`))) await withdraw(runtime, existing.spec);
    active = await runtime.runs.register(spec, active);
    if (active !== spec.snapshotId) {
      const winner = await runtime.runs.spec(active);
      return { snapshotId: active, created: false, spec: winner ?? spec };
    }
  }
  await queues.forRun(spec).runs.add(START_JOB, { snapshotId: spec.snapshotId }, { ...START_JOB_OPTIONS, jobId: startJobId(spec.snapshotId) });
  runtime.log.info({ userPoolId: spec.userPoolId, snapshotId: spec.snapshotId, trigger: spec.trigger, shards: spec.shards }, 'export requested');
  return { snapshotId: spec.snapshotId, created: true, spec };
}
