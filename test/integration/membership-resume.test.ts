import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ListUsersInGroupCommand, type CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startExportWorker } from '../../jobs/export-worker.js';
import { CognitoEmulator, DEFAULT_FAULTS } from '../../src/emulator/index.js';
import type { RunStatus } from '../../src/runs/run-store.js';
import { membershipUnit } from '../../src/runs/run-spec.js';
import type { MembershipRecord } from '../../src/tables/group-record.js';
import { CheckpointStore } from '../../src/walk/checkpoint-store.js';
import { emulatorClient } from '../support/emulator-client.js';
import { readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';
import { eventually, spawnCli, type CliProcess } from '../support/worker-process.js';

// ListUsersInGroup promises no uniqueness. With the emulator's overlap fault every page after a
// group's first begins with the last member of the page before, so a membership shard resumed
// from a checkpoint mid-group meets the member just before the checkpoint once more, right after it.

let emulator: CognitoEmulator;
let client: CognitoIdentityProviderClient;
let s3: S3TestServer;
let scratch: string;
const harnesses: ExportHarness[] = [];
const children: CliProcess[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  client = emulatorClient(emulator);
  s3 = await startS3TestServer();
  scratch = await mkdtemp(join(tmpdir(), 'ce-membership-resume-'));
});

afterEach(async () => {
  emulator.setFaults(DEFAULT_FAULTS);
  for (const child of children.splice(0)) child.child.kill('SIGKILL');
  for (const harness of harnesses.splice(0)) await harness.close();
});

afterAll(async () => {
  client.destroy();
  await emulator.stop();
  await s3.stop();
  await rm(scratch, { recursive: true, force: true });
});

const membershipKey = (m: Pick<MembershipRecord, 'group_name' | 'sub'>): string => `${m.group_name}\u0000${m.sub ?? ''}`;

/** A pool whose group `everyone` holds all its users and `some` a third, with overlapping member pages. */
function overlappingPool(seed: number): string {
  const poolId = emulator.createPoolWithUsers({ users: 6000, seed });
  emulator.createGroup(poolId, { name: 'everyone' });
  emulator.createGroup(poolId, { name: 'some' });
  const users = emulator.listAllUsers(poolId);
  for (const user of users) emulator.addUserToGroup(poolId, 'everyone', user.Username ?? '');
  for (const user of users.slice(0, 2000)) emulator.addUserToGroup(poolId, 'some', user.Username ?? '');
  emulator.setFaults({ memberPageOverlap: 1, latencyMs: 15 });
  return poolId;
}

/**
 * Where the checkpoint of the shard walking `everyone` (batch 0: one group a batch here) stands:
 * its durable records, and whether its cursor is mid-way through the group.
 */
async function everyonePosition(h: ExportHarness, snapshotId: string): Promise<{ durable: number; midGroup: boolean }> {
  const checkpoint = await new CheckpointStore(h.runtime.redis, h.runtime.keys, snapshotId).peek(membershipUnit(0));
  const cursor = JSON.parse(checkpoint?.nextToken ?? '{"g":0,"t":null}') as { g: number; t: string | null };
  return { durable: checkpoint?.records ?? 0, midGroup: cursor.g === 0 && cursor.t !== null && checkpoint?.done === false };
}

/** The (group, sub) pairs a finished run's group_memberships table holds more than once. */
async function duplicateMemberships(status: RunStatus): Promise<{ memberships: MembershipRecord[]; duplicates: string[] }> {
  expect(status.error).toBeUndefined();
  expect(status.state).toBe('completed');
  const manifest = await readManifest(status.manifestUrl ?? '', s3);
  const memberships = await readManifestRecords<MembershipRecord>(manifest, s3, 'group_memberships');
  const counts = new Map<string, number>();
  for (const m of memberships) counts.set(membershipKey(m), (counts.get(membershipKey(m)) ?? 0) + 1);
  const duplicates = [...counts].filter(([, n]) => n > 1).map(([key, n]) => `${key.replace('\u0000', ' / ')} ×${n}`);
  return { memberships, duplicates };
}

