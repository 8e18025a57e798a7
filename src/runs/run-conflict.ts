import type { RunSpec } from './run-spec.js';
import type { RunStatus } from './run-views.js';

/**
 * The pool already has a run in flight with other options: a trigger is explicit about what it
 * gets, so it is refused (the CLI exits 1, HTTP answers 409) unless it asked to queue.
 */
export class RunConflictError extends Error {
  override readonly name = 'RunConflictError';
  constructor(readonly running: RunStatus) {
    super(
      `pool ${running.spec.userPoolId} already has export ${running.spec.snapshotId} ${running.state} with other options ` +
        `(${describeOptions(running.spec)}): wait for it, cancel it with \`cognito-export cancel ${running.spec.snapshotId}\`, ` +
        'or pass --queue to run after it',
    );
  }
}

/** A run's options in one short line, for messages. */
export function describeOptions(spec: RunSpec): string {
  return [
    `destination ${spec.destination}`,
    `shards ${spec.shards}`,
    `filter ${spec.filter ?? 'none'}`,
    `attributes ${spec.attributes?.join(',') ?? 'all'}`,
    spec.gzip ? 'gzip' : 'no gzip',
    ...(spec.name ? [`name ${spec.name}`] : []),
    `trigger ${spec.trigger}`,
  ].join(', ');
}
