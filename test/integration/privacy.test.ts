import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { AdminUpdateUserAttributesCommand, type UserType } from '@aws-sdk/client-cognito-identity-provider';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { Manifest } from '../../src/storage/manifest.js';
import { keyIdOf, pseudonym } from '../../src/tables/privacy.js';
import type { MembershipRecord } from '../../src/tables/group-record.js';
import type { UserRecord } from '../../src/tables/user-record.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { TEST_REDIS_URL } from '../support/redis-test-prefix.js';
import { connectRedis } from '../../src/redis/redis-connection.js';
import type { RunStatus } from '../../src/runs/run-store.js';

// A key as `openssl rand -hex 32` makes one (passphrases are refused).
const KEY = '3f9a1c0b7d2e4a55c1e8b6d4f2a09e7c5b3d1f0e2c4a6b8d9e1f3a5c7e9b0d2f';
const OTHER_KEY = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
let emulator: CognitoEmulator;
let scratch: string;
const harnesses: ExportHarness[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-privacy-'));
});

afterEach(async () => {
  emulator.setFaults({ latencyMs: 0, tokenTtlSeconds: null });
  for (const harness of harnesses.splice(0)) await harness.close();
});

afterAll(async () => {
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});

/** Every file under `directory`, gunzipped, as one text. */
async function treeText(directory: string): Promise<string> {
  const names = await readdir(directory, { recursive: true, withFileTypes: true });
  const parts: string[] = [];
  for (const entry of names) {
    if (!entry.isFile()) continue;
    const bytes = await readFile(join(entry.parentPath, entry.name));
    parts.push(entry.name.endsWith('.gz') ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8'));
  }
  return parts.join('\n');
}

/**
 * Every key of a Redis prefix with each value under it (a string; a hash's fields; the members of a
 * list, set or sorted set; a stream's entries), one part each, so parts seen again dedupe.
 */
async function redisParts(redis: Redis, prefix: string): Promise<string[]> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      parts.push(key);
      const type = await redis.type(key);
      if (type === 'string') parts.push(`${key}\n${(await redis.get(key)) ?? ''}`);
      else if (type === 'hash') for (const [field, value] of Object.entries(await redis.hgetall(key))) parts.push(`${key}\n${field}\n${value}`);
      else if (type === 'list') for (const value of await redis.lrange(key, 0, -1)) parts.push(`${key}\n${value}`);
      else if (type === 'set') for (const value of await redis.smembers(key)) parts.push(`${key}\n${value}`);
      else if (type === 'zset') for (const value of await redis.zrange(key, 0, -1)) parts.push(`${key}\n${value}`);
      else if (type === 'stream') for (const entry of await redis.xrange(key, '-', '+')) parts.push(`${key}\n${JSON.stringify(entry)}`);
    }
  } while (cursor !== '0');
  return parts;
}

/** Every key and value of a Redis prefix, as one text. */
async function redisText(prefix: string): Promise<string> {
  const redis = await connectRedis(TEST_REDIS_URL);
  try {
    return (await redisParts(redis, prefix)).join('\n');
  } finally {
    redis.disconnect();
  }
}

/**
 * Scans a Redis prefix over and over until `run` settles, so what a run holds only while in flight
 * (its checkpoints, deleted once it is published) is seen too; every distinct part, and `run`'s result.
 */
async function scanWhile<T>(prefix: string, run: Promise<T>): Promise<{ result: T; parts: Set<string> }> {
  const redis = await connectRedis(TEST_REDIS_URL);
  const parts = new Set<string>();
  let settled = false;
  const watched = run.finally(() => {
    settled = true;
  });
  // Awaited below; a scan that throws first must not leave its rejection unhandled.
  watched.catch(() => undefined);
  try {
    while (!settled) for (const part of await redisParts(redis, prefix)) parts.add(part);
    return { result: await watched, parts };
  } finally {
    redis.disconnect();
  }
}

/** True for a part of a shard checkpoint that lists a durable file (see redisParts). */
const durableFileOfCheckpoint = (part: string): boolean => /:checkpoint:[^\n]*\nfile:\d+\n/.test(part);

