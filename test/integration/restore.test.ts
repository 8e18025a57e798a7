import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AdminDeleteUserCommand, AdminDisableUserCommand, AdminUpdateUserAttributesCommand, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { RestoredUserRecord } from '../../src/restore/restore-records.js';
import { RestoreStore } from '../../src/restore/restore-store.js';
import { prepareRestore, queueRestore, RestoreRequestError } from '../../jobs/request-restore.js';
import { FAST_WRITES, restoreAndWait } from '../support/restore-harness.js';
import { EMULATOR_CREDENTIALS, readObject, startHarness, type ExportHarness } from '../support/export-harness.js';
import { eventually, runCli, spawnCli, type CliProcess } from '../support/worker-process.js';
import { startAdminServer } from '../../jobs/admin-port.js';
import { keyOfUrl, readLines } from '../../src/storage/record-lines.js';

let emulator: CognitoEmulator;
let scratch: string;
let cognito: CognitoIdentityProviderClient;
const harnesses: ExportHarness[] = [];
const children: CliProcess[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-restore-'));
  cognito = new CognitoIdentityProviderClient({ endpoint: emulator.url, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });
});

afterEach(async () => {
  emulator.setFaults({ latencyMs: 0 });
  for (const child of children.splice(0)) child.child.kill('SIGKILL');
  for (const harness of harnesses.splice(0)) await harness.close();
});

