import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * A connection to Redis, whatever its topology: one server or a Sentinel-managed master (`Redis`),
 * or a Redis Cluster (`Cluster`). Both take the same commands; BullMQ takes either as `connection`.
 */
export type RedisClient = Redis | Cluster;

/** One `host:port` of a cluster's seed nodes or of the sentinels. */
export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Where Redis is (`AppConfig` is one): REDIS_URL, and the cluster's seed nodes or the sentinels,
 * which take precedence over its host and port (its user, password, TLS and database still apply).
 */
export interface RedisTarget {
  readonly redisUrl: string;
  readonly redisClusterNodes?: readonly RedisNodeAddress[] | undefined;
  readonly redisSentinels?: readonly RedisNodeAddress[] | undefined;
  readonly redisSentinelMaster?: string | undefined;
  /** Path of a PEM file of the CA that signed the server's certificate (REDIS_TLS_CA). */
  readonly redisTlsCa?: string | undefined;
}

/** What went wrong on the first connection. */
export type RedisFailure = 'refused' | 'dns' | 'timeout' | 'auth' | 'tls' | 'other';

/**
 * Redis could not be reached, or refused us: the message (one line, never the password) says which
 * (refused, DNS, timeout, authentication, TLS) and what to change.
 */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
  constructor(
    message: string,
    readonly failure: RedisFailure = 'other',
  ) {
    super(message);
  }
}

/** REDIS_URL names a database the server does not have; the message says which it has. */
export class RedisDatabaseError extends Error {
  override readonly name = 'RedisDatabaseError';
}

export interface ConnectOptions {
  /** How long the first connection (each node's) may take. @default 3000 */
  readonly connectTimeoutMs?: number;
}

/**
 * How a connection rides out a failover once it is up. A Redis Cluster failover takes the cluster's
 * `cluster-node-timeout` (ElastiCache: 15 s) to notice a dead master, then an election: about 5 to
 * 30 s in which commands for its slots find no master. ioredis's defaults give up after 16 tries
 * 100 ms apart ("Too many Cluster redirections"); these wait up to about a minute instead, so a
 * worker's commands (and BullMQ's) stall through the failover and go on, as a standalone
 * connection's queue does while it reconnects.
 */
export const FAILOVER_TUNING = Object.freeze({
  /** Delay before a command whose node connection closed is retried (the slots are refreshed meanwhile). */
  retryDelayOnFailoverMs: 500,
  /** Delay before retrying a command answered CLUSTERDOWN (slots uncovered while a replica takes over). */
  retryDelayOnClusterDownMs: 500,
  /** Delay before retrying a command answered TRYAGAIN (a multi-key command during resharding). */
  retryDelayOnTryAgainMs: 500,
  /** Retries (redirections, closed connections, CLUSTERDOWN, TRYAGAIN) per command: 120 × 500 ms ≈ a minute. */
  maxRedirections: 120,
  /** How long one node may take to answer CLUSTER SLOTS while the slots are refreshed. */
  slotsRefreshTimeoutMs: 3000,
  /** Reconnect backoff of a connection that dropped (a server restarted, a master switched): at most this. */
  maxReconnectDelayMs: 5000,
});

const reconnectDelay = (times: number): number => Math.min(times * 200, FAILOVER_TUNING.maxReconnectDelayMs);

/**
 * A command answered READONLY went to a replica: the master was switched under a connection that
 * stayed open (ElastiCache's primary endpoint moving, a Sentinel failover with the old master still
 * up). Reconnecting (to the new master) and resending it is safe: a replica ran nothing.
 */
const reconnectOnReadonly = (error: Error): 2 | false => (/^READONLY\b/.test(error.message) ? 2 : false);

/**
 * Opens a connection suitable for BullMQ workers and for our scripts: `maxRetriesPerRequest: null`
 * (BullMQ requires it), and a first connection that fails fast with a one-line explanation instead
 * of retrying forever. A plain URL opens one server; a {@link RedisTarget} may name a cluster or
 * sentinels.
 */
