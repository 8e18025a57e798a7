import type { ExportRuntime } from './export-runtime.js';
import type { ExportQueues } from './queues.js';
import { hasSchedule, schedulerId } from './schedules.js';

/** How a request to forget a pool ended. */
export type ForgetOutcome =
  /** Its history is gone; `kept`: Redis still holds its committed heads (or a pending withdrawal) for the commit protocol. */
  | { readonly kind: 'forgotten'; readonly kept: boolean }
  /** It has a schedule, which would bring it back: refused. */
  | { readonly kind: 'scheduled' }
  /** It has a run in flight: refused. */
  | { readonly kind: 'active'; readonly snapshotId: string }
  /** No history of it (never exported, or forgotten already). */
  | { readonly kind: 'unknown' };

/**
 * Forgets a pool's history (`cognito-export forget`, `DELETE /pools/<id>`): `status` no longer lists
 * it, nor exits 1 for its last failed scheduled run, and /metrics drops its last success. Refused
 * while the pool has a schedule or a run in flight. Its snapshots and pointers at the destination are
 * not touched, nor what the commit protocol keeps of it in Redis (see RunStore.forget).
 */
export async function forgetPool(runtime: ExportRuntime, queues: ExportQueues, userPoolId: string): Promise<ForgetOutcome> {
  if (await hasSchedule(queues, userPoolId)) return { kind: 'scheduled' };
  const outcome = await runtime.runs.forget(userPoolId);
  if (outcome.kind === 'forgotten') runtime.log.info({ userPoolId, kept: outcome.kept }, 'forgot the history of a pool');
  return outcome;
}

/** Why a forget was refused or found nothing, in one line (the CLI and the admin port say the same). */
export function forgetRefusal(userPoolId: string, outcome: Exclude<ForgetOutcome, { kind: 'forgotten' }>): string {
  switch (outcome.kind) {
    case 'scheduled':
      return `pool ${userPoolId} has a schedule (${schedulerId(userPoolId)}): remove it from the config file and run \`cognito-export schedule remove ${userPoolId}\` first; nothing was forgotten`;
    case 'active':
      return `pool ${userPoolId} has export ${outcome.snapshotId} in flight: wait for it to end or cancel it with \`cognito-export cancel ${outcome.snapshotId}\`; nothing was forgotten`;
    case 'unknown':
      return `no history of pool ${userPoolId}: \`cognito-export status\` lists the pools this deployment knows`;
  }
}
