import { createHash } from 'node:crypto';
import { changedFields, type ChangeKind, type ChangeRecord, type DataRecord } from './change-kinds.js';

/** One partition of a table's diff: which records, and how to read both snapshots' lines of them. */
export interface PartitionDiffInput {
  readonly kind: ChangeKind;
  /**
   * The partition: records whose `sub` starts with this lowercase hex prefix (a sub that is not hex,
   * or none, counts as all zeros). '' is the whole table.
   */
  readonly partition: string;
  /** The previous snapshot's lines that may hold the partition's records, in a fixed order; read twice or more. */
  readonly previous: () => AsyncIterable<string>;
  /** This snapshot's, likewise. */
  readonly current: () => AsyncIterable<string>;
  /** The previous snapshot: every change says where it comes from. */
  readonly fromSnapshotId: string;
  /** Updated records whose previous version is held at once, at most (more take more passes). @default 20000 */
  readonly updateBatch?: number;
}

/** A tick every this many lines read: the caller can report progress and notice a stop. */
export const TICK_LINES = 5000;

/** The value of a key in the first pass's table once its record is known to have changed. */
const CHANGED = -1;

/**
 * The changes of one partition between two snapshots, in a fixed order (the same inputs give the
 * same sequence, so a diff can resume by skipping what it already wrote): inserts, then deletes,
 * then updates, with `null` ticks between. Memory holds the partition's keys and a 48-bit hash of
 * each previous record, plus at most `updateBatch` previous records at a time:
 *
 * 1. previous → key → hash of the record without `snapshot_id`;
 * 2. current: a key not seen is an insert; the same hash is unchanged; another hash may be an update;
 * 3. previous again: a key not seen in 2 is a delete; a batch of changed ones is kept whole;
 * 4. current again: each kept one is an update, with its `changed_fields` (none: the same record
 *    written differently, no change); 3 and 4 again until every changed key is done.
 */
export async function* diffPartition(input: PartitionDiffInput): AsyncGenerator<ChangeRecord | null, void, undefined> {
  const { kind, partition, fromSnapshotId } = input;
  const batchSize = input.updateBatch ?? 20_000;
  const read = (lines: () => AsyncIterable<string>) => partitionRecords(lines(), kind, partition);
  const known = new Map<string, number>();
  for await (const entry of read(input.previous)) {
    if (entry !== null) known.set(kind.key(entry.record), entry.hash);
    else yield null;
  }
  let changed = 0;
  for await (const entry of read(input.current)) {
    if (entry === null) {
      yield null;
      continue;
    }
    const key = kind.key(entry.record);
    const before = known.get(key);
    if (before === undefined) yield change(entry.record, 'insert', fromSnapshotId);
    else if (before === entry.hash || !kind.updates) known.delete(key);
    else if (before !== CHANGED) {
      known.set(key, CHANGED);
      changed += 1;
    }
  }
  let deletesDone = false;
  while (!deletesDone || changed > 0) {
    const batch = new Map<string, DataRecord>();
    for await (const entry of read(input.previous)) {
      if (entry === null) {
        yield null;
        continue;
      }
      const key = kind.key(entry.record);
      const state = known.get(key);
      if (state === undefined) continue;
      if (state !== CHANGED) {
        known.delete(key);
        yield change(entry.record, 'delete', fromSnapshotId);
      } else if (batch.size < batchSize) {
        batch.set(key, entry.record);
      }
    }
    deletesDone = true;
    if (batch.size === 0) break;
    for await (const entry of read(input.current)) {
      if (entry === null) {
        yield null;
        continue;
      }
      const key = kind.key(entry.record);
      const before = batch.get(key);
      if (before === undefined) continue;
      batch.delete(key);
      known.delete(key);
      changed -= 1;
      const fields = changedFields(before, entry.record);
      if (fields.length > 0) yield { ...entry.record, op: 'update', from_snapshot_id: fromSnapshotId, changed_fields: fields };
    }
  }
}

function change(record: DataRecord, op: 'insert' | 'delete', fromSnapshotId: string): ChangeRecord {
  return { ...record, op, from_snapshot_id: fromSnapshotId, changed_fields: null };
}

/** A record of the partition, with the hash of its line without its `snapshot_id`; `null` is a tick. */
interface Entry {
  readonly record: DataRecord;
  readonly hash: number;
}

async function* partitionRecords(lines: AsyncIterable<string>, kind: ChangeKind, partition: string): AsyncGenerator<Entry | null, void, undefined> {
  const filtered = kind.bySub && partition !== '';
  let count = 0;
  for await (const line of lines) {
    if (++count % TICK_LINES === 0) yield null;
    // Most lines of a coarser file belong to other partitions: skip them before parsing.
    if (filtered) {
      const quick = quickSubPrefix(line, partition.length);
      if (quick !== undefined && quick !== partition) continue;
    }
    const record = JSON.parse(line) as DataRecord;
    if (filtered && partitionOf(record, partition.length) !== partition) continue;
    yield { record, hash: contentHash(line, record) };
  }
}

/** The partition of a record at `length` hex characters: its sub's prefix, all zeros if it has no hex sub. */
export function partitionOf(record: DataRecord, length: number): string {
  const sub = record.sub;
  const prefix = typeof sub === 'string' ? sub.slice(0, length).toLowerCase() : '';
  return prefix.length === length && /^[0-9a-f]*$/.test(prefix) ? prefix : '0'.repeat(length);
}

const SUB = '"sub":"';

/**
 * The sub prefix of an NDJSON line without parsing it, when that is certain: the first `"sub":"`
 * of a line with no nested object before it is the record's own (a quote inside a string value is
 * always escaped, so it cannot start one). Undefined when in doubt, or when the sub is not a plain hex prefix.
 */
function quickSubPrefix(line: string, length: number): string | undefined {
  const at = line.indexOf(SUB);
  if (at === -1) return undefined;
  const nested = line.indexOf('{', 1);
  if (nested !== -1 && nested < at) return undefined;
  const prefix = line.slice(at + SUB.length, at + SUB.length + length).toLowerCase();
  return prefix.length === length && /^[0-9a-f]*$/.test(prefix) ? prefix : undefined;
}

/** 48 bits of the SHA-1 of a line with its `snapshot_id` taken out: the same record in two snapshots hashes the same. */
function contentHash(line: string, record: DataRecord): number {
  const snapshot = typeof record.snapshot_id === 'string' ? `"snapshot_id":${JSON.stringify(record.snapshot_id)}` : '';
  const content = snapshot === '' ? line : line.replace(snapshot, '');
  return createHash('sha1').update(content).digest().readUIntBE(0, 6);
}
