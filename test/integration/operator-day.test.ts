import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { STAGING_FOLDER } from '../../src/storage/file-sink.js';
import { cancelRun } from '../../jobs/cancel-run.js';
import { startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3FaultProxy, type S3FaultProxy } from '../support/s3-fault-proxy.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { eventually, runCli, spawnCli, type CliProcess } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
let proxy: S3FaultProxy;
let scratch: string;
let harness: ExportHarness;
const children: CliProcess[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
  proxy = await startS3FaultProxy(s3.endpoint);
  scratch = await mkdtemp(join(tmpdir(), 'ce-operator-'));
  harness = await startHarness({ cognitoEndpoint: emulator.url, s3, worker: false });
});

afterEach(async () => {
  for (const child of children.splice(0)) child.child.kill('SIGKILL');
  emulator.setFaults({ latencyMs: 0 });
  proxy.setFaults({ slowDownRate: 0 });
  await harness.queues.runs.obliterate({ force: true }).catch(() => undefined);
});

afterAll(async () => {
  await harness.close();
  await proxy.stop();
  await s3.stop();
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});

/** Exactly one line on stderr. */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  return lines[0] ?? '';
}

const dir = (name: string) => pathToFileURL(join(scratch, name)).href;

function worker(env: Record<string, string> = {}): CliProcess {
  const child = spawnCli(['worker'], { ...harness.childEnv, LOG_LEVEL: 'info', ...env });
  children.push(child);
  return child;
}

async function started(child: CliProcess): Promise<string> {
  const line = await eventually(() => Promise.resolve(child.stderr().split('\n').find((l) => l.includes('worker started'))), 20_000, 'a worker to start');
  return (JSON.parse(line) as { admin?: string }).admin ?? '';
}

describe('several workers on one machine', () => {
  it('each gets an admin port without being told one, and one SIGTERM ends the second', async () => {
    const { ADMIN_PORT: _ignored, ...defaults } = harness.childEnv;
    const first = spawnCli(['worker'], { ...defaults, LOG_LEVEL: 'info' });
    const second = spawnCli(['worker'], { ...defaults, LOG_LEVEL: 'info' });
    children.push(first, second);
    const [a, b] = [await started(first), await started(second)];
    expect(a).not.toBe(b);
    for (const url of [a, b]) expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(first.stderr() + second.stderr()).toMatch(/admin port 9464 is in use \(another worker on this machine\?\); listening on 94\d\d/);
    const stoppedAt = Date.now();
    second.child.kill('SIGTERM');
    expect(await second.exited()).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
  });

  it('refuses at start, before taking any job, an ADMIN_PORT that is taken', async () => {
    const first = worker({ ADMIN_PORT: '0' });
    const port = new URL(await started(first)).port;
    const result = await runCli(['worker'], { ...harness.childEnv, ADMIN_PORT: port, LOG_LEVEL: 'warn' });
    expect(result.code).toBe(2);
    expect(oneLine(result.stderr)).toMatch(new RegExp(`admin port 0\\.0\\.0\\.0:${port} is in use \\(another worker on this machine\\?\\): set ADMIN_PORT to a free port, 0 for any, or off`));
  });
});

