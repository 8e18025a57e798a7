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

/** The run this shard belongs to has already failed or finished elsewhere; the shard stops. */
export class RunNotActiveError extends Error {
  override readonly name = 'RunNotActiveError';
}
