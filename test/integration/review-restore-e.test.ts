import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AdminUpdateUserAttributesCommand, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { RestoreStore } from '../../src/restore/restore-store.js';
import { prepareRestore, queueRestore } from '../../jobs/request-restore.js';
import { runRestore } from '../../jobs/restore-job.js';
import { EMULATOR_CREDENTIALS, readObject, startHarness, type ExportHarness } from '../support/export-harness.js';
import { eventually } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let scratch: string;
const harnesses: ExportHarness[] = [];
const FAST_WRITES = { RESTORE_CREATE_RPS: '500', RESTORE_UPDATE_RPS: '500', RESTORE_MEMBERSHIP_RPS: '500', RESTORE_GROUP_WRITE_RPS: '500' };

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-review-e-'));
});
afterEach(async () => {
  emulator.setFaults({ latencyMs: 0 });
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

describe('review e', () => {
  for (let round = 0; round < 4; round++) it(`--merge interrupted mid-batch and resumed: updated users are still counted updated, round ${round}`, async () => {
    const exporter = await harness();
    const source = emulator.createPoolWithUsers({ users: 300, seed: 6601 + round, customAttributes: ['tenant'] });
    expect((await exporter.run({ userPoolId: source, destination: destination(`m${round}`) })).error).toBeUndefined();
    const from = `${destination(`m${round}`)}/manifests/user_pool_id=${source}/latest.json`;
    const target = emulator.createPool(`m-target-${round}`, undefined, { customAttributes: ['tenant'] });
    const h = await harness(false);
    // restore once, then drift every user
    const p0 = await prepareRestore(h.runtime, { from, targetPoolId: target, inline: true });
    const q0 = await queueRestore(h.runtime, h.queues, p0);
    expect(await runRestore(h.runtime, q0.restoreId, new AbortController().signal)).toBe('completed');
    const cognito = new CognitoIdentityProviderClient({ endpoint: emulator.url, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });
    const natives = emulator.listAllUsers(target);
    for (const u of natives) await cognito.send(new AdminUpdateUserAttributesCommand({ UserPoolId: target, Username: u.Username, UserAttributes: [{ Name: 'nickname', Value: 'drift' }] }));
    cognito.destroy();
    emulator.setFaults({ latencyMs: 30 });
    emulator.resetStats();
    const p = await prepareRestore(h.runtime, { from, targetPoolId: target, merge: true, inline: true });
    const { restoreId } = await queueRestore(h.runtime, h.queues, p);
    const stop = new AbortController();
    const first = runRestore(h.runtime, restoreId, stop.signal);
    await eventually(() => Promise.resolve((emulator.writes().changed.AdminDeleteUserAttributes ?? 0) > 45 + round * 7 ? true : undefined), 60_000, 'under way', 2);
    stop.abort(new Error('stop'));
    const o1 = await first;
    emulator.setFaults({ latencyMs: 0 });
    const o2 = o1 === 'completed' ? o1 : await runRestore(h.runtime, restoreId, new AbortController().signal);
    const status = await new RestoreStore(h.runtime.redis, h.runtime.keys).status(restoreId);
    const report = JSON.parse((await readObject(status?.reportUrl ?? '')).toString('utf8')) as Record<string, number>;
    console.log('MERGE', o1, o2, { updated: report.updated, existing: report.existing, natives: natives.length, writes: emulator.writes().changed.AdminDeleteUserAttributes });
    expect(report.updated).toBe(natives.length);
  }, 120_000);
});
