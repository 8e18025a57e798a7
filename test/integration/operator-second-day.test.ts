import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../jobs/admin-port.js';
import { cancelRun } from '../../jobs/cancel-run.js';
import { startExportWorker } from '../../jobs/export-worker.js';
import { applySchedules, removeSchedule } from '../../jobs/schedules.js';
import { scheduledRequest } from '../../src/config/config-file.js';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { buildRunSpec } from '../../src/runs/export-request.js';
import { startHarness, type ExportHarness } from '../support/export-harness.js';
import { eventually, runCli } from '../support/worker-process.js';
import { scheduledPool } from '../support/scheduled-pool.js';

const TOKEN = 'test-admin-token-0123456789';
let emulator: CognitoEmulator;
let scratch: string;
let harness: ExportHarness | undefined;
let admin: AdminServer | undefined;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-second-day-'));
});

afterEach(async () => {
  emulator.setFaults({ latencyMs: 0 });
  await admin?.close();
  await harness?.close();
  admin = undefined;
  harness = undefined;
});

afterAll(async () => {
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});

const dir = (name: string) => pathToFileURL(join(scratch, name)).href;

/** Exactly one line on stderr. */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  return lines[0] ?? '';
}

async function open(worker: boolean): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, worker });
  harness = h;
  admin = await startAdminServer(h.runtime, h.queues, () => h.worker, { host: '127.0.0.1', port: 0, token: TOKEN, dashboard: false });
  return h;
}

async function forgetOverHttp(userPoolId: string, token = TOKEN): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${admin?.url}/pools/${encodeURIComponent(userPoolId)}`, { method: 'DELETE', headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('forget', () => {
  it('removes a pool from status (and its failed schedule from the exit code), refusing while it has a schedule or a run in flight', async () => {
    const h = await open(false);
    const poolId = emulator.createPoolWithUsers({ users: 150, seed: 401 });
    const gone = 'us-east-1_GoneForGood';

    // A run in flight: refused, nothing forgotten.
    const inFlight = await h.request({ userPoolId: poolId, destination: dir('first') });
    const refused = await runCli(['forget', poolId], h.childEnv);
    expect(refused.code).toBe(1);
    expect(oneLine(refused.stderr)).toBe(
      `cognito-export: pool ${poolId} has export ${inFlight.snapshotId} in flight: wait for it to end or cancel it with \`cognito-export cancel ${inFlight.snapshotId}\`; nothing was forgotten`,
    );
    expect((await forgetOverHttp(poolId)).status).toBe(409);
    expect((await cancelRun(h.runtime, inFlight.snapshotId)).kind).toBe('cancelled');

    // A pool that completed a run, and one whose last scheduled run failed.
    h.worker = startExportWorker(h.runtime, h.queues, {});
    const done = await h.run({ userPoolId: poolId, destination: dir('first') });
    expect(done.state).toBe('completed');
    const failing = buildRunSpec(scheduledRequest(scheduledPool(gone, dir('gone'))), h.config);
    expect(await h.runtime.runs.register(failing)).toBe(failing.snapshotId);
    expect((await h.runtime.runs.fail(failing, `user pool ${gone} cannot be read: ResourceNotFoundException`)).ended).toBe(true);
    const before = await runCli(['status'], h.childEnv);
    expect(before.code).toBe(1);
    expect(before.stdout).toContain(gone);

    // A schedule would bring it back: refused until it is removed.
    await applySchedules(h.queues, [scheduledPool(gone, dir('gone'))]);
    const withSchedule = await runCli(['forget', gone], h.childEnv);
    expect(withSchedule.code).toBe(1);
    expect(oneLine(withSchedule.stderr)).toMatch(new RegExp(`pool ${gone} has a schedule \\(export-${gone}\\): .*schedule remove ${gone}.*; nothing was forgotten$`));
    const httpRefused = await forgetOverHttp(gone);
    expect(httpRefused.status).toBe(409);
    expect(httpRefused.body.error).toMatch(/has a schedule/);
    expect(await removeSchedule(h.queues, gone)).toBe(true);

    // Behind the token like the other write routes.
    expect((await forgetOverHttp(gone, '')).status).toBe(401);
    const forgotten = await runCli(['forget', gone], h.childEnv);
    expect(forgotten.code, forgotten.stderr).toBe(0);
    expect(oneLine(forgotten.stderr)).toMatch(new RegExp(`forgot pool ${gone}`));
    const after = await runCli(['status'], h.childEnv);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).not.toContain(gone);
    expect(after.stdout).toContain(poolId);

    // Unknown (or forgotten already): exit 2 / 404, one line.
    const again = await runCli(['forget', gone], h.childEnv);
    expect(again.code).toBe(2);
    expect(oneLine(again.stderr)).toBe(`cognito-export: no history of pool ${gone}: \`cognito-export status\` lists the pools this deployment knows`);
    expect((await forgetOverHttp('us-east-1_NeverSeen')).status).toBe(404);

    // Over HTTP, a pool with data: its history goes, what the commit protocol needs stays.
    const heads = await h.runtime.commits.heads(poolId);
    expect(heads.length).toBeGreaterThan(0);
    const http = await forgetOverHttp(poolId);
    expect(http).toEqual({ status: 200, body: { user_pool_id: poolId, forgotten: true } });
    expect(await h.runtime.commits.heads(poolId)).toEqual(heads);
    const json = JSON.parse((await runCli(['status', '--json'], h.childEnv)).stdout) as { user_pool_id: string }[];
    expect(json.map((pool) => pool.user_pool_id)).not.toContain(poolId);
    const metrics = await (await fetch(`${admin?.url}/metrics`)).text();
    expect(metrics).not.toContain(`cognito_export_last_success_timestamp_seconds{user_pool_id="${poolId}"}`);

    // Its next run orders after the last one and shows up again.
    const next = await h.run({ userPoolId: poolId, destination: dir('first') });
    expect(next.state).toBe('completed');
    const [head] = await h.runtime.commits.heads(poolId);
    expect(Number(head?.head.commit_seq)).toBeGreaterThan(Number(heads[0]?.head.commit_seq));
    expect((await runCli(['status'], h.childEnv)).stdout).toContain(poolId);
  });
});