/** A value as it appears in any of the texts: raw, or escaped inside a JSON string. */
const forms = (value: string): string[] => [...new Set([value, JSON.stringify(value).slice(1, -1)])];

const attribute = (user: UserType, name: string) => user.Attributes?.find((a) => a.Name === name)?.Value;

describe('privacy', () => {
  it('pseudonymized and excluded values reach no output file, no Redis key or value and no log line; a hash is the same everywhere', async () => {
    const lines = new PassThrough();
    const logged: string[] = [];
    lines.on('data', (chunk: Buffer) => logged.push(chunk.toString('utf8')));
    const h = await startHarness({ cognitoEndpoint: emulator.url, env: { PSEUDONYMIZATION_KEY: KEY, LOG_LEVEL: 'trace' }, logTo: lines });
    harnesses.push(h);
    const poolId = emulator.createPoolWithUsers({ users: 1500, seed: 701, groups: 6 });
    const directory = join(scratch, 'private');
    const request = { userPoolId: poolId, destination: pathToFileURL(directory).href, pseudonymize: ['email', 'phone_number', 'username'], excludeAttributes: ['name', 'identities'], fileMaxRecords: 200, name: 'private' };
    // `identities` holds the IdP's user id, often the email: kept, it would carry the email in the clear.
    const users = emulator.listAllUsers(poolId);
    // Redis is scanned while each run is in flight too: its checkpoints are gone once it is published.
    const inFlight = new Set<string>();
    const scanned = async (run: Promise<RunStatus>): Promise<RunStatus> => {
      const { result, parts } = await scanWhile(h.prefix, run);
      for (const part of parts) inFlight.add(part);
      expect([...parts].some(durableFileOfCheckpoint), 'a scan while the run was in flight saw a checkpoint with a durable file').toBe(true);
      return result;
    };
    const first = await scanned(h.run(request));
    expect(first.error).toBeUndefined();

    // A second run, with changes (an email changed, a membership added), and one pagination token
    // rejected mid-walk: its text must not be logged either.
    const changed = users[7] as UserType;
    await h.runtime.cognito(emulator.region).send(new AdminUpdateUserAttributesCommand({ UserPoolId: poolId, Username: changed.Username, UserAttributes: [{ Name: 'email', Value: 'changed.person@example.net' }] }));
    emulator.addUserToGroup(poolId, emulator.listAllGroups(poolId)[0]?.GroupName ?? '', users[3]?.Username ?? '');
    const client = h.runtime.cognito(emulator.region);
    const tokens = new Set<string>();
    let calls = 0;
    let rejected = false;
    client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { PaginationToken?: string; NextToken?: string };
        const sent = input.PaginationToken ?? input.NextToken;
        if (sent) tokens.add(sent);
        if (++calls < 10 || !sent || rejected) return next(args);
        rejected = true;
        emulator.setFaults({ tokenTtlSeconds: 0.001 });
        await sleep(5);
        try {
          return await next(args);
        } finally {
          emulator.setFaults({ tokenTtlSeconds: null });
        }
      },
      { step: 'initialize', name: 'rejectOneToken' },
    );
    const second = await scanned(h.run({ ...request, shards: 1 }));
    expect(second.error).toBeUndefined();
    expect(second.state).toBe('completed');
    const log = logged.join("");
    expect(log).toMatch(/pagination token rejected; restarting the shard/);
    expect(log).toMatch(/\[redacted\]/);

    const secrets = users.flatMap((user) => [
      attribute(user, 'email'),
      attribute(user, 'phone_number'),
      attribute(user, 'name'),
      // Some pools use the sub as the username: the sub is kept, so that username is no secret.
      user.Username === attribute(user, 'sub') ? undefined : user.Username,
    ]);
    secrets.push('changed.person@example.net');
    // A checkpoint holds the cursor it resumes from: pagination tokens are only barred from what stays.
    const texts = { files: await treeText(directory), redis: await redisText(h.prefix), logs: log, 'redis in flight': [...inFlight].join('\n') };
    for (const [where, text] of Object.entries(texts)) {
      for (const secret of secrets) {
        if (!secret || secret.length < 4) continue;
        for (const form of forms(secret)) {
          const at = text.indexOf(form);
          expect(at === -1, `${where} holds ${JSON.stringify(form)}: …${text.slice(Math.max(0, at - 300), at + 100)}…`).toBe(true);
        }
      }
      if (where !== 'redis in flight') for (const token of tokens) expect(text.includes(token), `${where} holds a pagination token`).toBe(false);
      expect(text.includes(KEY), `${where} holds the key`).toBe(false);
    }
    expect(tokens.size).toBeGreaterThan(10);

    const manifest: Manifest = await readManifest(second.manifestUrl ?? '');
    expect(manifest.privacy).toEqual({ excluded_attributes: ['identities', 'name'], pseudonymized: ['email', 'phone_number', 'username'], key_id: keyIdOf(KEY) });
    expect(manifest.changes_since).toBe(first.spec.snapshotId);
    const previous = await readManifest(first.manifestUrl ?? '');
    const records = await readManifestRecords<UserRecord>(manifest);
    const before = new Map((await readManifestRecords<UserRecord>(previous)).map((r) => [r.sub, r]));
    const memberships = await readManifestRecords<MembershipRecord>(manifest, undefined, 'group_memberships');
    const bySub = new Map(records.map((r) => [r.sub, r]));
    for (const user of users) {
      const record = bySub.get(attribute(user, 'sub') ?? null);
      expect(record?.username).toBe(pseudonym(Buffer.from(KEY), 'username', user.Username ?? ''));
      expect(record?.attributes.name).toBeUndefined();
      const email = attribute(user, 'email');
      if (email !== undefined && user !== changed) expect(record?.attributes.email).toBe(pseudonym(Buffer.from(KEY), 'email', email));
      // The same user hashes the same in both runs.
      if (user !== changed) expect(before.get(record?.sub ?? null)).toEqual({ ...record, snapshot_id: previous.snapshot_id });
    }
    for (const membership of memberships) expect(membership.username).toBe(bySub.get(membership.sub)?.username);
    const changes = await readManifestRecords<UserRecord & { op: string; changed_fields: string[] }>(manifest, undefined, 'user_changes');
    expect(changes).toEqual([
      expect.objectContaining({ op: 'update', sub: attribute(changed, 'sub'), username: pseudonym(Buffer.from(KEY), 'username', changed.Username ?? ''), changed_fields: expect.arrayContaining(['attributes.email']) as unknown }),
    ]);
    expect(changes[0]?.attributes.email).toBe(pseudonym(Buffer.from(KEY), 'email', 'changed.person@example.net'));
    const membershipChanges = await readManifestRecords<MembershipRecord & { op: string }>(manifest, undefined, 'group_membership_changes');
    expect(membershipChanges).toEqual([expect.objectContaining({ op: 'insert', username: pseudonym(Buffer.from(KEY), 'username', users[3]?.Username ?? '') })]);

    // DuckDB joins on the hashed username as on the raw one.
    const list = (table: string) => (manifest.tables[table]?.files ?? []).map((f) => `'${new URL(f.url).pathname}'`).join(', ');
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    const row = (await connection.runAndReadAll(
      `SELECT count(*)::INTEGER AS n FROM read_ndjson([${list('group_memberships')}]) m JOIN read_ndjson([${list('users')}]) u ON u.username = m.username AND u.sub = m.sub`,
    )).getRowObjects()[0];
    connection.closeSync();
    expect(row).toEqual({ n: memberships.length });
  }, 120_000);

  it('refuses pseudonymizing sub, or a field both excluded and pseudonymized, with one line', async () => {
    const h = await startHarness({ cognitoEndpoint: emulator.url, worker: false });
    harnesses.push(h);
    const poolId = emulator.createPoolWithUsers({ users: 5, seed: 702 });
    const destination = pathToFileURL(join(scratch, 'refused')).href;
    await expect(h.request({ userPoolId: poolId, destination, excludeAttributes: 'sub' })).rejects.toThrow(/sub cannot be excluded or pseudonymized/);
    await expect(h.request({ userPoolId: poolId, destination, excludeAttributes: 'email', pseudonymize: 'email' })).rejects.toThrow(/email is both excluded and pseudonymized/);
    expect(await h.runtime.runs.activeRun(poolId)).toBeUndefined();
  });

  it('needs no key where the run is requested: the worker that starts it fixes the key id; a worker without a key fails the run with one line', async () => {
    const requester = await startHarness({ cognitoEndpoint: emulator.url, worker: false });
    harnesses.push(requester);
    const poolId = emulator.createPoolWithUsers({ users: 20, seed: 704 });
    const keyless = await startHarness({ cognitoEndpoint: emulator.url, env: { REDIS_KEY_PREFIX: requester.prefix } });
    harnesses.push(keyless);
    const refused = await requester.request({ userPoolId: poolId, destination: pathToFileURL(join(scratch, 'keyless')).href, pseudonymize: ['email'] });
    const failed = await keyless.wait(refused.snapshotId);
    expect(failed.state).toBe('failed');
    expect(failed.error).toBe(`run ${refused.snapshotId} pseudonymizes email, but this worker has no PSEUDONYMIZATION_KEY: set the same key on every worker`);
    await keyless.close();
    harnesses.splice(harnesses.indexOf(keyless), 1);

    const worker = await startHarness({ cognitoEndpoint: emulator.url, env: { PSEUDONYMIZATION_KEY: KEY, REDIS_KEY_PREFIX: requester.prefix } });
    harnesses.push(worker);
    const { snapshotId } = await requester.request({ userPoolId: poolId, destination: pathToFileURL(join(scratch, 'worker-key')).href, pseudonymize: ['email'] });
    expect((await requester.runtime.runs.spec(snapshotId))?.pseudonymizationKeyId).toBeUndefined();
    const done = await worker.wait(snapshotId);
    expect(done.state).toBe('completed');
    const manifest = await readManifest(done.manifestUrl ?? '');
    expect(manifest.privacy?.key_id).toBe(keyIdOf(KEY));
  }, 120_000);

  it('fails a run on a worker whose key is not the one the run was started with, naming the setting', async () => {
    const requester = await startHarness({ cognitoEndpoint: emulator.url, worker: false });
    harnesses.push(requester);
    const poolId = emulator.createPoolWithUsers({ users: 50, seed: 703 });
    const { snapshotId } = await requester.request({ userPoolId: poolId, destination: pathToFileURL(join(scratch, 'other-key')).href, pseudonymize: ['email'] });
    // What a worker holding OTHER_KEY records when it starts the run (then it is stopped, say).
    expect(await requester.runtime.runs.recordKeyId(snapshotId, keyIdOf(OTHER_KEY))).toBe(keyIdOf(OTHER_KEY));
    // The first id recorded stays; a run whose hash is gone gets none (and no hash without a TTL is made).
    expect(await requester.runtime.runs.recordKeyId(snapshotId, keyIdOf(KEY))).toBe(keyIdOf(OTHER_KEY));
    expect(await requester.runtime.runs.recordKeyId('20200101T000000000Z-000000', keyIdOf(KEY))).toBeUndefined();
    expect(await requester.runtime.redis.exists(requester.runtime.keys.run('20200101T000000000Z-000000'))).toBe(0);
    const worker = await startHarness({ cognitoEndpoint: emulator.url, env: { PSEUDONYMIZATION_KEY: KEY, REDIS_KEY_PREFIX: requester.prefix } });
    harnesses.push(worker);
    const status = await worker.wait(snapshotId);
    expect(status.state).toBe('failed');
    expect(status.error).toBe(
      `this worker's PSEUDONYMIZATION_KEY (key id ${keyIdOf(KEY)}) is not the one run ${snapshotId} was started with (key id ${keyIdOf(OTHER_KEY)}): every worker must have the same key`,
    );
  });
});
