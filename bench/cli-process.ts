import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built CLI, next to this file in dist/. */
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));


/** A `cognito-export` child process the bench measures from the outside. */
export interface MeasuredProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** CPU seconds (user + system) it has used so far, from /proc. */
  cpuSeconds(): number;
  /** Its peak resident set size so far, in MiB, from /proc (VmHWM). */
  peakRssMiB(): number;
  /** Resolves when stdout or stderr matches, rejects if the process ends first. */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** Starts `node <nodeFlags> cognito-export <args>` with `env` added to this process's environment. */
export function startCli(args: readonly string[], env: Record<string, string>, nodeFlags: readonly string[] = []): MeasuredProcess {
  const child = spawn(process.execPath, [...nodeFlags, CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid ?? -1;
  return {
    child,
    pid,
    stdout: () => out,
    stderr: () => err,
    cpuSeconds() {
      // Fields after the command name: state is the 3rd; utime and stime are the 14th and 15th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    },
    peakRssMiB() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
      return kib / 1024;
    },
    async waitFor(pattern, stream = 'stdout', timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = (stream === 'stdout' ? out : err).match(pattern);
        if (match) return match;
        if (child.exitCode !== null) throw new Error(`process ended before printing ${pattern}: ${err.slice(-500)}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
