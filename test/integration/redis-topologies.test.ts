import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { connectRedis, RedisUnavailableError, type RedisClient } from '../../src/redis/redis-connection.js';
import { rateLimitKey } from '../../src/redis/redis-keys.js';
import type { RunStatus } from '../../src/runs/run-store.js';
import { poolDataPrefix } from '../../src/storage/output-layout.js';
import { toUserRecord } from '../../src/tables/user-record.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { redisCli, startRedisCluster, startRedisSentinel, startTlsRedis, type TestRedisCluster, type TestTlsRedis } from '../support/redis-topologies.js';
import { eventually, runCli, spawnCli, type CliProcess } from '../support/worker-process.js';

/**
 * docs/redis.md's topologies, on real servers: a Redis Cluster (3 masters, 3 replicas) and a
 * Sentinel-managed master, each losing the master that holds the run's keys to `kill -9` in the
 * middle of an export served by two workers; a TLS Redis with a private CA and ACL users.
 */

let emulator: CognitoEmulator;
let scratch: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0, faults: { latencyMs: 10 } });
  scratch = await mkdtemp(join(tmpdir(), 'ce-topologies-'));
});

afterAll(async () => {
  // Each step bounded, so a step that hangs cannot keep the next from stopping its processes.
  for (const cleanup of cleanups.splice(0).reverse()) {
    await Promise.race([cleanup().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 15_000))]);
  }
  await emulator?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Every file under `folder`, as file:// URLs. */
async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => pathToFileURL(join(entry.parentPath, entry.name)).href);
}

/** The export holds exactly the pool's users, and the pool's data folder exactly the manifest's files. */
async function expectExact(poolId: string, destination: string, status: RunStatus): Promise<void> {
  expect(status.error).toBeUndefined();
  expect(status.state).toBe('completed');
  const manifest = await readManifest(status.manifestUrl ?? '');
  const records = await readManifestRecords(manifest);
  const context = { userPoolId: poolId, snapshotId: manifest.snapshot_id, attributes: null };
  const bySub = (a: { sub: string | null }, b: { sub: string | null }) => (a.sub ?? '').localeCompare(b.sub ?? '');
  expect(records.sort(bySub)).toEqual(emulator.listAllUsers(poolId).map((user) => toUserRecord(user, context)).sort(bySub));
  const data = join(fileURLToPath(destination), poolDataPrefix(poolId));
  expect((await filesUnder(data)).sort()).toEqual(manifest.files.map((file) => file.url).sort());
}

/**
 * An export of `users` users served by two workers (the harness's, in process, and a `cognito-export
 * worker` child), with `fail` run once a quarter of it is durable; it must complete exact, and
 * neither worker may die.
 */
async function exportThroughFailover(env: Record<string, string>, name: string, seed: number, fail: (h: ExportHarness) => Promise<void>): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, env: { ...env, COGNITO_RATE_LIMIT_RPS: '30' }, worker: { lockDurationMs: 3000 } });
  cleanups.push(() => h.close());
  const child: CliProcess = spawnCli(['worker'], { ...h.childEnv, WORKER_LOCK_DURATION_MS: '3000', LOG_LEVEL: 'info' });
  cleanups.push(async () => {
    if (child.child.exitCode === null && child.child.signalCode === null) {
      child.child.kill('SIGKILL');
      await child.exited();
    }
  });
  // Connected before anything fails: a first connection fails fast by design (one line, exit), and
  // on a loaded machine the in-process worker could otherwise reach the failover first.
  await eventually(() => Promise.resolve(child.stderr().includes('worker started') ? true : undefined), 30_000, 'the child worker to start');
  const poolId = emulator.createPoolWithUsers({ users: 6000, seed });
  const destination = pathToFileURL(join(scratch, name)).href;
  const { snapshotId } = await h.request({ userPoolId: poolId, destination, fileMaxRecords: 120 });
  await eventually(async () => {
    const status = await h.runtime.runs.status(snapshotId);
    return status && status.durableUsers >= 1500 ? status : undefined;
  }, 30_000, 'the run to be under way');
  await fail(h);
  const status = await h.wait(snapshotId, 90_000);
  await expectExact(poolId, destination, status);
  // Neither worker died: the child still runs, the in-process workers still take jobs.
  expect(child.child.exitCode, child.stderr()).toBeNull();
  expect(child.child.signalCode).toBeNull();
  for (const worker of [h.worker?.runs, h.worker?.shards, h.worker?.groups]) expect(worker?.isRunning()).toBe(true);
  // Stopped as Kubernetes would: SIGTERM, then SIGKILL after a grace period. (A stop in the middle
  // of a failover has a test of its own below; after one, a rare stop has taken over a minute.)
  const exited = child.exited();
  child.child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 30_000))]);
  if (code === 'still running') {
    console.warn(`the child worker did not stop within 30 s of SIGTERM; killing it. Its last lines:\n${child.stderr().split('\n').slice(-10).join('\n')}`);
    child.child.kill('SIGKILL');
  } else {
    expect(code, child.stderr()).toBe(0);
  }
  return h;
}