describe('triggers are explicit about what they get', () => {
  it('joins a run with the same options, refuses one with other options naming the running run, and queues one with --queue', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 200, seed: 301 });
    const args = ['export', '--user-pool-id', poolId, '--destination', dir('explicit')];
    const first = await runCli(args, harness.childEnv);
    const id = first.stdout.trim();
    expect(first.stderr).toMatch(new RegExp(`export ${id} queued; follow it with`));
    const same = await runCli(args, harness.childEnv);
    expect(same.stdout.trim()).toBe(id);
    expect(same.stderr).toMatch(new RegExp(`already has export ${id} queued with the same options; this request joins it\nfollow it with: cognito-export status`));

    const other = await runCli([...args.slice(0, 3), '--destination', dir('plain'), '--no-gzip', '--attributes', 'email,name', '--shards', '1'], harness.childEnv);
    expect(other.code).toBe(1);
    expect(oneLine(other.stderr)).toMatch(
      new RegExp(`pool ${poolId} already has export ${id} queued with other options \\(destination file://.*/explicit, shards 16, filter none, attributes all, gzip, trigger cli\\): wait for it, cancel it with \`cognito-export cancel ${id}\`, or pass --queue to run after it`),
    );

    const queued = await runCli([...args.slice(0, 3), '--destination', dir('plain'), '--no-gzip', '--queue'], harness.childEnv);
    expect(queued.code).toBe(0);
    const queuedId = queued.stdout.trim();
    expect(queued.stderr).toMatch(new RegExp(`export ${queuedId} queued behind ${id}: it starts when that one ends`));
    // A worker runs both, one after the other.
    worker();
    const done = await harness.wait(queuedId, 60_000);
    expect(done.state).toBe('completed');
    expect((await harness.runtime.runs.status(id))?.state).toBe('completed');
    expect(done.spec.gzip).toBe(false);
  });
});

describe('latest.json names only the pool’s own dataset', () => {
  it('a filtered run publishes its manifest and its own pointer, and leaves latest.json alone', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 500, seed: 302 });
    worker();
    const whole = await runCli(['export', '--user-pool-id', poolId, '--destination', dir('own'), '--wait'], harness.childEnv);
    expect(whole.code).toBe(0);
    const latest = join(scratch, 'own', 'manifests', `user_pool_id=${poolId}`, 'latest.json');
    const before = await readFile(latest, 'utf8');
    expect((JSON.parse(before) as { record_count: number }).record_count).toBe(500);

    const filtered = await runCli(['export', '--user-pool-id', poolId, '--destination', dir('own'), '--filter', 'email ^= "a"', '--name', 'a-users', '--wait'], harness.childEnv);
    expect(filtered.code).toBe(0);
    expect(await readFile(latest, 'utf8')).toBe(before);
    const own = JSON.parse(await readFile(join(scratch, 'own', 'manifests', `user_pool_id=${poolId}`, 'latest-a-users.json'), 'utf8')) as { manifest_url: string; record_count: number };
    expect(own.manifest_url).toBe(filtered.stdout.trimEnd().split('\n').at(-1));
    expect(own.record_count).toBeLessThan(500);
    const manifest = JSON.parse(await readFile(new URL(own.manifest_url), 'utf8')) as { dataset: string; pointer: string };
    expect(manifest).toMatchObject({ dataset: 'partial', pointer: 'latest-a-users.json' });

    const status = await runCli(['status', '--user-pool-id', poolId], harness.childEnv);
    expect(status.stdout).toMatch(/last good \S+ at .*: 500 users/);
    expect(status.stdout).toMatch(/partial\s+\S+ at .*\(partial, moves latest-a-users\.json\)/);
    const json = JSON.parse((await runCli(['status', '--user-pool-id', poolId, '--json'], harness.childEnv)).stdout) as Record<string, unknown>[];
    expect(Object.keys(json[0] ?? {})).toEqual(['user_pool_id', 'active', 'last_success', 'last_partial', 'last_failure', 'last_cancelled', 'last_scheduled_failed']);
  });
});

