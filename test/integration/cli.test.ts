import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
    const poolId = emulator.createPoolWithUsers({ users: 700, seed: 1, groups: 3 });
    const destination = pathToFileURL(join(scratch, 'inline')).href;
    const result = await runCli(['export', '--user-pool-id', poolId, '--destination', destination, '--inline'], env);
    expect(result.code).toBe(0);
    const lastLine = result.stdout.trimEnd().split('\n').at(-1) ?? '';
    expect(lastLine).toMatch(new RegExp(`^file://.*/manifests/user_pool_id=${poolId}/dt=\\d{4}-\\d{2}-\\d{2}/run=.*\\.json$`));
    const manifest = JSON.parse(await readFile(fileURLToPath(lastLine), 'utf8')) as { record_count: number; tables: Record<string, { record_count: number; files: unknown[] }> };
    expect(manifest.record_count).toBe(700);
    // The files of every table, as the manifest lists them, not the users' alone.
    const files = Object.values(manifest.tables).reduce((sum, table) => sum + table.files.length, 0);
    expect(files).toBeGreaterThan(manifest.tables.users?.files.length ?? 0);
    const { groups, group_memberships: memberships } = manifest.tables;
    expect(result.stderr).toMatch(new RegExp(`\\nexported 700 users, ${groups?.record_count} groups and ${memberships?.record_count} memberships in ${files} files in [\\d.]+ s\\n`));
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

  it('without AWS credentials says to give the worker credentials, not to set the account id', async () => {
    const home = await mkdtemp(join(scratch, 'home-'));
    // Real AWS endpoints and the SDK's own credential chain: nothing in the environment, no ~/.aws, no instance metadata.
    const result = await runCli(['export', '--user-pool-id', 'eu-west-1_NoCreds1', '--destination', pathToFileURL(join(scratch, 'no-creds')).href, '--inline'], {
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      HOME: home,
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split('\n').at(-1)).toMatch(
      /^cognito-export: export \S+ failed: AWS credentials: CredentialsProviderError: .*: give the worker AWS credentials \(environment, profile or role\)$/,
    );
    expect(result.stderr).not.toMatch(/AWS_ACCOUNT_ID/);
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
    // Without LOG_LEVEL, as a person runs it.
    const { LOG_LEVEL: _level, ...unset } = env;
    const result = await runCli(['export', '--user-pool-id', poolId, '--destination', pathToFileURL(join(scratch, 'queued')).href], unset);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{6}$/);
    expect(result.stderr).toMatch(/queued; follow it with: cognito-export status --user-pool-id/);
    // What a person reads: no JSON log lines mixed in (info logs are the worker's; LOG_LEVEL brings them back).
    expect(result.stderr).not.toMatch(/"level":/);
    const other = emulator.createPoolWithUsers({ users: 10, seed: 22 });
    const logged = await runCli(['export', '--user-pool-id', other, '--destination', pathToFileURL(join(scratch, 'queued-logged')).href], { ...env, LOG_LEVEL: 'info' });
    expect(logged.stderr).toMatch(/"msg":"export requested"/);
    // A second trigger while the first is queued returns the same run.
    const again = await runCli(['export', '--user-pool-id', poolId, '--destination', pathToFileURL(join(scratch, 'queued')).href], env);
    expect(again.stdout.trim()).toBe(result.stdout.trim());
    expect(again.stderr).toMatch(/already has export \S+ queued with the same options; this request joins it\nfollow it with: cognito-export status/);
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

/** Every key of `value`, at every depth (the keys of arrays' objects too). */
function keysOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysOf);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, inner]) => [key, ...keysOf(inner)]);
}

/**
 * The one stderr line that names `word`, checked to be the last (an --inline run also prints
 * progress lines, and its in-process worker logs the failure as JSON).
 */
function failureLine(stderr: string, word: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines.filter((line) => line.includes(word) && !line.startsWith('{')), stderr).toHaveLength(1);
  expect(lines.at(-1), stderr).toContain(word);
  return lines.at(-1) ?? '';
}

describe('bad input exits 2 with one line', () => {
  it('refuses an attribute the pool does not have, naming it and the closest known name', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 20, seed: 6 });
    const destination = pathToFileURL(join(scratch, 'typo')).href;
    const typo = await runCli(['export', '--user-pool-id', poolId, '--destination', destination, '--attributes', 'email,custom:tenat', '--inline'], env);
    expect(typo.code).toBe(1);
    expect(failureLine(typo.stderr, 'custom:tenat')).toMatch(new RegExp(`failed: attribute custom:tenat is not in the schema of user pool ${poolId} \\(did you mean custom:tenant\\?\\)`));
    const unknown = await runCli(['export', '--user-pool-id', poolId, '--destination', destination, '--attributes', 'email,nosuchattr', '--inline'], env);
    expect(unknown.code).toBe(1);
    expect(failureLine(unknown.stderr, 'nosuchattr')).toMatch(/failed: attribute nosuchattr is not in the schema of user pool \S+ \(did you mean \S+\?\)/);
    expect(unknown.stdout).toBe('');
    // Known names, standard and custom, still export.
    const good = await runCli(['export', '--user-pool-id', poolId, '--destination', destination, '--attributes', 'email,custom:tenant', '--inline'], env);
    expect(good.stderr).toMatch(/exported 20 users/);
    expect(good.code).toBe(0);
  });

  it('refuses a snapshot id that is not one, saying what one looks like', async () => {
    const result = await runCli(['cancel', 'nonsense'], env);
    expect(result.code).toBe(2);
    expect(oneLine(result.stderr)).toMatch(/snapshot id "nonsense" is not valid: expected .*e\.g\. \d{8}T\d{9}Z-[0-9a-f]{6}/);
  });
});

describe('--json output', () => {
  it('schedule list --json has snake_case keys', async () => {
    const config = join(scratch, 'schedules.yaml');
    await writeFile(config, `pools:\n  - user_pool_id: us-east-1_JsonKeys\n    destination: ${pathToFileURL(join(scratch, 'scheduled')).href}\n    schedule: "0 2 * * *"\n`);
    const applied = await runCli(['schedule', 'apply', '--config', config], env);
    expect(applied.code, applied.stderr).toBe(0);
    const listed = await runCli(['schedule', 'list', '--json'], env);
    expect(listed.code).toBe(0);
    const schedules = JSON.parse(listed.stdout) as Record<string, unknown>[];
    expect(schedules).toEqual([expect.objectContaining({ user_pool_id: 'us-east-1_JsonKeys', pattern: '0 2 * * *', timezone: 'UTC' })]);
    expect(typeof schedules[0]?.next_run).toBe('string');
    expect(keysOf(schedules).filter((key) => !/^[a-z0-9_]+$/.test(key))).toEqual([]);
  });

  it('status --json has snake_case keys and numbers as numbers', async () => {
    const poolId = emulator.createPoolWithUsers({ users: 10, seed: 7 });
    const queued = await runCli(['export', '--user-pool-id', poolId, '--destination', pathToFileURL(join(scratch, 'json-status')).href], env);
    expect(queued.code).toBe(0);
    const status = await runCli(['status', '--user-pool-id', poolId, '--json'], env);
    expect(status.code).toBe(0);
    const pools = JSON.parse(status.stdout) as { active: Record<string, unknown> }[];
    expect(pools[0]?.active).toMatchObject({ snapshot_id: queued.stdout.trim(), shards_done: 0, shards: 16 });
    expect(keysOf(pools).filter((key) => !/^[a-z0-9_]+$/.test(key))).toEqual([]);
  });
});
