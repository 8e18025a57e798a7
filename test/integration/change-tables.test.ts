import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AdminDisableUserCommand, AdminEnableUserCommand, AdminUpdateUserAttributesCommand, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeRecord } from '../../src/changes/change-kinds.js';
import { CognitoEmulator } from '../../src/emulator/index.js';
import type { Manifest } from '../../src/storage/manifest.js';
import type { ObjectSink } from '../../src/storage/object-sink.js';
import { cancelRun } from '../../jobs/cancel-run.js';
import type { RunStatus } from '../../src/runs/run-store.js';
import { applyChanges } from '../support/change-apply.js';
import { expectPointersWhole } from '../support/pointer-invariant.js';
import { EMULATOR_CREDENTIALS, readManifest, readManifestRecords, startHarness, type ExportHarness } from '../support/export-harness.js';
import { eventually, spawnCli, type CliProcess } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let scratch: string;
let cognito: CognitoIdentityProviderClient;
const harnesses: ExportHarness[] = [];
const children: CliProcess[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-changes-'));
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
  const h = await startHarness({ cognitoEndpoint: emulator.url, worker });
  harnesses.push(h);
  return h;
}

const destination = (name: string): string => pathToFileURL(join(scratch, name)).href;

async function completed(status: RunStatus): Promise<Manifest> {
  expect(status.error).toBeUndefined();
  expect(status.state).toBe('completed');
  return readManifest(status.manifestUrl ?? '');
}

/** Applying the run's changes to the previous snapshot gives this one exactly, table by table. */
async function expectExactChanges(previous: Manifest, current: Manifest, tables = ['users', 'groups', 'group_memberships']): Promise<void> {
  expect(current.changes_since).toBe(previous.snapshot_id);
  for (const result of await applyChanges(previous, current, tables)) {
    expect(result, result.table).toMatchObject({ differences: 0, applied: result.current });
    const changes = current.tables[{ users: 'user_changes', groups: 'group_changes', group_memberships: 'group_membership_changes' }[result.table] ?? ''];
    expect(changes?.counts, result.table).toEqual({ insert: result.counts.insert ?? 0, update: result.counts.update ?? 0, delete: result.counts.delete ?? 0 });
  }
}

