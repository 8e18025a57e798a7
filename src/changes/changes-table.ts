import type { TablePage, TableSource } from '../walk/table-source.js';
import type { ChangeRecord } from './change-kinds.js';
import { diffPartition, type PartitionDiffInput } from './partition-diff.js';

/** One partition of a change table (its diff's input), as a table the walker writes like any other. */
export interface ChangesTableOptions extends PartitionDiffInput {
  /** Changes a page holds at most. @default 500 */
  readonly pageSize?: number;
}

/** A change table's source: tallies its files by op, so the manifest counts inserts, updates and deletes exactly. */
export interface ChangesTableSource extends TableSource<ChangeRecord, ChangeRecord> {
  tallyOf(record: ChangeRecord): string;
}

/**
 * The changes of one partition as pages: the cursor is the number of changes already written. The
 * diff is deterministic (the same two snapshots give the same changes in the same order), so a walk
 * resumed from its checkpoint runs the diff again and skips what its committed files hold: nothing
 * twice, nothing lost. Between changes it yields empty pages every few thousand lines read, so a
 * shutdown is noticed in a long partition with few changes.
 */
export function changesTable(options: ChangesTableOptions): ChangesTableSource {
  const pageSize = options.pageSize ?? 500;
  return {
    table: options.kind.changes,
    toRecord: (record) => record,
    tallyOf: (record) => record.op,
    async *pages(cursor: string | undefined, signal: AbortSignal): AsyncGenerator<TablePage<ChangeRecord>, void, undefined> {
      const skip = cursor === undefined ? 0 : Number(cursor);
      if (!Number.isSafeInteger(skip) || skip < 0) throw new Error(`a change table's cursor is a count of changes, got ${JSON.stringify(cursor)}`);
      let seen = 0;
      let items: ChangeRecord[] = [];
      const at = (): string => String(Math.max(seen, skip));
      for await (const change of diffPartition(options)) {
        if (change === null) {
          if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('stopped');
          yield { items, next: at() };
          items = [];
          continue;
        }
        seen += 1;
        if (seen <= skip) continue;
        items.push(change);
        if (items.length >= pageSize) {
          yield { items, next: at() };
          items = [];
        }
      }
      if (seen < skip) throw new Error(`the diff has ${seen} changes, but its checkpoint says ${skip} were written: one of the snapshots changed`);
      yield { items, next: undefined };
    },
  };
}
