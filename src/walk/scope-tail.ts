import type { SealedPart } from './part-file.js';

/**
 * The keys a shard's durable files hold of `scope`, the scope its checkpoint lands in (for
 * memberships: the group a walk resumes in the middle of), from the files' tails (see
 * `TableSource.tailKeyOf`), given the files last first. It reads back only the files that can hold
 * the scope, one at a time: a scope's records are contiguous in a walk, so the durable files
 * holding any of them are the last few, each ends in the scope, and its tail holds all of the
 * scope's records in it; the first file (going back) whose tail is another scope holds none.
 *
 * A file without a tail (written by a worker from before tails, during an upgrade) ends the search:
 * its keys are unknown, and a member in it may then be written again.
 */
export async function* tailKeys(filesLastFirst: AsyncIterable<SealedPart>, scope: string): AsyncGenerator<string, void, undefined> {
  for await (const file of filesLastFirst) {
    if (file.tail?.scope !== scope) return;
    yield* file.tail.keys;
  }
}
