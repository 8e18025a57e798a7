/**
 * Errors that steer an export. They are translated into BullMQ's control-flow errors once, at the
 * job boundary (`jobs/`); everything below that only throws these.
 */

/** The run cannot succeed by retrying: the message is one line saying what is wrong and what to do. */
export class FatalExportError extends Error {
  override readonly name = 'FatalExportError';
}

/**
 * Cognito refused a pagination token this shard resumed from (expired, or bound to other
 * parameters). The shard must start its walk again rather than retry the token.
 */
export class TokenRejectedError extends Error {
  override readonly name = 'TokenRejectedError';
}

/**
 * This worker no longer owns the shard (its job lock was lost and another worker took it over):
 * it must stop without writing anything more.
 */
export class FencedError extends Error {
  override readonly name = 'FencedError';
}

/**
 * The checkpoint in Redis is not the one this worker last wrote or read, though no other worker has
 * claimed the shard: Redis lost writes (a restart from an AOF that had not synced them). The worker
 * claims the shard again and resumes from what Redis holds.
 */
export class CheckpointDivergedError extends Error {
  override readonly name = 'CheckpointDivergedError';
}

/** The run this shard belongs to has already failed or finished elsewhere; the shard stops. */
export class RunNotActiveError extends Error {
  override readonly name = 'RunNotActiveError';
}

/**
 * A staged file the checkpoint lists is gone before it was published (an S3 lifecycle rule that
 * aborts unfinished uploads sooner than the run took, or a run resumed days later). Fatal as it
 * stands, but the finalizer walks that shard again instead, where it can.
 */
export class StagedFileGoneError extends FatalExportError {
  constructor(
    message: string,
    /** The contract key the file was to be published under. */
    readonly key: string,
  ) {
    super(message);
  }
}
