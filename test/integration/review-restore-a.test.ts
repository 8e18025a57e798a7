import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { RestoreStore } from '../../src/restore/restore-store.js';
import { prepareRestore, queueRestore } from '../../jobs/request-restore.js';
import { readObject, startHarness, type ExportHarness } from '../support/export-harness.js';
import { eventually } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let scratch: string;
const harnesses: ExportHarness[] = [];
const FAST_WRITES = { RESTORE_CREATE_RPS: '500', RESTORE_UPDATE_RPS: '500', RESTORE_MEMBERSHIP_RPS: '500', RESTORE_GROUP_WRITE_RPS: '500' };

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-review-'));
});
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});
afterAll(async () => {
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});
async function harness(worker = true, env: Record<string, string> = {}): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, worker, env: { ...FAST_WRITES, ...env } });
  harnesses.push(h);
  return h;
}
const destination = (name: string): string => pathToFileURL(join(scratch, name)).href;
async function snapshotOf(h: ExportHarness, poolId: string, name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const status = await h.run({ userPoolId: poolId, destination: destination(name), ...extra });
  expect(status.error).toBeUndefined();
  return `${destination(name)}/manifests/user_pool_id=${poolId}/${extra.name ? `latest-${String(extra.name)}` : 'latest'}.json`;
}
async function restore(h: ExportHarness, from: string, target: string, options: { merge?: boolean; deleteMissing?: boolean } = {}): Promise<string> {
  const prepared = await prepareRestore(h.runtime, { from, targetPoolId: target, ...options });
  const { restoreId } = await queueRestore(h.runtime, h.queues, prepared);
  await eventually(async () => {
    const status = await new RestoreStore(h.runtime.redis, h.runtime.keys).status(restoreId);
    if (status?.state === 'failed') throw new Error(`restore failed: ${status.error ?? ''}`);
    return status?.state === 'completed' ? true : undefined;
  }, 60_000, 'the restore');
  return restoreId;
}
async function reportOf(h: ExportHarness, id: string): Promise<Record<string, any>> {
  const status = await new RestoreStore(h.runtime.redis, h.runtime.keys).status(id);
  return JSON.parse((await readObject(status?.reportUrl ?? '')).toString('utf8')) as Record<string, any>;
}
async function rowsOf(report: Record<string, any>, table: string): Promise<any[]> {
  const rows: any[] = [];
  for (const file of report.tables[table]?.files ?? []) for (const line of gunzipSync(await readObject(file.url)).toString('utf8').split('\n').filter(Boolean)) rows.push(JSON.parse(line));
  return rows;
}
const attrs = (pool: string, username: string) => Object.fromEntries((emulator.listAllUsers(pool).find((u) => u.Username === username)?.Attributes ?? []).map((a) => [a.Name, a.Value]));