describe('--no-groups: behaviour, manifest and docs agree', () => {
  const manifestsOf = (name: string, poolId: string) => join(scratch, name, 'manifests', `user_pool_id=${poolId}`);
  const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;

  it('on a pool whose dataset has groups it is a partial run, said so at request: no pointer, "dataset": "partial", no change tables', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 300, seed: 304, groups: 5 });
    worker();
    const whole = await runCli(['export', '--user-pool-id', poolId, '--destination', dir('groups-off'), '--wait'], harness.childEnv);
    expect(whole.code).toBe(0);
    const latest = join(manifestsOf('groups-off', poolId), 'latest.json');
    const before = await readFile(latest, 'utf8');

    const off = await runCli(['export', '--user-pool-id', poolId, '--destination', dir('groups-off'), '--no-groups', '--wait'], harness.childEnv);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stderr).toMatch(
      /export \S+ is a partial run \(--no-groups while the pool's dataset has groups\): it moves no pointer and writes no change tables .*set groups: false for it in the worker's --config file/,
    );
    expect(await readFile(latest, 'utf8')).toBe(before);
    const manifest = await readJson(new URL(off.stdout.trimEnd().split('\n').at(-1) ?? '').pathname);
    expect(manifest).toMatchObject({ dataset: 'partial', pointer: null, changes_since: null });
    expect(String(manifest.changes_reason)).toMatch(/^this run is partial \(--no-groups while the pool's dataset has groups\) and moves no pointer/);
    expect(Object.keys(manifest.tables as object)).toEqual(['users']);
    expect((await readdir(manifestsOf('groups-off', poolId))).filter((name) => name.startsWith('latest'))).toEqual(['latest.json']);
  });

  it("with groups: false in the pool's config entry, users only is its dataset: latest.json moves, \"dataset\": \"pool\", only user_changes", async () => {
    const poolId = emulator.createPoolWithUsers({ users: 300, seed: 305, groups: 5 });
    const config = join(scratch, `users-only-${poolId}.yaml`);
    await writeFile(config, `pools:\n  - user_pool_id: ${poolId}\n    destination: ${dir('users-only')}\n    schedule: "0 4 * * *"\n    groups: false\n`);
    expect((await runCli(['schedule', 'apply', '--config', config], harness.childEnv)).code).toBe(0);
    try {
      worker();
      const first = await runCli(['export', '--user-pool-id', poolId, '--destination', dir('users-only'), '--no-groups', '--wait'], harness.childEnv);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).not.toMatch(/partial/);
      emulator.addUser(poolId, { username: 'joined-between-runs', attributes: { email: 'joined@example.com' } });
      const second = await runCli(['export', '--user-pool-id', poolId, '--destination', dir('users-only'), '--no-groups', '--wait'], harness.childEnv);
      expect(second.code, second.stderr).toBe(0);
      const manifestUrl = second.stdout.trimEnd().split('\n').at(-1) ?? '';
      const manifest = await readJson(new URL(manifestUrl).pathname);
      expect(manifest).toMatchObject({ dataset: 'pool', pointer: 'latest.json' });
      expect(Object.keys(manifest.tables as object).sort()).toEqual(['user_changes', 'users']);
      expect((await readJson(join(manifestsOf('users-only', poolId), 'latest.json'))).manifest_url).toBe(manifestUrl);
      expect(second.stderr).toMatch(/users \+1 inserted, 0 updated, 0 deleted since/);
    } finally {
      await writeFile(config, 'pools: []\n');
      await runCli(['schedule', 'apply', '--config', config], harness.childEnv);
    }
  });
});

/** The shard jobs of one run that are still going (active, waiting or delayed), by state. */
async function shardsGoing(snapshotId: string): Promise<{ active: number; queued: number }> {
  const ofRun = (jobs: { data: unknown }[]) => jobs.filter((job) => (job.data as { snapshotId: string }).snapshotId === snapshotId).length;
  return { active: ofRun(await harness.queues.shards.getActive()), queued: ofRun(await harness.queues.shards.getJobs(['waiting', 'delayed'])) };
}

/**
 * Polls from the moment a cancel was issued until none of the run's shard jobs is active, waiting or
 * delayed; returns how long that took and when the emulator last saw a ListUsers call come in.
 */
async function untilShardsStop(snapshotId: string, cancelledAt: number): Promise<{ stoppedMs: number; lastCallMs: number }> {
  const calls = () => emulator.stats().calls.ListUsers ?? 0;
  let seen = calls();
  let lastCallMs = 0;
  const stoppedMs = await eventually(async () => {
    const now = calls();
    if (now !== seen) [seen, lastCallMs] = [now, performance.now() - cancelledAt];
    const going = await shardsGoing(snapshotId);
    return going.active + going.queued === 0 ? performance.now() - cancelledAt : undefined;
  }, 30_000, 'the cancelled run’s shards to stop', 20);
  return { stoppedMs, lastCallMs };
}

