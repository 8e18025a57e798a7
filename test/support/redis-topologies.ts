import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Real Redis topologies on this machine, for the tests of docs/redis.md: a Redis Cluster (masters
 * and replicas), a master and replica watched by sentinels, a TLS server with a private CA and ACL
 * users. Every process is the test's own (`redis-server`), in a temp folder `stop()` removes.
 */

/** One redis-server process of a topology. */
export interface RedisNodeProcess {
  readonly port: number;
  /** `kill -9`: no shutdown, no final fsync, no goodbye to the cluster or the sentinels. */
  kill(): Promise<void>;
  /** Starts it again with the same arguments (a cluster node rejoins; a master that was failed over comes back as a replica). */
  restart(): Promise<void>;
  readonly alive: boolean;
}

/** A free TCP port on 127.0.0.1 (and, with `bus`, port + 10000 free too: a cluster node's bus). */
async function freePort(bus = false): Promise<number> {
  for (;;) {
    const port = await listenOnce(0);
    if (!bus) return port;
    if (port + 10_000 > 65_535) continue;
    try {
      await listenOnce(port + 10_000);
      return port;
    } catch {
      // Its bus port is taken: pick another.
    }
  }
}

async function listenOnce(port: number): Promise<number> {
  const server = createServer();
  server.listen(port, '127.0.0.1');
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error as Error))]);
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return bound;
}

/** Resolves once something accepts TCP connections on the port. */
async function listening(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `redis-cli -p <port> <args>` (plain connections only), its stdout. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
  return stdout;
}

/** Polls `check` until it returns true, or fails naming `what`. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts `redis-server <args>` (or a config file), waits until it listens on `port`. */
async function startProcess(port: number, args: readonly string[]): Promise<RedisNodeProcess & { stop(): Promise<void> }> {
  let child: ChildProcess;
  const launch = async () => {
    child = spawn('redis-server', [...args], { stdio: 'ignore' });
    child.on('error', () => undefined);
    await listening(port);
  };
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    port,
    kill,
    restart: async () => {
      await kill();
      await launch();
    },
    stop: kill,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
  };
}

