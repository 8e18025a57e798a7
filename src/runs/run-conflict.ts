import { runOptionDifferences, type RunSpec } from './run-spec.js';
import type { RunStatus } from './run-views.js';

/**
 * The pool already has a run in flight with other options: a trigger is explicit about what it
 * gets, so it is refused (the CLI exits 1, HTTP answers 409) unless it asked to queue. The message
 * names the options that differ and how to queue, as the requester's surface spells it.
 */
export class RunConflictError extends Error {
  override readonly name = 'RunConflictError';
  constructor(
    readonly running: RunStatus,
    readonly requested?: RunSpec,
  ) {
    super(conflictMessage(running, requested));
  }
}

function conflictMessage(running: RunStatus, requested: RunSpec | undefined): string {
  const { spec } = running;
  const queue =
    requested?.trigger === 'http'
      ? 'or send "queue": true in the POST /exports body to run after it'
      : requested?.trigger === 'schedule'
        ? 'or let this schedule tick be skipped: the next one runs once the pool is free'
        : 'or pass --queue to run after it';
  const differences = requested ? runOptionDifferences(spec, requested) : [];
  const differs =
    differences.length === 0
      ? ''
      : `; the request differs in ${listed(differences.map((d) => `${d.option} (${d.requested}; the running export has ${d.running})`))}`;
  return (
    `pool ${spec.userPoolId} already has export ${spec.snapshotId} ${running.state} with other options ` +
    `(${describeOptions(spec)}): wait for it, cancel it with \`cognito-export cancel ${spec.snapshotId}\`, ${queue}${differs}`
  );
}

/** `a`, `a and b`, `a, b and c`. */
function listed(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1) ?? ''}`;
}

/** A run's options in one short line, for messages. */
export function describeOptions(spec: RunSpec): string {
  return [
    `destination ${spec.destination}`,
    `shards ${spec.shards}`,
    `filter ${spec.filter ?? 'none'}`,
    `attributes ${spec.attributes?.join(',') ?? 'all'}`,
    spec.format === 'parquet' ? 'parquet' : spec.gzip ? 'gzip' : 'no gzip',
    ...(spec.name ? [`name ${spec.name}`] : []),
    `trigger ${spec.trigger}`,
  ].join(', ');
}
