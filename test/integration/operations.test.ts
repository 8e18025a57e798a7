import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../jobs/admin-port.js';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { scheduledRequest, type ScheduledPool } from '../../src/config/config-file.js';
import { applySchedules, listSchedules } from '../../jobs/schedules.js';
import { START_JOB } from '../../jobs/queues.js';
import { readManifest, startHarness, type ExportHarness } from '../support/export-harness.js';
import { eventually, runCli, spawnCli } from '../support/worker-process.js';
import { scheduledPool } from '../support/scheduled-pool.js';
import { readStatus, type ActiveRunView } from '../../src/cli/status-command.js';

const TOKEN = 'test-admin-token-0123456789';
let emulator: CognitoEmulator;
let scratch: string;
let harness: ExportHarness;
let admin: AdminServer;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-ops-'));
});

afterEach(async () => {
  emulator.setFaults({ latencyMs: 0, throttleRate: 0, forcedErrors: {} });
  await admin?.close();
  await harness?.close();
});

afterAll(async () => {
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function open(env: Record<string, string> = {}): Promise<void> {
  harness = await startHarness({ cognitoEndpoint: emulator.url, env: { ALLOWED_DESTINATIONS: `s3://elsewhere/x,${pathToFileURL(join(scratch, 'allowed')).href}`, ...env } });
  admin = await startAdminServer(harness.runtime, harness.queues, harness.worker, { host: '127.0.0.1', port: 0, token: TOKEN, dashboard: true });
}

const destination = (name: string) => pathToFileURL(join(scratch, 'allowed', name)).href;

const pool = (userPoolId: string, overrides: Partial<ScheduledPool> = {}): ScheduledPool => scheduledPool(userPoolId, destination('scheduled'), overrides);

/** POSTs to /exports with `token` as bearer token (null: no Authorization header). */
async function postExport(body: unknown, token: string | null = TOKEN): Promise<Response> {
  return fetch(`${admin.url}/exports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
}

/** Snapshot ids of every run this harness registered for a pool. */
async function runsOf(poolId: string): Promise<string[]> {
  const keys = await harness.runtime.redis.keys(`${harness.prefix}:ce:run:*`);
  const ids: string[] = [];
  for (const key of keys) {
    const spec = await harness.runtime.redis.hget(key, 'spec');
    if (spec && (JSON.parse(spec) as { userPoolId: string }).userPoolId === poolId) ids.push(key.split(':').pop() ?? '');
  }
  return ids;
}

describe('schedules', () => {
  it('schedule apply is idempotent and removes schedules of pools no longer in the file', async () => {
    await open();
    const first = await applySchedules(harness.queues, [pool('us-east-1_AAA'), pool('us-east-1_BBB', { schedule: '30 1 * * *', timezone: 'Europe/Berlin' })]);
    expect(first.created).toEqual(['us-east-1_AAA', 'us-east-1_BBB']);
    const before = await listSchedules(harness.queues);
    const again = await applySchedules(harness.queues, [pool('us-east-1_AAA'), pool('us-east-1_BBB', { schedule: '30 1 * * *', timezone: 'Europe/Berlin' })]);
    expect(again).toEqual({ created: [], updated: [], unchanged: ['us-east-1_AAA', 'us-east-1_BBB'], removed: [] });
    expect(await listSchedules(harness.queues)).toEqual(before);
    const berlin = before.find((s) => s.userPoolId === 'us-east-1_BBB');
    expect(berlin?.timezone).toBe('Europe/Berlin');
    expect(berlin?.next?.getTime()).toBeGreaterThan(Date.now());

    const changed = await applySchedules(harness.queues, [pool('us-east-1_AAA', { schedule: '15 3 * * *' })]);
    expect(changed).toEqual({ created: [], updated: ['us-east-1_AAA'], unchanged: [], removed: ['us-east-1_BBB'] });
    const after = await listSchedules(harness.queues);
    expect(after.map((s) => [s.userPoolId, s.pattern])).toEqual([['us-east-1_AAA', '15 3 * * *']]);
    // No stray delayed jobs from the removed or replaced schedules.
    expect(await harness.queues.runs.getDelayedCount()).toBe(1);
  });

  it('a schedule firing every few seconds produces a snapshot', async () => {
    await open();
    const poolId = emulator.createPoolWithUsers({ users: 300, seed: 60 });
    await applySchedules(harness.queues, [pool(poolId, { schedule: '*/2 * * * * *', destination: destination('cron') })]);
    const success = await eventually(async () => (await harness.runtime.runs.history(poolId)).lastSuccess, 30_000, 'a scheduled snapshot');
    await applySchedules(harness.queues, []);
    const manifest = await readManifest(success.manifestUrl);
    expect(manifest.record_count).toBe(300);
    const history = await harness.runtime.runs.history(poolId);
    expect(history.lastScheduled?.state).toBe('completed');
  });

  it('schedule apply and schedule list work from the command line, and a bad file names the key', async () => {
    await open();
    const file = join(scratch, 'schedules.yaml');
    await writeFile(file, `pools:\n  - user_pool_id: us-east-1_CLI\n    destination: ${destination('cli')}\n    schedule: "0 4 * * *"\n    timezone: Asia/Tokyo\n`);
    const applied = await runCli(['schedule', 'apply', '--config', file], harness.childEnv);
    expect(applied.code).toBe(0);
    expect(applied.stderr).toMatch(/created: us-east-1_CLI/);
    const listed = await runCli(['schedule', 'list'], harness.childEnv);
    expect(listed.stdout).toMatch(/us-east-1_CLI\s+0 4 \* \* \*\s+Asia\/Tokyo\s+\d{4}-\d{2}-\d{2}T19:00:00\.000Z/);

    await writeFile(file, `pools:\n  - user_pool_id: us-east-1_CLI\n    destination: ${destination('cli')}\n    schedule: "0 25 * * *"\n`);
    const bad = await runCli(['schedule', 'apply', '--config', file], harness.childEnv);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/pools\[0\]\.schedule: "0 25 \* \* \*" is not a valid cron expression/);
  });

  it('a file with several problems names each on a line of its own, every missing variable among them', async () => {
    const file = join(scratch, 'several.yaml');
    await writeFile(file, 'defaults:\n  destination: s3://${CE_MISSING_A}/x\n  shard: 3\npools:\n  - user_pool_id: us-east-1_Several\n    schedule: "0 25 * * *"\n    destination: ${CE_MISSING_B}\n');
    const bad = await runCli(['schedule', 'apply', '--config', file], harness.childEnv);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trimEnd().split('\n')).toEqual([
      `cognito-export: ${file}: 4 problems:`,
      '  defaults.destination: environment variable CE_MISSING_A is not set',
      '  defaults.shard: unknown key (did you mean shards?)',
      '  pools[0].schedule: "0 25 * * *" is not a valid cron expression (Constraint error, got value 25 expected range 0-23)',
      '  pools[0].destination: environment variable CE_MISSING_B is not set',
    ]);
  });
});

describe('on-demand resyncs', () => {
  it('triggers from a schedule, the CLI and HTTP at the same moment produce one run', async () => {
    // Slow enough (about 5 s) that the run is still in flight when the CLI process gets going.
    await open({ COGNITO_RATE_LIMIT_RPS: '20' });
    const poolId = emulator.createPoolWithUsers({ users: 6000, seed: 61 });
    emulator.setFaults({ latencyMs: 20 });
    const dest = destination('same-moment');
    const body = { user_pool_id: poolId, destination: dest };
    const results = await Promise.all([
      ...[1, 2, 3].map(() => postExport(body).then(async (r) => ({ status: r.status, body: (await r.json()) as { snapshot_id: string } }))),
      ...[1, 2].map(() => harness.queues.runs.add(START_JOB, { request: scheduledRequest(pool(poolId, { destination: dest })) })),
      runCli(['export', '--user-pool-id', poolId, '--destination', dest], harness.childEnv),
    ]);
    const [h1, h2, h3, , , cli] = results as unknown as [
      { status: number; body: { snapshot_id: string } },
      { status: number; body: { snapshot_id: string } },
      { status: number; body: { snapshot_id: string } },
      unknown,
      unknown,
      { code: number; stdout: string },
    ];
    const ids = new Set([h1.body.snapshot_id, h2.body.snapshot_id, h3.body.snapshot_id, cli.stdout.trim()]);
    expect(ids.size).toBe(1);
    // 202 for the request that created the run (if HTTP won the race), 200 for those that found it.
    const statuses = [h1.status, h2.status, h3.status];
    expect(statuses.every((s) => s === 200 || s === 202)).toBe(true);
    expect(statuses.filter((s) => s === 202).length).toBeLessThanOrEqual(1);
    const [id] = [...ids];
    const status = await harness.wait(id ?? '');
    expect(status.state).toBe('completed');
    // The scheduled jobs ran too: the runs queue holds exactly the run's start and finalize jobs and
    // the two ticks, every one completed, each tick having found the run in flight (or created it).
    const queue = harness.queues.runs;
    await eventually(async () => {
      const { completed = 0, failed = 0 } = await queue.getJobCounts('completed', 'failed');
      return completed + failed >= 4 ? true : undefined;
    }, 20_000, 'the runs queue to settle');
    expect(await queue.getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed', 'prioritized', 'waiting-children')).toEqual({
      completed: 4,
      failed: 0,
      active: 0,
      waiting: 0,
      delayed: 0,
      prioritized: 0,
      'waiting-children': 0,
    });
    const done = await queue.getJobs(['completed']);
    expect(done.map((job) => job.name).sort()).toEqual(['finalize', 'start', 'start', 'start']);
    const ticks = done.filter((job) => 'request' in (job.data as object)).map((job) => job.returnvalue as unknown);
    expect(ticks).toHaveLength(2);
    for (const tick of ticks) expect([`requested run ${id}`, `pool already has run ${id} in flight`]).toContain(tick);
    expect(await runsOf(poolId)).toEqual([id]);
  });

  it('POST /exports refuses other options while a run is in flight with 409, naming the option and "queue": true', async () => {
    await open({ COGNITO_RATE_LIMIT_RPS: '5' });
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 64 });
    const body = { user_pool_id: poolId, destination: destination('conflict') };
    const first = await postExport(body);
    expect(first.status).toBe(202);
    const { snapshot_id } = (await first.json()) as { snapshot_id: string };
    const refused = await postExport({ ...body, shards: 256 });
    expect(refused.status).toBe(409);
    const { error } = (await refused.json()) as { error: string };
    expect(error).toContain(`already has export ${snapshot_id}`);
    expect(error).toContain('"queue": true');
    expect(error).not.toContain('--queue');
    expect(error).toMatch(/differs in shards \(256; the running export has 16\)/);
    const queued = await postExport({ ...body, shards: 256, queue: true });
    expect(queued.status).toBe(202);
    expect((await queued.json()) as { queued_behind?: string }).toMatchObject({ queued_behind: snapshot_id });
  });

  it('the HTTP endpoint refuses missing and wrong tokens, and is off without one', async () => {
    await open();
    const poolId = emulator.createPoolWithUsers({ users: 10, seed: 62 });
    const body = { user_pool_id: poolId, destination: destination('http') };
    const missing = await postExport(body, null);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await postExport(body, 'not-the-token-at-all-xxxx');
    expect(wrong.status).toBe(403);
    expect(await runsOf(poolId)).toEqual([]);
    const bad = await postExport({ user_pool_id: poolId, destination: 'ftp://x' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/destination "ftp:\/\/x" is not supported/);
    for (const outside of [pathToFileURL(join(scratch, 'other')).href, 's3://elsewhere/xy']) {
      const refused = await postExport({ ...body, destination: outside });
      expect(refused.status, outside).toBe(403);
      expect(((await refused.json()) as { error: string }).error).toMatch(/is not allowed: POST \/exports sends data only under ALLOWED_DESTINATIONS/);
    }
    // Dot segments are refused outright (400), before any allow-list comparison.
    for (const escaping of [`${pathToFileURL(join(scratch, 'allowed')).href}/../other`, `${pathToFileURL(join(scratch, 'allowed')).href}/%2e%2e/other`]) {
      const refused = await postExport({ ...body, destination: escaping });
      expect(refused.status, escaping).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toMatch(/^destination "[^"]+" (has|is) [^\n]+: [^\n]+$/);
    }
    expect(await runsOf(poolId)).toEqual([]);
    const ok = await postExport(body);
    expect(ok.status).toBe(202);
    const { snapshot_id, status_url } = (await ok.json()) as { snapshot_id: string; status_url: string };
    await harness.wait(snapshot_id);
    const followed = await fetch(`${admin.url}${status_url}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(((await followed.json()) as { state: string; users: number })).toMatchObject({ state: 'completed', users: 10 });

    await admin.close();
    admin = await startAdminServer(harness.runtime, harness.queues, harness.worker, { host: '127.0.0.1', port: 0, token: undefined, dashboard: false });
    const off = await postExport(body);
    expect(off.status).toBe(404);
    expect(((await off.json()) as { error: string }).error).toMatch(/set ADMIN_TOKEN/);
  });
});