describe('cancel', () => {
  it('stops a run stuck in S3 throttling within seconds: nothing published, staging gone, the pool free, status says cancelled', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 303 });
    const viaProxy = { AWS_ENDPOINT_URL_S3: proxy.endpoint };
    worker(viaProxy);
    proxy.setFaults({ slowDownRate: 1 });
    const destination = `s3://${s3.bucket}/stuck`;
    const { snapshotId } = await harness.request({ userPoolId: poolId, destination, fileMaxRecords: 100 });
    await eventually(async () => ((await harness.runtime.runs.status(snapshotId))?.state === 'running' ? true : undefined), 20_000, 'the run to start');
    await eventually(() => Promise.resolve(proxy.stats().slowDowns > 20 ? true : undefined), 20_000, 'the run to be stuck in SlowDown');
    expect((await shardsGoing(snapshotId)).active).toBeGreaterThan(0);
    // Timed from the moment the cancel is issued (the CLI's start included) to the moment no shard job
    // of the run is left.
    const cancelledAt = performance.now();
    const cancelled = await runCli(['cancel', snapshotId], harness.childEnv);
    expect(cancelled.code).toBe(0);
    expect(oneLine(cancelled.stderr)).toBe(`cancelled export ${snapshotId} of pool ${poolId}: nothing was published, its staged files were removed, the pool is free`);
    // S3 recovers as soon as the cancel is in (while it keeps throttling, the shards never stop: see
    // the known failure below), and the shards stop at their next write.
    proxy.setFaults({ slowDownRate: 0 });
    const { stoppedMs } = await untilShardsStop(snapshotId, cancelledAt);
    // Timed before any other run starts; 8 s leaves room for the CLI's start-up and a loaded machine.
    expect(stoppedMs).toBeLessThan(8000);
    // The pool is free at once: a new run starts.
    const next = await harness.request({ userPoolId: poolId, destination: dir('after-cancel') });
    expect(next.created).toBe(true);
    expect((await harness.wait(next.snapshotId, 60_000)).state).toBe('completed');
    expect(await s3.listKeys(`stuck/`)).toEqual([]);
    const status = await runCli(['status', '--user-pool-id', poolId], harness.childEnv);
    expect(status.stdout).toMatch(new RegExp(`cancelled ${snapshotId} at `));
    const again = await runCli(['cancel', snapshotId], harness.childEnv);
    expect(again.code).toBe(1);
    expect(oneLine(again.stderr)).toMatch(/already cancelled: nothing to cancel/);
  });

  // A shard's S3 retries end with the run (the sink is bound to the run-end signal): SlowDown to
  // every write must not keep a cancelled run's shards going.
  it('stops a run stuck in S3 throttling within seconds even while S3 keeps answering SlowDown', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 1000, seed: 306 });
    worker({ AWS_ENDPOINT_URL_S3: proxy.endpoint });
    proxy.setFaults({ slowDownRate: 1 });
    const before = proxy.stats().slowDowns;
    const { snapshotId } = await harness.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/stuck-still`, fileMaxRecords: 50 });
    await eventually(async () => (proxy.stats().slowDowns > before + 20 && (await shardsGoing(snapshotId)).active > 0 ? true : undefined), 20_000, 'the run to be stuck in SlowDown');
    const cancelledAt = performance.now();
    expect((await cancelRun(harness.runtime, snapshotId)).kind).toBe('cancelled');
    const stoppedMs = await eventually(async () => ((await shardsGoing(snapshotId)).active === 0 ? performance.now() - cancelledAt : undefined), 10_000, 'the shards to stop under SlowDown', 50);
    expect(stoppedMs).toBeLessThan(5000);
  });

  it('stops a run mid-walk within seconds of the cancel: no shard job left, and no more ListUsers calls', async () => {
    // 16 shards of 1000 users at 1 s a page (60 users a page): about 17 s of walk, so the cancel lands well inside it.
    const poolId = emulator.createPoolWithUsers({ users: 16_000, seed: 305 });
    emulator.setFaults({ latencyMs: 1000 });
    const child = worker();
    await started(child);
    emulator.resetStats();
    const calls = () => emulator.stats().calls.ListUsers ?? 0;
    const shards = 16;
    const { snapshotId } = await harness.request({ userPoolId: poolId, destination: dir('mid-walk'), shards });
    await eventually(async () => (calls() >= 3 * shards && (await shardsGoing(snapshotId)).active === shards ? true : undefined), 30_000, 'every shard to be a few pages in', 20);
    const atCancel = calls();
    const cancelledAt = performance.now();
    const outcome = await cancelRun(harness.runtime, snapshotId);
    expect(outcome.kind).toBe('cancelled');
    const { stoppedMs, lastCallMs } = await untilShardsStop(snapshotId, cancelledAt);
    // "At their next page" (jobs/cancel-run.ts): a page takes 1 s here, and the watch that backs it
    // up checks every 2 s; 5 s leaves room for a loaded machine, and is far below the walk left.
    expect(stoppedMs).toBeLessThan(5000);
    expect(lastCallMs).toBeLessThan(5000);
    // Each shard may have had a page in flight and fetched one more while its last page was recorded.
    const afterCancel = calls() - atCancel;
    expect(afterCancel).toBeLessThanOrEqual(2 * shards);
    // And nothing calls Cognito for the run any more: past the 2 s watch interval, the count stands still.
    const stopped = calls();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(calls()).toBe(stopped);
    expect((await harness.runtime.runs.status(snapshotId))?.state).toBe('cancelled');
    // No users shard ran to its end (the groups walk of an empty directory is done at once).
    expect(child.stderr()).not.toMatch(/"table":"users".*"shard done"/);
  });
});

describe('export --wait with no worker', () => {
  it('says once, after 10 s, that no worker has picked the run up', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 10, seed: 304 });
    const waiting = spawnCli(['export', '--user-pool-id', poolId, '--destination', dir('nobody'), '--wait'], harness.childEnv);
    children.push(waiting);
    await eventually(() => Promise.resolve(/no worker has picked this run up/.test(waiting.stderr()) ? true : undefined), 20_000, 'the hint');
    expect(waiting.stderr()).toMatch(/no worker has picked this run up: start `cognito-export worker`, or use --inline/);
    expect(waiting.stderr().match(/no worker has picked/g)).toHaveLength(1);
    worker();
    expect(await waiting.exited()).toBe(0);
  }, 60_000);
});

describe('the environment and the demo', () => {
  it.each([
    ['/99', /^cognito-export: REDIS_URL=redis:\/\/127\.0\.0\.1:6379\/99 names database 99, but this Redis has 16 databases \(0–15\): use one of those/],
    ['/abc', /^cognito-export: REDIS_URL="redis:\/\/127\.0\.0\.1:6379\/abc" is invalid: expected a database number after the port/],
  ])('rejects REDIS_URL ending in %s with one line and exit code 2', async (path, message) => {
    const result = await runCli(['status'], { ...harness.childEnv, REDIS_URL: `redis://127.0.0.1:6379${path}` });
    expect(result.code).toBe(2);
    expect(oneLine(result.stderr)).toMatch(message);
  });

  it('demo rejects a bad destination before starting anything, and exports to S3', async () => {
    const bad = await runCli(['demo', '--destination', 'ftp://x'], harness.childEnv);
    expect(bad.code).toBe(2);
    expect(oneLine(bad.stderr)).toMatch(/destination "ftp:\/\/x" is not supported/);
    const demo = await runCli(['demo', '--users', '300', '--destination', `s3://${s3.bucket}/demo`], harness.childEnv);
    expect(demo.stderr).not.toMatch(/ERR_INVALID_URL_SCHEME/);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(/\nusers: 300 records in 16 files; the first lines of s3:\/\/.*part-.*\.ndjson\.gz:\n\{"user_pool_id"/);
    expect(demo.stdout.trimEnd().split('\n').at(-1)).toMatch(/^s3:\/\/exports\/demo\/manifests\/user_pool_id=.*\.json$/);
    // The README's way of reading s3rver's files back: the object's key under the bucket's folder, with s3rver's suffix.
    const { stdout: read } = await promisify(execFile)('bash', ['-c', `zcat ${s3.directory}/${s3.bucket}/demo/users/user_pool_id=us-east-1_Demo0001/dt=*/run=*/part-0-00000.ndjson.gz._S3rver_object | head -2`]);
    expect(read.trimEnd().split('\n').map((line) => (JSON.parse(line) as { user_pool_id: string }).user_pool_id)).toEqual(['us-east-1_Demo0001', 'us-east-1_Demo0001']);
  });

  it('demo: refuses --change of more users than the pool, refuses a second demo while one runs, cancels one that was stopped instead of resuming it', async () => {
    const tooMany = await runCli(['demo', '--users', '3', '--change', '9'], harness.childEnv);
    expect([tooMany.code, tooMany.stderr]).toEqual([2, 'cognito-export: --change 9 must be below --users 3: each change takes a user of its own\n']);

    // A long demo: 60,000 users and their memberships at the demo's 100 calls/s take about 20 s.
    const env = { ...harness.childEnv, WORKER_LOCK_DURATION_MS: '2000' };
    const destination = dir('demo-twice');
    const first = spawnCli(['demo', '--users', '60000', '--destination', destination], env);
    children.push(first);
    await eventually(() => Promise.resolve(/ running: /.test(first.stderr()) || undefined), 30_000, 'the first demo to run');
    const second = await runCli(['demo', '--users', '300', '--destination', destination], env);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/\ncognito-export: another demo is exporting pool us-east-1_Demo0001 on this Redis \(export \S+\): wait for it to end, or cancel it with `cognito-export cancel \S+`\n$/);
    first.child.kill('SIGKILL');
    await first.exited();
    // Its hold on the run lapses (3 lock durations, at least 10 s); then the run is known abandoned.
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    const third = await runCli(['demo', '--users', '300', '--destination', destination], env);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toMatch(/cancelled export \S+, an earlier demo that was stopped: its emulator went with it/);
    expect(third.stdout).toMatch(/\nusers: 300 records in 16 files;/);
  });

  it('demo: Ctrl-C cancels its run (its emulator goes with it), and the next demo starts at once', async () => {
    const destination = dir('demo-interrupted');
    const demo = spawnCli(['demo', '--users', '60000', '--destination', destination], harness.childEnv);
    children.push(demo);
    await eventually(() => Promise.resolve(/ running: /.test(demo.stderr()) || undefined), 30_000, 'the demo to run');
    demo.child.kill('SIGINT');
    expect(await demo.exited()).toBe(130);
    expect(demo.stderr().trimEnd().split('\n').at(-1)).toMatch(
      /^cognito-export: interrupted: the demo's export (\S+) was cancelled \(its emulator stops with this process\); run the demo again to start over$/,
    );
    const id = /the demo's export (\S+) was cancelled/.exec(demo.stderr())?.[1] ?? '';
    expect((await harness.runtime.runs.status(id))?.state).toBe('cancelled');
    const next = await runCli(['demo', '--users', '300', '--destination', destination], harness.childEnv);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).not.toMatch(/another demo|earlier demo/);
  });

  it('says the S3 credentials were rejected for a bad access key, not IAM', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 10, seed: 305 });
    const result = await runCli(['export', '--user-pool-id', poolId, '--destination', `s3://${s3.bucket}/badkey`, '--inline'], { ...harness.childEnv, AWS_ACCESS_KEY_ID: 'not-a-key' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/the S3 credentials were rejected by bucket exports \(InvalidAccessKeyId\): check the access key and secret/);
  });
});

