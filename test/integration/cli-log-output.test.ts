import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisWith } from '../support/redis-topologies.js';
import { eventually, runCli, spawnCli } from '../support/worker-process.js';

/**
 * What a person reads: the commands they run (all but `worker`) print no JSON log lines on stderr
 * when LOG_LEVEL is not set, and a Redis that may evict keys is said once, not once per connection
 * BullMQ opens. Against a real redis-server started with `maxmemory-policy allkeys-lru`.
 */
let redis: Awaited<ReturnType<typeof startRedisWith>>;
const env = () => ({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: '{ce-log-output}', ADMIN_PORT: '0', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' });
const EVICTION = /maxmemory-policy|eviction policy/i;

beforeAll(async () => {
  redis = await startRedisWith(['--maxmemory-policy', 'allkeys-lru']);
});

afterAll(async () => {
  await redis.stop();
});

describe('a Redis that may evict keys', () => {
  it('a worker says so once, whatever number of connections BullMQ opens', async () => {
    const worker = spawnCli(['worker'], env());
    try {
      await eventually(() => Promise.resolve(worker.stderr().includes('worker started') || undefined), 20_000, 'the worker to start');
      // BullMQ checks the policy on each connection as it first uses it: let them all open.
      await new Promise((resolve) => setTimeout(resolve, 3000));
    } finally {
      worker.child.kill('SIGTERM');
      await worker.exited();
    }
    const lines = worker.stderr().split('\n').filter((line) => EVICTION.test(line));
    expect(lines, worker.stderr()).toHaveLength(1);
    expect(lines[0]).toMatch(/Redis maxmemory-policy is allkeys-lru; set it to noeviction/);
  });

  it('status says so in one line for a person, no JSON, and prints its answer on stdout', async () => {
    const status = await runCli(['status'], env());
    expect(status.code).toBe(0);
    expect(status.stderr).toBe('cognito-export: warning: Redis maxmemory-policy is allkeys-lru; set it to noeviction or checkpoints and jobs may be evicted\n');
    expect(status.stdout).not.toMatch(/^\{/m);
  });

  it('with LOG_LEVEL set, the same warning is a JSON line for a log collector', async () => {
    const status = await runCli(['status'], { ...env(), LOG_LEVEL: 'warn' });
    const lines = status.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ level: 40, msg: expect.stringMatching(/maxmemory-policy is allkeys-lru/) as unknown });
  });
});
