import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { RestoreStore } from '../../src/restore/restore-store.js';
import { prepareRestore, queueRestore } from '../../jobs/request-restore.js';
import { startHarness, type ExportHarness } from '../support/export-harness.js';
import { eventually, runCli, spawnCli, type CliProcess } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let scratch: string;
const harnesses: ExportHarness[] = [];
const children: CliProcess[] = [];
const FAST_WRITES = { RESTORE_CREATE_RPS: '500', RESTORE_UPDATE_RPS: '500', RESTORE_MEMBERSHIP_RPS: '500', RESTORE_GROUP_WRITE_RPS: '500' };

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-review-d-'));
});
afterEach(async () => {
  emulator.setFaults({ latencyMs: 0 });
  for (const c of children.splice(0)) c.child.kill('SIGKILL');
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

describe('review d', () => {
  it('CLI inputs', async () => {
    const h = await harness();
    const source = emulator.createPoolWithUsers({ users: 20, seed: 5501, customAttributes: ['tenant'] });
    expect((await h.run({ userPoolId: source, destination: destination('cli') })).error).toBeUndefined();
    const from = `${destination('cli')}/manifests/user_pool_id=${source}/latest.json`;
    const target = emulator.createPool('cli-target', undefined, { customAttributes: ['tenant'] });
    const env = { ...h.childEnv, ...FAST_WRITES };
    const cases: string[][] = [
      ['--from', `${destination('nothing')}/manifests/user_pool_id=${source}/latest.json`, '--user-pool-id', target],
      ['--from', from, '--user-pool-id', 'us-east-1_DoesNotExist1'],
      ['--from', from, '--user-pool-id', 'eu-west-1_Abc'],
      ['--from', from.replace('latest.json', 'dt=2020-01-01/run=nope.json'), '--user-pool-id', target],
      ['--from', 's3://nonexistent-bucket-xyz/manifests/user_pool_id=us-east-1_AbCdEf123/latest.json', '--user-pool-id', target],
    ];
    const garbage = join(scratch, 'cli', 'manifests', `user_pool_id=${source}`, 'latest-garbage.json');
    await writeFile(garbage, '{"not":"a pointer"');
    cases.push(['--from', `${destination('cli')}/manifests/user_pool_id=${source}/latest-garbage.json`, '--user-pool-id', target]);
    for (const args of cases) {
      const r = await runCli(['restore', ...args, '--dry-run'], env);
      console.log('CASE', args[1], args[3], '=>', r.code, JSON.stringify(r.stderr.slice(0, 500)));
    }
  }, 120_000);

  it('cancel a worker restore mid-run: it stops and withdraws', async () => {
    const h = await harness();
    const source = emulator.createPoolWithUsers({ users: 600, seed: 5502, customAttributes: ['tenant'] });
    expect((await h.run({ userPoolId: source, destination: destination('cancel') })).error).toBeUndefined();
    const from = `${destination('cancel')}/manifests/user_pool_id=${source}/latest.json`;
    const target = emulator.createPool('cancel-target', undefined, { customAttributes: ['tenant'] });
    emulator.setFaults({ latencyMs: 20 });
    const { restoreId } = await queueRestore(h.runtime, h.queues, await prepareRestore(h.runtime, { from, targetPoolId: target }));
    await eventually(() => Promise.resolve(emulator.listAllUsers(target).length > 50 ? true : undefined), 60_000, 'under way', 10);
    const store = new RestoreStore(h.runtime.redis, h.runtime.keys);
    expect(await store.setState(restoreId, 'cancelled')).toBe(true);
    const n = emulator.listAllUsers(target).length;
    const t0 = Date.now();
    for (let i = 0; i < 12; i++) { await new Promise((r) => setTimeout(r, 250)); console.log('T', Date.now() - t0, emulator.listAllUsers(target).length); }
    await new Promise((r) => setTimeout(r, 3000));
    const m = emulator.listAllUsers(target).length;
    const keys = await h.runtime.redis.keys(`${h.prefix}*${restoreId}*`);
    const job = await h.queues.restores.getJob(`restore-${restoreId}`);
    console.log('CANCEL', n, m, 'job', await job?.getState(), job?.returnvalue, (await store.status(restoreId))?.state);
    const files = await readdir(join(scratch, 'cancel'), { recursive: true });
    console.log('FILES', files.filter((f) => f.includes('restore')));
    expect(m - n).toBeLessThan(60);
  }, 120_000);

  it('a worker process SIGTERM mid-restore: handed back, resumed, exact', async () => {
    const h = await harness(false);
    const exporter = await harness();
    const source = emulator.createPoolWithUsers({ users: 1200, seed: 5503, groups: 3, customAttributes: ['tenant'] });
    expect((await exporter.run({ userPoolId: source, destination: destination('term') })).error).toBeUndefined();
    await exporter.worker?.close();
    exporter.worker = undefined;
    const from = `${destination('term')}/manifests/user_pool_id=${source}/latest.json`;
    const target = emulator.createPool('term-target', undefined, { customAttributes: ['tenant'] });
    emulator.setFaults({ latencyMs: 10 });
    const w1 = spawnCli(['worker'], { ...h.childEnv, ...FAST_WRITES });
    children.push(w1);
    const { restoreId } = await queueRestore(h.runtime, h.queues, await prepareRestore(h.runtime, { from, targetPoolId: target }));
    await eventually(() => Promise.resolve(emulator.listAllUsers(target).length > 300 ? true : undefined), 60_000, 'under way', 10);
    w1.child.kill('SIGTERM');
    const code = await w1.exited();
    const store = new RestoreStore(h.runtime.redis, h.runtime.keys);
    console.log('TERM exit', code, (await store.status(restoreId))?.state, emulator.listAllUsers(target).length, w1.stderr().slice(-800));
    emulator.setFaults({ latencyMs: 0 });
    const w2 = spawnCli(['worker'], { ...h.childEnv, ...FAST_WRITES });
    children.push(w2);
    await eventually(async () => ((await store.status(restoreId))?.state === 'completed' ? true : undefined), 120_000, 'complete');
    const natives = (p: string) => emulator.listAllUsers(p).filter((u) => u.UserStatus !== 'EXTERNAL_PROVIDER').length;
    console.log('TERM done', natives(target), natives(source));
    expect(natives(target)).toBe(natives(source));
  }, 240_000);
});
