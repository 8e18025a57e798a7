import { CHANGE_OPS, type ChangeOp } from '../src/changes/change-kinds.js';
import { diffUnit, diffUnits, kindOf, mayHold, noChanges, partitionShard, planChanges, type ChangePlan } from '../src/changes/change-plan.js';
import { changesTable, type ChangesTableSource } from '../src/changes/changes-table.js';
import { runPointer, type RunSpec } from '../src/runs/run-spec.js';
import { manifestLayoutProblem, manifestOfPointer, manifestPrivacy, type LatestPointer, type Manifest } from '../src/storage/manifest.js';
import type { ObjectSink } from '../src/storage/object-sink.js';
import { USERS_TABLE } from '../src/storage/output-layout.js';
import { keyOfUrl, readLines } from '../src/storage/record-lines.js';
import { CheckpointStore, tableOfUnit } from '../src/walk/checkpoint-store.js';
import type { SealedPart } from '../src/walk/part-file.js';
import { runSink, type ExportRuntime } from './export-runtime.js';
import { finalizeJobId, SHARD_JOB, SHARD_JOB_OPTIONS, type ExportQueues, type ShardJobData } from './queues.js';

/** The job id of one partition's diff. */
export const diffJobId = (snapshotId: string, changes: string, partition: string): string => `diff-${snapshotId}-${changes}-${partitionShard(partition)}`;

/**
 * The run's change plan, made once from the snapshot its dataset's committed head named when the run
 * started (`previous`, captured in Redis: never the run itself, whatever Redis or the pointer file
 * say later) and stored with the run: every later attempt and every diff job gets the same plan.
 * `records` is what this run wrote, by table.
 */
export async function runChangePlan(runtime: ExportRuntime, spec: RunSpec, sink: ObjectSink, records: Readonly<Record<string, number>>, previous: LatestPointer | undefined): Promise<ChangePlan> {
  return runtime.runs.changePlan(spec.snapshotId, async () => {
    // Runs registered before change tables existed have no `changes`: none for them either.
    if (!spec.changes) return noChanges('change tables are turned off for this run (--no-changes)');
    const pointer = runPointer(spec);
    if (pointer === null) {
      const why = spec.partial?.length ? ` (${spec.partial.join(', ')})` : '';
      return noChanges(`this run is partial${why} and moves no pointer (no --name), so no snapshot is the previous one`);
    }
    const found = await manifestOfPointer(sink, previous === undefined ? undefined : JSON.stringify(previous), pointer, spec.userPoolId);
    if ('reason' in found) return noChanges(found.reason);
    const current = { snapshotId: spec.snapshotId, filter: spec.filter, attributes: spec.attributes, groups: spec.groups ?? false, records, privacy: manifestPrivacy(spec) };
    return planChanges(current, found);
  });
}

/** The diff units of the plan not yet done. */
export async function pendingDiffs(checkpoints: CheckpointStore, plan: ChangePlan): Promise<string[]> {
  const pending: string[] = [];
  for (const unit of diffUnits(plan)) if (!(await checkpoints.peek(unit))?.done) pending.push(unit);
  return pending;
}

/**
 * Adds one diff job per partition of each change table to the run's flow, as children of its
 * finalizer (deterministic ids: adding them again adds nothing). They run in the shards queue.
 */
export async function addDiffShards(runtime: ExportRuntime, queues: ExportQueues, spec: RunSpec, plan: ChangePlan): Promise<void> {
  const parent = { id: finalizeJobId(spec.snapshotId), queue: queues.runs.qualifiedName };
  const jobs = plan.tables.flatMap((table) =>
    table.partitions.map((partition) => ({
      name: SHARD_JOB,
      data: { snapshotId: spec.snapshotId, shard: { id: partitionShard(partition), filter: null }, table: table.changes } satisfies ShardJobData,
      opts: { ...SHARD_JOB_OPTIONS, jobId: diffJobId(spec.snapshotId, table.changes, partition), parent },
    })),
  );
  await queues.shards.addBulk(jobs);
  runtime.log.info({ snapshotId: spec.snapshotId, since: plan.since, jobs: jobs.length }, 'change tables planned');
}