export async function connectRedis(url: string, options?: ConnectOptions): Promise<Redis>;
export async function connectRedis(target: RedisTarget, options?: ConnectOptions): Promise<RedisClient>;
export async function connectRedis(target: string | RedisTarget, options: ConnectOptions = {}): Promise<RedisClient> {
  const resolved: RedisTarget = typeof target === 'string' ? { redisUrl: target } : target;
  const url = new URL(resolved.redisUrl);
  const db = Number(url.pathname.slice(1) || 0);
  const tls = tlsOptions(url, resolved.redisTlsCa);
  const connectTimeout = options.connectTimeoutMs ?? 3000;
  const auth = {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
  const common: RedisOptions = {
    ...auth,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectTimeout,
    reconnectOnError: reconnectOnReadonly,
    ...(tls ? { tls } : {}),
  };
  const errors: unknown[] = [];
  const where = describeTarget(resolved);

  if (resolved.redisClusterNodes?.length) {
    if (db !== 0) {
      throw new RedisDatabaseError(`REDIS_URL=${redactUrl(resolved.redisUrl)} names database ${db}, but a Redis Cluster has only database 0: drop /${db} from REDIS_URL`);
    }
    const clusterOptions: ClusterOptions = {
      redisOptions: common,
      lazyConnect: true,
      enableReadyCheck: true,
      // While first connecting, do not retry: we report and exit instead.
      clusterRetryStrategy: () => null,
      retryDelayOnFailover: FAILOVER_TUNING.retryDelayOnFailoverMs,
      retryDelayOnClusterDown: FAILOVER_TUNING.retryDelayOnClusterDownMs,
      retryDelayOnTryAgain: FAILOVER_TUNING.retryDelayOnTryAgainMs,
      maxRedirections: FAILOVER_TUNING.maxRedirections,
      slotsRefreshTimeout: FAILOVER_TUNING.slotsRefreshTimeoutMs,
      // TLS (ElastiCache, MemoryDB): connect to the names the cluster announces, not their
      // addresses, so the certificate is checked against the name it was issued for.
      ...(tls ? { dnsLookup: (address: string, callback: (error: Error | null, address: string) => void) => callback(null, address) } : {}),
    };
    const cluster = hardenCluster(
      new Cluster(
        resolved.redisClusterNodes.map(({ host, port }) => ({ host, port })),
        clusterOptions,
      ),
    );
    cluster.on('error', (error: unknown) => errors.push(error));
    cluster.on('node error', (error: unknown) => errors.push(error));
    try {
      await cluster.connect();
      await cluster.ping();
    } catch (error) {
      cluster.disconnect();
      // The cluster client reports only "None of startup nodes is available": ask the seed nodes
      // one by one, as plain connections, what is wrong (refused, DNS, TLS, authentication).
      const seen = await probeNodes(resolved.redisClusterNodes, common);
      throw unavailable(where, [...seen, error, ...errors], resolved, 'REDIS_CLUSTER_NODES');
    }
    // Connected: from now on reconnect with backoff, as a long-running worker should. BullMQ's
    // duplicates (blocking connections) copy these options.
    cluster.options.clusterRetryStrategy = reconnectDelay;
    quietErrors(cluster);
    return cluster;
  }

  const sentinel = resolved.redisSentinels?.length
    ? {
        sentinels: resolved.redisSentinels.map(({ host, port }) => ({ host, port })),
        name: resolved.redisSentinelMaster ?? '',
        sentinelRetryStrategy: () => null,
        // No `failoverDetector`: its subscriptions to the sentinels outlive quit() (ioredis 5.11),
        // so a stopped worker never exits. A master that dies drops the connection anyway, and
        // one demoted alive answers READONLY, on which the connection reconnects (above).
        ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      }
    : { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) };
  const redis = new Redis({
    ...common,
    ...sentinel,
    ...(db !== 0 ? { db } : {}),
    lazyConnect: true,
    // While first connecting, do not retry: we report and exit instead.
    retryStrategy: () => null,
  });
  redis.on('error', (error: unknown) => errors.push(error));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw unavailable(where, [error, ...errors], resolved, 'sentinels' in sentinel ? 'REDIS_SENTINELS' : 'REDIS_URL');
  }
  // ioredis reports a SELECT that fails and goes on in database 0: check it did select it.
  if (db !== 0) {
    try {
      await redis.select(db);
    } catch {
      const count = await databaseCount(redis);
      redis.disconnect();
      const has = count === undefined ? 'fewer databases' : `${count} databases (0–${count - 1})`;
      throw new RedisDatabaseError(`REDIS_URL=${redactUrl(resolved.redisUrl)} names database ${db}, but this Redis has ${has}: use one of those, or raise \`databases\` in redis.conf`);
    }
  }
  // Connected: from now on reconnect with backoff, as a long-running worker should.
  redis.options.retryStrategy = reconnectDelay;
  if ('sentinels' in sentinel) redis.options.sentinelRetryStrategy = reconnectDelay;
  quietErrors(redis);
  return redis;
}

