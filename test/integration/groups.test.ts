import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { Manifest } from '../../src/storage/manifest.js';
import type { RunStatus } from '../../src/runs/run-store.js';
import { toGroupRecord, toMembershipRecord, type GroupRecord, type MembershipRecord } from '../../src/tables/group-record.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { eventually, spawnCli, type CliProcess } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let s3: S3TestServer;
let scratch: string;
const harnesses: ExportHarness[] = [];
const children: CliProcess[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  s3 = await startS3TestServer();
  scratch = await mkdtemp(join(tmpdir(), 'ce-groups-'));
});

afterEach(async () => {
  emulator.setFaults({ latencyMs: 0, quotaRps: null });
  for (const child of children.splice(0)) child.child.kill('SIGKILL');
  for (const harness of harnesses.splice(0)) await harness.close();
});

afterAll(async () => {
  await emulator.stop();
  await s3.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function harness(worker = true, env: Record<string, string> = {}): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, s3, worker, env });
  harnesses.push(h);
  return h;
}

const byName = (a: GroupRecord, b: GroupRecord) => (a.group_name < b.group_name ? -1 : a.group_name > b.group_name ? 1 : 0);
const membershipKey = (m: MembershipRecord) => `${m.group_name}\u0000${m.sub ?? ''}`;
const byMembership = (a: MembershipRecord, b: MembershipRecord) => (membershipKey(a) < membershipKey(b) ? -1 : membershipKey(a) > membershipKey(b) ? 1 : 0);

/** The emulator's groups and memberships as the snapshot must hold them. */
function expectedTables(poolId: string, snapshotId: string): { groups: GroupRecord[]; memberships: MembershipRecord[] } {
  const context = { userPoolId: poolId, snapshotId };
  const groups = emulator.listAllGroups(poolId).map((group) => toGroupRecord(group, context));
  const memberships = groups.flatMap((group) => emulator.listAllMembers(poolId, group.group_name).map((user) => toMembershipRecord(group.group_name, user, context)));
  return { groups: groups.sort(byName), memberships: memberships.sort(byMembership) };
}

/** Reads a finished run's groups and memberships and checks them whole against the emulator. */
async function expectExactGroups(poolId: string, status: RunStatus): Promise<{ manifest: Manifest; groups: GroupRecord[]; memberships: MembershipRecord[] }> {
  expect(status.error).toBeUndefined();
  expect(status.state).toBe('completed');
  const manifest = await readManifest(status.manifestUrl ?? '', s3);
  const groups = (await readManifestRecords<GroupRecord>(manifest, s3, 'groups')).sort(byName);
  const memberships = (await readManifestRecords<MembershipRecord>(manifest, s3, 'group_memberships')).sort(byMembership);
  const expected = expectedTables(poolId, manifest.snapshot_id);
  expect(groups).toEqual(expected.groups);
  expect(memberships).toEqual(expected.memberships);
  expect(new Set(memberships.map(membershipKey)).size).toBe(memberships.length);
  expect(manifest.tables.groups?.record_count).toBe(expected.groups.length);
  expect(manifest.tables.group_memberships?.record_count).toBe(expected.memberships.length);
  expect(manifest.tables.users?.record_count).toBe(manifest.record_count);
  return { manifest, groups, memberships };
}

