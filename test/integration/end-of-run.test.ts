import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { buildRunSpec } from '../../src/runs/export-request.js';
import type { LatestPointer, Manifest } from '../../src/storage/manifest.js';
import { startAdminServer } from '../../jobs/admin-port.js';
import { requestExport } from '../../jobs/request-export.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness, type HarnessOptions } from '../support/export-harness.js';
import { expectPointersWhole } from '../support/pointer-invariant.js';
import { startTestRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { operationOf, startS3FaultProxy, type ProxiedRequest, type S3FaultProxy } from '../support/s3-fault-proxy.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { eventually, runCli, spawnCli, type CliProcess } from '../support/worker-process.js';

/**
 * The end of a run is one transaction: a commit point nothing can undo, pointers that only move
 * forward (compare-and-swap, or repaired from Redis's committed head), retention that never strands
 * a pointer, withdrawals that are finished by whoever comes next. Each case below was a way to break
 * it with real processes, the real CLI and real stores.
 */

let emulator: CognitoEmulator;
let scratch: string;
/** One S3 server that honours conditional writes (as AWS S3 does) and one that ignores them (as s3rver). */
const stores: Record<'conditional' | 'unconditional', { s3: S3TestServer; proxy: S3FaultProxy }> = {} as never;
const harnesses: ExportHarness[] = [];
const children: CliProcess[] = [];
const servers: TestRedisServer[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-end-of-run-'));
  for (const kind of ['conditional', 'unconditional'] as const) {
    const s3 = await startS3TestServer('exports', { conditionalWrites: kind === 'conditional' });
    stores[kind] = { s3, proxy: await startS3FaultProxy(s3.endpoint) };
  }
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.child.kill('SIGCONT');
    child.child.kill('SIGKILL');
  }
  for (const harness of harnesses.splice(0)) await harness.close();
  for (const server of servers.splice(0)) await server.stop();
  for (const { proxy } of Object.values(stores)) proxy.setFaults({ deny: null, respond: null });
});

afterAll(async () => {
  await emulator.stop();
  for (const { s3, proxy } of Object.values(stores)) {
    await proxy.stop();
    await s3.stop();
  }
  await rm(scratch, { recursive: true, force: true });
});

/** The S3 server as the worker sees it: through the fault proxy. */
function throughProxy(kind: keyof typeof stores): S3TestServer {
  const { s3, proxy } = stores[kind];
  return { ...s3, endpoint: proxy.endpoint, overrides: { ...s3.overrides, endpoint: proxy.endpoint } };
}

async function harness(options: Partial<HarnessOptions> = {}): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, ...options, env: { RECONCILE_INTERVAL_MS: '1000', ...options.env } });
  harnesses.push(h);
  return h;
}

function worker(h: ExportHarness, env: Record<string, string> = {}): CliProcess {
  const child = spawnCli(['worker'], { ...h.childEnv, WORKER_LOCK_DURATION_MS: '2000', RECONCILE_INTERVAL_MS: '1000', LOG_LEVEL: 'info', ...env });
  children.push(child);
  return child;
}

async function started(child: CliProcess): Promise<void> {
  await eventually(() => Promise.resolve(/worker started/.test(child.stderr()) ? true : undefined), 20_000, 'a worker to start');
}

/** Matches the first request `matches` accepts, and no later one. */
function once(matches: (request: ProxiedRequest) => boolean): (request: ProxiedRequest) => boolean {
  let seen = false;
  return (request) => {
    if (seen || !matches(request)) return false;
    seen = true;
    return true;
  };
}

/** A PUT of a run's manifest (keys arrive percent-encoded: `run%3D…`). */
const manifestPut = (request: ProxiedRequest): boolean => request.method === 'PUT' && /\/manifests\/.*\/run=.*\.json/.test(decodeURIComponent(request.url));
/** A PUT of a pool's latest.json. */
const pointerPut = (request: ProxiedRequest): boolean => request.method === 'PUT' && decodeURIComponent(request.url).includes('/latest.json');