describe('change tables', () => {
  it('has none on the first run, and says why; then empty ones with counts 0 when nothing changed', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 300, seed: 601, groups: 5 });
    const first = await completed(await h.run({ userPoolId: poolId, destination: destination('same') }));
    expect(first.changes_since).toBeNull();
    expect(first.changes_reason).toBe('no previous complete snapshot of this dataset');
    expect(first.tables.user_changes).toBeUndefined();
    const status = await h.run({ userPoolId: poolId, destination: destination('same') });
    const second = await completed(status);
    expect(second.changes_since).toBe(first.snapshot_id);
    expect(second.changes_reason).toBeNull();
    // The ETA of the second run counted the groups and memberships the first one found.
    expect(status.estimatedRecords).toEqual({ groups: first.tables.groups?.record_count, group_memberships: first.tables.group_memberships?.record_count });
    for (const table of ['user_changes', 'group_changes', 'group_membership_changes']) {
      expect(second.tables[table], table).toEqual({ record_count: 0, counts: { insert: 0, update: 0, delete: 0 }, files: [] });
    }
    expect(status.changes).toEqual({
      since: first.snapshot_id,
      reason: null,
      counts: Object.fromEntries(['user_changes', 'group_changes', 'group_membership_changes'].map((t) => [t, { insert: 0, update: 0, delete: 0 }])),
    });
  });

  it('a user deleted and created again with the same username is a delete and an insert; an update names its fields', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 200, seed: 602 });
    const first = await completed(await h.run({ userPoolId: poolId, destination: destination('recreate') }));
    const [victim, changed] = emulator.listAllUsers(poolId);
    emulator.deleteUser(poolId, victim?.Username ?? '');
    const again = emulator.addUser(poolId, { username: victim?.Username ?? '', attributes: { email: 'again@example.com' } });
    await cognito.send(new AdminUpdateUserAttributesCommand({ UserPoolId: poolId, Username: changed?.Username, UserAttributes: [{ Name: 'email', Value: 'new@example.com' }] }));
    await cognito.send(new AdminDisableUserCommand({ UserPoolId: poolId, Username: changed?.Username }));
    const second = await completed(await h.run({ userPoolId: poolId, destination: destination('recreate') }));
    await expectExactChanges(first, second, ['users']);
    const changes = await readManifestRecords<ChangeRecord>(second, undefined, 'user_changes');
    const bySub = new Map(changes.map((change) => [change.sub, change]));
    expect(bySub.get(victim?.Attributes?.find((a) => a.Name === 'sub')?.Value)).toMatchObject({ op: 'delete', username: victim?.Username, changed_fields: null, from_snapshot_id: first.snapshot_id });
    expect(bySub.get(again.Attributes?.find((a) => a.Name === 'sub')?.Value)).toMatchObject({ op: 'insert', username: victim?.Username, changed_fields: null });
    const update = bySub.get(changed?.Attributes?.find((a) => a.Name === 'sub')?.Value);
    expect(update).toMatchObject({ op: 'update', enabled: false, snapshot_id: second.snapshot_id });
    expect([...(update?.changed_fields ?? [])].sort()).toEqual(['attributes.email', 'enabled', 'last_modified_at']);
    expect(second.tables.user_changes?.counts).toEqual({ insert: 1, update: 1, delete: 1 });
  });

  it('compares a 1-shard run with a 16-shard one, and a 256-shard run with it', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 600, seed: 603, groups: 4 });
    const dest = destination('reshard');
    const sixteen = await completed(await h.run({ userPoolId: poolId, destination: dest, shards: 16 }));
    for (const user of emulator.listAllUsers(poolId).slice(0, 25)) emulator.deleteUser(poolId, user.Username ?? '');
    for (let i = 0; i < 30; i++) emulator.addUser(poolId, { username: `later-${i}`, attributes: { email: `later-${i}@example.com` } });
    const one = await completed(await h.run({ userPoolId: poolId, destination: dest, shards: 1 }));
    await expectExactChanges(sixteen, one);
    expect(one.tables.user_changes?.counts).toEqual({ insert: 30, update: 0, delete: 25 });
    const groups = emulator.listAllGroups(poolId);
    emulator.deleteGroup(poolId, groups[0]?.GroupName ?? '');
    const many = await completed(await h.run({ userPoolId: poolId, destination: dest, shards: 256 }));
    await expectExactChanges(one, many);
    expect(many.tables.group_changes?.counts).toEqual({ insert: 0, update: 0, delete: 1 });
  });

  it('writes none with --no-changes, and none against a snapshot of other attributes', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 50, seed: 604 });
    const dest = destination('off');
    await completed(await h.run({ userPoolId: poolId, destination: dest }));
    const off = await completed(await h.run({ userPoolId: poolId, destination: dest, changes: false }));
    expect(off).toMatchObject({ changes_since: null, changes_reason: 'change tables are turned off for this run (--no-changes)' });
    expect(off.tables.user_changes).toBeUndefined();
    const other = await completed(await h.run({ userPoolId: poolId, destination: dest, attributes: ['email'], name: 'emails' }));
    expect(other.changes_reason).toBe('no previous complete snapshot of this dataset');
    const emails = await completed(await h.run({ userPoolId: poolId, destination: dest, attributes: ['email'], name: 'emails' }));
    expect(emails.changes_since).toBe(other.snapshot_id);
  });
});

/** One change to the pool between two runs; picks are taken modulo what exists when it is applied. */
type Action =
  | { readonly kind: 'create'; readonly tag: number }
  | { readonly kind: 'delete' | 'recreate' | 'enable' | 'disable'; readonly pick: number }
  | { readonly kind: 'update'; readonly pick: number; readonly value: string }
  | { readonly kind: 'create-group'; readonly tag: number }
  | { readonly kind: 'delete-group'; readonly pick: number }
  | { readonly kind: 'add-member' | 'remove-member'; readonly pick: number; readonly user: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), tag: fc.nat() }),
  fc.record({ kind: fc.constantFrom('delete' as const, 'recreate' as const, 'enable' as const, 'disable' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('update' as const), pick: fc.nat(), value: fc.string({ maxLength: 12 }) }),
  fc.record({ kind: fc.constant('create-group' as const), tag: fc.nat() }),
  fc.record({ kind: fc.constant('delete-group' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constantFrom('add-member' as const, 'remove-member' as const), pick: fc.nat(), user: fc.nat() }),
);

let serial = 0;

async function apply(poolId: string, actions: readonly Action[]): Promise<void> {
  for (const step of actions) {
    const users = emulator.listAllUsers(poolId);
    const groups = emulator.listAllGroups(poolId);
    const user = (pick: number) => users[pick % Math.max(1, users.length)]?.Username;
    const group = (pick: number) => groups[pick % Math.max(1, groups.length)]?.GroupName;
    const name = user('pick' in step ? step.pick : 0);
    switch (step.kind) {
      case 'create':
        emulator.addUser(poolId, { username: `p-${step.tag}-${++serial}`, attributes: { email: `p${serial}@example.com` } });
        break;
      case 'delete':
        if (name) emulator.deleteUser(poolId, name);
        break;
      case 'recreate':
        if (name && emulator.deleteUser(poolId, name)) emulator.addUser(poolId, { username: name, attributes: { email: `again-${++serial}@example.com` } });
        break;
      case 'enable':
      case 'disable':
        if (name) await cognito.send(new (step.kind === 'enable' ? AdminEnableUserCommand : AdminDisableUserCommand)({ UserPoolId: poolId, Username: name }));
        break;
      case 'update':
        if (name) await cognito.send(new AdminUpdateUserAttributesCommand({ UserPoolId: poolId, Username: name, UserAttributes: [{ Name: 'custom:note', Value: step.value }] }));
        break;
      case 'create-group':
        emulator.createGroup(poolId, { name: `g-${step.tag}-${++serial}`, ...(step.tag % 2 === 0 ? { description: `d${step.tag}` } : {}) });
        break;
      case 'delete-group': {
        const target = group(step.pick);
        if (target) emulator.deleteGroup(poolId, target);
        break;
      }
      case 'add-member':
      case 'remove-member': {
        const [target, member] = [group(step.pick), user(step.user)];
        if (!target || !member) break;
        if (step.kind === 'add-member') emulator.addUserToGroup(poolId, target, member);
        else emulator.removeUserFromGroup(poolId, target, member);
        break;
      }
    }
  }
}

describe('change tables, property', () => {
  it('applying every change of a run to the previous snapshot gives the new one exactly, whatever changed between them', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 120, seed: 605, groups: 4 });
    const dest = destination('property');
    let previous = await completed(await h.run({ userPoolId: poolId, destination: dest, shards: 16 }));
    await fc.assert(
      fc.asyncProperty(fc.array(action, { maxLength: 25 }), fc.constantFrom(1 as const, 16 as const), async (actions, shards) => {
        await apply(poolId, actions);
        const current = await completed(await h.run({ userPoolId: poolId, destination: dest, shards }));
        await expectExactChanges(previous, current);
        previous = current;
      }),
      // Each case is a run against the pool the last one left, so a shrunk case means little: stop at the first failure (the seed is printed).
      { numRuns: 12, endOnFailure: true },
    );
  }, 240_000);
});


