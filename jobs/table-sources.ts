import { RunNotActiveError } from '../src/limits/export-errors.js';
import { FLOW_PRIORITY, rateLimitFlow, unsplitPriority, type CallSlot } from '../src/limits/rate-limiter.js';
import type { RetryEvent } from '../src/limits/retry-policy.js';
import { changeKindOf } from '../src/changes/change-kinds.js';
import { FatalExportError } from '../src/limits/export-errors.js';
import { walkCapOf } from '../src/cognito/cognito-pages.js';
import { keyIdOf, type RecordPrivacy } from '../src/tables/privacy.js';
import { GROUPS_UNIT, membershipUnit, runRole, runShards, type RunSpec } from '../src/runs/run-spec.js';
import { diffSource } from './change-diff.js';
import { runUnits } from './membership-plan.js';
import { groupMembershipsTable } from '../src/tables/group-memberships-table.js';
import { groupsTable } from '../src/tables/groups-table.js';
import { GROUP_MEMBERSHIPS_TABLE, GROUPS_TABLE, USERS_TABLE } from '../src/storage/output-layout.js';
import { usersTable } from '../src/tables/users-table.js';
import { CheckpointStore } from '../src/walk/checkpoint-store.js';
import { tailKeys } from '../src/walk/scope-tail.js';
import type { TableSource } from '../src/walk/table-source.js';
import type { ExportRuntime } from './export-runtime.js';
import type { ShardJobData } from './queues.js';

/** What a shard job observes of its calls. */
export interface CallHooks {
  readonly onCall: (slot: CallSlot) => void;
  readonly onRetry: (event: RetryEvent) => void;
}

/** A shard job's table source and the checkpoint unit it walks under. */
export interface ShardSource {
  readonly table: string;
  readonly unit: string;
  readonly source: TableSource<unknown, object>;
}

/**
 * What a run keeps out of its records. A run that pseudonymizes needs this worker to hold the very
 * key it was requested with (by key id): another key would hash the same value differently.
 */
export function runPrivacy(runtime: ExportRuntime, spec: RunSpec): RecordPrivacy {
  const pseudonymize = spec.pseudonymize ?? [];
  const exclude = new Set(spec.excludeAttributes ?? []);
  if (pseudonymize.length === 0) return { exclude, pseudonymize: new Set(), key: undefined };
  const key = runKey(runtime, spec);
  if (keyIdOf(key) !== spec.pseudonymizationKeyId) {
    throw new FatalExportError(`this worker's PSEUDONYMIZATION_KEY (key id ${keyIdOf(key)}) is not the one run ${spec.snapshotId} was started with (key id ${spec.pseudonymizationKeyId ?? 'none'}): every worker must have the same key`);
  }
  return { exclude, pseudonymize: new Set(pseudonymize), key: Buffer.from(key, 'utf8') };
}

/** This worker's PSEUDONYMIZATION_KEY for a run that pseudonymizes, or a one-line fatal error. */
function runKey(runtime: ExportRuntime, spec: RunSpec): string {
  const key = runtime.config.pseudonymizationKey;
  if (!key) throw new FatalExportError(`run ${spec.snapshotId} pseudonymizes ${(spec.pseudonymize ?? []).join(', ')}, but this worker has no PSEUDONYMIZATION_KEY: set the same key on every worker`);
  return key;
}

/**
 * Fixes the key a pseudonymizing run hashes with, when a worker starts it: the first start records
 * its key's id; a worker holding another key fails the run with one line.
 */
export async function fixRunKey(runtime: ExportRuntime, spec: RunSpec): Promise<void> {
  if ((spec.pseudonymize ?? []).length === 0) return;
  const own = keyIdOf(runKey(runtime, spec));
  const recorded = spec.pseudonymizationKeyId ?? (await runtime.runs.recordKeyId(spec.snapshotId, own));
  if (recorded === undefined) throw new RunNotActiveError(`run ${spec.snapshotId} is gone; nothing to pseudonymize`);
  runPrivacy(runtime, { ...spec, pseudonymizationKeyId: recorded });
}

/**
 * Builds the page source of a shard job's table, bound to its shard: ListUsers with the shard's
 * filter, ListGroups, or ListUsersInGroup over a batch of groups, each paced by its quota's limiters.
 */
export async function shardSource(runtime: ExportRuntime, spec: RunSpec, data: ShardJobData, hooks: CallHooks): Promise<ShardSource> {
  const table = data.table ?? USERS_TABLE;
  // A change table's partition: no Cognito call, the diff of this run's published files and the previous run's.
  if (changeKindOf(table)) {
    const { units } = await runUnits(runtime, spec, runShards(spec).map((shard) => shard.id));
    return diffSource(runtime, spec, table, data.shard.id, units);
  }
  const role = runRole(spec);
  const client = runtime.cognito(spec.region, role);
  const common = { client, userPoolId: spec.userPoolId, retryPolicy: runtime.options.retryPolicy, onCall: hooks.onCall, onRetry: hooks.onRetry };
  const records = { userPoolId: spec.userPoolId, snapshotId: spec.snapshotId, privacy: runPrivacy(runtime, spec) };
  // A walk past ten times the pool's estimate (plus a margin) is not walking the pool: it fails as runaway.
  const cap = walkCapOf((await runtime.runs.status(spec.snapshotId))?.estimatedUsers, runtime.options.runawayMargin);
  // Each table's walk in a run is one flow: flows waiting at once share a bucket's rate equally.
  const flow = rateLimitFlow(spec.snapshotId, table);
  if (table === GROUPS_TABLE) {
    const source = groupsTable({ ...common, limiters: await runtime.resourceReadLimiters(spec.region, spec.userPoolId, flow, role), records });
    return { table, unit: GROUPS_UNIT, source };
  }
  if (table === GROUP_MEMBERSHIPS_TABLE) {
    const batch = Number(data.shard.id);
    // A group's walk cannot be split: its calls go before the users' shards, which take what it
    // leaves, and the batches go in order, a few at a time (a flow per priority).
    const priority = unsplitPriority(batch);
    const unit = membershipUnit(batch);
    const checkpoints = new CheckpointStore(runtime.redis, runtime.keys, spec.snapshotId);
    const source = groupMembershipsTable({
      ...common,
      groups: data.groups ?? [],
      limiter: await runtime.limiter(spec.region, spec.rateLimitRps, `${flow}-${priority}`, priority, role),
      onGroupSkipped: (group) => runtime.runs.recordSkippedGroup(spec.snapshotId, group),
      records,
      maxMembersPerGroup: cap,
      // Asked for once the walk has claimed the shard, so these are the files its checkpoint lists.
      writtenKeys: (group) => tailKeys(checkpoints.filesFromLast(unit), group),
    });
    return { table, unit, source };
  }
  const source = usersTable({
    ...common,
    filter: data.shard.filter,
    limiter: await runtime.limiter(spec.region, spec.rateLimitRps, flow, FLOW_PRIORITY.SHARDED, role),
    records: { ...records, attributes: spec.attributes === null ? null : new Set(spec.attributes) },
    maxRecords: cap,
  });
  return { table, unit: data.shard.id, source };
}
