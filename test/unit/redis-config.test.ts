import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/app-config.js';

/** Any file that exists, for REDIS_TLS_CA (its content is checked on connect). */
const SOME_FILE = fileURLToPath(import.meta.url);

describe('Redis topology variables', () => {
  it('reads cluster seed nodes, an IPv6 one in brackets', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: ' 10.0.0.1:6379, node-2.example.com:6380 ,[fd00::3]:6379', REDIS_URL: 'rediss://exporter:pw@ignored:6379' });
    expect(config.redisClusterNodes).toEqual([
      { host: '10.0.0.1', port: 6379 },
      { host: 'node-2.example.com', port: 6380 },
      { host: 'fd00::3', port: 6379 },
    ]);
    expect(config.redisSentinels).toBeUndefined();
  });

  it('reads sentinels with their master name, and a CA for rediss://', () => {
    const config = loadConfig({ REDIS_SENTINELS: '10.0.0.1:26379,10.0.0.2:26379', REDIS_SENTINEL_MASTER: 'mymaster', REDIS_URL: 'rediss://h:6379/3', REDIS_TLS_CA: SOME_FILE });
    expect(config.redisSentinels).toEqual([
      { host: '10.0.0.1', port: 26379 },
      { host: '10.0.0.2', port: 26379 },
    ]);
    expect(config.redisSentinelMaster).toBe('mymaster');
    expect(config.redisTlsCa).toBe(SOME_FILE);
  });

  it.each([
    [{ REDIS_CLUSTER_NODES: '10.0.0.1' }, 'REDIS_CLUSTER_NODES="10.0.0.1" is invalid: expected comma-separated host:port pairs such as 10.0.0.1:6379,10.0.0.2:6379'],
    [{ REDIS_CLUSTER_NODES: '10.0.0.1:70000' }, 'REDIS_CLUSTER_NODES="10.0.0.1:70000" is invalid: expected comma-separated host:port pairs such as 10.0.0.1:6379,10.0.0.2:6379'],
    [{ REDIS_SENTINELS: 'a:1 b:2' }, 'REDIS_SENTINELS="a:1 b:2" is invalid: expected comma-separated host:port pairs such as 10.0.0.1:6379,10.0.0.2:6379'],
    [{ REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 'b:2', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set: a Redis is either a cluster or a Sentinel-managed master, set one of them'],
    [{ REDIS_SENTINELS: 'b:2' }, 'REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER is not: set it to the master name the sentinels monitor (sentinel monitor <name> …)'],
    [{ REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINEL_MASTER="m" is set but REDIS_SENTINELS is not: set it to the sentinels\' host:port list'],
    [
      { REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://user:s3cret@h:6379/2' },
      'REDIS_URL="redis://user:***@h:6379/2" names database 2, but a Redis Cluster (REDIS_CLUSTER_NODES) has only database 0: drop /2 from REDIS_URL',
    ],
    [{ REDIS_TLS_CA: SOME_FILE }, 'REDIS_TLS_CA is set but REDIS_URL="redis://127.0.0.1:6379" does not use TLS: start it with rediss://'],
    [{ REDIS_TLS_CA: '/no/such/ca.pem', REDIS_URL: 'rediss://h:6379' }, 'REDIS_TLS_CA="/no/such/ca.pem" is invalid: expected the path of a PEM file with the CA certificate (no such file)'],
    // A bad REDIS_URL is shown without its password.
    [{ REDIS_URL: 'rediss://user:s3cret@h:6379/x' }, 'REDIS_URL="rediss://user:***@h:6379/x" is invalid: expected a database number after the port, e.g. redis://127.0.0.1:6379/0'],
  ])('refuses %j with one line', (env, message) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(message);
    expect((error as Error).message).not.toContain('s3cret');
  });

  it('accepts database 0 in cluster mode, written or not', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://h:6379/0' }).redisClusterNodes).toHaveLength(1);
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://h:6379' }).redisClusterNodes).toHaveLength(1);
  });
});