describe('schedules', () => {
  it('schedule remove takes one away, and pools: [] removes them all only with --prune', async () => {
    const file = join(scratch, 'schedules.yaml');
    await writeFile(file, `pools:\n  - user_pool_id: us-east-1_One\n    destination: ${dir('s1')}\n    schedule: "0 4 * * *"\n  - user_pool_id: us-east-1_Two\n    destination: ${dir('s2')}\n    schedule: "0 5 * * *"\n`);
    expect((await runCli(['schedule', 'apply', '--config', file], harness.childEnv)).code).toBe(0);
    const removed = await runCli(['schedule', 'remove', 'us-east-1_One'], harness.childEnv);
    expect(removed.code).toBe(0);
    expect(removed.stderr).toMatch(/removed: us-east-1_One/);
    expect(removed.stdout).toMatch(/us-east-1_Two/);
    expect(removed.stdout).not.toMatch(/us-east-1_One/);
    const missing = await runCli(['schedule', 'remove', 'us-east-1_Nope'], harness.childEnv);
    expect(missing.code).toBe(1);
    expect(oneLine(missing.stderr)).toMatch(/pool us-east-1_Nope has no schedule: the scheduled pools are us-east-1_Two/);

    await writeFile(file, 'pools: []\n');
    const refused = await runCli(['schedule', 'apply', '--config', file], harness.childEnv);
    expect(refused.code).toBe(2);
    expect(oneLine(refused.stderr)).toMatch(/schedules\.yaml lists no pools: applying it would remove every schedule \(us-east-1_Two\); pass --prune/);
    const pruned = await runCli(['schedule', 'apply', '--config', file, '--prune'], harness.childEnv);
    expect(pruned.code).toBe(0);
    expect(pruned.stderr).toMatch(/removed: us-east-1_Two/);
    expect(pruned.stdout).toBe('no schedules\n');
  });
});

