import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { RestoreStore } from '../../src/restore/restore-store.js';
import { startHarness, type ExportHarness } from '../support/export-harness.js';
import { eventually, spawnCli, type CliProcess } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let scratch: string;
const harnesses: ExportHarness[] = [];
const children: CliProcess[] = [];
const FAST_WRITES = { RESTORE_CREATE_RPS: '500', RESTORE_UPDATE_RPS: '500', RESTORE_MEMBERSHIP_RPS: '500', RESTORE_GROUP_WRITE_RPS: '500' };

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-review-c-'));
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
function cli(args: string[], env: Record<string, string>): CliProcess {
  const c = spawnCli(args, env);
  children.push(c);
  return c;
}

describe('review c', () => {
  it('an --inline restore killed -9: the target is locked, a new restore joins a dead one and waits forever', async () => {
    const h = await harness();
    const source = emulator.createPoolWithUsers({ users: 400, seed: 4402, customAttributes: ['tenant'] });
    expect((await h.run({ userPoolId: source, destination: destination('k9') })).error).toBeUndefined();
    const from = `${destination('k9')}/manifests/user_pool_id=${source}/latest.json`;
    const target = emulator.createPool('k9-target', undefined, { customAttributes: ['tenant'] });
    emulator.setFaults({ latencyMs: 20 });
    const child = cli(['restore', '--from', from, '--user-pool-id', target, '--inline'], { ...h.childEnv, ...FAST_WRITES });
    await eventually(() => Promise.resolve(emulator.listAllUsers(target).length > 50 ? true : undefined), 60_000, 'under way', 10);
    child.child.kill('SIGKILL');
    await child.exited();
    emulator.setFaults({ latencyMs: 0 });
    const store = new RestoreStore(h.runtime.redis, h.runtime.keys);
    const dead = await store.activeOf(target);
    console.log('DEAD', dead, (await store.status(dead ?? ''))?.state);
    // a worker is running in this harness; the new request waits
    const again = cli(['restore', '--from', from, '--user-pool-id', target, '--merge', '--wait'], { ...h.childEnv, ...FAST_WRITES });
    const code = await Promise.race([again.exited(), new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
    console.log('NEW', code, again.stderr().slice(0, 400));
    expect(code).toBe(0);
  }, 120_000);
});
