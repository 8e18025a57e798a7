import { FlowProducer, Queue, type JobsOptions } from 'bullmq';
import type { ExportRequest } from '../src/runs/export-request.js';
import type { ExportRuntime } from './export-runtime.js';
import type { RunSpec } from '../src/runs/run-spec.js';
import type { Shard } from '../src/runs/shard-plan.js';

/** Runs: `start` (preflight, then the flow) and `finalize` (the flow's parent: the manifest). */
export const RUNS_QUEUE = 'runs';
/** Shards: one `shard` job per slice of a pool's users, children of their run's `finalize` job. */
export const SHARDS_QUEUE = 'shards';
/**
 * Groups: a run's groups walk and the membership shards it plans, also children of `finalize`. A
 * queue of their own, served beside the users' shards: a group's walk cannot be split, so the
 * largest one bounds the run and must start at once, not wait for a users shard to end.
 */
export const GROUPS_QUEUE = 'groups';
/** Restores: one job a restore, which walks its units itself (its writes are paced by the write quotas, not by workers). */
export const RESTORES_QUEUE = 'restores';
export const RESTORE_JOB = 'restore';
export interface RestoreJobData {
  readonly restoreId: string;
}
export const restoreJobId = (restoreId: string): string => `restore-${restoreId}`;
/** One unit of a restore (a users or memberships file), for any worker: the restore's job waits for them. */
export const RESTORE_UNITS_QUEUE = 'restore-units';
export const RESTORE_UNIT_JOB = 'restore-unit';
export interface RestoreUnitJobData {
  readonly restoreId: string;
  /** `restore_users.<k>` or `restore_memberships.<k>`. */
  readonly unit: string;
}
export const restoreUnitJobId = (restoreId: string, unit: string): string => `restore-unit-${restoreId}-${unit.replace('.', '-')}`;

export const START_JOB = 'start';
export const FINALIZE_JOB = 'finalize';
export const SHARD_JOB = 'shard';

/** A run's start job: registered runs carry their id; scheduled triggers carry the request. */
export type StartJobData = { readonly snapshotId: string } | { readonly request: ExportRequest };
export interface FinalizeJobData {
  readonly snapshotId: string;
}
/**
 * One shard job: a slice of one table. The users table's shards carry only `shard` (`sub ^=` filter);
 * the groups table's one shard says `table: 'groups'`; a memberships shard carries its batch of groups.
 */
export interface ShardJobData {
  readonly snapshotId: string;
  readonly shard: Shard;
  /** @default 'users' */
  readonly table?: string;
  /** A membership shard's groups. */
  readonly groups?: readonly string[];
}

// Job ids are derived from the snapshot id, so adding a run's jobs twice adds them once.
export const startJobId = (snapshotId: string): string => `start-${snapshotId}`;
export const finalizeJobId = (snapshotId: string): string => `run-${snapshotId}`;
export const shardJobId = (snapshotId: string, shard: string): string => `shard-${snapshotId}-${shard}`;
export const groupsJobId = (snapshotId: string): string => `groups-${snapshotId}`;
export const membershipJobId = (snapshotId: string, batch: number): string => `members-${snapshotId}-${batch}`;

const KEEP = { removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 }, removeOnFail: { age: 30 * 24 * 3600 } };

/** Start jobs retry transient preflight failures (AWS or Redis hiccups) a few times. */
export const START_JOB_OPTIONS: JobsOptions = { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, ...KEEP };
/**
 * Shard jobs: transient failures retry from the checkpoint with backoff; a shard that fails for
 * good fails its run (`failParentOnFailure`), which then writes no manifest.
 */
export const SHARD_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  failParentOnFailure: true,
  ...KEEP,
};
/**
 * The finalizer's publish → manifest → pointer → state is one idempotent step, retried as a whole
 * (2 s, 4 s, … about 8 minutes in all) before the run is failed and its publication withdrawn.
 */
export const FINALIZE_JOB_OPTIONS: JobsOptions = { attempts: 8, backoff: { type: 'exponential', delay: 2000 }, ...KEEP };
/** A restore paused by a shutdown or stopped by an error is taken up again 2 s later, from its checkpoints. */
export const RESTORE_JOB_OPTIONS: JobsOptions = { attempts: 50, backoff: { type: 'fixed', delay: 2000 }, ...KEEP };
export const RESTORE_UNIT_JOB_OPTIONS: JobsOptions = { attempts: 20, backoff: { type: 'fixed', delay: 2000 }, ...KEEP };

/**
 * The queues and flow producer of a deployment, sharing the runtime's Redis connection and prefix.
 * A run started with `export --inline` gets queues of its own (`runs-inline-<id>`,
 * `shards-inline-<id>`, `groups-inline-<id>`), which only the process running it serves: it never takes another pool's
 * shards or a schedule, and no worker takes its.
 */
export class ExportQueues {
  readonly runs: Queue;
  readonly shards: Queue;
  readonly groups: Queue;
  readonly restores: Queue;
  readonly restoreUnits: Queue;
  readonly flows: FlowProducer;
  private readonly inline = new Map<string, ExportQueues>();

  constructor(
    private readonly runtime: ExportRuntime,
    /** The inline run these queues belong to; undefined for the deployment's shared queues. */
    readonly inlineRun?: string,
  ) {
    const options = { connection: runtime.redis, prefix: runtime.keys.bullPrefix };
    const suffix = inlineRun === undefined ? '' : `-inline-${inlineRun}`;
    this.runs = new Queue(`${RUNS_QUEUE}${suffix}`, options);
    this.shards = new Queue(`${SHARDS_QUEUE}${suffix}`, options);
    this.groups = new Queue(`${GROUPS_QUEUE}${suffix}`, options);
    this.restores = new Queue(`${RESTORES_QUEUE}${suffix}`, options);
    this.restoreUnits = new Queue(`${RESTORE_UNITS_QUEUE}${suffix}`, options);
    this.flows = new FlowProducer(options);
  }

  /** The queues a run's jobs are in: these, or the inline run's own. */
  forRun(spec: Pick<RunSpec, 'snapshotId' | 'inline'>): ExportQueues {
    if (!spec.inline || spec.snapshotId === this.inlineRun) return this;
    let queues = this.inline.get(spec.snapshotId);
    if (!queues) {
      queues = new ExportQueues(this.runtime, spec.snapshotId);
      this.inline.set(spec.snapshotId, queues);
    }
    return queues;
  }

  async close(): Promise<void> {
    await Promise.all([...[...this.inline.values()].map((queues) => queues.close()), this.runs.close(), this.shards.close(), this.groups.close(), this.restores.close(), this.restoreUnits.close(), this.flows.close()]);
  }
}