/** Counts a change table's files by op (each file tallies its records when it is sealed). */
export function opCounts(files: readonly SealedPart[]): Record<ChangeOp, number> {
  const counts = Object.fromEntries(CHANGE_OPS.map((op) => [op, 0])) as Record<ChangeOp, number>;
  for (const file of files) for (const op of CHANGE_OPS) counts[op] += file.tally?.[op] ?? 0;
  return counts;
}

/**
 * The table source of one diff job: this run's published files of the table and the previous
 * snapshot's, those that may hold the partition's records, read in a fixed order. The previous
 * manifest is read back from the destination, so it is checked again as untrusted input (its pool,
 * its snapshot, every file inside that snapshot's folders; see manifestLayoutProblem), and an error
 * reading its files never quotes their content.
 */
export async function diffSource(runtime: ExportRuntime, spec: RunSpec, changes: string, shard: string, baseUnits: readonly string[]) {
  const plan = await runtime.runs.storedChangePlan<ChangePlan>(spec.snapshotId);
  if (!plan?.since || !plan.previous) throw new Error(`run ${spec.snapshotId} has no change plan for ${changes}`);
  const kind = kindOf(changes);
  const partition = shard === 'all' ? '' : shard;
  const sink = runSink(runtime, spec);
  const text = await sink.getText(plan.previous);
  if (text === undefined) throw new Error(`the previous snapshot's manifest ${sink.urlOf(plan.previous)} is gone`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`the previous snapshot's manifest ${sink.urlOf(plan.previous)} could not be read as JSON`);
  }
  const problem = manifestLayoutProblem(sink, parsed, plan.previous, spec.userPoolId, plan.since);
  if (problem !== undefined) throw new Error(`${problem}: the change tables cannot be computed; run the export again with --no-changes, or remove the manifest`);
  const manifest = parsed as Manifest;
  const listed = manifest.tables?.[kind.table]?.files ?? (kind.table === USERS_TABLE ? manifest.files : []);
  const previousKeys = listed
    .filter((file) => mayHold(kind.table, file.url, partition))
    .map((file) => {
      const key = keyOfUrl(sink, file.url);
      if (key === undefined) throw new Error(`a file of the previous snapshot ${plan.since ?? ''} is not under this destination`);
      return key;
    });
  const checkpoints = new CheckpointStore(runtime.redis, runtime.keys, spec.snapshotId);
  const currentKeys: string[] = [];
  for (const unit of baseUnits.filter((u) => tableOfUnit(u) === kind.table)) {
    for (const file of await checkpoints.files(unit)) if (mayHold(kind.table, file.key, partition)) currentKeys.push(file.key);
  }
  let reading = '';
  const lines = (keys: readonly string[]) =>
    async function* (): AsyncGenerator<string, void, undefined> {
      for (const key of keys) {
        reading = key;
        yield* readLines(sink, key);
      }
    };
  const source = changesTable({ kind, partition, previous: lines(previousKeys), current: lines(currentKeys), fromSnapshotId: plan.since });
  return { table: changes, unit: diffUnit(changes, partition), source: withoutContentInErrors(source, () => sink.urlOf(reading)) };
}

/**
 * The same source, but a line that is not JSON fails with the file's URL alone: JSON.parse's own
 * message quotes the line's first bytes, which would reach the log and Redis (`last_failure_reason`).
 */
function withoutContentInErrors<T extends ChangesTableSource>(source: T, file: () => string): T {
  return {
    ...source,
    async *pages(cursor: string | undefined, signal: AbortSignal) {
      try {
        yield* source.pages(cursor, signal);
      } catch (error) {
        if (error instanceof SyntaxError) throw new Error(`${file()} is not NDJSON (a line is not JSON; its content is not shown): the snapshot's files were changed after they were published`);
        throw error;
      }
    },
  };
}