/** Every (group, sub) the emulator holds, once. */
function expectedMemberships(poolId: string): string[] {
  return ['everyone', 'some']
    .flatMap((group) => emulator.listAllMembers(poolId, group).map((user) => membershipKey({ group_name: group, sub: user.Attributes?.find((a) => a.Name === 'sub')?.Value ?? null })))
    .sort();
}

describe('the emulator repeats members across ListUsersInGroup pages', () => {
  it('begins every page after the first with the last member of the page before', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 150, seed: 611 });
    emulator.createGroup(poolId, { name: 'all' });
    for (const user of emulator.listAllUsers(poolId)) emulator.addUserToGroup(poolId, 'all', user.Username ?? '');
    emulator.setFaults({ memberPageOverlap: 1 });
    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const answer = await client.send(new ListUsersInGroupCommand({ UserPoolId: poolId, GroupName: 'all', NextToken: token }));
      pages.push((answer.Users ?? []).map((user) => user.Username ?? ''));
      token = answer.NextToken;
    } while (token !== undefined);
    // 150 members, the first page's 60, then 59 and 31 new ones.
    expect(pages.map((page) => page.length)).toEqual([60, 60, 32]);
    expect(pages[1]?.[0]).toBe(pages[0]?.at(-1));
    expect(pages[2]?.[0]).toBe(pages[1]?.at(-1));
    expect(new Set(pages.flat()).size).toBe(150);
  });
});

describe('a membership shard resumed from its checkpoint mid-group', () => {
  it('writes each (group_name, sub) once after a SIGTERM hand-back mid-group', async () => {
    const h = await startHarness({ cognitoEndpoint: emulator.url, s3, worker: false });
    harnesses.push(h);
    const poolId = overlappingPool(612);
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: `s3://${s3.bucket}/term-overlap`, shards: 1, fileMaxRecords: 500 });
    const first = startExportWorker(h.runtime, h.queues);
    await eventually(async () => ((await everyonePosition(h, snapshotId)).durable >= 1000 ? true : undefined), 60_000, 'the walk of everyone', 10);
    // The shard seals its open file at the page it is on, checkpoints, and hands its job back.
    await first.close();
    expect((await everyonePosition(h, snapshotId)).midGroup).toBe(true);
    h.worker = startExportWorker(h.runtime, h.queues);
    const { memberships, duplicates } = await duplicateMemberships(await h.wait(snapshotId, 90_000));
    expect(duplicates).toEqual([]);
    expect(memberships.map(membershipKey).sort()).toEqual(expectedMemberships(poolId));
  });

  it('writes each (group_name, sub) once after kill -9 mid-group, to a directory', async () => {
    const h = await startHarness({ cognitoEndpoint: emulator.url, s3, worker: false });
    harnesses.push(h);
    const poolId = overlappingPool(613);
    const destination = pathToFileURL(join(scratch, 'kill-overlap')).href;
    const spawnWorker = (): CliProcess => {
      const child = spawnCli(['worker'], { ...h.childEnv, WORKER_LOCK_DURATION_MS: '2000', COGNITO_RATE_LIMIT_RPS: '60' });
      children.push(child);
      return child;
    };
    const first = spawnWorker();
    const { snapshotId } = await h.request({ userPoolId: poolId, destination, shards: 1, fileMaxRecords: 500 });
    await eventually(async () => ((await everyonePosition(h, snapshotId)).durable >= 1000 ? true : undefined), 60_000, 'the walk of everyone', 10);
    first.child.kill('SIGKILL');
    await first.exited();
    // The next worker resumes from the last checkpoint, a file boundary inside `everyone`.
    expect((await everyonePosition(h, snapshotId)).midGroup).toBe(true);
    spawnWorker();
    const { memberships, duplicates } = await duplicateMemberships(await h.wait(snapshotId, 90_000));
    expect(duplicates).toEqual([]);
    expect(memberships.map(membershipKey).sort()).toEqual(expectedMemberships(poolId));
  });
});