/**
 * Works around two ioredis Cluster (5.11) behaviours that a failover exposes; BullMQ's own
 * connections are duplicates of this one and get the same.
 *
 * - A pipeline or MULTI is pinned to the node it was first sent to. When that master dies, each of
 *   its commands is retried on the dead node until the retries run out (about a minute here), even
 *   once the slot map names the promoted replica: a worker's lock renewals and its shutdown wait
 *   for that. Here a pinned command whose node has ended goes to the slot's master as the slot map
 *   says now (after a failover retry refreshed it), as a command that is not pinned does.
 * - `disconnect()` drops every node at once, and each node's end then reports the pool drained:
 *   the first makes the cluster `end`, the next ones set it back to `close`. A command still
 *   waiting to be retried (a worker's blocking BZPOPMIN during a failover) is then queued for a
 *   connection that never comes instead of being refused, and a worker closed during a failover
 *   waits for it forever. Here a cluster that ended stays ended until it is connected again.
 */
function hardenCluster(cluster: Cluster): Cluster {
  type Pinned = { slot?: number; redis?: Redis };
  const internals = cluster as unknown as {
    setStatus(status: string, arg?: unknown): void;
    sendCommand(command: unknown, stream?: unknown, node?: Pinned): unknown;
    connectionPool?: { getInstanceByKey?(key: string): Redis | undefined };
  };
  const setStatus = internals.setStatus.bind(cluster);
  internals.setStatus = (status, arg) => {
    if (status === 'close' && cluster.status === 'end') return;
    setStatus(status, arg);
  };
  const sendCommand = internals.sendCommand.bind(cluster);
  internals.sendCommand = (command, stream, node) => {
    if (node && typeof node === 'object' && typeof node.slot === 'number' && !Object.getOwnPropertyDescriptor(node, 'redis')?.get) {
      let pinned = node.redis;
      Object.defineProperty(node, 'redis', {
        configurable: true,
        enumerable: true,
        get: () => {
          if (pinned?.status === 'end' && node.slot !== undefined) {
            const key = cluster.slots[node.slot]?.[0];
            const current = key === undefined ? undefined : internals.connectionPool?.getInstanceByKey?.(key);
            if (current && current !== pinned) pinned = current;
          }
          return pinned;
        },
        set: (value: Redis | undefined) => {
          pinned = value;
        },
      });
    }
    return sendCommand(command, stream, node);
  };
  const duplicate = cluster.duplicate.bind(cluster);
  cluster.duplicate = (...args: Parameters<Cluster['duplicate']>) => hardenCluster(duplicate(...args));
  return cluster;
}