describe('Redis Cluster (3 masters, 3 replicas)', () => {
  let cluster: TestRedisCluster;

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1500 });
    cleanups.push(() => cluster.stop());
  });

  // REDIS_URL's host is ignored in cluster mode: the seed nodes say where the cluster is.
  const env = () => ({ REDIS_CLUSTER_NODES: cluster.nodesVariable, REDIS_URL: 'redis://127.0.0.1:1' });

  it('completes an export exact while the master holding its keys is killed (-9) and its replica promoted', async () => {
    let killed = 0;
    const h = await exportThroughFailover(env(), 'cluster', 301, async (harness) => {
      killed = await cluster.masterOf(harness.prefix);
      await cluster.nodes.find((n) => n.port === killed)?.kill();
    });
    // A replica took over the prefix's slot.
    await cluster.healed();
    expect(await cluster.masterOf(h.prefix)).not.toBe(killed);
    // The shared rate-limit bucket has its own hash tag, so its own slot: it worked beside the
    // prefix's keys without a CROSSSLOT script (every script touches one slot).
    const scope = `${h.config.awsAccountId ?? ''}:us-east-1`;
    const live = cluster.nodes.find((n) => n.alive)?.port ?? 0;
    expect(await redisCli(live, 'CLUSTER', 'KEYSLOT', rateLimitKey(scope))).not.toBe(await redisCli(live, 'CLUSTER', 'KEYSLOT', h.prefix));
    expect(await h.runtime.redis.exists(rateLimitKey(scope))).toBe(1);
    // The dead master comes back as a replica of the one that replaced it.
    const node = cluster.nodes.find((n) => n.port === killed);
    await node?.restart();
    await cluster.healed();
    await cluster.synced();
    expect(await redisCli(killed, 'INFO', 'replication')).toContain('role:slave');
  }, 120_000);

  it('refuses, once closed, a command that was waiting for a failover, instead of holding it forever', async () => {
    // A worker stopped during a failover closes its connections while commands wait to be retried
    // (its blocking BZPOPMIN): ioredis left such a command queued for good, and the worker's close
    // waited for it forever (see hardenCluster in redis-connection.ts).
    const redis = await connectRedis({ redisUrl: 'redis://127.0.0.1:6379', redisClusterNodes: [{ host: '127.0.0.1', port: cluster.nodes[0]?.port ?? 0 }] });
    const key = `{ce-topology-${Date.now()}}:k`;
    await redis.set(key, '1');
    const master = await cluster.masterOf(key);
    await cluster.nodes.find((n) => n.port === master)?.kill();
    const waiting = redis.get(key).then(
      () => 'answered',
      (error: Error) => error.message,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    redis.disconnect();
    expect(await waiting).toMatch(/Cluster is ended|Connection is closed|None of startup nodes/);
    expect(Date.now() - started).toBeLessThan(5_000);
    await cluster.healed();
    await cluster.nodes.find((n) => n.port === master)?.restart();
    await cluster.synced();
  }, 60_000);

  it('refuses a database other than 0 in one line', async () => {
    const result = await runCli(['status'], { REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_URL: 'redis://:secret-pw@127.0.0.1:6379/2' });
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      'cognito-export: REDIS_URL="redis://:***@127.0.0.1:6379/2" names database 2, but a Redis Cluster (REDIS_CLUSTER_NODES) has only database 0: drop /2 from REDIS_URL',
    ]);
  });
});

describe('Redis Sentinel (master, replica, 3 sentinels)', () => {
  it('completes an export exact while the master is killed (-9) and the sentinels promote the replica', async () => {
    const sentinel = await startRedisSentinel({ downAfterMs: 1000 });
    cleanups.push(() => sentinel.stop());
    const env = { REDIS_SENTINELS: sentinel.sentinelsVariable, REDIS_SENTINEL_MASTER: sentinel.name, REDIS_URL: 'redis://127.0.0.1:1' };
    await exportThroughFailover(env, 'sentinel', 302, async () => {
      await sentinel.master.kill();
    });
    expect(await sentinel.currentMaster()).toBe(sentinel.replica.port);
  }, 150_000);
});

