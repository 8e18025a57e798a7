import type { ExportConfigFile, ScheduledPool } from '../src/config/config-file.js';
import type { ExportRuntime } from './export-runtime.js';
import { scheduledRequest } from '../src/config/config-file.js';
import type { ExportRequest } from '../src/runs/export-request.js';
import { START_JOB, START_JOB_OPTIONS, type ExportQueues, type StartJobData } from './queues.js';

/** Scheduler ids are `export-<pool id>`: one schedule per pool, and ours are told apart from others. */
const SCHEDULER_PREFIX = 'export-';

/** The job scheduler id of a pool's schedule. */
export const schedulerId = (userPoolId: string): string => `${SCHEDULER_PREFIX}${userPoolId}`;

/** What `schedule apply` changed. */
export interface AppliedSchedules {
  readonly created: readonly string[];
  readonly updated: readonly string[];
  readonly unchanged: readonly string[];
  readonly removed: readonly string[];
}

/** One pool's schedule as BullMQ holds it. */
export interface ScheduleView {
  readonly userPoolId: string;
  readonly pattern: string;
  readonly timezone: string;
  /** When it fires next; undefined if BullMQ has no next run. */
  readonly next: Date | undefined;
  readonly destination: string;
}

/**
 * Makes the queue's job schedulers match the config file: one BullMQ job scheduler (cron + time
 * zone) per pool, each creating a `start` job that carries the pool's export request; schedulers of
 * pools no longer in the file are removed. Idempotent: a scheduler already as wanted is not touched,
 * so its next run does not move.
 */
export async function applySchedules(queues: ExportQueues, pools: readonly ScheduledPool[]): Promise<AppliedSchedules> {
  const result = { created: [] as string[], updated: [] as string[], unchanged: [] as string[], removed: [] as string[] };
  const existing = new Map((await queues.runs.getJobSchedulers(0, -1)).filter((s) => s.key.startsWith(SCHEDULER_PREFIX)).map((s) => [s.key, s]));
  const wanted = new Set<string>();
  for (const pool of pools) {
    const id = schedulerId(pool.userPoolId);
    wanted.add(id);
    const data: StartJobData = { request: scheduledRequest(pool) };
    const current = existing.get(id);
    if (current && current.pattern === pool.schedule && (current.tz ?? 'UTC') === pool.timezone && sameRequest(current.template?.data, data)) {
      result.unchanged.push(pool.userPoolId);
      continue;
    }
    await queues.runs.upsertJobScheduler(id, { pattern: pool.schedule, tz: pool.timezone }, { name: START_JOB, data, opts: START_JOB_OPTIONS });
    (current ? result.updated : result.created).push(pool.userPoolId);
  }
  for (const id of existing.keys()) {
    if (wanted.has(id)) continue;
    await queues.runs.removeJobScheduler(id);
    result.removed.push(id.slice(SCHEDULER_PREFIX.length));
  }
  return result;
}

/** Every pool's schedule, soonest first. */
export async function listSchedules(queues: ExportQueues): Promise<ScheduleView[]> {
  const schedulers = await queues.runs.getJobSchedulers(0, -1, true);
  return schedulers
    .filter((s) => s.key.startsWith(SCHEDULER_PREFIX))
    .map((s) => {
      const request = (s.template?.data as { request?: ExportRequest } | undefined)?.request;
      return {
        userPoolId: s.key.slice(SCHEDULER_PREFIX.length),
        pattern: s.pattern ?? '',
        timezone: s.tz ?? 'UTC',
        next: s.next === undefined ? undefined : new Date(s.next),
        destination: request?.destination ?? '',
      };
    });
}

function sameRequest(stored: unknown, wanted: StartJobData): boolean {
  // Compare as JSON: BullMQ stores the template as JSON, which drops undefined fields.
  return JSON.stringify(stored) === JSON.stringify(JSON.parse(JSON.stringify(wanted)));
}

/** A config file whose pool list would remove every schedule, applied without `prune`. */
export class EmptyScheduleError extends Error {
  override readonly name = 'EmptyScheduleError';
}

/**
 * Applies a config file: its schedules (see {@link applySchedules}) and what each pool's own
 * dataset is (the attributes it keeps), which decides whether a run of the pool moves `latest.json`.
 * A file that lists no pools removes every schedule, so it is refused unless `prune` says so.
 */
export async function applyConfigFile(
  runtime: ExportRuntime,
  queues: ExportQueues,
  file: ExportConfigFile,
  options: { readonly prune?: boolean; readonly source?: string } = {},
): Promise<AppliedSchedules> {
  if (file.pools.length === 0 && !options.prune) {
    const existing = (await listSchedules(queues)).map((s) => s.userPoolId);
    if (existing.length > 0) {
      throw new EmptyScheduleError(
        `${options.source ?? 'the config file'} lists no pools: applying it would remove every schedule (${existing.join(', ')}); ` +
          'pass --prune to remove them, or `schedule remove <pool id>` for one',
      );
    }
  }
  const applied = await applySchedules(queues, file.pools);
  await runtime.runs.setPoolDatasets(new Map(file.pools.map((pool) => [pool.userPoolId, { attributes: pool.attributes, groups: pool.groups, excludeAttributes: pool.excludeAttributes, pseudonymize: pool.pseudonymize }])));
  return applied;
}

/** Whether the pool has a schedule (a job scheduler `export-<pool>`). */
export async function hasSchedule(queues: ExportQueues, userPoolId: string): Promise<boolean> {
  return (await queues.runs.getJobSchedulers(0, -1)).some((s) => s.key === schedulerId(userPoolId));
}

/** Removes one pool's schedule; false when it had none. */
export async function removeSchedule(queues: ExportQueues, userPoolId: string): Promise<boolean> {
  const exists = (await queues.runs.getJobSchedulers(0, -1)).some((s) => s.key === schedulerId(userPoolId));
  if (!exists) return false;
  await queues.runs.removeJobScheduler(schedulerId(userPoolId));
  return true;
}