const s3Destination = (name: string): string => `s3://exports/${name}-${randomBytes(4).toString('hex')}`;
const pointerKey = (destination: string, pool: string, pointer = 'latest.json'): string =>
  `${destination.slice('s3://exports/'.length)}/manifests/user_pool_id=${pool}/${pointer}`;

async function latestOf(s3: S3TestServer, destination: string, pool: string, pointer = 'latest.json'): Promise<LatestPointer | undefined> {
  try {
    return JSON.parse((await s3.getObject(pointerKey(destination, pool, pointer))).toString('utf8')) as LatestPointer;
  } catch {
    return undefined;
  }
}

async function manifestOf(h: ExportHarness, snapshotId: string, s3?: S3TestServer): Promise<Manifest> {
  const status = await h.wait(snapshotId, 120_000);
  expect(status.error).toBeUndefined();
  expect(status.state).toBe('completed');
  return readManifest(status.manifestUrl ?? '', s3);
}

describe('the end of a run', () => {
  it('refuses a cancel during retention (exit 1, "already committing"): the run completes, and the pool keeps a whole snapshot', async () => {
    const s3 = throughProxy('conditional');
    const h = await harness({ s3 });
    const pool = emulator.createPoolWithUsers({ users: 150, seed: 1701, groups: 2 });
    const destination = s3Destination('cancel-retention');
    const first = await h.request({ userPoolId: pool, destination, keepLast: 1 });
    await manifestOf(h, first.snapshotId, s3);
    // The next run's retention deletes the first run; its DeleteObjects waits here.
    const held = stores.conditional.proxy.hold(once((request) => operationOf(request) === 'POST delete-objects'));
    const second = await h.request({ userPoolId: pool, destination, keepLast: 1 });
    await held.reached;
    const cancel = await runCli(['cancel', second.snapshotId], h.childEnv);
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toMatch(/already committing/);
    // The same over HTTP: 409.
    const token = 'a-token-of-sixteen-chars';
    const admin = await startAdminServer(h.runtime, h.queues, h.worker, { host: '127.0.0.1', port: 0, token, dashboard: false });
    try {
      const refused = await fetch(`${admin.url}/exports/${second.snapshotId}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
      expect(refused.status).toBe(409);
      expect(((await refused.json()) as { error: string }).error).toMatch(/already committing/);
    } finally {
      await admin.close();
    }
    held.open();
    const manifest = await manifestOf(h, second.snapshotId, s3);
    expect((await latestOf(stores.conditional.s3, destination, pool))?.snapshot_id).toBe(manifest.snapshot_id);
    await expectPointersWhole(destination, pool, stores.conditional.s3);
  });

  it('refuses a cancel while the finalizer is stalled before its manifest: no visible half, the run completes', async () => {
    const s3 = throughProxy('conditional');
    const h = await harness({ s3 });
    const pool = emulator.createPoolWithUsers({ users: 120, seed: 1702, groups: 1 });
    const destination = s3Destination('cancel-manifest');
    await manifestOf(h, (await h.request({ userPoolId: pool, destination, keepLast: 1 })).snapshotId, s3);
    const held = stores.conditional.proxy.hold(once(manifestPut));
    const second = await h.request({ userPoolId: pool, destination, keepLast: 1 });
    await held.reached;
    const cancel = await runCli(['cancel', second.snapshotId], h.childEnv);
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toMatch(/already committing/);
    held.open();
    await manifestOf(h, second.snapshotId, s3);
    await expectPointersWhole(destination, pool, stores.conditional.s3);
  });

  it('finishes the withdrawal of a finalizer killed inside it: later runs diff against the last good snapshot', async () => {
    const s3 = throughProxy('conditional');
    const h = await harness({ s3, worker: false });
    const pool = emulator.createPoolWithUsers({ users: 150, seed: 1703, groups: 2 });
    const destination = s3Destination('killed-withdrawal');
    const first = worker(h);
    await started(first);
    const good = await manifestOf(h, (await h.request({ userPoolId: pool, destination })).snapshotId, s3);
    // The next run's manifest cannot be written (a fatal 403 before its point of no return): its
    // finalizer withdraws the published files, and is killed inside that withdrawal.
    const { proxy } = stores.conditional;
    proxy.setFaults({ deny: manifestPut });
    const held = proxy.hold(once((request) => operationOf(request) === 'POST delete-objects'));
    const failing = await h.request({ userPoolId: pool, destination });
    await held.reached;
    first.child.kill('SIGKILL');
    await first.exited();
    proxy.setFaults({ deny: null });
    let status = await h.runtime.runs.status(failing.snapshotId);
    expect(status?.state).toBe('failed');
    expect(status?.withdrawn).toBe(false);
    expect(status?.withdrawalPending).toBe(true);
    // The killed finalizer's job is taken over (its lock lapses): its retry finishes the withdrawal.
    await started(worker(h));
    status = await eventually(async () => {
      const now = await h.runtime.runs.status(failing.snapshotId);
      return now?.withdrawn ? now : undefined;
    }, 30_000, 'the withdrawal to be finished');
    expect(status.withdrawalPending).toBe(false);
    expect(await stores.conditional.s3.listKeys(`${destination.slice('s3://exports/'.length)}/users/user_pool_id=${pool}/`)).toSatisfy((keys: string[]) =>
      keys.every((key) => !key.includes(failing.snapshotId)),
    );
    const next = await manifestOf(h, (await h.request({ userPoolId: pool, destination })).snapshotId, s3);
    expect(next.changes_since).toBe(good.snapshot_id);
    await expectPointersWhole(destination, pool, stores.conditional.s3);
  });

  it.each([
    ['publishing its files', (request: ProxiedRequest) => operationOf(request) === 'POST complete'],
    ['writing its manifest', manifestPut],
    ['moving latest.json', pointerPut],
  ] as const)('a finalizer killed (-9) while %s is taken over: the run completes exact, the pointer whole', async (_moment, at) => {
    const s3 = throughProxy('conditional');
    const h = await harness({ s3, worker: false });
    const pool = emulator.createPoolWithUsers({ users: 150, seed: 1709, groups: 2 });
    const destination = s3Destination('killed-finalizer');
    const first = worker(h);
    await started(first);
    const held = stores.conditional.proxy.hold(once(at));
    const { snapshotId } = await h.request({ userPoolId: pool, destination });
    await held.reached;
    first.child.kill('SIGKILL');
    await first.exited();
    await started(worker(h));
    const manifest = await manifestOf(h, snapshotId, s3);
    const users = await readManifestRecords(manifest, stores.conditional.s3);
    expect(users.map((user) => user.sub).sort()).toEqual(emulator.listAllUsers(pool).map((user) => user.Attributes?.find((a) => a.Name === 'sub')?.Value).sort());
    expect((await latestOf(stores.conditional.s3, destination, pool))?.snapshot_id).toBe(snapshotId);
    await expectPointersWhole(destination, pool, stores.conditional.s3);
  });

  it('walks a shard again whose staged upload expired before the finalizer published it: the run completes exact', async () => {
    const s3 = throughProxy('conditional');
    const h = await harness({ s3 });
    const pool = emulator.createPoolWithUsers({ users: 200, seed: 1708, groups: 2 });
    const destination = s3Destination('expired-upload');
    // A lifecycle rule aborted the first file's upload: S3 answers NoSuchUpload to its completion.
    let expired = 0;
    stores.conditional.proxy.setFaults({
      respond: (request) => (operationOf(request) === 'POST complete' && expired++ === 0 ? { status: 404, code: 'NoSuchUpload', message: 'The specified upload does not exist.' } : undefined),
    });
    const { snapshotId } = await h.request({ userPoolId: pool, destination });
    const manifest = await manifestOf(h, snapshotId, s3);
    expect(expired).toBeGreaterThan(1);
    const users = await readManifestRecords(manifest, stores.conditional.s3);
    expect(users.map((user) => user.sub).sort()).toEqual(emulator.listAllUsers(pool).map((user) => user.Attributes?.find((a) => a.Name === 'sub')?.Value).sort());
    await expectPointersWhole(destination, pool, stores.conditional.s3);
  });

  describe.each(['conditional', 'unconditional'] as const)('on a store that is %s', (kind) => {
    it('a finalizer paused (SIGSTOP) with its PUT of latest.json on the wire never leaves the pointer behind', async () => {
      const s3 = throughProxy(kind);
      const h = await harness({ s3, worker: false });
      const pool = emulator.createPoolWithUsers({ users: 150, seed: 1704, groups: 1 });
      const destination = s3Destination(`paused-${kind}`);
      const { proxy, s3: store } = stores[kind];
      const paused = worker(h);
      await started(paused);
      const held = proxy.hold(once(pointerPut));
      const a = await h.request({ userPoolId: pool, destination });
      await held.reached;
      paused.child.kill('SIGSTOP');
      // Another worker takes the finalizer over, completes A, then runs B.
      await started(worker(h));
      await manifestOf(h, a.snapshotId, s3);
      emulator.addUser(pool, { username: `late-${kind}`, attributes: { email: `late-${kind}@example.com` } });
      const b = await manifestOf(h, (await h.request({ userPoolId: pool, destination })).snapshotId, s3);
      expect((await latestOf(store, destination, pool))?.snapshot_id).toBe(b.snapshot_id);
      // The paused worker comes back; its held PUT of A's pointer lands now.
      paused.child.kill('SIGCONT');
      held.open();
      if (kind === 'conditional') {
        // Refused on arrival (412): the pointer never names A again.
        const seen = new Set<string>();
        const until = Date.now() + 3000;
        while (Date.now() < until) {
          seen.add((await latestOf(store, destination, pool))?.snapshot_id ?? 'none');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect([...seen]).toEqual([b.snapshot_id]);
      }
      // Without conditional writes the late PUT lands; a worker's reconcile tick repairs it.
      await eventually(async () => ((await latestOf(store, destination, pool))?.snapshot_id === b.snapshot_id ? true : undefined), 15_000, 'the pointer to name B');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect((await latestOf(store, destination, pool))?.snapshot_id).toBe(b.snapshot_id);
      const c = await manifestOf(h, (await h.request({ userPoolId: pool, destination })).snapshotId, s3);
      expect(c.changes_since).toBe(b.snapshot_id);
      expect(c.tables.user_changes?.counts).toEqual({ insert: 0, update: 0, delete: 0 });
      await expectPointersWhole(destination, pool, store);
    });
  });

  it("orders runs by Redis's commit sequence, not the requester's clock: a run requested 2 minutes behind becomes latest", async () => {
    const h = await harness();
    const pool = emulator.createPoolWithUsers({ users: 120, seed: 1705, groups: 1 });
    const destination = pathToFileURL(join(scratch, 'skew')).href;
    const first = await manifestOf(h, (await h.request({ userPoolId: pool, destination, keepLast: 1 })).snapshotId);
    emulator.addUser(pool, { username: 'skewed-newcomer', attributes: { email: 'skewed@example.com' } });
    const behind = new Date(Date.now() - 120_000);
    const requested = await requestExport(h.runtime, h.queues, buildRunSpec({ trigger: 'cli', userPoolId: pool, destination, keepLast: 1 }, h.config, behind));
    expect(requested.snapshotId < first.snapshot_id).toBe(true);
    const second = await manifestOf(h, requested.snapshotId);
    expect(second.commit_seq).toBe((first.commit_seq ?? 0) + 1);
    expect(second.changes_since).toBe(first.snapshot_id);
    expect(second.tables.user_changes?.counts).toEqual({ insert: 1, update: 0, delete: 0 });
    const latest = JSON.parse(await (await import('node:fs/promises')).readFile(join(scratch, 'skew', 'manifests', `user_pool_id=${pool}`, 'latest.json'), 'utf8')) as LatestPointer;
    expect(latest.snapshot_id).toBe(second.snapshot_id);
    await expectPointersWhole(destination, pool);
  });

  it("keeps what latest-<name>.json names: keep_last counts per dataset, and a whole-pool run's retention leaves the named snapshot whole", async () => {
    const h = await harness();
    const pool = emulator.createPoolWithUsers({ users: 120, seed: 1706, groups: 1 });
    const destination = pathToFileURL(join(scratch, 'named')).href;
    const partial = await manifestOf(h, (await h.request({ userPoolId: pool, destination, filter: 'status = "Enabled"', name: 'active', keepLast: 1 })).snapshotId);
    expect(partial.pointer).toBe('latest-active.json');
    const whole1 = await manifestOf(h, (await h.request({ userPoolId: pool, destination, keepLast: 1 })).snapshotId);
    const whole2 = await manifestOf(h, (await h.request({ userPoolId: pool, destination, keepLast: 1 })).snapshotId);
    await expectPointersWhole(destination, pool);
    const { readdir } = await import('node:fs/promises');
    const manifests = (await readdir(join(scratch, 'named', 'manifests', `user_pool_id=${pool}`), { recursive: true })).filter((name) => /run=.*\.json$/.test(name));
    expect(manifests.map((name) => /run=(.*)\.json$/.exec(name)?.[1]).sort()).toEqual([partial.snapshot_id, whole2.snapshot_id].sort());
    expect(manifests.some((name) => name.includes(whole1.snapshot_id))).toBe(false);
  });

  it('a Redis that comes back without the last writes before the finalizer (a real lost second) still gives exact change tables and no stray file', async () => {
    const redis = await startTestRedisServer();
    servers.push(redis);
    const s3 = throughProxy('conditional');
    const h = await harness({ s3, env: { REDIS_URL: redis.url, WORKER_LOCK_DURATION_MS: '2000' } });
    const pool = emulator.createPoolWithUsers({ users: 150, seed: 1707, groups: 2 });
    const destination = s3Destination('lost-second');
    const first = await manifestOf(h, (await h.request({ userPoolId: pool, destination })).snapshotId, s3);
    emulator.addUser(pool, { username: 'after-first', attributes: { email: 'after-first@example.com' } });
    // Hold the finalizer: once every shard is done, copy what Redis holds, then let the run finish.
    const second = await h.request({ userPoolId: pool, destination });
    await eventually(async () => ((await h.runtime.runs.state(second.snapshotId)) === 'running' ? true : undefined), 30_000, 'the run to start');
    await h.worker?.runs.pause();
    const finalizer = await eventually(async () => {
      const job = await h.queues.runs.getJob(`run-${second.snapshotId}`);
      return job && (await job.getState()) === 'waiting' ? job : undefined;
    }, 60_000, 'every shard to finish');
    expect(finalizer.id).toBe(`run-${second.snapshotId}`);
    const copy = await redis.copyData();
    void h.worker?.runs.resume();
    const completed = await manifestOf(h, second.snapshotId, s3);
    expect(completed.changes_since).toBe(first.snapshot_id);
    // Redis loses everything the finalizer wrote: the run is running again, its finalizer waiting.
    await redis.restoreFrom(copy);
    await eventually(async () => ((await h.runtime.runs.state(second.snapshotId)) === 'completed' ? true : undefined), 60_000, 'the run to complete again');
    const again = await manifestOf(h, second.snapshotId, s3);
    expect(again.changes_since).toBe(first.snapshot_id);
    expect(again.tables.user_changes?.counts).toEqual({ insert: 1, update: 0, delete: 0 });
    const root = destination.slice('s3://exports/'.length);
    for (const table of ['users', 'groups', 'group_memberships', 'user_changes', 'group_changes', 'group_membership_changes']) {
      const stored = (await stores.conditional.s3.listKeys(`${root}/${table}/user_pool_id=${pool}/`)).filter((key) => key.includes(`run=${second.snapshotId}/`));
      const listed = (again.tables[table]?.files ?? []).map((file) => file.url.slice(`s3://exports/`.length));
      expect(stored.sort(), table).toEqual(listed.sort());
    }
    expect((await latestOf(stores.conditional.s3, destination, pool))?.snapshot_id).toBe(second.snapshotId);
    await expectPointersWhole(destination, pool, stores.conditional.s3);
  });
});
