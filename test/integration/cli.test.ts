import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { EMULATOR_CREDENTIALS } from '../support/export-harness.js';
import { deletePrefix, TEST_REDIS_URL, testPrefix } from '../support/redis-test-prefix.js';
import { eventually, runCli, spawnCli } from '../support/worker-process.js';

let emulator: CognitoEmulator;
let scratch: string;
let env: Record<string, string>;
const prefix = testPrefix();

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-cli-'));
  env = {
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: emulator.url,
    AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
    COGNITO_RATE_LIMIT_RPS: '500',
    LOG_LEVEL: 'warn',
  };
});

afterAll(async () => {
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
  await deletePrefix(prefix);
});

/** Asserts the process printed exactly one line on stderr, and returns it. */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  return lines[0] ?? '';
}

describe('cognito-export export', () => {
  it('exports inline and prints the manifest URL as the last line of stdout', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 700, seed: 1 });
    const destination = pathToFileURL(join(scratch, 'inline')).href;
    const result = await runCli(['export', '--user-pool-id', poolId, '--destination', destination, '--inline'], env);
    expect(result.stderr).toMatch(/exported 700 users in \d+ files/);
    expect(result.code).toBe(0);
    const lastLine = result.stdout.trimEnd().split('\n').at(-1) ?? '';
    expect(lastLine).toMatch(new RegExp(`^file://.*/manifests/user_pool_id=${poolId}/dt=\\d{4}-\\d{2}-\\d{2}/run=.*\\.json$`));
    const manifest = JSON.parse(await readFile(fileURLToPath(lastLine), 'utf8')) as { record_count: number };
    expect(manifest.record_count).toBe(700);
  });

  it('exits non-zero with the reason when the run fails', async () => {
    const destination = pathToFileURL(join(scratch, 'fail')).href;
    const result = await runCli(['export', '--user-pool-id', 'us-east-1_Missing', '--destination', destination, '--inline'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/export .* failed: user pool us-east-1_Missing cannot be read: ResourceNotFoundException/);
    expect(result.stdout).toBe('');
  });

  it.each([
    [['export', '--destination', 's3://b-1'], /required option '--user-pool-id <id>' not specified/],
    [['export', '--user-pool-id', 'us-east-1_A', '--destination', 's3://b-1', '--shards', '8'], /shards must be one of 1, 16, 256, got "8"/],
    [['export', '--user-pool-id', 'pool', '--destination', 's3://b-1'], /user pool id "pool" is not valid/],
    [['export', '--user-pool-id', 'us-east-1_A', '--destination', 'ftp://x'], /destination "ftp:\/\/x" is not supported/],
    [['export', '--user-pool-id', 'us-east-1_A', '--destination', 's3://b-1', '--filter', 'email = a'], /filter "email = a" is not valid/],
    [['export', '--user-pool-id', 'us-east-1_A', '--destination', 's3://b-1', '--file-max-records', '0'], /expected an integer from 1, got "0"/],
    [['exprot'], /unknown command 'exprot'/],
  ])('rejects %j with one line and exit code 2', async (args, message) => {
    const result = await runCli(args, env);
    expect(result.code).toBe(2);
    expect(oneLine(result.stderr)).toMatch(message);
  });

  it('rejects a bad environment value with one line naming the variable, and exit code 2', async () => {
    const result = await runCli(['export', '--user-pool-id', 'us-east-1_A', '--destination', 's3://b-1'], { ...env, COGNITO_RATE_LIMIT_RPS: '-3' });
    expect(result.code).toBe(2);
    expect(oneLine(result.stderr)).toBe('cognito-export: COGNITO_RATE_LIMIT_RPS="-3" is invalid: expected a number from 0.1 to 10000');
  });

  it('says how to start Redis when it is unreachable', async () => {
    const result = await runCli(['status'], { ...env, REDIS_URL: 'redis://127.0.0.1:1' });
    expect(result.code).toBe(1);
    expect(oneLine(result.stderr)).toMatch(/Redis at redis:\/\/127\.0\.0\.1:1 is not reachable .*start it with `redis-server --daemonize yes` or set REDIS_URL/);
  });

  it('enqueues without --wait and prints the snapshot id', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 10, seed: 2 });
    const result = await runCli(['export', '--user-pool-id', poolId, '--destination', pathToFileURL(join(scratch, 'queued')).href], env);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{6}$/);
    expect(result.stderr).toMatch(/queued; follow it with: cognito-export status --user-pool-id/);
    // A second trigger while the first is queued returns the same run.
    const again = await runCli(['export', '--user-pool-id', poolId, '--destination', pathToFileURL(join(scratch, 'queued')).href], env);
    expect(again.stdout.trim()).toBe(result.stdout.trim());
    expect(again.stderr).toMatch(/already has export \S+ queued with the same options; following that one/);
  });
});

describe('cognito-export export --inline', () => {
  it("runs only its own run: another pool's queued run is left to the workers", async () => {
    const waiting = emulator.createPoolWithUsers({ users: 50, seed: 3 });
    const queued = await runCli(['export', '--user-pool-id', waiting, '--destination', pathToFileURL(join(scratch, 'left-alone')).href], env);
    const waitingId = queued.stdout.trim();
    const poolId = emulator.createPoolWithUsers({ users: 300, seed: 4 });
    const result = await runCli(['export', '--user-pool-id', poolId, '--destination', pathToFileURL(join(scratch, 'own')).href, '--inline'], env);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/exported 300 users/);
    // The other pool's run was not touched: still queued, its start job still waiting for a worker.
    const status = await runCli(['status', '--user-pool-id', waiting, '--json'], env);
    expect((JSON.parse(status.stdout) as { active?: { snapshot_id?: string; snapshotId?: string; state: string } }[])[0]?.active?.state).toBe('queued');
    expect(waitingId).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{6}$/);
  });

  it('stops on Ctrl-C with its shards checkpointed, and the same command resumes the same run', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 3000, seed: 5 });
    const args = ['export', '--user-pool-id', poolId, '--destination', pathToFileURL(join(scratch, 'resumed')).href, '--inline', '--shards', '1'];
    const slow = { ...env, COGNITO_RATE_LIMIT_RPS: '10' };
    const first = spawnCli(args, slow);
    await eventually(() => Promise.resolve(/users=\d*[1-9]/.test(first.stderr()) ? true : undefined), 30_000, 'the first pages');
    first.child.kill('SIGINT');
    expect(await first.exited()).toBe(130);
    expect(first.stderr()).toMatch(/run the same command again to resume the run/);
    const snapshotId = /interrupted: stopped following export (\S+);/.exec(first.stderr())?.[1];
    const again = await runCli(args, { ...env, COGNITO_RATE_LIMIT_RPS: '500' });
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`already has export ${snapshotId} (running|queued) with the same options; resuming it here`));
    const manifestUrl = again.stdout.trimEnd().split('\n').at(-1) ?? '';
    const manifest = JSON.parse(await readFile(fileURLToPath(manifestUrl), 'utf8')) as { snapshot_id: string; record_count: number };
    expect(manifest).toMatchObject({ snapshot_id: snapshotId, record_count: 3000 });
  });
});