afterAll(async () => {
  cognito.destroy();
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function harness(worker = true): Promise<ExportHarness> {
  // The emulator has no write quota unless a test sets one: the restore may go faster than AWS's.
  const h = await startHarness({ cognitoEndpoint: emulator.url, worker, env: FAST_WRITES });
  harnesses.push(h);
  return h;
}

const destination = (name: string): string => pathToFileURL(join(scratch, name)).href;

/** Exports a seeded pool and returns its latest.json URL. */
async function snapshotOf(h: ExportHarness, poolId: string, name: string): Promise<string> {
  const status = await h.run({ userPoolId: poolId, destination: destination(name) });
  expect(status.error).toBeUndefined();
  return `${destination(name)}/manifests/user_pool_id=${poolId}/latest.json`;
}

/** A pool's users as a restore must leave them: attributes but sub and the read-only ones, enabled, by username. */
function usersOf(poolId: string, withStatus = false): Record<string, unknown> {
  return Object.fromEntries(
    emulator
      .listAllUsers(poolId)
      .filter((user) => user.UserStatus !== 'EXTERNAL_PROVIDER')
      .map((user): [string, unknown] => [
        user.Username ?? '',
        {
          enabled: user.Enabled,
          attributes: Object.fromEntries((user.Attributes ?? []).filter((a) => a.Name !== 'sub' && a.Name !== 'identities').map((a): [string, string] => [a.Name ?? '', a.Value ?? '']).sort()),
          ...(withStatus ? { status: user.UserStatus } : {}),
        },
      ]),
  );
}

function groupsOf(poolId: string): Record<string, unknown> {
  return Object.fromEntries(emulator.listAllGroups(poolId).map((group): [string, unknown] => [group.GroupName ?? '', { description: group.Description ?? null, role: group.RoleArn ?? null, precedence: group.Precedence ?? null }]));
}

function membershipsOf(poolId: string, except: ReadonlySet<string> = new Set()): string[] {
  return emulator
    .listAllGroups(poolId)
    .flatMap((group) => emulator.listAllMembers(poolId, group.GroupName ?? '').filter((user) => !except.has(user.Username ?? '')).map((user) => `${group.GroupName ?? ''}/${user.Username ?? ''}`))
    .sort();
}

const federatedOf = (poolId: string) => new Set(emulator.listAllUsers(poolId).filter((user) => user.UserStatus === 'EXTERNAL_PROVIDER').map((user) => user.Username ?? ''));

/** A restore's report (JSON) and its users table rows. */
async function reportOf(h: ExportHarness, restoreId: string): Promise<{ report: Record<string, unknown> & { counts: Record<string, Record<string, number>>; mapping_url: string; tables: Record<string, { files: { url: string }[] }> }; rows: RestoredUserRecord[] }> {
  const status = await new RestoreStore(h.runtime.redis, h.runtime.keys).status(restoreId);
  expect(status?.state).toBe('completed');
  const report = JSON.parse((await readObject(status?.reportUrl ?? '')).toString('utf8')) as Awaited<ReturnType<typeof reportOf>>['report'];
  const rows: RestoredUserRecord[] = [];
  // NDJSON or Parquet, as the snapshot was.
  const sink = h.runtime.sink((status?.reportUrl ?? '').replace(/\/restores\/.*$/, ''));
  for (const file of report.tables.restore_users?.files ?? []) {
    for await (const line of readLines(sink, keyOfUrl(sink, file.url) ?? '')) rows.push(JSON.parse(line) as RestoredUserRecord);
  }
  return { report, rows };
}

const restore = restoreAndWait;

describe('restore', () => {
  it('restores users, groups and memberships into an empty pool exactly, with a complete sub mapping; a second restore writes nothing', async () => {
    const h = await harness();
    const source = emulator.createPoolWithUsers({ users: 300, seed: 2201, groups: 6, customAttributes: ['tenant'] });
    emulator.addUser(source, { username: 'zoë-日本', attributes: { email: 'zoe@example.com', name: 'Zoë "Z"', 'custom:tenant': 'ünï' } });
    await cognito.send(new AdminDisableUserCommand({ UserPoolId: source, Username: 'zoë-日本' }));
    const from = await snapshotOf(h, source, 'full');
    const target = emulator.createPool('target', undefined, { customAttributes: ['tenant'] });
    emulator.resetStats();
    const restoreId = await restore(h, from, target, { verify: true });
    const federated = federatedOf(source);
    expect(federated.size).toBeGreaterThan(0);
    expect(usersOf(target)).toEqual(usersOf(source));
    for (const user of emulator.listAllUsers(target)) expect(user.UserStatus).toBe('FORCE_CHANGE_PASSWORD');
    expect(groupsOf(target)).toEqual(groupsOf(source));
    expect(membershipsOf(target)).toEqual(membershipsOf(source, federated));
    const { report, rows } = await reportOf(h, restoreId);
    const natives = emulator.listAllUsers(source).length - federated.size;
    expect(report).toMatchObject({ created: natives, existing: 0, updated: 0, deleted: 0, skipped_federated: federated.size, failed: 0, groups_created: 6, memberships_added: membershipsOf(source, federated).length });
    expect(report).toMatchObject({ verified: true, verification: { differences: 0 } });
    // The worker's metrics count the rows as they became durable.
    const metrics = await h.runtime.metrics.render();
    expect(metrics.body).toContain(`cognito_export_restore_records_total{user_pool_id="${target}",table="restore_users",action="created"} ${natives}`);
    expect(metrics.body).toContain(`cognito_export_restores_finished_total{user_pool_id="${target}",outcome="completed"} 1`);
    expect(report.mapping_url).toMatch(/^file:\/\/.*\/restore_users\/user_pool_id=.*\/run=/);
    // The mapping: every user of the snapshot once; native ones to the sub they have in the target now.
    expect(rows).toHaveLength(emulator.listAllUsers(source).length);
    const subs = new Map(emulator.listAllUsers(target).map((user) => [user.Username, user.Attributes?.find((a) => a.Name === 'sub')?.Value]));
    const oldSubs = new Map(emulator.listAllUsers(source).map((user) => [user.Username, user.Attributes?.find((a) => a.Name === 'sub')?.Value]));
    for (const row of rows) {
      expect(row.old_sub).toBe(oldSubs.get(row.username));
      expect(row.new_sub).toBe(row.action === 'created' ? subs.get(row.username) : null);
    }
    // One AdminCreateUser a user, and no invitation sent by any (MessageAction SUPPRESS).
    expect(emulator.stats().calls.AdminCreateUser).toBe(natives);
    expect(emulator.writes().pools[target]?.messages).toEqual({ EMAIL: 0, SMS: 0 });
    // Again, with --merge (the target has users now): nothing is created, nothing changed.
    emulator.resetStats();
    const before = JSON.stringify(emulator.listAllUsers(target));
    const again = await restore(h, from, target, { merge: true });
    const second = await reportOf(h, again);
    expect(second.report).toMatchObject({ created: 0, existing: natives, updated: 0, failed: 0, groups_created: 0, memberships_added: 0 });
    expect(second.report.counts.memberships?.existing).toBe(membershipsOf(source, federated).length);
    const calls = emulator.stats().calls;
    for (const write of ['AdminUpdateUserAttributes', 'AdminDeleteUserAttributes', 'AdminDisableUser', 'AdminEnableUser', 'AdminAddUserToGroup', 'UpdateGroup', 'AdminDeleteUser']) expect(calls[write] ?? 0, write).toBe(0);
    expect(JSON.stringify(emulator.listAllUsers(target))).toBe(before);
  });

  it('restores a Parquet snapshot, and writes its tables in Parquet', async () => {
    const h = await harness();
    const source = emulator.createPoolWithUsers({ users: 90, seed: 2210, groups: 2, customAttributes: ['tenant'] });
    const status = await h.run({ userPoolId: source, destination: destination('parquet'), format: 'parquet' });
    expect(status.error).toBeUndefined();
    const target = emulator.createPool('parquet-target', undefined, { customAttributes: ['tenant'] });
    const id = await restore(h, `${destination('parquet')}/manifests/user_pool_id=${source}/latest.json`, target);
    expect(usersOf(target)).toEqual(usersOf(source));
    const { report, rows } = await reportOf(h, id);
    for (const file of report.tables.restore_users?.files ?? []) expect(file.url).toMatch(/\.parquet$/);
    expect(rows).toHaveLength(90);
    expect(rows.filter((row) => row.action === 'created').every((row) => row.user_pool_id === target && row.new_sub !== null)).toBe(true);
  });

  it('refuses before anything is queued, one line each: a target with users, missing custom attributes, a pseudonymized snapshot, a bad URL', async () => {
    const h = await harness(false);
    const source = emulator.createPoolWithUsers({ users: 40, seed: 2202, customAttributes: ['tenant'] });
    const from = await snapshotOf(await harness(), source, 'refusals');
    const refused = async (request: Parameters<typeof prepareRestore>[1]): Promise<string> => {
      const error = await prepareRestore(h.runtime, request).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(RestoreRequestError);
      expect((error as Error).message).not.toContain('\n');
      return (error as Error).message;
    };
    const full = emulator.createPoolWithUsers({ users: 3, seed: 2203, customAttributes: ['tenant'] });
    expect(await refused({ from, targetPoolId: full })).toMatch(/already has users: restore into an empty pool, or pass --merge/);
    const plain = emulator.createPool('no-tenant', undefined, { customAttributes: ['other'] });
    expect(await refused({ from, targetPoolId: plain })).toMatch(/lacks the custom attributes custom:tenant/);
    expect(await refused({ from: 'https://example.com/x.json', targetPoolId: plain })).toMatch(/not a snapshot's manifest or pointer URL/);
    expect(await refused({ from, targetPoolId: plain, deleteMissing: true })).toMatch(/pass --merge too/);
    const pseudonymizing = await startHarness({ cognitoEndpoint: emulator.url, env: { PSEUDONYMIZATION_KEY: randomBytes(32).toString('hex') } });
    harnesses.push(pseudonymizing);
    const pseudo = await pseudonymizing.run({ userPoolId: source, destination: destination('pseudo'), pseudonymize: ['email'], name: 'pseudo' });
    expect(pseudo.error).toBeUndefined();
    expect(await refused({ from: `${destination('pseudo')}/manifests/user_pool_id=${source}/latest-pseudo.json`, targetPoolId: plain })).toMatch(/is pseudonymized \(email are HMACs.*cannot be restored/);
    // The CLI: exit 2 and one line on stderr.
    const cli = await runCli(['restore', '--from', from, '--user-pool-id', full, '--wait'], h.childEnv);
    expect(cli.code).toBe(2);
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    expect(cli.stderr).toMatch(/already has users/);
    expect(emulator.listAllUsers(plain)).toHaveLength(0);
  });

  it('--dry-run prints the plan and writes nothing', async () => {
    const h = await harness();
    const source = emulator.createPoolWithUsers({ users: 80, seed: 2204, groups: 3, customAttributes: ['tenant'] });
    const from = await snapshotOf(h, source, 'dry');
    const target = emulator.createPool('dry-target', undefined, { customAttributes: ['tenant'] });
    emulator.resetStats();
    const cli = await runCli(['restore', '--from', from, '--user-pool-id', target, '--dry-run', '--json'], h.childEnv);
    expect(cli.code).toBe(0);
    const plan = JSON.parse(cli.stdout.trim().split('\n').pop() ?? '{}') as { users: Record<string, number>; groups: Record<string, number>; memberships: Record<string, number> };
    const federated = federatedOf(source);
    expect(plan.users).toMatchObject({ created: 80 - federated.size, skipped_federated: federated.size, failed: 0 });
    expect(plan.groups.created).toBe(3);
    expect(plan.memberships.created).toBe(membershipsOf(source, federated).length);
    const calls = emulator.stats().calls;
    for (const write of ['AdminCreateUser', 'CreateGroup', 'AdminAddUserToGroup', 'AdminUpdateUserAttributes', 'AdminDisableUser']) expect(calls[write] ?? 0, write).toBe(0);
    expect(emulator.listAllUsers(target)).toHaveLength(0);
  });

  it('--merge --delete-missing converges a target that drifted', async () => {
    const h = await harness();
    const source = emulator.createPoolWithUsers({ users: 120, seed: 2205, groups: 3, customAttributes: ['tenant'] });
    const from = await snapshotOf(h, source, 'sync');
    const target = emulator.createPool('sync-target', undefined, { customAttributes: ['tenant'] });
    await restore(h, from, target);
    // Enabled ones: disabling a user the snapshot has disabled would be no drift.
    const natives = emulator.listAllUsers(target).filter((user) => user.Enabled);
    // Drift: a user changed, one disabled, one deleted, two added.
    await cognito.send(new AdminUpdateUserAttributesCommand({ UserPoolId: target, Username: natives[0]?.Username, UserAttributes: [{ Name: 'email', Value: 'drift@example.com' }, { Name: 'nickname', Value: 'extra' }] }));
    await cognito.send(new AdminDisableUserCommand({ UserPoolId: target, Username: natives[1]?.Username }));
    await cognito.send(new AdminDeleteUserCommand({ UserPoolId: target, Username: natives[2]?.Username }));
    emulator.addUser(target, { username: 'intruder-1', attributes: { email: 'i1@example.com' } });
    emulator.addUser(target, { username: 'intruder-2', attributes: { email: 'i2@example.com' } });
    const id = await restore(h, from, target, { merge: true, deleteMissing: true });
    expect(usersOf(target)).toEqual(usersOf(source));
    const { report } = await reportOf(h, id);
    expect(report).toMatchObject({ created: 1, updated: 2, deleted: 2, failed: 0 });
  });
});

describe('restore, over HTTP and under the write quotas', () => {
  it('POST /restores queues one (token, ALLOWED_POOLS, ALLOWED_DESTINATIONS), GET follows it, a refusal is a 400 with one line', async () => {
    const token = 'restore-token-0123456789abcdef';
    const source = emulator.createPoolWithUsers({ users: 60, seed: 2207, groups: 2, customAttributes: ['tenant'] });
    const target = emulator.createPool('http-target', undefined, { customAttributes: ['tenant'] });
    const h = await startHarness({ cognitoEndpoint: emulator.url, env: { ...FAST_WRITES, ALLOWED_DESTINATIONS: destination('http'), ALLOWED_POOLS: `${source},${target}` } });
    harnesses.push(h);
    const from = await snapshotOf(h, source, 'http');
    const admin = await startAdminServer(h.runtime, h.queues, h.worker, { host: '127.0.0.1', port: 0, token, dashboard: false });
    try {
      const post = (body: unknown, auth = `Bearer ${token}`) => fetch(`${admin.url}/restores`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect((await post({ from, user_pool_id: target }, 'Bearer wrong')).status).toBe(403);
      expect((await post({ from, user_pool_id: target }, '')).status).toBe(401);
      const elsewhere = await post({ from: from.replace('/http/', '/other/'), user_pool_id: target });
      expect(elsewhere.status).toBe(403);
      expect((await post({ from, user_pool_id: 'us-east-1_NotAllowed1' })).status).toBe(403);
      const refused = await post({ from, user_pool_id: source });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toMatch(/already has users/);
      const queued = await post({ from, user_pool_id: target });
      expect(queued.status).toBe(202);
      const { restore_id: id, status_url: url } = (await queued.json()) as { restore_id: string; status_url: string };
      const done = await eventually(async () => {
        const view = (await (await fetch(`${admin.url}${url}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { state: string; report_url: string | null };
        return view.state === 'completed' ? view : undefined;
      }, 60_000, 'the restore');
      expect(done.report_url).toContain(`run=${id}.json`);
      expect(usersOf(target)).toEqual(usersOf(source));
    } finally {
      await admin.close();
    }
  });

  it('throttled by the emulator\'s write quotas, it slows down and does not fail; the counts stay exact', async () => {
    // Above AWS's write quotas on purpose: the buckets learn them from the throttles.
    const h = await startHarness({ cognitoEndpoint: emulator.url, env: { RESTORE_CREATE_RPS: '200', RESTORE_UPDATE_RPS: '200', RESTORE_MEMBERSHIP_RPS: '200', RESTORE_GROUP_WRITE_RPS: '200' } });
    harnesses.push(h);
    const source = emulator.createPoolWithUsers({ users: 250, seed: 2208, groups: 3, customAttributes: ['tenant'] });
    const from = await snapshotOf(h, source, 'throttled');
    const target = emulator.createPool('throttled-target', undefined, { customAttributes: ['tenant'] });
    emulator.setFaults({ writeQuotas: {} });
    emulator.resetStats();
    try {
      const id = await restore(h, from, target);
      const federated = federatedOf(source);
      expect(usersOf(target)).toEqual(usersOf(source));
      expect(membershipsOf(target)).toEqual(membershipsOf(source, federated));
      const { report } = await reportOf(h, id);
      expect(report).toMatchObject({ created: 250 - federated.size, failed: 0, memberships_added: membershipsOf(source, federated).length });
      expect(emulator.stats().throttled.AdminCreateUser ?? 0).toBeGreaterThan(0);
    } finally {
      emulator.setFaults({ writeQuotas: null });
    }
  }, 120_000);
});

describe('restore, spread over workers', () => {
  it("a restore's users and memberships units are jobs any worker takes: two workers share them, and the result is exact", async () => {
    const h = await harness();
    const source = emulator.createPoolWithUsers({ users: 1200, seed: 2211, groups: 3, customAttributes: ['tenant'] });
    const status = await h.run({ userPoolId: source, destination: destination('spread'), fileMaxRecords: 100 });
    expect(status.error).toBeUndefined();
    const from = `${destination('spread')}/manifests/user_pool_id=${source}/latest.json`;
    const target = emulator.createPool('spread-target', undefined, { customAttributes: ['tenant'] });
    const other = spawnCli(['worker'], { ...h.childEnv, ...FAST_WRITES });
    children.push(other);
    emulator.setFaults({ latencyMs: 10 });
    const id = await restore(h, from, target);
    const federated = federatedOf(source);
    expect(usersOf(target)).toEqual(usersOf(source));
    expect(membershipsOf(target)).toEqual(membershipsOf(source, federated));
    const units = await h.queues.restoreUnits.getJobs(['completed']);
    const mine = units.filter((job) => (job.data as { restoreId: string }).restoreId === id);
    expect(mine.length).toBeGreaterThan(10);
    expect(new Set(mine.map((job) => job.processedBy)).size).toBe(2);
  }, 120_000);
});

describe('restore, cancelled', () => {
  it('cancel <restore id> stops it at the next batch: no report, no table published, what it wrote stays', async () => {
    const h = await harness();
    const source = emulator.createPoolWithUsers({ users: 1500, seed: 2209, customAttributes: ['tenant'] });
    const from = await snapshotOf(h, source, 'cancel');
    const target = emulator.createPool('cancel-target', undefined, { customAttributes: ['tenant'] });
    emulator.setFaults({ latencyMs: 20 });
    const { restoreId } = await queueRestore(h.runtime, h.queues, await prepareRestore(h.runtime, { from, targetPoolId: target }));
    await eventually(() => Promise.resolve(emulator.listAllUsers(target).length > 100 ? true : undefined), 60_000, 'the restore to be under way', 10);
    const cli = await runCli(['cancel', restoreId], h.childEnv);
    expect(cli.code).toBe(0);
    expect(cli.stderr).toMatch(/cancelled restore .* what it already wrote to the pool stays/);
    const job = await h.queues.restores.getJob(`restore-${restoreId}`);
    await eventually(async () => ((await job?.getState()) === 'completed' ? true : undefined), 30_000, 'the job to stop');
    const written = emulator.listAllUsers(target).length;
    expect(written).toBeLessThan(1500);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(emulator.listAllUsers(target).length).toBe(written);
    expect((await new RestoreStore(h.runtime.redis, h.runtime.keys).status(restoreId))?.state).toBe('cancelled');
    expect(await h.runtime.sink(destination('cancel')).listObjects('restore_users/')).toEqual([]);
    expect(await h.runtime.sink(destination('cancel')).listObjects('restores/')).toEqual([]);
    expect((await runCli(['cancel', restoreId], h.childEnv)).code).toBe(1);
  }, 120_000);
});

describe('restore, crash', () => {
  it('a worker killed (-9) mid-restore: another resumes it, and the target and the counts are exact', async () => {
    const h = await harness(false);
    const source = emulator.createPoolWithUsers({ users: 1500, seed: 2206, groups: 4, customAttributes: ['tenant'] });
    const exporter = await harness();
    const from = await snapshotOf(exporter, source, 'crash');
    await exporter.worker?.close();
    exporter.worker = undefined;
    const target = emulator.createPool('crash-target', undefined, { customAttributes: ['tenant'] });
    emulator.setFaults({ latencyMs: 10 });
    const worker = (): CliProcess => {
      const child = spawnCli(['worker'], { ...h.childEnv, WORKER_LOCK_DURATION_MS: '2000', LOG_LEVEL: 'info' });
      children.push(child);
      return child;
    };
    const victim = worker();
    const prepared = await prepareRestore(h.runtime, { from, targetPoolId: target });
    const { restoreId } = await queueRestore(h.runtime, h.queues, prepared);
    await eventually(() => Promise.resolve(emulator.listAllUsers(target).length > 400 ? true : undefined), 60_000, 'the restore to be under way', 10);
    victim.child.kill('SIGKILL');
    await victim.exited();
    emulator.setFaults({ latencyMs: 0 });
    worker();
    await eventually(async () => ((await new RestoreStore(h.runtime.redis, h.runtime.keys).status(restoreId))?.state === 'completed' ? true : undefined), 120_000, 'the restore to complete');
    const federated = federatedOf(source);
    expect(usersOf(target)).toEqual(usersOf(source));
    expect(membershipsOf(target)).toEqual(membershipsOf(source, federated));
    const { report, rows } = await reportOf(h, restoreId);
    expect(report).toMatchObject({ created: 1500 - federated.size, existing: 0, skipped_federated: federated.size, failed: 0, memberships_added: membershipsOf(source, federated).length });
    expect(new Set(rows.map((row) => row.username)).size).toBe(rows.length);
    expect(rows).toHaveLength(1500);
  }, 240_000);
});