describe('TLS with a private CA, and ACL users', () => {
  let tls: TestTlsRedis;
  const url = (user: string, password: string, scheme = 'rediss') => `${scheme}://${user}:${password}@127.0.0.1:${tls.port}`;

  beforeAll(async () => {
    tls = await startTlsRedis();
    cleanups.push(() => tls.stop());
  });

  /** The connection's one-line error. */
  async function failure(target: Parameters<typeof connectRedis>[0]): Promise<RedisUnavailableError> {
    let client: RedisClient | undefined;
    try {
      client = await connectRedis(target);
    } catch (error) {
      expect(error).toBeInstanceOf(RedisUnavailableError);
      expect((error as Error).message).not.toContain('\n');
      return error as RedisUnavailableError;
    }
    client.disconnect();
    throw new Error('connected, expected a failure');
  }

  it('connects with REDIS_TLS_CA, as the ACL user the URL names', async () => {
    const redis = await connectRedis({ redisUrl: url(tls.user.name, tls.user.password), redisTlsCa: tls.caPath });
    try {
      expect(await redis.call('ACL', 'WHOAMI')).toBe(tls.user.name);
    } finally {
      redis.disconnect();
    }
    const asDefault = await connectRedis({ redisUrl: url('', tls.password), redisTlsCa: tls.caPath });
    expect(await asDefault.call('ACL', 'WHOAMI')).toBe('default');
    asDefault.disconnect();
  });

  it('refuses without the CA (or with another) with one line saying TLS and REDIS_TLS_CA', async () => {
    const without = await failure({ redisUrl: url(tls.user.name, tls.user.password) });
    expect(without.failure).toBe('tls');
    expect(without.message).toMatch(/^TLS with Redis at rediss:\/\/exporter:\*\*\*@127\.0\.0\.1:\d+ failed: the server's certificate was refused \(.*\): set REDIS_TLS_CA/);
    const other = await failure({ redisUrl: url(tls.user.name, tls.user.password), redisTlsCa: tls.otherCaPath });
    expect(other.failure).toBe('tls');
    expect(other.message).toContain(`REDIS_TLS_CA=${tls.otherCaPath} did not sign the server's certificate`);
    for (const error of [without, other]) expect(error.message).not.toContain(tls.user.password);
  });

  it('says a wrong password or a missing one is an authentication failure, in one line without the password', async () => {
    const wrong = await failure({ redisUrl: url(tls.user.name, 'Wr0ng-Pa55'), redisTlsCa: tls.caPath });
    expect(wrong.failure).toBe('auth');
    expect(wrong.message).toMatch(/^Redis at rediss:\/\/exporter:\*\*\*@127\.0\.0\.1:\d+ refused authentication as user exporter \(WRONGPASS .*\): check the user and password in REDIS_URL/);
    expect(wrong.message).not.toContain('Wr0ng-Pa55');
    const none = await failure({ redisUrl: `rediss://127.0.0.1:${tls.port}`, redisTlsCa: tls.caPath });
    expect(none.failure).toBe('auth');
    expect(none.message).toMatch(/refused authentication as the default user \(NOAUTH .*\): it requires a password/);
  });

  it('the CLI prints the authentication failure as one line, exit code 1', async () => {
    const result = await runCli(['status'], { REDIS_URL: url(tls.user.name, 'Wr0ng-Pa55'), REDIS_TLS_CA: tls.caPath });
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^cognito-export: Redis at rediss:\/\/exporter:\*\*\*@127\.0\.0\.1:\d+ refused authentication as user exporter \(WRONGPASS/);
    expect(result.stderr).not.toContain('Wr0ng-Pa55');
  });

  it('tells plain redis:// to a TLS port, DNS and refused connections apart', async () => {
    const plain = await failure({ redisUrl: url(tls.user.name, tls.user.password, 'redis') });
    expect(plain.message).toMatch(/if it requires TLS, use rediss:\/\//);
    const dns = await failure({ redisUrl: 'redis://no-such-host.invalid:6379' });
    expect(dns.failure).toBe('dns');
    expect(dns.message).toMatch(/^Redis at redis:\/\/no-such-host\.invalid:6379 is not reachable \(DNS: no-such-host\.invalid does not resolve, (ENOTFOUND|EAI_AGAIN)\): check the host in REDIS_URL$/);
    const refused = await failure({ redisUrl: 'redis://127.0.0.1:1' });
    expect(refused.failure).toBe('refused');
    expect(refused.message).toMatch(/^Redis at redis:\/\/127\.0\.0\.1:1 is not reachable \(connection refused at 127\.0\.0\.1:1, ECONNREFUSED\): start it with/);
    const cluster = await failure({ redisUrl: 'redis://127.0.0.1:6379', redisClusterNodes: [{ host: '127.0.0.1', port: 1 }] });
    expect(cluster.failure).toBe('refused');
    expect(cluster.message).toMatch(/^Redis Cluster \(REDIS_CLUSTER_NODES=127\.0\.0\.1:1\) is not reachable .*: check REDIS_CLUSTER_NODES$/);
  });
});