/** A Redis Cluster of masters, each with its replicas. */
export interface TestRedisCluster {
  readonly nodes: readonly RedisNodeProcess[];
  /** `REDIS_CLUSTER_NODES` for it (every node: any of them is a seed). */
  readonly nodesVariable: string;
  /** The port of the master serving `key`'s slot now. */
  masterOf(key: string): Promise<number>;
  /** Resolves once every slot is served by a live master again and the cluster says ok. */
  healed(timeoutMs?: number): Promise<void>;
  /** Resolves once every live replica is in sync with its master. */
  synced(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `masters` masters and as many replicas each, created with `redis-cli --cluster create`, with
 * appendonly everysec and a short `cluster-node-timeout` (a failover in a few seconds, where
 * ElastiCache's 15 s takes longer).
 */
export async function startRedisCluster(options: { masters?: number; replicas?: number; nodeTimeoutMs?: number } = {}): Promise<TestRedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 1;
  const directory = await mkdtemp(join(tmpdir(), 'ce-redis-cluster-'));
  const nodes: (RedisNodeProcess & { stop(): Promise<void> })[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await rm(directory, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await freePort(true);
      const dir = join(directory, String(port));
      await mkdir(dir);
      nodes.push(
        await startProcess(port, [
          '--port', String(port),
          '--bind', '127.0.0.1',
          '--dir', dir,
          '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, 'nodes.conf'),
          '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 1500),
          // A replica may take over however long it was cut off (a test machine under load).
          '--cluster-replica-validity-factor', '0',
          '--appendonly', 'yes',
          '--appendfsync', 'everysec',
          '--save', '',
        ]),
      );
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 });
    const cluster: TestRedisCluster = {
      nodes,
      nodesVariable: nodes.map((node) => `127.0.0.1:${node.port}`).join(','),
      async masterOf(key) {
        const live = nodes.find((node) => node.alive);
        if (!live) throw new Error('no node of the cluster is alive');
        const slot = Number((await redisCli(live.port, 'CLUSTER', 'KEYSLOT', key)).trim());
        for (const line of (await redisCli(live.port, 'CLUSTER', 'NODES')).split('\n')) {
          const [, address, flags, , , , , , ...ranges] = line.split(' ');
          if (!flags?.split(',').includes('master') || flags.includes('fail')) continue;
          for (const range of ranges) {
            const [from, to = from] = range.split('-').map(Number);
            if (from !== undefined && to !== undefined && slot >= from && slot <= to) return Number(address?.split('@')[0]?.split(':')[1]);
          }
        }
        throw new Error(`no live master serves slot ${slot} (${key})`);
      },
      async healed(timeoutMs = 30_000) {
        await until(async () => {
          for (const node of nodes.filter((n) => n.alive)) {
            if (!(await redisCli(node.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
          }
          return true;
        }, 'the cluster to be ok', timeoutMs);
      },
      async synced(timeoutMs = 20_000) {
        await until(async () => {
          for (const node of nodes.filter((n) => n.alive)) {
            const info = await redisCli(node.port, 'INFO', 'replication');
            if (info.includes('role:slave') && !info.includes('master_link_status:up')) return false;
          }
          return true;
        }, 'the replicas to sync', timeoutMs);
      },
      stop,
    };
    await cluster.healed();
    // Every replica in sync with its master before the test relies on it to take over.
    await cluster.synced();
    return cluster;
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A master, its replica and three sentinels that watch it under one name. */
export interface TestRedisSentinel {
  readonly master: RedisNodeProcess;
  readonly replica: RedisNodeProcess;
  readonly sentinels: readonly RedisNodeProcess[];
  readonly name: string;
  /** `REDIS_SENTINELS` for it. */
  readonly sentinelsVariable: string;
  /** The master's port as the sentinels say now. */
  currentMaster(): Promise<number>;
  stop(): Promise<void>;
}

/** Sentinels that call a master down after `downAfterMs` without an answer and fail over with a quorum of 2. */
export async function startRedisSentinel(options: { name?: string; downAfterMs?: number } = {}): Promise<TestRedisSentinel> {
  const name = options.name ?? 'ce-master';
  const directory = await mkdtemp(join(tmpdir(), 'ce-redis-sentinel-'));
  const processes: (RedisNodeProcess & { stop(): Promise<void> })[] = [];
  const stop = async () => {
    await Promise.all(processes.map((process) => process.stop()));
    await rm(directory, { recursive: true, force: true });
  };
  try {
    const server = async (role: string, extra: readonly string[]) => {
      const port = await freePort();
      const dir = join(directory, `${role}-${port}`);
      await mkdir(dir);
      const node = await startProcess(port, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', ...extra]);
      processes.push(node);
      return node;
    };
    const master = await server('master', []);
    const replica = await server('replica', ['--replicaof', '127.0.0.1', String(master.port)]);
    await until(async () => (await redisCli(replica.port, 'INFO', 'replication')).includes('master_link_status:up'), 'the replica to sync');
    const sentinels: RedisNodeProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const file = join(directory, `sentinel-${port}.conf`);
      await writeFile(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${directory}`,
          `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const sentinel = await startProcess(port, [file, '--sentinel']);
      processes.push(sentinel);
      sentinels.push(sentinel);
    }
    // Each sentinel must know the replica and the two other sentinels, or it cannot fail over.
    await until(async () => {
      for (const sentinel of sentinels) {
        const others = (await redisCli(sentinel.port, 'SENTINEL', 'SENTINELS', name)).split('\n').filter((line) => line.trim() === 'runid').length;
        const replicas = (await redisCli(sentinel.port, 'SENTINEL', 'REPLICAS', name)).split('\n').filter((line) => line.trim() === 'runid').length;
        if (others < 2 || replicas < 1) return false;
      }
      return true;
    }, 'the sentinels to know each other and the replica', 30_000);
    return {
      master,
      replica,
      sentinels,
      name,
      sentinelsVariable: sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(','),
      async currentMaster() {
        const live = sentinels.find((sentinel) => sentinel.alive);
        if (!live) throw new Error('no sentinel is alive');
        const [, port] = (await redisCli(live.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)).trim().split('\n');
        return Number(port);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A redis-server that speaks only TLS, with a certificate of a private CA, a password and an ACL user. */
export interface TestTlsRedis {
  readonly port: number;
  /** The private CA's certificate (PEM), which signed the server's. */
  readonly caPath: string;
  /** Another CA's certificate, which signed nothing the server has. */
  readonly otherCaPath: string;
  /** The default user's password (requirepass). */
  readonly password: string;
  /** An ACL user with every permission, and its password. */
  readonly user: { readonly name: string; readonly password: string };
  stop(): Promise<void>;
}

/**
 * Generates a CA and a server certificate for 127.0.0.1 and localhost with `openssl`, and starts
 * redis-server on a TLS port only (no plain port), with `requirepass` and an ACL user.
 */
export async function startTlsRedis(): Promise<TestTlsRedis> {
  const directory = await mkdtemp(join(tmpdir(), 'ce-redis-tls-'));
  let server: (RedisNodeProcess & { stop(): Promise<void> }) | undefined;
  const stop = async () => {
    await server?.stop();
    await rm(directory, { recursive: true, force: true });
  };
  try {
    const file = (name: string) => join(directory, name);
    const openssl = (...args: string[]) => run('openssl', args, { cwd: directory, timeout: 20_000 });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=cognito-export test CA');
    await openssl('req', '-x509', ...ec, '-keyout', file('other-ca.key'), '-out', file('other-ca.pem'), '-days', '2', '-subj', '/CN=another CA');
    await openssl('req', '-new', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost');
    await writeFile(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    await openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.pem'), '-days', '2', '-extfile', file('server.ext'));
    const port = await freePort();
    const password = 'default-Pa55-word';
    const user = { name: 'exporter', password: 'exporter-Pa55-word' };
    server = await startProcess(port, [
      '--port', '0',
      '--tls-port', String(port),
      '--bind', '127.0.0.1',
      '--dir', directory,
      '--save', '',
      '--tls-cert-file', file('server.pem'),
      '--tls-key-file', file('server.key'),
      '--tls-ca-cert-file', file('ca.pem'),
      '--tls-auth-clients', 'no',
      '--requirepass', password,
      '--user', user.name, 'on', `>${user.password}`, '~*', '&*', '+@all',
    ]);
    return { port, caPath: file('ca.pem'), otherCaPath: file('other-ca.pem'), password, user, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A standalone redis-server of the test's own on a free port, started with `args` (nothing kept on disk). */
export async function startRedisWith(args: readonly string[]): Promise<{ readonly port: number; readonly url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const server = await startProcess(port, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args]);
  return { port, url: `redis://127.0.0.1:${port}`, stop: () => server.stop() };
}
