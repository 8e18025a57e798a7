import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../jobs/admin-port.js';
import { START_JOB } from '../../jobs/queues.js';
import { waitForRun } from '../../jobs/wait-for-run.js';
import { applySchedules } from '../../jobs/schedules.js';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { FileSink, STAGING_FOLDER } from '../../src/storage/file-sink.js';
import type { Manifest } from '../../src/storage/manifest.js';
import { dataFileKey, latestKey, manifestKey } from '../../src/storage/output-layout.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { expectPointersWhole } from '../support/pointer-invariant.js';
import { eventually, runCli } from '../support/worker-process.js';
import { scheduledPool } from '../support/scheduled-pool.js';

const TOKEN = 'test-admin-token-0123456789';
let emulator: CognitoEmulator;
let scratch: string;
const harnesses: ExportHarness[] = [];
const admins: AdminServer[] = [];
let umask: number | undefined;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-security-'));
});

afterEach(async () => {
  if (umask !== undefined) process.umask(umask);
  umask = undefined;
  for (const admin of admins.splice(0)) await admin.close();
  for (const harness of harnesses.splice(0)) await harness.close();
});

afterAll(async () => {
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});

const url = (...parts: string[]): string => pathToFileURL(join(scratch, ...parts)).href;

async function harness(env: Record<string, string> = {}, logTo?: NodeJS.WritableStream): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, env, ...(logTo ? { logTo } : {}) });
  harnesses.push(h);
  return h;
}

async function adminOf(h: ExportHarness): Promise<AdminServer> {
  const admin = await startAdminServer(h.runtime, h.queues, h.worker, { host: '127.0.0.1', port: 0, token: TOKEN, dashboard: true });
  admins.push(admin);
  return admin;
}

/** Whether anything exists at `path`. */
const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** Every file under `root`, recursively. */
async function filesUnder(root: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true }).catch(() => [])) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(path)));
    else files.push(path);
  }
  return files;
}

