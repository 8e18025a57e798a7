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

// What the table says of a key once the current snapshot has been read (a hash is never negative):
/** Its record changed (an update, once pass 4 has both versions). */
const CHANGED = -1;
/** The same in both snapshots: no change. */
const MATCHED = -2;
/** Only in the current snapshot: inserted already. */
const INSERTED = -3;

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
 *
 * A key is meant to be in a snapshot once, but one written before memberships were deduped across
 * a resumed walk may hold a member twice: every pass takes a key's first record in a snapshot and
 * skips the others (identical duplicates collapse; of two differing ones, the first written counts),
 * so a duplicate makes no change of its own.
 */
export async function* diffPartition(input: PartitionDiffInput): AsyncGenerator<ChangeRecord | null, void, undefined> {
  const { kind, partition, fromSnapshotId } = input;
  const batchSize = input.updateBatch ?? 20_000;
  const read = (lines: () => AsyncIterable<string>) => partitionLines(lines(), kind, partition);
  const known = new Map<string, number>();
  for await (const entry of read(input.previous)) {
    if (entry === null) yield null;
    else if (!known.has(entry.key)) known.set(own(entry.key), contentHash(entry.line));
  }
  let changed = 0;
  for await (const entry of read(input.current)) {
    if (entry === null) {
      yield null;
      continue;
    }
    const before = known.get(entry.key);
    if (before === undefined) {
      yield change(entry.record(), 'insert', fromSnapshotId);
      // Kept, so that a second record of the key is not a second insert.
      known.set(own(entry.key), INSERTED);
    } else if (before < 0) {
      continue;
    } else if (!kind.updates || before === contentHash(entry.line)) {
      // Kept until pass 3 (not deleted): a second record of the key must not look like an insert.
      known.set(entry.key, MATCHED);
    } else {
      known.set(entry.key, CHANGED);
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
      const state = known.get(entry.key);
      if (state === undefined) continue;
      if (state === MATCHED) {
        known.delete(entry.key);
      } else if (state !== CHANGED) {
        known.delete(entry.key);
        yield change(entry.record(), 'delete', fromSnapshotId);
      } else if (batch.size < batchSize && !batch.has(entry.key)) {
        batch.set(own(entry.key), entry.record());
      }
    }
    deletesDone = true;
    if (batch.size === 0) break;
    for await (const entry of read(input.current)) {
      if (entry === null) {
        yield null;
        continue;
      }
      const before = batch.get(entry.key);
      if (before === undefined) continue;
      batch.delete(entry.key);
      known.delete(entry.key);
      changed -= 1;
      const after = entry.record();
      const fields = changedFields(before, after);
      if (fields.length > 0) yield { ...after, op: 'update', from_snapshot_id: fromSnapshotId, changed_fields: fields };
    }
  }
}

/**
 * A copy of a key that holds nothing else: a key read from a line is a slice of the chunk the
 * line came from, and V8 keeps the whole chunk alive for as long as the slice lives (a partition's
 * keys would hold every chunk read). UTF-16 round-trips any string exactly.
 */
const own = (key: string): string => Buffer.from(key, 'utf16le').toString('utf16le');

function change(record: DataRecord, op: 'insert' | 'delete', fromSnapshotId: string): ChangeRecord {
  return { ...record, op, from_snapshot_id: fromSnapshotId, changed_fields: null };
}

/** A line of the partition with its record's key; the record is parsed only when asked for. `null` is a tick. */
interface Entry {
  readonly line: string;
  readonly key: string;
  record(): DataRecord;
}

/**
 * The lines of the partition, each with its key. Most lines are never parsed: the key, the sub
 * and the snapshot id are read from the text when that is certain (see {@link quickField}), and a
 * record is parsed only when it is written as a change.
 */
async function* partitionLines(lines: AsyncIterable<string>, kind: ChangeKind, partition: string): AsyncGenerator<Entry | null, void, undefined> {
  const filtered = kind.bySub && partition !== '';
  let count = 0;
  for await (const line of lines) {
    if (++count % TICK_LINES === 0) yield null;
    let parsed: DataRecord | undefined;
    const record = (): DataRecord => (parsed ??= JSON.parse(line) as DataRecord);
    if (filtered) {
      const sub = quickField(line, 'sub');
      const prefix = sub === undefined ? partitionOf(record(), partition.length) : subPrefix(sub, partition.length);
      if (prefix !== partition) continue;
    }
    const key = quickKey(kind, line) ?? kind.key(record());
    yield { line, key, record };
  }
}

/** The partition of a record at `length` hex characters: its sub's prefix, all zeros if it has no hex sub. */
export function partitionOf(record: DataRecord, length: number): string {
  return subPrefix(typeof record.sub === 'string' ? record.sub : '', length);
}

function subPrefix(sub: string, length: number): string {
  const prefix = sub.slice(0, length).toLowerCase();
  return prefix.length === length && /^[0-9a-f]*$/.test(prefix) ? prefix : '0'.repeat(length);
}

/** The key of a line read from its text (see {@link ChangeKind.key}), or undefined when that is not certain. */
function quickKey(kind: ChangeKind, line: string): string | undefined {
  if (kind.table === 'groups') return quickField(line, 'group_name');
  const sub = quickField(line, 'sub');
  if (sub === undefined) return undefined;
  if (kind.table === 'users') return sub;
  const group = quickField(line, 'group_name');
  return group === undefined ? undefined : `${group}\u0000${sub}`;
}

/**
 * A top-level string field of an NDJSON line without parsing it, when that is certain: the first
 * `"<name>":"` of a line with no nested object before it is the record's own (a quote inside a
 * string value is always escaped, so that text cannot be inside one), and a value with no backslash
 * ends at the next quote. Undefined when in doubt; the caller parses the line.
 */
function quickField(line: string, name: string): string | undefined {
  const marker = `"${name}":"`;
  const at = line.indexOf(marker);
  if (at === -1) return undefined;
  const nested = line.indexOf('{', 1);
  if (nested !== -1 && nested < at) return undefined;
  const start = at + marker.length;
  const end = line.indexOf('"', start);
  if (end === -1) return undefined;
  const value = line.slice(start, end);
  return value.includes('\\') ? undefined : value;
}

/**
 * 48 bits of the SHA-1 of a line with its `snapshot_id` taken out: the same record in two
 * snapshots hashes the same (the writer puts the same fields in the same order).
 */
function contentHash(line: string): number {
  const snapshot = quickField(line, 'snapshot_id') ?? (JSON.parse(line) as DataRecord).snapshot_id;
  const content = typeof snapshot === 'string' ? line.replace(`"snapshot_id":${JSON.stringify(snapshot)}`, '') : line;
  return createHash('sha1').update(content).digest().readUIntBE(0, 6);
}
