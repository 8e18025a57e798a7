import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
  /**
   * Copies what the server's persistence holds at this instant (Redis 7's `appendonlydir/`: its
   * manifest and the base and incr files it names, as the page cache has them, fsynced or not) to a
   * new temp directory, and returns its path. The server keeps running.
   *
   * The copy holds every write acknowledged before the call (it first waits until Redis has written
   * its AOF buffer: `everysec` may hold it back for up to 2 s while acknowledging) and none issued
   * after it resolves; writes concurrent with it may be in it, the last one possibly cut short:
   * Redis loads a truncated AOF by default (`aof-load-truncated yes`).
   */
  copyData(): Promise<string>;
  /**
   * `kill -9`s the server, replaces its data directory's content with `copy` (from
   * {@link copyData}; the copy itself stays as it is) and starts it again on the same port: it loads
   * exactly the copy, so every write issued after copyData resolved is lost, as in a failover or an
   * AOF that missed its last second. Connected clients see a dropped connection and reconnect.
   */
  restoreFrom(copy: string): Promise<void>;
  /** Also removes the copies {@link copyData} made. */
  stop(): Promise<void>;
}

/** Redis 7's multi-part AOF folder and manifest, for the default `appenddirname` and `appendfilename`. */
const AOF_DIRECTORY = 'appendonlydir';
const AOF_MANIFEST = 'appendonly.aof.manifest';

/** The files a Redis 7 AOF manifest names (`file <name> seq <n> type <b|h|i>`), with whether they must exist (history files may be gone). */
function aofFiles(manifest: string): { name: string; required: boolean }[] {
  const files: { name: string; required: boolean }[] = [];
  for (const line of manifest.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const at = (field: string) => (fields.includes(field) ? fields[fields.indexOf(field) + 1] : undefined);
    const name = at('file');
    if (name !== undefined) files.push({ name, required: at('type') !== 'h' });
  }
  return files;
}

/**
 * Copies the AOF folder of `directory` into `target` while the server runs. A rewrite between
 * reading the manifest and copying its files changes the manifest: then it copies again.
 */
async function copyAof(directory: string, target: string): Promise<void> {
  const source = join(directory, AOF_DIRECTORY);
  const destination = join(target, AOF_DIRECTORY);
  for (let attempt = 0; attempt < 20; attempt++) {
    await rm(destination, { recursive: true, force: true });
    await mkdir(destination, { recursive: true });
    const manifest = await readFile(join(source, AOF_MANIFEST));
    let complete = true;
    for (const file of aofFiles(manifest.toString('utf8'))) {
      try {
        await copyFile(join(source, file.name), join(destination, file.name));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        if (file.required) complete = false;
      }
    }
    if (complete && (await readFile(join(source, AOF_MANIFEST))).equals(manifest)) {
      await writeFile(join(destination, AOF_MANIFEST), manifest);
      return;
    }
  }
  throw new Error(`could not copy ${source}: its manifest kept changing`);
}

/**
 * Waits until Redis has written (not fsynced) its AOF buffer: with `appendfsync everysec` it
 * postpones the write for up to 2 s while a background fsync is still running, and acknowledges
 * the commands meanwhile. `aof_buffer_length` of an INFO answered after a command was acknowledged
 * is 0 only once that command is in the file. A server that does not answer (paused) has nothing
 * more to write: then it returns at once.
 */
async function aofBufferWritten(url: string): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, enableReadyCheck: false, commandTimeout: 1000, connectTimeout: 1000 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const info = await probe.info('persistence');
      const pending = /aof_buffer_length:(\d+)/.exec(info)?.[1];
      if (pending === undefined || pending === '0') return;
      if (Date.now() > deadline) throw new Error(`redis-server at ${url} kept ${pending} bytes of its AOF unwritten for 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } catch (error) {
    if (error instanceof Error && /timed out|ETIMEDOUT|ECONNREFUSED|Connection is closed/i.test(error.message)) return;
    throw error;
  } finally {
    probe.disconnect();
  }
}

/** Copies every entry of `source` into `target` (folders recursively). */
async function copyTree(source: string, target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  for (const entry of await readdir(source, { withFileTypes: true })) {
    if (entry.isDirectory()) await copyTree(join(source, entry.name), join(target, entry.name));
    else await copyFile(join(source, entry.name), join(target, entry.name));
  }
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
  const copies: string[] = [];
  await launch();
  return {
    url,
    kill: killNow,
    restart: launch,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async copyData() {
      const copy = await mkdtemp(join(tmpdir(), 'ce-redis-copy-'));
      copies.push(copy);
      await aofBufferWritten(url);
      await copyAof(directory, copy);
      return copy;
    },
    async restoreFrom(copy) {
      await killNow();
      for (const entry of await readdir(directory)) await rm(join(directory, entry), { recursive: true, force: true });
      await copyTree(copy, directory);
      await launch();
    },
    async stop() {
      child?.kill('SIGCONT');
      await killNow();
      await rm(directory, { recursive: true, force: true });
      for (const copy of copies.splice(0)) await rm(copy, { recursive: true, force: true });
    },
  };
}
