import { randomBytes } from 'node:crypto';

/**
 * A run's id: its UTC start time to the millisecond, then a short random part, so ids sort by
 * time and two triggers in the same millisecond still differ: `20261126T113042123Z-3f9a1c`.
 * No `:` (BullMQ job ids cannot contain one) and safe in S3 keys and file names.
 */
export function newSnapshotId(now: Date = new Date(), random: () => Buffer = () => randomBytes(3)): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${stamp}-${random().toString('hex')}`;
}

const ID = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-[0-9a-f]+$/;

/** The start time encoded in a snapshot id, or undefined if `id` is not one. */
export function snapshotIdTime(id: string): Date | undefined {
  const m = ID.exec(id);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, ms] = m;
  return new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`);
}

/** True when `id` is a snapshot id as {@link newSnapshotId} makes them. */
export function isSnapshotId(id: string): boolean {
  return snapshotIdTime(id) !== undefined;
}

/** Why `id` is not a snapshot id (one line, with an example), or undefined when it is one. */
export function snapshotIdProblem(id: string): string | undefined {
  if (isSnapshotId(id)) return undefined;
  return `snapshot id ${JSON.stringify(id)} is not valid: expected the UTC start time then a hex part, as \`export\` and \`status\` print it, e.g. 20261126T113042123Z-3f9a1c`;
}