describe("the operator's view", () => {
  it("a run with one large group: no share done or ETA until a first run has counted its memberships; a later run's ETA within 3x of the truth", async () => {
    // Cognito tells no group's size before it is walked: on a pool's first run, a share done or an
    // ETA over the users alone is wrong by far (membership pages share the limiter, one round trip
    // at a time). The next run knows the sizes from the last snapshot.
    await open({ COGNITO_RATE_LIMIT_RPS: '20' });
    const poolId = emulator.createPoolWithUsers({ users: 6000, seed: 64, groups: 2, bigGroupShare: 0.9, tailShare: 0.05 });
    emulator.setFaults({ latencyMs: 60 });
    const context = { config: harness.config, redis: harness.runtime.redis, runtime: harness.runtime, queues: harness.queues, close: () => Promise.resolve() };
    /** Reads status every 200 ms while the run is running; each sample with how long the run still took. */
    const sample = async (snapshotId: string) => {
      const samples: { at: number; counted: boolean; view: ActiveRunView }[] = [];
      for (;;) {
        const run = await harness.runtime.runs.status(snapshotId);
        if (run && run.state !== 'queued' && run.state !== 'running') break;
        const [pool] = await readStatus(context, poolId);
        if (run?.state === 'running' && pool?.active) samples.push({ at: performance.now(), counted: run.counted.includes('group_memberships'), view: pool.active });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const end = performance.now();
      expect((await harness.wait(snapshotId)).state).toBe('completed');
      return samples.map(({ at, counted, view }) => ({ left: (end - at) / 1000, counted, view }));
    };

    const first = await sample((await harness.request({ userPoolId: poolId, destination: destination('first-eta') })).snapshotId);
    const uncounted = first.filter((s) => !s.counted);
    expect(uncounted.length, 'samples before the memberships were counted').toBeGreaterThan(3);
    for (const { view } of uncounted) {
      expect(view).toMatchObject({ eta_seconds: null, percent: null });
      expect(view.eta_unknown_until).toMatch(/^the (groups and )?memberships are counted$/);
    }

    const second = await sample((await harness.request({ userPoolId: poolId, destination: destination('first-eta') })).snapshotId);
    const timed = second.filter((s) => (s.view.percent ?? 0) >= 10 && s.left >= 2);
    expect(timed.length, `samples past 10% at least 2 s before the end: ${JSON.stringify(second.map((s) => [s.left.toFixed(1), s.view.percent, s.view.eta_seconds]))}`).toBeGreaterThan(3);
    for (const { left, view } of [...timed, ...first.filter((s) => s.view.eta_seconds !== null && s.left >= 2)]) {
      // Within 3x either way (the ETA is whole seconds: 1 s of slack for the rounding).
      expect(view.eta_seconds, `eta at ${view.percent}% with ${left.toFixed(1)} s left`).not.toBeNull();
      expect(view.eta_seconds ?? 0, `eta at ${view.percent}% with ${left.toFixed(1)} s left`).toBeLessThanOrEqual(3 * left + 1);
      expect(view.eta_seconds ?? 0, `eta at ${view.percent}% with ${left.toFixed(1)} s left`).toBeGreaterThanOrEqual(left / 3 - 1);
    }
  });

  it('status --watch redraws the runs in flight until Ctrl-C, and --watch --json prints one line a read', async () => {
    // About 40 s of walking at 5 calls/s: in flight however slowly the two CLI processes start. Cancelled at the end.
    await open({ COGNITO_RATE_LIMIT_RPS: '5' });
    const poolId = emulator.createPoolWithUsers({ users: 12_000, seed: 65 });
    const { snapshotId } = await harness.request({ userPoolId: poolId, destination: destination('watch') });
    const watch = spawnCli(['status', '--watch', '--interval', '0.5'], harness.childEnv);
    const json = spawnCli(['status', '--watch', '--json', '--interval', '0.5', '--user-pool-id', poolId], harness.childEnv);
    try {
      const row = new RegExp(`\\n${poolId} +${snapshotId} +running +\\d+/~12000 +`, 'g');
      await eventually(() => Promise.resolve((watch.stdout().match(row)?.length ?? 0) >= 2 || undefined), 40_000, 'two reads showing the run');
      await eventually(() => Promise.resolve(json.stdout().split('\n').filter((line) => line.includes(snapshotId)).length >= 2 || undefined), 40_000, 'two JSON lines');
    } finally {
      watch.child.kill('SIGINT');
      json.child.kill('SIGINT');
    }
    expect(await watch.exited()).toBe(0);
    expect(await json.exited()).toBe(0);
    expect(watch.stdout()).toMatch(/^runs in flight at \S+ \(every 0\.5 s; Ctrl-C to stop\)\nPOOL +RUN +STATE +USERS +DONE +ETA +SHARDS +THROTTLES +CALLS\/S +OTHER TABLES\n/);
    // Not a terminal: each read printed after the last, no escape codes.
    expect(watch.stdout()).not.toContain('\u001b');
    for (const line of json.stdout().trimEnd().split('\n')) {
      const [view] = JSON.parse(line) as { user_pool_id: string; active: { snapshot_id: string } | null }[];
      expect(view?.user_pool_id).toBe(poolId);
    }
    expect((await runCli(['cancel', snapshotId], harness.childEnv)).code).toBe(0);
  });

  it('status shows a run in progress, then the last snapshot', async () => {
    // About 10 s of walking, so the run is still in flight while two CLI processes start and read it.
    await open({ COGNITO_RATE_LIMIT_RPS: '10' });
    const poolId = emulator.createPoolWithUsers({ users: 6000, seed: 63 });
    const { snapshotId } = await harness.request({ userPoolId: poolId, destination: destination('status') });
    await eventually(async () => ((await harness.runtime.runs.status(snapshotId))?.users ?? 0) > 300 ? true : undefined, 20_000, 'progress');
    const during = await runCli(['status', '--user-pool-id', poolId, '--json'], harness.childEnv);
    expect(during.code).toBe(0);
    const [view] = JSON.parse(during.stdout) as { active: { snapshot_id: string; users: number; percent: number; eta_seconds: number; estimated_users: number } }[];
    expect(view?.active).toMatchObject({ snapshot_id: snapshotId, estimated_users: 6000 });
    expect(view?.active.users).toBeGreaterThan(300);
    expect(view?.active.percent).toBeGreaterThan(5);
    expect(view?.active.eta_seconds).toBeGreaterThan(0);
    const text = await runCli(['status', '--user-pool-id', poolId], harness.childEnv);
    expect(text.stdout).toMatch(new RegExp(`running\\s+${snapshotId}: \\d+/~6000 users \\(\\d+(\\.\\d)?%\\) eta \\d+s`));
    // The shared limiter the run draws on: 16 shards at 10 calls/s spend most of their time waiting.
    const active = view?.active as { limiter?: unknown; slot_wait_seconds?: number } | undefined;
    expect(active?.limiter).toMatchObject({ scope: `${harness.config.awsAccountId}:us-east-1`, rate_rps: 10, max_rps: 10, ceiling_rps: null, throttles_per_minute: 0 });
    expect(active?.slot_wait_seconds).toBeGreaterThan(1);
    expect(text.stdout).toMatch(/\n {2}limiter {3}10 calls\/s now \(max 10\), 0 throttles\/min in \S+; shards waited [\d.]+ s for slots, summed over the run's shards\n/);

    const done = await harness.wait(snapshotId);
    const after = await runCli(['status', '--user-pool-id', poolId], harness.childEnv);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain(`last good ${snapshotId} at ${done.completedAt}: 6000 users, ${done.manifestUrl}`);
  });

  it('status exits non-zero when a pool’s last scheduled run failed', async () => {
    await open();
    await harness.queues.runs.add(START_JOB, { request: scheduledRequest(pool('us-east-1_GoneAway', { destination: destination('gone') })) });
    await eventually(async () => (await harness.runtime.runs.history('us-east-1_GoneAway')).lastFailure, 20_000, 'the scheduled run to fail');
    const status = await runCli(['status'], harness.childEnv);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/us-east-1_GoneAway[\s\S]*last fail .*\(schedule\): user pool us-east-1_GoneAway cannot be read: ResourceNotFoundException/);
    expect(status.stderr).toMatch(/last scheduled export failed for us-east-1_GoneAway/);
  });

  it('/metrics shows the right counters after a run, and /healthz says the worker is up', async () => {
    await open();
    const poolId = emulator.createPoolWithUsers({ users: 1234, seed: 64 });
    emulator.setFaults({ throttleRate: 0.2 });
    emulator.resetStats();
    const status = await harness.run({ userPoolId: poolId, destination: destination('metrics'), fileMaxRecords: 100 });
    expect(status.state).toBe('completed');
    const stats = emulator.stats();
    const text = await (await fetch(`${admin.url}/metrics`)).text();
    const value = (metric: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(`user_pool_id="${poolId}"`));
      return Number(line?.split(' ').pop());
    };
    expect(value('cognito_export_users_exported_total')).toBe(1234);
    expect(value('cognito_export_files_written_total')).toBe(status.files);
    expect(value('cognito_export_list_users_calls_total')).toBe(stats.calls.ListUsers);
    expect(value('cognito_export_throttles_total')).toBe(Object.values(stats.throttled).reduce((sum, n) => sum + n, 0));
    expect(value('cognito_export_runs_finished_total')).toBe(1);
    expect(value('cognito_export_last_success_timestamp_seconds')).toBe(Date.parse(status.completedAt ?? '') / 1000);
    // When publishing began: after the walk started, no later than the completion.
    expect(Date.parse(status.finalizingAt ?? '')).toBeGreaterThanOrEqual(Date.parse(status.runningAt ?? ''));
    expect(Date.parse(status.finalizingAt ?? '')).toBeLessThanOrEqual(Date.parse(status.completedAt ?? ''));
    expect(text).toMatch(/cognito_export_run_duration_seconds_count\{user_pool_id="[^"]+",outcome="completed"\} 1/);
    expect(text).toMatch(/cognito_export_queue_jobs\{queue="shards",state="active"\} 0/);
    expect(text).toMatch(/^cognito_export_process_cpu_user_seconds_total \d/m);
    // The shared limiter, by scope: throttled, so it runs under its configured 1000/s.
    const gauge = (metric: string): number => Number(new RegExp(`^${metric}\\{scope="${harness.config.awsAccountId}:us-east-1"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(gauge('cognito_export_rate_limit_max_rps')).toBe(1000);
    expect(gauge('cognito_export_rate_limit_rps')).toBeLessThan(1000);
    expect(gauge('cognito_export_rate_limit_ceiling_rps')).toBeGreaterThan(0);
    expect(gauge('cognito_export_throttles_per_minute')).toBeGreaterThan(0);
    expect(gauge('cognito_export_throttles_per_minute')).toBeLessThanOrEqual(stats.throttled.ListUsers ?? 0);
    expect(value('cognito_export_slot_wait_seconds_total')).toBeGreaterThan(0);

    const health = await fetch(`${admin.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', redis: 'ok', worker: 'running' });
    await harness.worker?.close();
    expect((await fetch(`${admin.url}/healthz`)).status).toBe(503);
  });

  it('serves the bull-board dashboard behind the token', async () => {
    await open();
    expect((await fetch(`${admin.url}/dashboard`)).status).toBe(401);
    const page = await fetch(`${admin.url}/dashboard`, { headers: { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
  });
});

describe('retention', () => {
  it('keeps the newest N snapshots of a pool after each run, never the latest, and is off by default', async () => {
    await open();
    const poolId = emulator.createPoolWithUsers({ users: 120, seed: 65 });
    const dest = destination('retention');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await harness.run({ userPoolId: poolId, destination: dest })).spec.snapshotId);
    const sink = harness.runtime.sink(dest);
    const manifests = async () => (await sink.listObjects(`manifests/user_pool_id=${poolId}/dt=`)).map((o) => o.key.split('run=')[1]?.replace('.json', ''));
    expect(await manifests()).toEqual(ids);
    const kept = await harness.run({ userPoolId: poolId, destination: dest, keepLast: 2 });
    expect(await manifests()).toEqual([ids[2], kept.spec.snapshotId]);
    const data = await sink.listObjects(`users/user_pool_id=${poolId}/`);
    expect(new Set(data.map((o) => o.key.split('run=')[1]?.split('/')[0]))).toEqual(new Set([ids[2], kept.spec.snapshotId]));
    const latest = JSON.parse((await sink.getText(`manifests/user_pool_id=${poolId}/latest.json`)) ?? '{}') as { snapshot_id: string };
    expect(latest.snapshot_id).toBe(kept.spec.snapshotId);
  });
});