describe('/metrics on a cancel', () => {
  it('counts a cancelled run’s jobs as cancelled, not failed', async () => {
    const h = await open(true);
    const poolId = emulator.createPoolWithUsers({ users: 4000, seed: 402 });
    emulator.setFaults({ latencyMs: 500 });
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: dir('cancelled'), shards: 16 });
    await eventually(async () => ((await h.runtime.runs.status(snapshotId))?.users ?? 0) > 0 || undefined, 30_000, 'the walk to start');
    expect((await cancelRun(h.runtime, snapshotId)).kind).toBe('cancelled');
    // The shards stop as failed BullMQ jobs.
    await eventually(async () => {
      const counts = await h.queues.shards.getJobCounts('active', 'waiting', 'delayed', 'failed');
      return counts.active === 0 && counts.waiting === 0 && counts.delayed === 0 && (counts.failed ?? 0) > 0 ? true : undefined;
    }, 30_000, 'the cancelled shards to stop');
    const text = await (await fetch(`${admin?.url}/metrics`)).text();
    const gauge = (queue: string, state: string): number => Number(new RegExp(`^cognito_export_queue_jobs\\{queue="${queue}",state="${state}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    for (const queue of ['runs', 'shards', 'groups']) expect(gauge(queue, 'failed'), queue).toBe(0);
    expect(gauge('shards', 'cancelled')).toBeGreaterThan(0);
    expect(text).not.toMatch(/cognito_export_runs_finished_total\{[^}]*outcome="failed"\} [1-9]/);
    expect(text).toMatch(new RegExp(`cognito_export_runs_finished_total\\{user_pool_id="${poolId}",outcome="cancelled"\\} 1`));
  });
});
