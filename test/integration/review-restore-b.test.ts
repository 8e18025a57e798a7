import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { RestoreStore } from '../../src/restore/restore-store.js';
import { prepareRestore, queueRestore } from '../../jobs/request-restore.js';
import { runRestore } from '../../jobs/restore-job.js';
import { readObject, startHarness, type ExportHarness } from '../support/export-harness.js';
import { eventually, spawnCli, type CliProcess } from '../support/worker-process.js';
import type { ObjectSink } from '../../src/storage/object-sink.js';

let emulator: CognitoEmulator;
let scratch: string;
const harnesses: ExportHarness[] = [];
const children: CliProcess[] = [];
const FAST_WRITES = { RESTORE_CREATE_RPS: '500', RESTORE_UPDATE_RPS: '500', RESTORE_MEMBERSHIP_RPS: '500', RESTORE_GROUP_WRITE_RPS: '500' };

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-review-b-'));
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
async function harness(worker = true, env: Record<string, string> = {}): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, worker, env: { ...FAST_WRITES, ...env } });
  harnesses.push(h);
  return h;
}
const destination = (name: string): string => pathToFileURL(join(scratch, name)).href;
async function snapshotOf(h: ExportHarness, poolId: string, name: string): Promise<string> {
  const status = await h.run({ userPoolId: poolId, destination: destination(name) });
  expect(status.error).toBeUndefined();
  return `${destination(name)}/manifests/user_pool_id=${poolId}/latest.json`;
}
const natives = (pool: string) => emulator.listAllUsers(pool).filter((u) => u.UserStatus !== 'EXTERNAL_PROVIDER').map((u) => u.Username).sort();

/** Data files read as S3 delivers them: in pieces, with network waits between. */
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
            return Readable.from((async function* () {
              for (let at = 0; at < bytes.length; at += 256) {
                await new Promise((resolve) => setTimeout(resolve, 15));
                yield bytes.subarray(at, at + 256);
              }
            })());
          };
        }
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as ObjectSink;
  }) as typeof h.runtime.sink;
}

describe('review b', () => {
  for (let round = 0; round < 6; round++) {
    it(`a restore stopped (worker shutdown) and resumed restores every user, round ${round}`, async () => {
      const exporter = await harness();
      const source = emulator.createPoolWithUsers({ users: 600, seed: 3300 + round, customAttributes: ['tenant'] });
      const from = await snapshotOf(exporter, source, `stop-${round}`);
      const h = await harness(false);
      slowReads(h);
      const target = emulator.createPool(`stop-target-${round}`, undefined, { customAttributes: ['tenant'] });
      const prepared = await prepareRestore(h.runtime, { from, targetPoolId: target, inline: true });
      const { restoreId } = await queueRestore(h.runtime, h.queues, prepared);
      const stop = new AbortController();
      const first = runRestore(h.runtime, restoreId, stop.signal);
      await eventually(() => Promise.resolve(emulator.listAllUsers(target).length > 60 + round * 50 ? true : undefined), 60_000, 'under way', 5);
      await new Promise((resolve) => setTimeout(resolve, 40 + round * 53));
      stop.abort(new Error('worker shutting down'));
      const outcome = await first;
      console.log('FIRST OUTCOME', outcome, emulator.listAllUsers(target).length);
      let outcome2 = outcome;
      if (outcome !== 'completed') outcome2 = await runRestore(h.runtime, restoreId, new AbortController().signal);
      const status = await new RestoreStore(h.runtime.redis, h.runtime.keys).status(restoreId);
      const report = JSON.parse((await readObject(status?.reportUrl ?? '')).toString('utf8')) as { created: number; skipped_federated: number; tables: { restore_users: { files: { url: string }[] } } };
      let rows = 0;
      for (const f of report.tables.restore_users.files) rows += gunzipSync(await readObject(f.url)).toString('utf8').split('\n').filter(Boolean).length;
      console.log('SECOND', outcome2, 'target', natives(target).length, 'source', natives(source).length, 'created', report.created, 'rows', rows);
      expect(natives(target)).toEqual(natives(source));
      expect(rows).toBe(600);
    }, 120_000);
  }
});
