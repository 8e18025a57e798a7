import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { AdminUpdateUserAttributesCommand, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareRestore, queueRestore, RestoreRequestError } from '../../jobs/request-restore.js';
import { runRestore } from '../../jobs/restore-job.js';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { RestoreStore } from '../../src/restore/restore-store.js';
import { keyOfUrl, readLines } from '../../src/storage/record-lines.js';
import { FAST_WRITES, restoreAndWait } from '../support/restore-harness.js';
import { EMULATOR_CREDENTIALS, readObject, startHarness, type ExportHarness } from '../support/export-harness.js';
import { eventually, spawnCli, type CliProcess } from '../support/worker-process.js';

/** What an independent review found in the first restore; each test failed on it. */

let emulator: CognitoEmulator;
let scratch: string;
const harnesses: ExportHarness[] = [];
const children: CliProcess[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-restore-hard-'));
});
afterEach(async () => {
  emulator.setFaults({ latencyMs: 0 });
  for (const child of children.splice(0)) child.child.kill('SIGKILL');
  for (const h of harnesses.splice(0)) await h.close();
});
afterAll(async () => {
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function harness(worker = true): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, worker, env: FAST_WRITES });
  harnesses.push(h);
  return h;
}
const destination = (name: string): string => pathToFileURL(join(scratch, name)).href;
async function snapshotOf(h: ExportHarness, poolId: string, name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const status = await h.run({ userPoolId: poolId, destination: destination(name), ...extra });
  expect(status.error).toBeUndefined();
  return `${destination(name)}/manifests/user_pool_id=${poolId}/${typeof extra.name === 'string' ? `latest-${extra.name}` : 'latest'}.json`;
}
const store = (h: ExportHarness) => new RestoreStore(h.runtime.redis, h.runtime.keys);
const restore = restoreAndWait;
interface Report {
  readonly verified?: boolean;
  readonly verification?: { readonly differences: number; readonly examples: readonly { readonly name: string }[] };
  readonly created: number;
  readonly existing: number;
  readonly updated: number;
  readonly failed: number;
  readonly counts: Record<string, Record<string, number>>;
  readonly tables: Record<string, { files: { url: string }[] }>;
}
async function reportOf(h: ExportHarness, id: string): Promise<Report> {
  return JSON.parse((await readObject((await store(h).status(id))?.reportUrl ?? '')).toString('utf8')) as Report;
}
async function rowsOf(h: ExportHarness, report: Report, table: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const file of report.tables[table]?.files ?? []) {
    const sink = h.runtime.sink(file.url.replace(/\/restore_[a-z]+\/.*$/, ''));
    for await (const line of readLines(sink, keyOfUrl(sink, file.url) ?? '')) rows.push(JSON.parse(line) as Record<string, unknown>);
  }
  return rows;
}
const attributes = (pool: string, username: string): Record<string, string | undefined> => Object.fromEntries((emulator.listAllUsers(pool).find((u) => u.Username === username)?.Attributes ?? []).map((a): [string, string | undefined] => [a.Name ?? '', a.Value]));
const natives = (pool: string) => emulator.listAllUsers(pool).filter((u) => u.UserStatus !== 'EXTERNAL_PROVIDER').map((u) => u.Username ?? '').sort();

