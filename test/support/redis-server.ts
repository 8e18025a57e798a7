import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A redis-server of the test's own, with an AOF, that the test can kill, restart and pause. */
export interface TestRedisServer {
  readonly url: string;
  /** `kill -9`: no shutdown, no final fsync. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory: it loads what its AOF holds. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: connections stay open, nothing is answered meanwhile. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

/** Starts `redis-server` with `appendonly yes` and `appendfsync everysec`, as the README recommends for production. */
export async function startTestRedisServer(): Promise<TestRedisServer> {
  const directory = await mkdtemp(join(tmpdir(), 'ce-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', directory, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''], {
      stdio: 'ignore',
    });
    child.on('error', () => undefined);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    probe.on('error', () => undefined);
    for (let i = 0; i < 100; i++) {
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    probe.disconnect();
    throw new Error(`redis-server on port ${port} did not start`);
  };
  const killNow = async (): Promise<void> => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    url,
    kill: killNow,
    restart: launch,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async stop() {
      child?.kill('SIGCONT');
      await killNow();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
