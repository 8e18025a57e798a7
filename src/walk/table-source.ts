/** One page of a table's walk, as its source delivers it. */
export interface TablePage<Item> {
  /** What the page holds; can be empty while `next` is still set (Cognito returns short and empty pages). */
  readonly items: readonly Item[];
  /**
   * Where the page after this one starts, or undefined on the last page. Opaque to the walker, which
   * stores it in the checkpoint and hands it back to {@link TableSource.pages} on resume (for users
   * it is the ListUsers pagination token).
   */
  readonly next: string | undefined;
}

/**
 * A table, as the walker sees one shard of it: a page source plus a record mapping, nothing more.
 * Everything about the service behind it (which API, its filter or group, its limiter and retries)
 * is bound in when the source is made, so the walk, its files and its checkpoints are the same code
 * for every table.
 */
export interface TableSource<Item, Rec extends object = object> {
  /** The output table, e.g. `users`: its folder under the destination. */
  readonly table: string;
  /**
   * The pages of this shard from `cursor` on (undefined: from the start), as an async generator in
   * the shape of the AWS SDK's paginators. Throttled and transient failures are retried inside; a
   * cursor the service no longer accepts ends the walk with a TokenRejectedError; no new call starts
   * once `signal` aborts (a call in flight may finish).
   */
  pages(cursor: string | undefined, signal: AbortSignal): AsyncGenerator<TablePage<Item>, void, undefined>;
  /** Maps one item to its output record. Pure. */
  toRecord(item: Item): Rec;
  /**
   * For small tables whose keys later work needs (groups: the membership walk is planned from the
   * group names): each sealed file records the keys of its records (`SealedPart.keys`).
   */
  keyOf?(record: Rec): string;
  /**
   * For tables whose manifest counts records by kind (a change table's inserts, updates and
   * deletes): each sealed file records its counts (`SealedPart.tally`), exact however often the walk resumed.
   */
  tallyOf?(record: Rec): string;
  /**
   * For tables whose service may return a record again after a checkpoint it already returned
   * before it (ListUsersInGroup promises no uniqueness): the record's scope (its group) and its key
   * within it. Each sealed file records the keys of the last scope it holds (`SealedPart.tail`),
   * which is what a walk resumed mid-scope needs to write none of them twice (see `tailKeys`).
   */
  tailKeyOf?(record: Rec): ScopedKey;
}

/** A record's key within its scope (see {@link TableSource.tailKeyOf}). */
export interface ScopedKey {
  readonly scope: string;
  readonly key: string;
}
