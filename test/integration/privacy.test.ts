import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { AdminUpdateUserAttributesCommand, type UserType } from '@aws-sdk/client-cognito-identity-provider';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { Manifest } from '../../src/storage/manifest.js';
import { keyIdOf, pseudonym } from '../../src/tables/privacy.js';
import type { MembershipRecord } from '../../src/tables/group-record.js';
import type { UserRecord } from '../../src/tables/user-record.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { TEST_REDIS_URL } from '../support/redis-test-prefix.js';
import { connectRedis } from '../../src/redis/redis-connection.js';

const KEY = 'a test pseudonymization key, 32 bytes or more';
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

/** Every key and value of a Redis prefix (strings, hashes, lists, sets, sorted sets), as one text. */
async function redisText(prefix: string): Promise<string> {
  const redis = await connectRedis(TEST_REDIS_URL);
  try {
    const parts: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        parts.push(key);
        const type = await redis.type(key);
        if (type === 'string') parts.push((await redis.get(key)) ?? '');
        else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
        else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1)));
        else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      }
    } while (cursor !== '0');
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}

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
    const first = await h.run(request);
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
    const second = await h.run({ ...request, shards: 1 });
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
    const texts = { files: await treeText(directory), redis: await redisText(h.prefix), logs: log };
    for (const [where, text] of Object.entries(texts)) {
      for (const secret of secrets) {
        if (!secret || secret.length < 4) continue;
        for (const form of forms(secret)) {
          const at = text.indexOf(form);
          expect(at === -1, `${where} holds ${JSON.stringify(form)}: …${text.slice(Math.max(0, at - 300), at + 100)}…`).toBe(true);
        }
      }
      for (const token of tokens) expect(text.includes(token), `${where} holds a pagination token`).toBe(false);
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
      expect(record?.username).toBe(pseudonym(Buffer.from(KEY), user.Username ?? ''));
      expect(record?.attributes.name).toBeUndefined();
      const email = attribute(user, 'email');
      if (email !== undefined && user !== changed) expect(record?.attributes.email).toBe(pseudonym(Buffer.from(KEY), email));
      // The same user hashes the same in both runs.
      if (user !== changed) expect(before.get(record?.sub ?? null)).toEqual({ ...record, snapshot_id: previous.snapshot_id });
    }
    for (const membership of memberships) expect(membership.username).toBe(bySub.get(membership.sub)?.username);
    const changes = await readManifestRecords<UserRecord & { op: string; changed_fields: string[] }>(manifest, undefined, 'user_changes');
    expect(changes).toEqual([
      expect.objectContaining({ op: 'update', sub: attribute(changed, 'sub'), username: pseudonym(Buffer.from(KEY), changed.Username ?? ''), changed_fields: expect.arrayContaining(['attributes.email']) as unknown }),
    ]);
    expect(changes[0]?.attributes.email).toBe(pseudonym(Buffer.from(KEY), 'changed.person@example.net'));
    const membershipChanges = await readManifestRecords<MembershipRecord & { op: string }>(manifest, undefined, 'group_membership_changes');
    expect(membershipChanges).toEqual([expect.objectContaining({ op: 'insert', username: pseudonym(Buffer.from(KEY), users[3]?.Username ?? '') })]);

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

  it('refuses a run that pseudonymizes without a key, or sub, with one line', async () => {
    const h = await startHarness({ cognitoEndpoint: emulator.url, worker: false });
    harnesses.push(h);
    const poolId = emulator.createPoolWithUsers({ users: 5, seed: 702 });
    const destination = pathToFileURL(join(scratch, 'refused')).href;
    await expect(h.request({ userPoolId: poolId, destination, pseudonymize: ['email'] })).rejects.toThrow(
      'pseudonymize needs PSEUDONYMIZATION_KEY (at least 32 bytes, the same on every worker): set it, or drop pseudonymize',
    );
    await expect(h.request({ userPoolId: poolId, destination, excludeAttributes: 'sub' })).rejects.toThrow(/sub cannot be excluded or pseudonymized/);
    await expect(h.request({ userPoolId: poolId, destination, excludeAttributes: 'email', pseudonymize: 'email' })).rejects.toThrow(/email is both excluded and pseudonymized/);
  });

  it('fails a run on a worker whose key is not the one it was requested with, naming the setting', async () => {
    const requester = await startHarness({ cognitoEndpoint: emulator.url, worker: false, env: { PSEUDONYMIZATION_KEY: KEY } });
    harnesses.push(requester);
    const poolId = emulator.createPoolWithUsers({ users: 50, seed: 703 });
    const { snapshotId } = await requester.request({ userPoolId: poolId, destination: pathToFileURL(join(scratch, 'other-key')).href, pseudonymize: ['email'] });
    const worker = await startHarness({ cognitoEndpoint: emulator.url, env: { PSEUDONYMIZATION_KEY: `${KEY} but another one`, REDIS_KEY_PREFIX: requester.prefix } });
    harnesses.push(worker);
    const status = await worker.wait(snapshotId);
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(/this worker's PSEUDONYMIZATION_KEY \(key id [0-9a-f]{16}\) is not the one run .* was requested with \(key id [0-9a-f]{16}\): every worker must have the same key/);
  });
});