/** The errors of plain connections to each node (none from a node that answers PING). */
async function probeNodes(nodes: readonly RedisNodeAddress[], common: RedisOptions): Promise<unknown[]> {
  const seen: unknown[] = [];
  for (const { host, port } of nodes) {
    const probe = new Redis({ ...common, host, port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', (error: unknown) => seen.push(error));
    try {
      await probe.connect();
      await probe.ping();
    } catch (error) {
      seen.push(error);
    } finally {
      probe.disconnect();
    }
  }
  return seen;
}

/** From now on errors are reported through the next command (or BullMQ's own listeners); an unhandled 'error' would crash. */
function quietErrors(client: RedisClient): void {
  client.removeAllListeners('error');
  client.removeAllListeners('node error');
  client.on('error', () => undefined);
}

/** TLS options for a `rediss://` URL: certificates verified, against REDIS_TLS_CA when given. */
function tlsOptions(url: URL, caPath: string | undefined): ConnectionOptions | undefined {
  if (url.protocol !== 'rediss:') return undefined;
  if (caPath === undefined) return {};
  let pem: string;
  try {
    pem = readFileSync(caPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new RedisUnavailableError(`REDIS_TLS_CA=${caPath} cannot be read (${code}): give the path of the CA certificate (PEM) that signed Redis's certificate`, 'tls');
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new RedisUnavailableError(`REDIS_TLS_CA=${caPath} holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the CA certificate that signed Redis's certificate`, 'tls');
  }
  return { ca: [pem] };
}

/** The target as messages name it, without the password. */
function describeTarget(target: RedisTarget): string {
  const list = (nodes: readonly RedisNodeAddress[]) => nodes.map(({ host, port }) => `${isIP(host) === 6 ? `[${host}]` : host}:${port}`).join(',');
  if (target.redisClusterNodes?.length) return `Redis Cluster (REDIS_CLUSTER_NODES=${list(target.redisClusterNodes)})`;
  if (target.redisSentinels?.length) return `Redis master ${target.redisSentinelMaster ?? ''} (REDIS_SENTINELS=${list(target.redisSentinels)})`;
  return `Redis at ${redactUrl(target.redisUrl)}`;
}

/** Certificate problems Node reports by code; their message says what the code means. */
const CERTIFICATE_CODES = /^(UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/;

/** The one-line explanation of a first connection that failed, from every error it saw. */
function unavailable(where: string, seen: readonly unknown[], target: RedisTarget, nodesVariable: string): RedisUnavailableError {
  // ClusterAllFailedError keeps the last node's error aside.
  type ConnectError = Error & { code?: string; hostname?: string; address?: string; port?: number };
  const errors = seen
    .flatMap((error) => [error, (error as { lastNodeError?: unknown } | undefined)?.lastNodeError])
    .filter((error): error is ConnectError => error instanceof Error);
  const first = (test: (error: ConnectError) => boolean): ConnectError | undefined => errors.find(test);
  const message = (error: Error) => error.message.replace(/\s+/g, ' ').trim();
  const tls = new URL(target.redisUrl).protocol === 'rediss:';

  const auth = first((error) => /^(WRONGPASS|NOAUTH|NOPERM)\b|invalid password|invalid username-password/i.test(error.message));
  if (auth) {
    const user = new URL(target.redisUrl).username;
    const who = user ? `user ${decodeURIComponent(user)}` : 'the default user';
    const fix = /^NOPERM\b/.test(auth.message)
      ? `give ${who} the permissions docs/redis.md lists`
      : /^NOAUTH\b/.test(auth.message)
        ? 'it requires a password: put the user and password in REDIS_URL (rediss://user:password@host:port)'
        : `check the user and password in REDIS_URL (rediss://user:password@host:port)`;
    return new RedisUnavailableError(`${where} refused authentication as ${who} (${message(auth)}): ${fix}`, 'auth');
  }
  const certificate = first((error) => CERTIFICATE_CODES.test(error.code ?? '') || /certificate|self[- ]signed/i.test(error.message));
  if (certificate) {
    const fix = target.redisTlsCa
      ? `REDIS_TLS_CA=${target.redisTlsCa} did not sign the server's certificate, or the certificate does not name the host connected to`
      : "set REDIS_TLS_CA to the CA certificate (PEM) that signed the server's certificate, or check the host name";
    return new RedisUnavailableError(`TLS with ${where} failed: the server's certificate was refused (${message(certificate)}${certificate.code ? `, ${certificate.code}` : ''}): ${fix}`, 'tls');
  }
  const handshake = first((error) => error.code === 'EPROTO' || /wrong version number|SSL routines|handshake/i.test(error.message));
  if (handshake) {
    return new RedisUnavailableError(`TLS with ${where} failed (${message(handshake)}): the port may not speak TLS; use redis:// for a plain port, rediss:// for a TLS one`, 'tls');
  }
  const dns = first((error) => /^(ENOTFOUND|EAI_AGAIN|EAI_NONAME)$/.test(error.code ?? '') || /\b(ENOTFOUND|EAI_AGAIN)\b/.test(error.message));
  if (dns) {
    const code = dns.code ?? /\b(ENOTFOUND|EAI_AGAIN)\b/.exec(dns.message)?.[1];
    return new RedisUnavailableError(`${where} is not reachable (DNS: ${dns.hostname ?? 'a host name'} does not resolve, ${code}): check the host in ${nodesVariable}`, 'dns');
  }
  const refused = first((error) => error.code === 'ECONNREFUSED' || /\bECONNREFUSED\b/.test(error.message));
  if (refused) {
    const address = refused.address ? ` at ${refused.address}:${refused.port ?? ''}` : '';
    const hint = nodesVariable === 'REDIS_URL' ? 'start it with `redis-server --daemonize yes` or set REDIS_URL' : `check ${nodesVariable}`;
    return new RedisUnavailableError(`${where} is not reachable (connection refused${address}, ECONNREFUSED): ${hint}`, 'refused');
  }
  const timeout = first((error) => error.code === 'ETIMEDOUT' || /timed? ?out/i.test(error.message));
  if (timeout) {
    return new RedisUnavailableError(`${where} is not reachable (no answer in time, ${timeout.code ?? 'timeout'}): a firewall or security group may drop the connection, or ${nodesVariable} names the wrong host`, 'timeout');
  }
  const reset = first((error) => error.code === 'ECONNRESET' || /Connection is closed/i.test(error.message));
  const last = errors[0];
  const reason = last ? message(last) : 'no answer';
  const hint = reset && !tls ? ': if it requires TLS, use rediss://' : nodesVariable === 'REDIS_URL' ? ': start it with `redis-server --daemonize yes` or set REDIS_URL' : `: check ${nodesVariable}`;
  return new RedisUnavailableError(`${where} is not reachable (${reason})${hint}`, reset ? 'refused' : 'other');
}

/** How many databases the server has, if it lets us ask. */
async function databaseCount(redis: Redis): Promise<number | undefined> {
  try {
    const reply = (await redis.config('GET', 'databases')) as string[];
    return reply[1] === undefined ? undefined : Number(reply[1]);
  } catch {
    return undefined;
  }
}

/**
 * Warns (returns a message) when Redis may evict keys: checkpoints and queues must never vanish.
 * Asks every master of a cluster: `CONFIG GET`, or where managed Redis (ElastiCache, MemoryDB)
 * refuses CONFIG, the `maxmemory_policy` line of `INFO memory`; nothing to say when neither answers
 * (its parameter group says; see docs/redis.md).
 */
export async function evictionWarning(redis: RedisClient): Promise<string | undefined> {
  const servers: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const server of servers) {
    const policy = await evictionPolicy(server);
    if (policy && policy !== 'noeviction') {
      return `Redis maxmemory-policy is ${policy}; set it to noeviction or checkpoints and jobs may be evicted`;
    }
  }
  return undefined;
}

async function evictionPolicy(server: Redis): Promise<string | undefined> {
  try {
    const reply = (await server.config('GET', 'maxmemory-policy')) as string[];
    if (reply[1]) return reply[1];
  } catch {
    // Managed Redis often forbids CONFIG: INFO says it too.
  }
  try {
    return /^maxmemory_policy:(\S+)/m.exec(await server.info('memory'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * BullMQ prints "IMPORTANT! Eviction policy is …" with console.warn for every connection it opens (ten
 * in a worker's first seconds). {@link evictionWarning} says the same once, in the log: this drops
 * BullMQ's copies. Idempotent; everything else console.warn prints passes through.
 */
export function silenceBullmqEvictionWarnings(): void {
  if (bullmqWarningsSilenced) return;
  bullmqWarningsSilenced = true;
  const warn = console.warn.bind(console);
  console.warn = (...args: unknown[]): void => {
    if (typeof args[0] === 'string' && args[0].startsWith('IMPORTANT! Eviction policy is ')) return;
    warn(...args);
  };
}
let bullmqWarningsSilenced = false;

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
