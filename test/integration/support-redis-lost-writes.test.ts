import { readdir, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestRedisServer, type TestRedisServer } from '../support/redis-server.js';

let server: TestRedisServer;
let client: Redis;

beforeEach(async () => {
  server = await startTestRedisServer();
  client = new Redis(server.url, { maxRetriesPerRequest: null });
  // Refused connections while the server restarts: ioredis retries them.
  client.on('error', () => undefined);
});

afterEach(async () => {
  client.disconnect();
  await server.stop();
});

const processId = async (redis: Redis): Promise<string> => /process_id:(\d+)/.exec(await redis.info('server'))?.[1] ?? '';

describe('TestRedisServer.copyData / restoreFrom: a real lost second', () => {
  it('loses every write after the copy, keeps the ones before, and a connected client reconnects', async () => {
    await client.set('k1', 'before');
    const copy = await server.copyData();
    await client.set('k2', 'after');
    expect(await client.get('k2')).toBe('after');
    const before = await processId(client);

    await server.restoreFrom(copy);

    // The same client, connected before: it reconnects to the new process on the same port.
    expect(await client.get('k1')).toBe('before');
    expect(await client.get('k2')).toBeNull();
    expect(await processId(client)).not.toBe(before);

    // The copy stays as it was: restoring it again loses what was written since.
    await client.set('k3', 'later');
    await server.restoreFrom(copy);
    expect(await client.mget('k1', 'k2', 'k3')).toEqual(['before', null, null]);
  });

  it('a plain kill -9 and restart keeps that write: the loss comes from the copy, not from the kill', async () => {
    await client.set('k1', 'before');
    await server.copyData();
    await client.set('k2', 'after');
    // Once Redis has written k2 to its AOF (everysec may hold the write back while an fsync runs).
    while (!(await client.info('persistence')).includes('aof_buffer_length:0')) await new Promise((resolve) => setTimeout(resolve, 5));
    await server.kill();
    await server.restart();
    expect(await client.mget('k1', 'k2')).toEqual(['before', 'after']);
  });

  it('copies while writes stream in: the restored server holds an unbroken prefix of them', async () => {
    let written = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await client.set(`seq:${written}`, String(written));
        written++;
      }
    })();
    while (written < 500) await new Promise((resolve) => setTimeout(resolve, 5));
    // Acknowledged before the copy began: each is in the AOF's page cache by then.
    const atCopy = written;
    const copy = await server.copyData();
    while (written < atCopy + 500) await new Promise((resolve) => setTimeout(resolve, 5));
    writing = false;
    await writer;

    await server.restoreFrom(copy);
    const keys = await client.keys('seq:*');
    const present = new Set(keys.map((key) => Number(key.slice(4))));
    // Every write acknowledged before the copy began is there; those after it are gone; no gaps.
    expect(present.size).toBeGreaterThanOrEqual(atCopy);
    expect(present.size).toBeLessThan(written);
    for (let i = 0; i < present.size; i++) expect(present.has(i)).toBe(true);
  });

  it('loads a copy whose last command is cut short (Redis loads truncated AOFs by default)', async () => {
    await client.set('k1', 'whole');
    await client.set('k2', 'x'.repeat(1000));
    const copy = await server.copyData();
    const folder = join(copy, 'appendonlydir');
    const incr = (await readdir(folder)).find((name) => name.endsWith('.incr.aof'));
    expect(incr).toBeDefined();
    const path = join(folder, incr!);
    const size = (await readFile(path)).length;
    // Cut in the middle of k2's 1000-byte value: a torn last write.
    await truncate(path, size - 500);

    await server.restoreFrom(copy);
    expect(await client.get('k1')).toBe('whole');
    expect(await client.get('k2')).toBeNull();
  });
});