describe('groups and memberships', () => {
  it('exports no groups and no memberships for a pool without groups, with the tables in the manifest', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 50, seed: 401 });
    const { manifest } = await expectExactGroups(poolId, await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/no-groups` }));
    expect(manifest.tables.groups).toEqual({ record_count: 0, files: [] });
    expect(manifest.tables.group_memberships).toEqual({ record_count: 0, files: [], groups_skipped: [] });
  });

  it('exports one empty group, 61 groups over two ListGroups pages, and names with every odd character', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 30, seed: 402 });
    emulator.createGroup(poolId, { name: 'empty', description: 'nobody here' });
    const odd = ['a/b\\c:d*e?f"g=h%i', 'ünïcödé✓', '%%==', 'x'.repeat(128)];
    for (const name of odd) emulator.createGroup(poolId, { name, roleArn: 'arn:aws:iam::000000000000:role/odd', precedence: 3 });
    for (let i = 0; i < 56; i++) emulator.createGroup(poolId, { name: `team-${String(i).padStart(2, '0')}` });
    const users = emulator.listAllUsers(poolId);
    for (const name of odd) for (const user of users.slice(0, 7)) emulator.addUserToGroup(poolId, name, user.Username ?? '');
    const { groups, memberships } = await expectExactGroups(poolId, await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/odd` }));
    expect(groups).toHaveLength(61);
    expect(groups.find((g) => g.group_name === 'empty')).toMatchObject({ description: 'nobody here', role_arn: null, precedence: null });
    expect(memberships.filter((m) => m.group_name === 'a/b\\c:d*e?f"g=h%i')).toHaveLength(7);
  });

  it('exports a group of 10,000 members and a user in 100 groups exactly once each', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 10_000, seed: 403 });
    const users = emulator.listAllUsers(poolId);
    emulator.createGroup(poolId, { name: 'everyone' });
    for (const user of users) emulator.addUserToGroup(poolId, 'everyone', user.Username ?? '');
    const busy = users[42]?.Username ?? '';
    for (let i = 0; i < 99; i++) {
      emulator.createGroup(poolId, { name: `g${i}` });
      emulator.addUserToGroup(poolId, `g${i}`, busy);
    }
    const { memberships } = await expectExactGroups(poolId, await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/big-group`, fileMaxRecords: 3000 }));
    expect(memberships.filter((m) => m.group_name === 'everyone')).toHaveLength(10_000);
    expect(memberships.filter((m) => m.username === busy)).toHaveLength(100);
  });

  it('skips a group deleted mid-walk and counts it in the manifest; a group created mid-walk is in neither table', async () => {
    const h = await harness(false);
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 404 });
    for (let i = 0; i < 6; i++) emulator.createGroup(poolId, { name: `team-${i}` });
    const users = emulator.listAllUsers(poolId);
    for (let i = 0; i < 6; i++) for (const user of users.slice(i * 300, i * 300 + 600)) emulator.addUserToGroup(poolId, `team-${i}`, user.Username ?? '');
    emulator.setFaults({ latencyMs: 40 });
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/mid-walk` });
    h.worker = (await import('../../jobs/export-worker.js')).startExportWorker(h.runtime, h.queues, { concurrency: 2 });
    // Once the membership walk is planned, team-5 goes before it is walked, and a new group appears.
    await eventually(async () => ((await h.runtime.runs.membershipBatches(snapshotId)) !== undefined ? true : undefined), 30_000, 'the membership plan', 5);
    emulator.deleteGroup(poolId, 'team-5');
    emulator.createGroup(poolId, { name: 'team-new' });
    emulator.addUserToGroup(poolId, 'team-new', users[0]?.Username ?? '');
    const status = await h.wait(snapshotId, 60_000);
    expect(status.state).toBe('completed');
    const manifest = await readManifest(status.manifestUrl ?? '', s3);
    expect(manifest.tables.group_memberships?.groups_skipped).toEqual(['team-5']);
    const groups = await readManifestRecords<GroupRecord>(manifest, s3, 'groups');
    expect(groups.map((g) => g.group_name).sort()).toEqual(['team-0', 'team-1', 'team-2', 'team-3', 'team-4', 'team-5']);
    const memberships = await readManifestRecords<MembershipRecord>(manifest, s3, 'group_memberships');
    expect(new Set(memberships.map((m) => m.group_name))).toEqual(new Set(['team-0', 'team-1', 'team-2', 'team-3', 'team-4']));
    expect(memberships).toHaveLength(5 * 600);
  });

  it('joins in DuckDB: users JOIN group_memberships USING (sub) gives every membership exactly once', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 2000, seed: 405, groups: 20 });
    const directory = join(scratch, 'duck');
    const status = await h.run({ userPoolId: poolId, destination: pathToFileURL(directory).href, fileMaxRecords: 500 });
    const { memberships } = await expectExactGroups(poolId, status);
    const manifest = await readManifest(status.manifestUrl ?? '');
    const list = (table: string) => (manifest.tables[table]?.files ?? []).map((f) => `'${new URL(f.url).pathname}'`).join(', ');
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    const reader = await connection.runAndReadAll(
      `SELECT count(*)::INTEGER AS n, count(DISTINCT (m.group_name, m.sub))::INTEGER AS distinct_pairs, count(u.sub)::INTEGER AS matched
       FROM read_ndjson([${list('group_memberships')}]) m
       JOIN read_ndjson([${list('users')}]) u USING (sub)`,
    );
    expect(reader.getRowObjects()[0]).toEqual({ n: memberships.length, distinct_pairs: memberships.length, matched: memberships.length });
    connection.closeSync();
  });

  it('keeps ListGroups under 5 calls/s for one pool, with the emulator metering it', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 20, seed: 406 });
    for (let i = 0; i < 60 * 12; i++) emulator.createGroup(poolId, { name: `g-${String(i).padStart(4, '0')}` });
    emulator.setFaults({ quotaRps: 1000 });
    emulator.resetStats();
    const started = performance.now();
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/paced`, groups: true });
    const seconds = (performance.now() - started) / 1000;
    expect(status.state).toBe('completed');
    const stats = emulator.stats();
    expect(stats.calls.ListGroups).toBe(12);
    expect(stats.throttled.ListGroups ?? 0).toBe(0);
    // 12 calls at 4 a second: the first at once, then about 2.75 s.
    expect(seconds).toBeGreaterThan(11 / 5);
  });

  it('walks the memberships beside the users shards and before them: no group waits for a users shard to end', async () => {
    // 16 users shards fill a worker's 16 slots, and at 20 calls/s they take about 5 s; the groups'
    // walks (about 60 pages over 20 groups) have slots of their own and go first at the limiter.
    const h = await harness(true, { COGNITO_RATE_LIMIT_RPS: '20' });
    const poolId = emulator.createPoolWithUsers({ users: 6000, seed: 407, groups: 20, bigGroupShare: 0.1, tailShare: 0.4 });
    emulator.setFaults({ latencyMs: 20 });
    const status = await h.run({ userPoolId: poolId, destination: `s3://${s3.bucket}/beside`, groups: true });
    await expectExactGroups(poolId, status);
    const ofRun = (jobs: { data: unknown; finishedOn?: number | undefined; name: string }[]) =>
      jobs.filter((job) => (job.data as { snapshotId: string }).snapshotId === status.spec.snapshotId);
    const members = ofRun(await h.queues.groups.getJobs(['completed'])).filter((job) => (job.data as { table?: string }).table === 'group_memberships');
    const users = ofRun(await h.queues.shards.getJobs(['completed']));
    expect(members.length).toBe(20);
    expect(users.length).toBe(16);
    const lastMembers = Math.max(...members.map((job) => job.finishedOn ?? Infinity));
    const firstUsers = Math.min(...users.map((job) => job.finishedOn ?? 0));
    expect(lastMembers).toBeLessThan(firstUsers);
  });
});

