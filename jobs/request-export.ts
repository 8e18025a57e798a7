import { LATEST_POINTER, partialReasons, sameRunOptions, type RunSpec } from '../src/runs/run-spec.js';
import { isEnded, type RunStatus } from '../src/runs/run-store.js';
import { RunConflictError } from '../src/runs/run-conflict.js';
import type { ExportRuntime } from './export-runtime.js';
import { withdraw } from './run-withdrawal.js';
import { START_JOB, START_JOB_OPTIONS, startJobId, type ExportQueues } from './queues.js';
import { deadRunReason, INLINE_ABANDONED } from './run-liveness.js';

/** What a trigger got: its own new run (maybe queued behind another), or the pool's run already in flight. */
export interface RequestedRun {
  readonly snapshotId: string;
  readonly created: boolean;
  readonly spec: RunSpec;
  /** Set when the new run waits for the pool's run in flight to end (`--queue`). */
  readonly behind?: string | undefined;
}

/** How a trigger wants to be treated when the pool already has a run in flight. */
export interface RequestOptions {
  /** Run after the one in flight instead of being refused when its options differ. @default false */
  readonly queue?: boolean;
}

/**
 * Starts an export of a pool (its spec made by `buildRunSpec`). One run per pool is in flight,
 * whoever triggers it (CLI, HTTP, schedule): a trigger with the same options as the run in flight
 * joins it; one with other options is refused with a {@link RunConflictError}, or, with `queue`,
 * runs after it. Decides which pointer the run moves (`latest.json` only for the pool's own
 * dataset). Only touches Redis: the AWS preflight happens in the worker's start job.
 */
export async function requestExport(runtime: ExportRuntime, queues: ExportQueues, requested: RunSpec, options: RequestOptions = {}): Promise<RequestedRun> {
  const spec = await withPointer(runtime, requested);
  let active = await runtime.runs.register(spec);
  if (active !== spec.snapshotId) {
    const reason = await deadRunReason(runtime, queues, active);
    let existing = await runtime.runs.status(active);
    if (reason === undefined && existing) return joinOrQueue(runtime, queues, spec, existing, options);
    // An inline run whose process stopped resumes in the process that asks for it again.
    if (reason === INLINE_ABANDONED && existing && spec.inline && sameRunOptions(existing.spec, spec)) {
      return { snapshotId: active, created: false, spec: existing.spec };
    }
    if (existing) {
      const end = await runtime.runs.fail(existing.spec, `abandoned: ${reason ?? 'unknown'}`);
      if (end.ended) {
        runtime.log.warn({ userPoolId: spec.userPoolId, snapshotId: active, reason }, 'replacing a run that cannot finish');
        await withdraw(runtime, existing.spec);
      } else if (!isEnded(end.state)) {
        // It reached its commit point meanwhile: it can no longer be replaced, it finishes.
        existing = await runtime.runs.status(active);
        if (existing) return joinOrQueue(runtime, queues, spec, existing, options);
      }
    }
    active = await runtime.runs.register(spec, active);
    if (active !== spec.snapshotId) {
      const winner = await runtime.runs.spec(active);
      return { snapshotId: active, created: false, spec: winner ?? spec };
    }
  }
  await addStartJob(runtime, queues, spec);
  return { snapshotId: spec.snapshotId, created: true, spec };
}

/** A trigger while the pool's run is in flight: joins it (same options), is refused, or queues behind it (`queue`). */
async function joinOrQueue(runtime: ExportRuntime, queues: ExportQueues, spec: RunSpec, existing: RunStatus, options: RequestOptions): Promise<RequestedRun> {
  if (sameRunOptions(existing.spec, spec)) return { snapshotId: existing.spec.snapshotId, created: false, spec: existing.spec };
  if (!options.queue) throw new RunConflictError(existing, spec);
  await runtime.runs.enqueue(spec, existing.spec.snapshotId);
  await addStartJob(runtime, queues, spec);
  return { snapshotId: spec.snapshotId, created: true, spec, behind: existing.spec.snapshotId };
}

async function addStartJob(runtime: ExportRuntime, queues: ExportQueues, spec: RunSpec): Promise<void> {
  await queues.forRun(spec).runs.add(START_JOB, { snapshotId: spec.snapshotId }, { ...START_JOB_OPTIONS, jobId: startJobId(spec.snapshotId) });
  runtime.log.info({ userPoolId: spec.userPoolId, snapshotId: spec.snapshotId, trigger: spec.trigger, shards: spec.shards, pointer: spec.pointer }, 'export requested');
}

/**
 * Which pointer a run moves: `latest.json` when it exports the pool's own dataset (the whole pool,
 * and the attributes its config file entry keeps, or all when the file does not name the pool);
 * `latest-<name>.json` for any other run given a name; none otherwise. A run of another dataset
 * records why it is partial (`partial`), which the CLI, the HTTP answer and its change plan say.
 */
async function withPointer(runtime: ExportRuntime, spec: RunSpec): Promise<RunSpec> {
  const partial = partialReasons(spec, await runtime.runs.poolDataset(spec.userPoolId));
  if (partial.length === 0) return { ...spec, pointer: LATEST_POINTER };
  return { ...spec, pointer: spec.name ? `latest-${spec.name}.json` : null, partial };
}