/** The text of every file under `root`, gunzipped where gzipped. */
async function textUnder(root: string): Promise<string> {
  const texts: string[] = [];
  for (const file of await filesUnder(root)) {
    const bytes = await readFile(file).catch(() => Buffer.alloc(0));
    texts.push(bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8'));
  }
  return texts.join('\n');
}

/** Every value stored under the harness's Redis prefix, as one text. */
async function redisText(h: ExportHarness): Promise<string> {
  const redis = h.runtime.redis;
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${h.prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
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
}

describe('the dashboard and start jobs', () => {
  it('refuses every write through the dashboard: a start job to a forbidden destination, clean, empty, obliterate, pause', async () => {
    const h = await harness({ ALLOWED_DESTINATIONS: url('allowed') });
    const admin = await adminOf(h);
    const poolId = emulator.createPoolWithUsers({ users: 30, seed: 1801 });
    const auth = { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` };
    // Reading still works.
    const listed = await fetch(`${admin.url}/dashboard/api/queues`, { headers: auth });
    expect(listed.status).toBe(200);
    const queue = h.queues.runs.name;
    const forbidden = join(scratch, 'forbidden-dashboard');
    const request = { userPoolId: poolId, destination: pathToFileURL(forbidden).href, trigger: 'schedule' };
    const writes: [string, string, unknown][] = [
      ['POST', `/api/queues/${queue}/add`, { name: START_JOB, data: { request }, options: {} }],
      ['PUT', `/api/queues/${queue}/clean/completed`, undefined],
      ['PUT', `/api/queues/${queue}/empty`, undefined],
      ['PUT', `/api/queues/${queue}/obliterate`, undefined],
      ['PUT', `/api/queues/${queue}/pause`, undefined],
      ['PUT', '/api/queues/pause', undefined],
      ['PATCH', `/api/queues/${queue}/job-schedulers/export-${poolId}`, { repeatOptions: { every: 1000 } }],
      ['DELETE', `/api/queues/${queue}`, undefined],
    ];
    for (const [method, path, body] of writes) {
      const response = await fetch(`${admin.url}/dashboard${path}`, {
        method,
        headers: { ...auth, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(((await response.json()) as { error: string }).error).toMatch(/the dashboard is read-only/);
    }
    // Time for a job that got through to run: none did.
    await sleep(3000);
    expect(await exists(forbidden)).toBe(false);
    expect(await h.queues.runs.getJobCounts()).toMatchObject({ waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0 });
    expect(await h.queues.runs.isPaused()).toBe(false);
    expect((await h.runtime.runs.history(poolId)).lastSuccess).toBeUndefined();
  });

  it('refuses a start job added to the queue by hand for a destination outside ALLOWED_DESTINATIONS: nothing is written', async () => {
    const h = await harness({ ALLOWED_DESTINATIONS: url('allowed') });
    const poolId = emulator.createPoolWithUsers({ users: 30, seed: 1802 });
    const forbidden = join(scratch, 'forbidden-hand');
    const job = await h.queues.runs.add(START_JOB, { request: { userPoolId: poolId, destination: pathToFileURL(forbidden).href, trigger: 'schedule' } });
    const failed = await eventually(async () => {
      const state = await job.getState();
      return state === 'failed' || state === 'completed' ? state : undefined;
    }, 20_000, 'the start job to end');
    expect(failed).toBe('failed');
    const reason = (await h.queues.runs.getJob(job.id ?? ''))?.failedReason ?? '';
    expect(reason).toMatch(new RegExp(`^start job \\S+ for ${poolId} is refused: it is not from the pool's registered schedule and destination \\S+ is not under ALLOWED_DESTINATIONS`));
    expect(reason.split('\n')).toHaveLength(1);
    await sleep(1000);
    expect(await exists(forbidden)).toBe(false);
    // An allowed destination, but a role the worker does not allow: refused the same way.
    const roleJob = await h.queues.runs.add(START_JOB, { request: { userPoolId: poolId, destination: url('allowed', 'role'), roleArn: 'arn:aws:iam::111111111111:role/other', externalId: 'caller-chosen', trigger: 'schedule' } });
    await eventually(async () => ((await roleJob.getState()) === 'failed' ? true : undefined), 20_000, 'the start job with a role to fail');
    expect((await h.queues.runs.getJob(roleJob.id ?? ''))?.failedReason).toMatch(/is refused: .* role arn:aws:iam::111111111111:role\/other is not in ALLOWED_ROLE_ARNS/);
    expect(await exists(join(scratch, 'allowed', 'role'))).toBe(false);
    // Under the allow-list, a start job is honoured like POST /exports.
    const allowed = await h.queues.runs.add(START_JOB, { request: { userPoolId: poolId, destination: url('allowed', 'hand'), trigger: 'schedule' } });
    const result = await eventually(async () => ((await allowed.getState()) === 'completed' ? ((await h.queues.runs.getJob(allowed.id ?? ''))?.returnvalue as string) : undefined), 20_000, 'the allowed start job');
    const status = await h.wait(/requested run (\S+)/.exec(result)?.[1] ?? '');
    expect(status.state).toBe('completed');
  });

  it('refuses a start job added by hand for a pool outside ALLOWED_POOLS, even to an allowed destination', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 10, seed: 1805 });
    const h = await harness({ ALLOWED_DESTINATIONS: url('allowed'), ALLOWED_POOLS: 'eu-west-1_OnlyThis' });
    const job = await h.queues.runs.add(START_JOB, { request: { userPoolId: poolId, destination: url('allowed', 'pools'), trigger: 'schedule' } });
    await eventually(async () => ((await job.getState()) === 'failed' ? true : undefined), 20_000, 'the start job for another pool to fail');
    expect((await h.queues.runs.getJob(job.id ?? ''))?.failedReason).toBe(
      `start job ${job.id ?? ''} for ${poolId} is refused: it is not from the pool's registered schedule and user pool ${poolId} is not in ALLOWED_POOLS; schedule exports with \`schedule apply\`, start them with the CLI or POST /exports`,
    );
    expect(await exists(join(scratch, 'allowed', 'pools'))).toBe(false);
    expect(await h.runtime.runs.activeRun(poolId)).toBeUndefined();
  });

  it('honours a registered schedule whatever the allow-list (the config file is the operator’s)', async () => {
    const h = await harness({ ALLOWED_DESTINATIONS: url('allowed') });
    const poolId = emulator.createPoolWithUsers({ users: 30, seed: 1803 });
    const destination = url('scheduled-outside');
    await applySchedules(h.queues, [scheduledPool(poolId, destination, { shards: 1, groups: false })]);
    const tick = await eventually(async () => (await h.queues.runs.getDelayed()).find((job) => job.name === START_JOB), 10_000, 'the schedule’s next tick');
    await tick.promote();
    const result = await eventually(async () => ((await tick.getState()) === 'completed' ? ((await h.queues.runs.getJob(tick.id ?? ''))?.returnvalue as string) : undefined), 20_000, 'the scheduled start job');
    const status = await h.wait(/requested run (\S+)/.exec(result)?.[1] ?? '');
    expect(status.state).toBe('completed');
    expect(status.manifestUrl?.startsWith(destination)).toBe(true);
  });
});

