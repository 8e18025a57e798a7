import cliProgress from 'cli-progress';
import type { RunStatus } from '../runs/run-store.js';
import { filesOfRun, runProgress, tableLabel, uncountedLabel } from '../runs/run-views.js';

/** Shows a run's progress on stderr: a bar with ETA on a terminal, plain lines otherwise. */
export interface ProgressReporter {
  update(status: RunStatus): void;
  /** Prints one line beside the progress (a hint), without breaking a bar. */
  note(line: string): void;
  stop(): void;
}

/** Picks the bar on a TTY and periodic lines elsewhere (CI logs, cron mail). */
export function createProgressReporter(stream: NodeJS.WriteStream = process.stderr, lineIntervalMs = 5000): ProgressReporter {
  return stream.isTTY ? new BarReporter(stream) : new LineReporter(stream, lineIntervalMs);
}

/** One line describing a run's progress, for logs and non-TTY output; `callsPerSecond` from {@link CallRate}. */
export function describeProgress(status: RunStatus, callsPerSecond?: number): string {
  const total = status.estimatedUsers;
  const progress = runProgress(status);
  const percent =
    progress.uncounted.length > 0
      ? ` (share done unknown until ${uncountedLabel(progress.uncounted)} are counted)`
      : progress.total
        ? ` (${Math.min(100, Math.floor((progress.done / progress.total) * 100))}%)`
        : '';
  const others = Object.entries(status.tables)
    .filter(([table]) => table !== 'users')
    .map(([table, progress]) => ` ${table}=${progress.records}`)
    .join('');
  const rate = callsPerSecond === undefined ? '' : ` calls/s=${callsPerSecond.toFixed(1)}`;
  return (
    `${status.spec.snapshotId} ${status.state}: users=${status.users}${total ? `/~${total}` : ''}${percent}${others} ` +
    `pages=${status.pages} files=${filesOfRun(status)} shards=${status.shardsDone}/${status.spec.shards} ` +
    `throttles=${status.throttles} retries=${status.retries}${rate}`
  );
}

/**
 * The run's current Cognito calls/s (answered, throttled and retried), from successive status
 * reads over the last `windowMs`: what the shared rate limit lets this run make now.
 */
export class CallRate {
  private readonly samples: { t: number; calls: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  /** Adds a status read made at `now` (ms); returns calls/s over the window, once two reads span a second. */
  observe(status: RunStatus, now: number = Date.now()): number | undefined {
    this.samples.push({ t: now, calls: status.pages + status.throttles + status.retries });
    while (this.samples.length > 2 && (this.samples[1]?.t ?? now) <= now - this.windowMs) this.samples.shift();
    const first = this.samples[0];
    if (!first || now - first.t < 1000) return undefined;
    return (((this.samples.at(-1)?.calls ?? 0) - first.calls) * 1000) / (now - first.t);
  }
}

/** The end of the bar's line, whatever is known of the run's size. */
const TAIL = 'shards {shards} | throttles {throttles} | {calls} calls/s';

class BarReporter implements ProgressReporter {
  private readonly bar: cliProgress.SingleBar;
  private readonly rate = new CallRate();
  private started = false;

  constructor(private readonly stream: NodeJS.WriteStream) {
    this.bar = new cliProgress.SingleBar(
      {
        stream,
        // Until a first run has counted its groups and memberships, neither its share done nor an ETA means anything.
        format: (options, params, payload: { uncounted?: string }) =>
          cliProgress.Format.Formatter({ ...options, format: payload.uncounted ? `{users} users{others} | ETA unknown until ${payload.uncounted} are counted | ${TAIL}` : `{bar} {percentage}% | {users} users{others} | ETA {eta_formatted} | ${TAIL}` }, params, payload),
        etaBuffer: 50,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  update(status: RunStatus): void {
    // Records of every table whose size is known (users; groups and memberships as the last
    // snapshot had them), so the ETA covers them all. Estimates lag: the bar never overflows.
    const progress = runProgress(status);
    const total = Math.max(progress.total ?? 0, progress.done, 1);
    const others = Object.entries(status.tables)
      .filter(([table]) => table !== 'users')
      .map(([table, progress]) => `, ${progress.records} ${tableLabel(table)}`)
      .join('');
    const calls = this.rate.observe(status);
    const users = status.estimatedUsers ? `${status.users}/~${status.estimatedUsers}` : String(status.users);
    const payload = {
      users,
      shards: `${status.shardsDone}/${status.spec.shards}`,
      throttles: status.throttles,
      others,
      calls: calls === undefined ? '–' : calls.toFixed(1),
      uncounted: progress.uncounted.length > 0 ? uncountedLabel(progress.uncounted) : '',
    };
    if (!this.started) {
      if (status.state === 'queued') return;
      this.bar.start(total, progress.done, payload);
      this.started = true;
      return;
    }
    this.bar.setTotal(total);
    this.bar.update(progress.done, payload);
  }

  note(line: string): void {
    if (!this.started) {
      this.stream.write(`${line}\n`);
      return;
    }
    // Clear the bar's line, print the note, and let the next update redraw the bar.
    this.stream.write(`\r\u001b[2K${line}\n`);
  }

  stop(): void {
    if (this.started) this.bar.stop();
  }
}

class LineReporter implements ProgressReporter {
  private readonly rate = new CallRate();
  private last = 0;
  private lastState = '';

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly intervalMs: number,
  ) {}

  update(status: RunStatus): void {
    const now = Date.now();
    const calls = this.rate.observe(status, now);
    if (status.state === this.lastState && now - this.last < this.intervalMs) return;
    this.last = now;
    this.lastState = status.state;
    this.stream.write(`${describeProgress(status, status.state === 'running' ? calls : undefined)}\n`);
  }

  note(line: string): void {
    this.stream.write(`${line}\n`);
  }

  stop(): void {}
}