describe('change tables, crash', () => {
  it('a worker killed (-9) mid-file of the diff: the next one resumes it, and the changes are exact', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 30_000, seed: 606, groups: 3 });
    const dest = destination('crash');
    const first = await completed(await h.run({ userPoolId: poolId, destination: dest, fileMaxRecords: 1000 }));
    await h.worker?.close();
    h.worker = undefined;
    for (const user of emulator.listAllUsers(poolId).slice(0, 15_000)) emulator.deleteUser(poolId, user.Username ?? '');
    for (let i = 0; i < 15_000; i++) emulator.addUser(poolId, { username: `crash-${i}`, attributes: { email: `crash-${i}@example.com` } });
    const worker = (): CliProcess => {
      const child = spawnCli(['worker'], { ...h.childEnv, WORKER_LOCK_DURATION_MS: '2000', LOG_LEVEL: 'info' });
      children.push(child);
      return child;
    };
    const victim = worker();
    const { snapshotId } = await h.request({ userPoolId: poolId, destination: dest, fileMaxRecords: 1000 });
    await eventually(async () => {
      const changes = (await h.runtime.runs.status(snapshotId))?.tables.user_changes;
      return changes && changes.durable >= 2000 && changes.records > changes.durable ? true : undefined;
    }, 90_000, 'the diff to be mid-file', 10);
    victim.child.kill('SIGKILL');
    await victim.exited();
    worker();
    const status = await h.wait(snapshotId, 120_000);
    const second = await completed(status);
    await expectExactChanges(first, second);
    expect(second.tables.user_changes?.counts).toEqual({ insert: 15_000, update: 0, delete: 15_000 });
    expect(status.changes?.counts.user_changes).toEqual({ insert: 15_000, update: 0, delete: 15_000 });
  }, 240_000);
});

describe('change tables, a cancel while the finalizer publishes the tables', () => {
  it('is refused past the commit point: the run completes whole, with its change tables', async () => {
    const h = await harness();
    const poolId = emulator.createPoolWithUsers({ users: 400, seed: 607, groups: 2 });
    const directory = join(scratch, 'cancelled');
    const destination = pathToFileURL(directory).href;
    const first = await completed(await h.run({ userPoolId: poolId, destination }));
    // The finalizer's first publish waits at a gate: the cancel arrives after the commit point.
    let reach: () => void = () => undefined;
    let release: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => (reach = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    const real = h.runtime.sink.bind(h.runtime);
    h.runtime.sink = (target: string) => {
      const inner = real(target);
      const sink = Object.create(inner) as ObjectSink;
      sink.publish = async (file) => {
        reach();
        await gate;
        return inner.publish(file);
      };
      return sink;
    };
    const { snapshotId } = await h.request({ userPoolId: poolId, destination });
    await reached;
    expect((await cancelRun(h.runtime, snapshotId)).kind).toBe('committing');
    release();
    const current = await completed(await h.wait(snapshotId));
    await expectExactChanges(first, current);
    await expectPointersWhole(destination, poolId);
  });
});