describe('destinations with dot segments and escapes', () => {
  it('get HTTP 400 naming the destination, and nothing is queued or written', async () => {
    const h = await harness({ ALLOWED_DESTINATIONS: `s3://good-bucket/tenant-a,${url('allowed-400', 'tenant-a')}` });
    const admin = await adminOf(h);
    const poolId = emulator.createPoolWithUsers({ users: 30, seed: 1804 });
    for (const destination of [
      's3://good-bucket/tenant-b/%2e%2e/tenant-a',
      's3://good-bucket/tenant-a/%2E%2E/tenant-a',
      's3://good-bucket/tenant-a/../tenant-a',
      's3://good-bucket/tenant-a/./x',
      `${url('allowed-400', 'tenant-b')}/%2e%2e/tenant-a`,
      `${url('allowed-400', 'tenant-a')}/x/../../tenant-b`,
    ]) {
      const response = await fetch(`${admin.url}/exports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ user_pool_id: poolId, destination }),
      });
      expect(response.status, destination).toBe(400);
      const { error } = (await response.json()) as { error: string };
      expect(error).toContain(JSON.stringify(destination));
      expect(error.split('\n')).toHaveLength(1);
    }
    await sleep(1000);
    expect(await h.queues.runs.getJobCounts()).toMatchObject({ waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0 });
    expect(await h.runtime.redis.keys(`${h.prefix}:ce:run:*`)).toEqual([]);
    expect(await filesUnder(join(scratch, 'allowed-400'))).toEqual([]);
  });

  it('make the CLI exit 2 with one line naming the destination', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 10, seed: 1805 });
    for (const destination of ['s3://good-bucket/tenant-b/%2e%2e/tenant-a', 's3://good-bucket/a/../b', `${url('cli')}/%2e%2e/x`]) {
      const result = await runCli(['export', '--user-pool-id', poolId, '--destination', destination], h.childEnv);
      expect(result.code, destination).toBe(2);
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines, result.stderr).toHaveLength(1);
      expect(lines[0]).toContain(JSON.stringify(destination));
    }
    expect(await h.runtime.redis.keys(`${h.prefix}:ce:run:*`)).toEqual([]);
  });
});

describe('a manifest planted in the destination', () => {
  /** Exports a tenant's pool to its own folder; returns its manifest and the subs of its users. */
  async function otherTenant(h: ExportHarness, seed: number): Promise<{ manifest: Manifest; subs: string[] }> {
    const poolId = emulator.createPoolWithUsers({ users: 40, seed });
    const status = await h.run({ userPoolId: poolId, destination: url(`tenant-${seed}`) });
    expect(status.state).toBe('completed');
    const manifest = await readManifest(status.manifestUrl ?? '');
    const subs = (await readManifestRecords(manifest)).map((record) => record.sub ?? '');
    expect(subs).toHaveLength(40);
    return { manifest, subs };
  }

  /** Plants latest.json and a manifest of `poolId` in `destination` listing `urls` as its users files. */
  async function plant(destination: string, poolId: string, urls: (sink: FileSink, run: { userPoolId: string; snapshotId: string; startedAt: Date }) => string[]): Promise<void> {
    const sink = new FileSink(fileURLToPath(destination));
    const run = { userPoolId: poolId, snapshotId: '20260101T000000000Z-abc123', startedAt: new Date('2026-01-01T00:00:00.000Z') };
    const files = urls(sink, run).map((u) => ({ url: u, records: 40, bytes: 100, sha256: '0'.repeat(64) }));
    const manifest = { schema_version: 1, user_pool_id: poolId, snapshot_id: run.snapshotId, region: 'us-east-1', started_at: run.startedAt.toISOString(), completed_at: run.startedAt.toISOString(), record_count: 40, shards: 1, filter: null, attributes: null, format: 'ndjson', compression: 'gzip', files, changes_since: null, changes_reason: null, tables: { users: { record_count: 40, files } } };
    await sink.putText(manifestKey(run), JSON.stringify(manifest));
    await sink.putText(latestKey(poolId), JSON.stringify({ schema_version: 1, user_pool_id: poolId, snapshot_id: run.snapshotId, manifest_url: sink.urlOf(manifestKey(run)), completed_at: run.startedAt.toISOString(), record_count: 40 }));
  }

  /** Runs an export and waits for its end (not h.run: its pointer check would fail first on the planted pointer of a run that failed). */
  async function finished(h: ExportHarness, userPoolId: string, destination: string) {
    const requested = await h.request({ userPoolId, destination });
    return waitForRun(h.runtime, h.queues, requested.snapshotId, { intervalMs: 100, signal: AbortSignal.timeout(90_000) });
  }

  it('with ../ file URLs to another tenant’s export leaks no record: no change tables, and one line says why', async () => {
    const logs = new PassThrough();
    let logged = '';
    logs.on('data', (chunk: Buffer) => (logged += chunk.toString('utf8')));
    const h = await harness({ LOG_LEVEL: 'debug' }, logs);
    const other = await otherTenant(h, 1806);
    const poolId = emulator.createPoolWithUsers({ users: 25, seed: 1807 });
    const destination = url('victim');
    // The other tenant's files, reached from the victim's folder with .. (%2e%2e: see the unit tests).
    await plant(destination, poolId, (sink) => other.manifest.files.map((file) => `${sink.urlOf('users')}/../../tenant-1806${file.url.slice(url('tenant-1806').length)}`));
    const status = await finished(h, poolId, destination);
    const written = await textUnder(fileURLToPath(destination));
    for (const sub of other.subs) {
      expect(written).not.toContain(sub);
      expect(logged).not.toContain(sub);
    }
    expect(await redisText(h)).not.toContain(other.subs[0]);
    expect(status.error).toBeUndefined();
    expect(status.state).toBe('completed');
    await expectPointersWhole(destination, poolId);
    const manifest = await readManifest(status.manifestUrl ?? '');
    expect(manifest.changes_since).toBeNull();
    expect(manifest.changes_reason).toMatch(/^the previous snapshot's manifest \(\S+\) lists a users file outside \S+ \(another folder, another root or a path with \. or \.\. segments\): not compared$/);
    expect(manifest.tables.user_changes).toBeUndefined();
  });

  it('pointing at a non-JSON file outside the destination leaks none of its bytes to the log or Redis', async () => {
    const logs = new PassThrough();
    let logged = '';
    logs.on('data', (chunk: Buffer) => (logged += chunk.toString('utf8')));
    const h = await harness({ LOG_LEVEL: 'debug' }, logs);
    const secret = 'SECRET-BYTES-4b1d of another tenant';
    await writeFile(join(scratch, 'secret.txt'), `${secret}\n`);
    const poolId = emulator.createPoolWithUsers({ users: 25, seed: 1808 });
    const destination = url('victim-2');
    await plant(destination, poolId, (sink, run) => [`${sink.urlOf(dataFileKey(run, '0', 0, 'ndjson'))}/../../../../../../secret.txt`]);
    const status = await finished(h, poolId, destination);
    expect(logged).not.toContain('SECRET');
    expect(await redisText(h)).not.toContain('SECRET');
    expect(status.error).toBeUndefined();
    expect(status.state).toBe('completed');
    const manifest = await readManifest(status.manifestUrl ?? '');
    expect(manifest.changes_since).toBeNull();
    expect(manifest.changes_reason).toMatch(/lists a users file outside .*: not compared$/);
    await expectPointersWhole(destination, poolId);
    expect((await h.runtime.runs.history(poolId)).lastFailure).toBeUndefined();
  });

  it('whose files are symlinks out of the destination fails the run with one line, reading nothing through them', async () => {
    const logs = new PassThrough();
    let logged = '';
    logs.on('data', (chunk: Buffer) => (logged += chunk.toString('utf8')));
    const h = await harness({ LOG_LEVEL: 'debug' }, logs);
    const other = await otherTenant(h, 1809);
    const poolId = emulator.createPoolWithUsers({ users: 25, seed: 1810 });
    const destination = url('victim-3');
    const keys: string[] = [];
    await plant(destination, poolId, (sink, run) =>
      other.manifest.files.map((_, i) => {
        const key = dataFileKey(run, i.toString(16), 0, 'ndjson.gz');
        keys.push(key);
        return sink.urlOf(key);
      }),
    );
    for (const [i, key] of keys.entries()) {
      await mkdir(join(fileURLToPath(destination), ...key.split('/').slice(0, -1)), { recursive: true });
      await symlink(fileURLToPath(other.manifest.files[i]?.url ?? ''), join(fileURLToPath(destination), ...key.split('/')));
    }
    // Not h.run: its pointer check would read the planted files through the links itself.
    const status = await finished(h, poolId, destination);
    expect(status.state).toBe('failed');
    // The diff job failed with one line naming the link's URL (the run's own error says a child failed).
    const reasons = (await h.queues.shards.getFailed()).map((job) => job.failedReason);
    expect(reasons.length).toBeGreaterThan(0);
    for (const reason of reasons) {
      expect(reason).toMatch(/resolves outside \S+ \(a symbolic link\): refused, nothing outside the destination is read$/);
      expect(reason.split('\n')).toHaveLength(1);
    }
    const written = await textUnder(join(fileURLToPath(destination), 'user_changes'));
    for (const sub of other.subs) {
      expect(written).not.toContain(sub);
      expect(logged).not.toContain(sub);
    }
    expect(await redisText(h)).not.toContain(other.subs[0]);
  });
});

describe('modes of what an export creates', () => {
  /** Every file and folder under `root` (root included) with its permission bits, as octal strings. */
  async function modes(root: string): Promise<{ path: string; kind: 'file' | 'folder'; mode: string }[]> {
    const found: { path: string; kind: 'file' | 'folder'; mode: string }[] = [];
    const walk = async (path: string): Promise<void> => {
      const info = await stat(path);
      found.push({ path, kind: info.isDirectory() ? 'folder' : 'file', mode: (info.mode & 0o7777).toString(8) });
      if (info.isDirectory()) for (const entry of await readdir(path)) await walk(join(path, entry));
    };
    await walk(root);
    return found;
  }

  it.each([
    [{}, '600', '700'],
    [{ FILE_MODE: '0640', DIR_MODE: '0750' }, '640', '750'],
  ])('under umask 022 with %j are files %s and folders %s, the destination folder, staging, manifests and pointers included', async (env, fileMode, dirMode) => {
    umask = process.umask(0o022);
    const h = await harness(env);
    const poolId = emulator.createPoolWithUsers({ users: 250, seed: 1811, groups: 3 });
    const root = join(scratch, `modes-${fileMode}`, 'dest');
    for (let i = 0; i < 2; i++) {
      const status = await h.run({ userPoolId: poolId, destination: pathToFileURL(root).href, fileMaxRecords: 50 });
      expect(status.state).toBe('completed');
    }
    const found = await modes(join(scratch, `modes-${fileMode}`));
    expect(found.filter((entry) => entry.kind === 'file').length).toBeGreaterThan(10);
    expect(found.some((entry) => entry.path.endsWith('latest.json'))).toBe(true);
    expect(found.some((entry) => entry.path.endsWith(STAGING_FOLDER))).toBe(true);
    for (const entry of found) expect(entry.mode, entry.path).toBe(entry.kind === 'file' ? fileMode : dirMode);
  });
});