/** Data files read as S3 delivers them: in pieces, with waits between (a stop lands mid-read). */
function slowReads(h: ExportHarness): void {
  const original = h.runtime.sink.bind(h.runtime);
  h.runtime.sink = ((...args: Parameters<typeof original>) => {
    const sink = original(...args);
    return new Proxy(sink, {
      get(target, property) {
        if (property === 'readStream') {
          return async (key: string) => {
            const stream = await target.readStream(key);
            if (!stream || !key.startsWith('users/')) return stream;
            const chunks: Buffer[] = [];
            for await (const chunk of stream) chunks.push(chunk as Buffer);
            const bytes = Buffer.concat(chunks);
            return Readable.from(
              (async function* () {
                for (let at = 0; at < bytes.length; at += 256) {
                  await new Promise((resolve) => setTimeout(resolve, 15));
                  yield bytes.subarray(at, at + 256);
                }
              })(),
            );
          };
        }
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  });
}

describe('restore, stopped and resumed', () => {
  for (const round of [0, 1]) {
    it(`a stop mid-read of a users file (a worker shutting down) pauses the unit; resumed, every user is restored once, round ${round}`, async () => {
      const source = emulator.createPoolWithUsers({ users: 600, seed: 3300 + round, customAttributes: ['tenant'] });
      const from = await snapshotOf(await harness(), source, `stop-${round}`);
      const h = await harness(false);
      slowReads(h);
      const target = emulator.createPool(`stop-target-${round}`, undefined, { customAttributes: ['tenant'] });
      const { restoreId } = await queueRestore(h.runtime, h.queues, await prepareRestore(h.runtime, { from, targetPoolId: target, inline: true }));
      const stop = new AbortController();
      const first = runRestore(h.runtime, restoreId, stop.signal);
      await eventually(() => Promise.resolve(emulator.listAllUsers(target).length > 60 + round * 80 ? true : undefined), 60_000, 'under way', 5);
      stop.abort(new Error('worker shutting down'));
      expect(await first).toBe('paused');
      expect((await store(h).status(restoreId))?.state).toBe('running');
      expect(await runRestore(h.runtime, restoreId, new AbortController().signal)).toBe('completed');
      expect(natives(target)).toEqual(natives(source));
      const report = await reportOf(h, restoreId);
      expect(await rowsOf(h, report, 'restore_users')).toHaveLength(600);
      expect(report.created).toBe(natives(source).length);
    }, 120_000);
  }

  for (const round of [0, 1]) {
    it(`--merge interrupted mid-batch and resumed: users it updated before the stop are still counted updated, round ${round}`, async () => {
      const source = emulator.createPoolWithUsers({ users: 300, seed: 6601 + round, customAttributes: ['tenant'] });
      const from = await snapshotOf(await harness(), source, `merge-${round}`);
      const target = emulator.createPool(`merge-target-${round}`, undefined, { customAttributes: ['tenant'] });
      const h = await harness(false);
      const first = await queueRestore(h.runtime, h.queues, await prepareRestore(h.runtime, { from, targetPoolId: target, inline: true }));
      expect(await runRestore(h.runtime, first.restoreId, new AbortController().signal)).toBe('completed');
      const cognito = new CognitoIdentityProviderClient({ endpoint: emulator.url, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });
      const restored = emulator.listAllUsers(target);
      for (const user of restored) await cognito.send(new AdminUpdateUserAttributesCommand({ UserPoolId: target, Username: user.Username, UserAttributes: [{ Name: 'nickname', Value: 'drift' }] }));
      cognito.destroy();
      emulator.setFaults({ latencyMs: 30 });
      emulator.resetStats();
      const { restoreId } = await queueRestore(h.runtime, h.queues, await prepareRestore(h.runtime, { from, targetPoolId: target, merge: true, inline: true }));
      const stop = new AbortController();
      const running = runRestore(h.runtime, restoreId, stop.signal);
      await eventually(() => Promise.resolve((emulator.writes().changed.AdminDeleteUserAttributes ?? 0) > 45 + round * 30 ? true : undefined), 60_000, 'under way', 2);
      stop.abort(new Error('stop'));
      const outcome = await running;
      emulator.setFaults({ latencyMs: 0 });
      if (outcome !== 'completed') expect(await runRestore(h.runtime, restoreId, new AbortController().signal)).toBe('completed');
      const report = await reportOf(h, restoreId);
      expect({ updated: report.updated, existing: report.existing }).toEqual({ updated: restored.length, existing: 0 });
    }, 120_000);
  }
});

describe('restore, a worker paused while another finishes it', () => {
  it('a finisher paused before publishing (SIGSTOP) and resumed after another finished writes nothing: the report and the tables stay', async () => {
    const source = emulator.createPoolWithUsers({ users: 200, seed: 5501, groups: 2, customAttributes: ['tenant'] });
    const from = await snapshotOf(await harness(), source, 'paused-finisher');
    const target = emulator.createPool('paused-finisher-target', undefined, { customAttributes: ['tenant'] });
    const paused = await harness(false);
    // The paused worker's sink holds its first publish until released.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let reached: () => void = () => undefined;
    const atGate = new Promise<void>((resolve) => (reached = resolve));
    const original = paused.runtime.sink.bind(paused.runtime);
    paused.runtime.sink = ((...args: Parameters<typeof original>) => {
      const sink = original(...args);
      return Object.assign(Object.create(sink) as typeof sink, {
        publish: async (file: Parameters<typeof sink.publish>[0]) => {
          reached();
          await gate;
          return sink.publish(file);
        },
      });
    });
    const { restoreId } = await queueRestore(paused.runtime, paused.queues, await prepareRestore(paused.runtime, { from, targetPoolId: target, inline: true }));
    const first = runRestore(paused.runtime, restoreId, new AbortController().signal);
    await atGate;
    // Another worker takes it over and finishes it.
    const other = await startHarness({ cognitoEndpoint: emulator.url, worker: false, env: { ...FAST_WRITES, REDIS_KEY_PREFIX: paused.prefix } });
    harnesses.push(other);
    expect(await runRestore(other.runtime, restoreId, new AbortController().signal)).toBe('completed');
    const report = (await readObject((await store(other).status(restoreId))?.reportUrl ?? '')).toString('utf8');
    const tables = await other.runtime.sink(destination('paused-finisher')).listObjects('restore_users/');
    release();
    await expect(first).rejects.toThrow(/no longer running|not done here/);
    expect((await readObject((await store(other).status(restoreId))?.reportUrl ?? '')).toString('utf8')).toBe(report);
    expect(await other.runtime.sink(destination('paused-finisher')).listObjects('restore_users/')).toEqual(tables);
    expect(tables.length).toBeGreaterThan(0);
  }, 120_000);
});

describe('restore, what it must not do', () => {
  it('two requests for one target at once register one restore', async () => {
    const h = await harness(false);
    const source = emulator.createPoolWithUsers({ users: 5, seed: 1 });
    const from = await snapshotOf(await harness(), source, 'race');
    const target = emulator.createPool('race-target', undefined, { customAttributes: ['tenant'] });
    const [a, b] = await Promise.all([prepareRestore(h.runtime, { from, targetPoolId: target }), prepareRestore(h.runtime, { from, targetPoolId: target })]);
    const [ra, rb] = await Promise.all([queueRestore(h.runtime, h.queues, a), queueRestore(h.runtime, h.queues, b)]);
    expect([ra.joined, rb.joined].filter(Boolean)).toHaveLength(1);
    expect(ra.restoreId).toBe(rb.restoreId);
  });

  it('--merge converges a group the snapshot has no description for: no UpdateGroup on every run', async () => {
    const h = await harness();
    const source = emulator.createPoolWithUsers({ users: 3, seed: 2 });
    emulator.createGroup(source, { name: 'plain' });
    const from = await snapshotOf(h, source, 'group');
    const target = emulator.createPool('group-target', undefined, { customAttributes: ['tenant'] });
    emulator.createGroup(target, { name: 'plain', description: 'drifted', precedence: 3 });
    await restore(h, from, target, { merge: true });
    emulator.resetStats();
    const second = await reportOf(h, await restore(h, from, target, { merge: true }));
    expect(second.counts.groups?.updated).toBe(0);
    expect((emulator.writes().changed.UpdateGroup ?? 0) + (emulator.writes().unchanged.UpdateGroup ?? 0)).toBe(0);
  });

  it('--merge of a snapshot exported with --exclude-attributes keeps the excluded attributes in the target', async () => {
    const h = await harness();
    const source = emulator.createPool('excluded-source');
    emulator.addUser(source, { username: 'u1', attributes: { email: 'u1@example.com', phone_number: '+15550000001', name: 'One' } });
    const from = await snapshotOf(h, source, 'excluded', { excludeAttributes: ['phone_number'], name: 'nophone' });
    const target = emulator.createPool('excluded-target');
    emulator.addUser(target, { username: 'u1', attributes: { email: 'u1@example.com', phone_number: '+15550000001', name: 'Old name' } });
    await restore(h, from, target, { merge: true });
    expect(attributes(target, 'u1')).toMatchObject({ phone_number: '+15550000001', name: 'One' });
  });

  it('refuses --delete-missing from a filtered snapshot, which never looked at the other users', async () => {
    const h = await harness();
    const source = emulator.createPool('filtered-source');
    emulator.addUser(source, { username: 'alice', attributes: { email: 'alice@example.com' } });
    emulator.addUser(source, { username: 'bob', attributes: { email: 'bob@example.com' } });
    const from = await snapshotOf(h, source, 'filtered', { filter: 'username ^= "a"', name: 'a-only' });
    const target = emulator.createPool('filtered-target');
    emulator.addUser(target, { username: 'bob', attributes: { email: 'bob@example.com' } });
    const error = await prepareRestore(h.runtime, { from, targetPoolId: target, merge: true, deleteMissing: true }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(RestoreRequestError);
    expect((error as Error).message).toMatch(/holds only the users of its filter .* --delete-missing would delete/);
    expect(natives(target)).toEqual(['bob']);
  });

  it('a user Cognito refuses is one failure; its memberships are skipped, not failed again', async () => {
    const h = await harness();
    const source = emulator.createPool('refused-source');
    emulator.addUser(source, { username: 'good', attributes: { email: 'g@example.com' } });
    emulator.addUser(source, { username: 'dev', attributes: { email: 'd@example.com', 'dev:custom:x': 'v' } });
    emulator.createGroup(source, { name: 'a/b-ü' });
    emulator.addUserToGroup(source, 'a/b-ü', 'dev');
    emulator.addUserToGroup(source, 'a/b-ü', 'good');
    const from = await snapshotOf(h, source, 'refused');
    const target = emulator.createPool('refused-target');
    const report = await reportOf(h, await restore(h, from, target, { verify: true }));
    expect(natives(target)).toEqual(['good']);
    expect(report.failed).toBe(1);
    expect(report.counts.memberships).toMatchObject({ created: 1, skipped: 1, failed: 0 });
    // --verify: the refused user and its membership are the differences.
    expect(report.verified).toBe(false);
    expect(report.verification?.differences).toBe(2);
    expect(report.verification?.examples.map((example) => example.name).sort()).toEqual(['a/b-ü/dev', 'dev']);
  });

  it('an --inline restore whose process was killed (-9) does not hold its target: the next restore replaces it', async () => {
    const h = await harness();
    const source = emulator.createPoolWithUsers({ users: 400, seed: 4402, customAttributes: ['tenant'] });
    const from = await snapshotOf(h, source, 'inline-killed');
    const target = emulator.createPool('inline-killed-target', undefined, { customAttributes: ['tenant'] });
    emulator.setFaults({ latencyMs: 20 });
    const child = spawnCli(['restore', '--from', from, '--user-pool-id', target, '--inline'], { ...h.childEnv, ...FAST_WRITES });
    children.push(child);
    await eventually(() => Promise.resolve(emulator.listAllUsers(target).length > 50 ? true : undefined), 60_000, 'under way', 10);
    child.child.kill('SIGKILL');
    await child.exited();
    emulator.setFaults({ latencyMs: 0 });
    const dead = await store(h).activeOf(target);
    // Its hold lapses within 15 s; then a request replaces it.
    const next = await eventually(async () => {
      const queued = await queueRestore(h.runtime, h.queues, await prepareRestore(h.runtime, { from, targetPoolId: target, merge: true }));
      return queued.joined ? undefined : queued.restoreId;
    }, 30_000, 'the dead restore to be replaced', 1000);
    expect(next).not.toBe(dead);
    expect((await store(h).status(dead ?? ''))?.state).toBe('failed');
    await eventually(async () => ((await store(h).status(next))?.state === 'completed' ? true : undefined), 60_000, 'the new restore');
    expect(natives(target)).toEqual(natives(source));
  }, 120_000);
});