describe('a worker that dies or stops during the membership walk', () => {
  async function membershipRun(kind: string) {
    const h = await harness(false);
    const poolId = emulator.createPoolWithUsers({ users: 6000, seed: 407 + kind.length });
    emulator.createGroup(poolId, { name: 'everyone' });
    for (const user of emulator.listAllUsers(poolId)) emulator.addUserToGroup(poolId, 'everyone', user.Username ?? '');
    emulator.setFaults({ latencyMs: 15 });
    return { h, poolId };
  }

  function worker(h: ExportHarness, env: Record<string, string> = {}): CliProcess {
    const child = spawnCli(['worker'], { ...h.childEnv, WORKER_LOCK_DURATION_MS: '2000', LOG_LEVEL: 'info', ...env });
    children.push(child);
    return child;
  }

  it('resumes after kill -9 mid-group exactly, fetching at most one file of pages again', async () => {
    const { h, poolId } = await membershipRun('kill');
    emulator.resetStats();
    const first = worker(h, { COGNITO_RATE_LIMIT_RPS: '60' });
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/kill-members`, shards: 1, fileMaxRecords: 600 });
    await eventually(async () => {
      const status = await h.runtime.runs.status(snapshotId);
      const members = status?.tables.group_memberships;
      return members && members.durable >= 1200 && members.records > members.durable ? true : undefined;
    }, 60_000, 'the membership walk to be mid-file', 20);
    first.child.kill('SIGKILL');
    await first.exited();
    worker(h);
    const status = await h.wait(snapshotId, 90_000);
    await expectExactGroups(poolId, status);
    // Calls: 100 users pages + 1 ListGroups + 100 member pages, plus the open file's pages again.
    const calls = emulator.stats().calls;
    expect((calls.ListUsersInGroup ?? 0) - 100).toBeGreaterThanOrEqual(1);
    expect((calls.ListUsersInGroup ?? 0) - 100).toBeLessThanOrEqual(10);
  });

  it('stops cleanly on SIGTERM mid-group, and the resumed walk fetches no member page twice', async () => {
    const { h, poolId } = await membershipRun('term');
    emulator.resetStats();
    const first = worker(h, { COGNITO_RATE_LIMIT_RPS: '40' });
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/term-members`, shards: 1, fileMaxRecords: 600 });
    await eventually(async () => ((await h.runtime.runs.status(snapshotId))?.tables.group_memberships?.records ?? 0) >= 1500 ? true : undefined, 60_000, 'the membership walk', 20);
    first.child.kill('SIGTERM');
    expect(await first.exited()).toBe(0);
    worker(h);
    const status = await h.wait(snapshotId, 90_000);
    await expectExactGroups(poolId, status);
    expect(emulator.stats().calls.ListUsersInGroup).toBe(100);
  });
});
