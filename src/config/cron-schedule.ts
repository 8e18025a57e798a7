import { CronExpressionParser } from 'cron-parser';

/**
 * Cron patterns and time zones of schedules, checked with cron-parser: the parser BullMQ's job
 * schedulers use for `pattern` + `tz`, so a pattern accepted here fires there.
 */

/** Zone of schedules that name none. */
export const DEFAULT_TIMEZONE = 'UTC';

/** Why `schedule` is not a usable cron pattern, or undefined. */
export function cronProblem(schedule: string): string | undefined {
  const invalid = (reason: string) => `${JSON.stringify(schedule)} is not a valid cron expression (${reason})`;
  const fields = schedule.trim().split(/\s+/).filter(Boolean);
  // cron-parser pads shorter patterns (even an empty one) to every minute: almost surely a typo here.
  if (!schedule.trim().startsWith('@') && fields.length < 5) {
    return invalid(`expected 5 fields, or 6 with seconds first; got ${fields.length}`);
  }
  try {
    const expression = CronExpressionParser.parse(schedule, { tz: 'UTC', currentDate: new Date(0) });
    return expression.hasNext() ? undefined : invalid('it never fires');
  } catch (error) {
    return invalid((error as Error).message);
  }
}

/** Why `zone` is not a time zone Intl (and so luxon, which cron-parser uses) knows, or undefined. */
export function timeZoneProblem(zone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return undefined;
  } catch {
    return `${JSON.stringify(zone)} is not an IANA time zone`;
  }
}

/**
 * The next `count` fire times of a schedule strictly after `from`, as BullMQ's job schedulers compute
 * them. Fewer when the pattern runs out. Throws a RangeError for a bad pattern, zone or count.
 */
export function nextRuns(schedule: { readonly schedule: string; readonly timezone: string }, from: Date, count: number): Date[] {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be an integer from 0, got ${count}`);
  const problem = timeZoneProblem(schedule.timezone) ?? cronProblem(schedule.schedule);
  if (problem !== undefined) throw new RangeError(problem);
  return CronExpressionParser.parse(schedule.schedule, { tz: schedule.timezone, currentDate: from })
    .take(count)
    .map((date) => date.toDate());
}
