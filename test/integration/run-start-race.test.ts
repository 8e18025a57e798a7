import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelRun } from '../../jobs/cancel-run.js';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { startHarness, type ExportHarness } from '../support/export-harness.js';

let emulator: CognitoEmulator;
let harness: ExportHarness;
let scratch: string;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-start-race-'));
  harness = await startHarness({ cognitoEndpoint: emulator.url, worker: false });
});

afterAll(async () => {
  await harness.close();
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe('a start job paused after its state check', () => {
  it('cannot turn a run cancelled meanwhile back into a running one', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 5, seed: 1901 });
    const { snapshotId } = await harness.request({ userPoolId: poolId, destination: pathToFileURL(join(scratch, 'raced')).href });
    // What the start job does next, once it resumes: the cancel came in between.
    expect((await cancelRun(harness.runtime, snapshotId)).kind).toBe('cancelled');
    expect(await harness.runtime.runs.markRunning(snapshotId, 5)).toBe('cancelled');
    expect(await harness.runtime.runs.state(snapshotId)).toBe('cancelled');
    expect((await harness.runtime.runs.status(snapshotId))?.runningAt).toBeUndefined();
    // A queued run (or one whose start job is retried) is marked as before.
    const other = emulator.createPoolWithUsers({ users: 5, seed: 1902 });
    const queued = await harness.request({ userPoolId: other, destination: pathToFileURL(join(scratch, 'queued')).href });
    expect(await harness.runtime.runs.markRunning(queued.snapshotId, 5)).toBe('running');
    expect(await harness.runtime.runs.markRunning(queued.snapshotId, 5)).toBe('running');
    expect((await harness.runtime.runs.status(queued.snapshotId))?.estimatedUsers).toBe(5);
  });
});