describe('review', () => {
  it('two restore requests for one target at once: only one restore is registered', async () => {
    const h = await harness(false);
    const source = emulator.createPoolWithUsers({ users: 5, seed: 1 });
    const from = await snapshotOf(await harness(), source, 'race');
    const target = emulator.createPool('race-target', undefined, { customAttributes: ['tenant'] });
    const a = await prepareRestore(h.runtime, { from, targetPoolId: target });
    const b = await prepareRestore(h.runtime, { from, targetPoolId: target });
    expect(a.spec.restoreId).not.toBe(b.spec.restoreId);
    const [ra, rb] = await Promise.all([queueRestore(h.runtime, h.queues, a), queueRestore(h.runtime, h.queues, b)]);
    console.log('RACE', ra, rb);
    expect([ra.joined, rb.joined].filter(Boolean)).toHaveLength(1);
  });

  it('a snapshot group without a description, restored with --merge over a target group that has one: converges (no UpdateGroup on the second run)', async () => {
    const h = await harness();
    const source = emulator.createPoolWithUsers({ users: 3, seed: 2 });
    emulator.createGroup(source, { name: 'plain' });
    const from = await snapshotOf(h, source, 'grp');
    const target = emulator.createPool('grp-target', undefined, { customAttributes: ['tenant'] });
    emulator.createGroup(target, { name: 'plain', description: 'drifted', precedence: 3 });
    const first = await reportOf(h, await restore(h, from, target, { merge: true }));
    console.log('GROUPS 1', first.counts.groups, emulator.listAllGroups(target));
    emulator.resetStats();
    const second = await reportOf(h, await restore(h, from, target, { merge: true }));
    console.log('GROUPS 2', second.counts.groups, emulator.writes());
    expect(second.counts.groups.updated).toBe(0);
    expect((emulator.writes().changed.UpdateGroup ?? 0) + (emulator.writes().unchanged.UpdateGroup ?? 0)).toBe(0);
  });

  it('a snapshot exported with --exclude-attributes, restored with --merge: the target keeps the excluded attributes', async () => {
    const h = await harness();
    const source = emulator.createPool('excl-source');
    emulator.addUser(source, { username: 'u1', attributes: { email: 'u1@example.com', phone_number: '+15550000001', name: 'One' } });
    const from = await snapshotOf(h, source, 'excl', { excludeAttributes: ['phone_number'], name: 'nophone' });
    const target = emulator.createPool('excl-target');
    emulator.addUser(target, { username: 'u1', attributes: { email: 'u1@example.com', phone_number: '+15550000001', name: 'Old name' } });
    const report = await reportOf(h, await restore(h, from, target, { merge: true }));
    console.log('EXCL', report.counts.users, attrs(target, 'u1'));
    expect(attrs(target, 'u1').phone_number).toBe('+15550000001');
  });

  it('a filtered snapshot with --merge --delete-missing deletes users the snapshot never looked at', async () => {
    const h = await harness();
    const source = emulator.createPool('filt-source');
    emulator.addUser(source, { username: 'alice', attributes: { email: 'alice@example.com' } });
    emulator.addUser(source, { username: 'bob', attributes: { email: 'bob@example.com' } });
    const from = await snapshotOf(h, source, 'filt', { filter: 'username ^= "a"', name: 'a-only' });
    const target = emulator.createPool('filt-target');
    emulator.addUser(target, { username: 'alice', attributes: { email: 'alice@example.com' } });
    emulator.addUser(target, { username: 'bob', attributes: { email: 'bob@example.com' } });
    const report = await reportOf(h, await restore(h, from, target, { merge: true, deleteMissing: true }));
    console.log('FILT', report.counts.users, emulator.listAllUsers(target).map((u) => u.Username));
    expect(emulator.listAllUsers(target).map((u) => u.Username)).toContain('bob');
  });

  it('a user Cognito refuses is one failure, not one per membership too', async () => {
    const h = await harness();
    const source = emulator.createPool('bad-source');
    emulator.addUser(source, { username: 'good', attributes: { email: 'g@example.com' } });
    emulator.addUser(source, { username: 'dev', attributes: { email: 'd@example.com', 'dev:custom:x': 'v' } });
    emulator.addUser(source, { username: 'ok2', attributes: { email: 'o@example.com', updated_at: '1700000000' } });
    emulator.createGroup(source, { name: 'a/b-ü' });
    emulator.addUserToGroup(source, 'a/b-ü', 'dev');
    emulator.addUserToGroup(source, 'a/b-ü', 'good');
    const from = await snapshotOf(h, source, 'bad');
    const target = emulator.createPool('bad-target');
    const id = await restore(h, from, target);
    const report = await reportOf(h, id);
    console.log('BAD', JSON.stringify({ counts: report.counts, failed: report.failed, failures: report.failures }));
    console.log('BAD members', await rowsOf(report, 'restore_memberships'));
    expect(emulator.listAllUsers(target).map((u) => u.Username).sort()).toEqual(['good', 'ok2']);
    // one user failed; its membership is not a second failure
    expect(report.failed).toBe(1);
  });

});
