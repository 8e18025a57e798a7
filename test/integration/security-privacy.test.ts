import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer } from '../../jobs/admin-port.js';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { connectRedis } from '../../src/redis/redis-connection.js';
import type { MembershipRecord } from '../../src/tables/group-record.js';
import { pseudonym } from '../../src/tables/privacy.js';
import type { UserRecord } from '../../src/tables/user-record.js';
import { EMULATOR_CREDENTIALS, readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { TEST_REDIS_URL } from '../support/redis-test-prefix.js';
import { runCli } from '../support/worker-process.js';

const KEY = randomBytes(32).toString('hex');
const TOKEN = 'a-token-of-sixteen-chars-or-more';
const SECRET_EMAIL = 'carol.private@example.org';
let emulator: CognitoEmulator;
let scratch: string;
const harnesses: ExportHarness[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-privacy-sec-'));
});

afterEach(async () => {
  for (const harness of harnesses.splice(0)) await harness.close();
});

afterAll(async () => {
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function harness(): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, env: { PSEUDONYMIZATION_KEY: KEY, ALLOWED_DESTINATIONS: pathToFileURL(scratch).href } });
  harnesses.push(h);
  return h;
}

/** Every key and string/hash value under a Redis prefix, as one text. */
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
        else if (type === 'list') parts.push(...(await redis.lrange(key, 0, -1)));
        else if (type === 'zset') parts.push(...(await redis.zrange(key, 0, -1)));
        else if (type === 'set') parts.push(...(await redis.smembers(key)));
      }
    } while (cursor !== '0');
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}

/** Asserts the process printed exactly one line on stderr, and returns it. */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  return lines[0] ?? '';
}

describe('a filter on a pseudonymized field', () => {
  it('is refused over HTTP with 400 and one line, and its value reaches neither the answer nor Redis', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 20, seed: 1901 });
    const admin = await startAdminServer(h.runtime, h.queues, h.worker, { host: '127.0.0.1', port: 0, token: TOKEN, dashboard: false });
    try {
      const post = (body: object) =>
        fetch(`${admin.url}/exports`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const destination = pathToFileURL(join(scratch, 'http-filter')).href;
      const refused = await post({ user_pool_id: poolId, destination, filter: `email = "${SECRET_EMAIL}"`, pseudonymize: ['email'] });
      expect(refused.status).toBe(400);
      const text = await refused.text();
      const { error } = JSON.parse(text) as { error: string };
      expect(error.split('\n')).toHaveLength(1);
      expect(error).toMatch(/filter on email, which is pseudonymized/);
      expect(text).not.toContain(SECRET_EMAIL);

      const identities = await post({ user_pool_id: poolId, destination, pseudonymize: ['username'] });
      expect(identities.status).toBe(400);
      expect(((await identities.json()) as { error: string }).error).toMatch(/username is pseudonymized but identities is exported/);
    } finally {
      await admin.close();
    }
    expect(await redisText(h.prefix)).not.toContain(SECRET_EMAIL);
  });

  it('is refused by the CLI with exit 2 and one line, before anything is queued', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 20, seed: 1902 });
    const destination = pathToFileURL(join(scratch, 'cli-filter')).href;
    const result = await runCli(['export', '--user-pool-id', poolId, '--destination', destination, '--filter', `email ^= "${SECRET_EMAIL}"`, '--pseudonymize', 'email'], {
      ...h.childEnv,
      PSEUDONYMIZATION_KEY: KEY,
    });
    expect(result.code).toBe(2);
    const line = oneLine(result.stderr);
    expect(line).toMatch(/filter on email, which is pseudonymized/);
    expect(line).not.toContain(SECRET_EMAIL);
    expect(await redisText(h.prefix)).not.toContain(SECRET_EMAIL);
  });
});

describe('PSEUDONYMIZATION_KEY', () => {
  it('refuses a passphrase at start with exit 2 and one line naming the variable and openssl rand -hex 32', async () => {
    const passphrase = 'our company passphrase for exports, 2026 edition';
    const result = await runCli(['export', '--user-pool-id', 'eu-west-1_Anything1', '--destination', pathToFileURL(join(scratch, 'weak')).href, '--pseudonymize', 'email'], {
      REDIS_URL: TEST_REDIS_URL,
      AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
      PSEUDONYMIZATION_KEY: passphrase,
    });
    expect(result.code).toBe(2);
    const line = oneLine(result.stderr);
    expect(line).toMatch(/PSEUDONYMIZATION_KEY/);
    expect(line).toContain('openssl rand -hex 32');
    expect(line).not.toContain('passphrase for');
  });
});

describe('pseudonyms in a run', () => {
  it('are separated by field, joinable across tables, and under a versioned key id', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 150, seed: 1903, groups: 2 });
    // A pool whose usernames are emails: the username's hash must not be the email's.
    emulator.addUser(poolId, { username: SECRET_EMAIL, attributes: { email: SECRET_EMAIL } });
    const group = emulator.listAllGroups(poolId)[0]?.GroupName ?? '';
    emulator.addUserToGroup(poolId, group, SECRET_EMAIL);
    const status = await h.run({
      userPoolId: poolId,
      destination: pathToFileURL(join(scratch, 'run')).href,
      pseudonymize: ['email', 'username'],
      excludeAttributes: ['identities'],
    });
    expect(status.error).toBeUndefined();
    const manifest = await readManifest(status.manifestUrl ?? '');
    expect(manifest.privacy?.key_id).toMatch(/^v2-[0-9a-f]{16}$/);
    const users = await readManifestRecords<UserRecord>(manifest);
    const carol = users.find((user) => user.username === pseudonym(Buffer.from(KEY), 'username', SECRET_EMAIL));
    expect(carol?.attributes.email).toBe(pseudonym(Buffer.from(KEY), 'email', SECRET_EMAIL));
    expect(carol?.username).not.toBe(carol?.attributes.email);
    const memberships = await readManifestRecords<MembershipRecord>(manifest, undefined, 'group_memberships');
    const bySub = new Map(users.map((user) => [user.sub, user]));
    expect(memberships.length).toBeGreaterThan(0);
    for (const membership of memberships) expect(membership.username).toBe(bySub.get(membership.sub)?.username);
    expect(memberships.some((membership) => membership.sub === carol?.sub)).toBe(true);
  });
});