describe('leftovers', () => {
  it('a double Ctrl-C leaves staged files that the resumed run removes when it completes', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 306 });
    emulator.setFaults({ latencyMs: 30 });
    const args = ['export', '--user-pool-id', poolId, '--destination', dir('double'), '--inline', '--file-max-records', '2000'];
    // The killed process's jobs stay locked until their lock expires: a short one keeps the test short under load.
    const env = { ...harness.childEnv, WORKER_LOCK_DURATION_MS: '3000' };
    const first = spawnCli(args, { ...env, COGNITO_RATE_LIMIT_RPS: '20' });
    children.push(first);
    await eventually(() => Promise.resolve(/users=\d*[1-9]/.test(first.stderr()) ? true : undefined), 30_000, 'the first pages');
    first.child.kill('SIGINT');
    first.child.kill('SIGINT');
    await first.exited();
    const staged = async () => (await readdir(join(scratch, 'double', STAGING_FOLDER), { recursive: true })).filter((name) => name.endsWith('.ndjson.gz'));
    expect((await staged()).length).toBeGreaterThan(0);
    emulator.setFaults({ latencyMs: 0 });
    const again = await runCli(args, env);
    expect(again.code).toBe(0);
    expect(await staged()).toEqual([]);
  });

  it('progress never goes backwards when a shard is retried from its checkpoint', async () => {
    const { spec } = await harness.request({ userPoolId: emulator.createPoolWithUsers({ users: 10, seed: 307 }), destination: dir('progress') });
    const runs = harness.runtime.runs;
    await runs.recordPage(spec.snapshotId, '0', 60, 0, 240);
    await runs.recordPage(spec.snapshotId, '1', 60, 0, 60);
    expect((await runs.status(spec.snapshotId))?.users).toBe(300);
    // Shard 0's worker died with 240 open records; its retry starts again from its checkpoint.
    await runs.recordPage(spec.snapshotId, '0', 60, 0, 60);
    expect((await runs.status(spec.snapshotId))?.users).toBe(300);
    await runs.recordPage(spec.snapshotId, '0', 60, 0, 300);
    expect((await runs.status(spec.snapshotId))?.users).toBe(360);
  });
});
