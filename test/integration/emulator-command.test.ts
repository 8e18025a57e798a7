import { CognitoIdentityProviderClient, ListUsersCommand } from '@aws-sdk/client-cognito-identity-provider';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { Command, CommanderError } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_EMULATOR_PORT, registerEmulatorCommand, runEmulatorCommand } from '../../src/emulator/emulator-command.js';
import type { EmulatorCommandOptions } from '../../src/emulator/emulator-command.js';

function program(errors: string[] = []): Command {
  const root = new Command('cognito-export').exitOverride().configureOutput({ writeErr: (text) => errors.push(text), writeOut: () => {} });
  registerEmulatorCommand(root).exitOverride();
  return root;
}

/** Parses an `emulator` command line without running it: the action is swapped for a capture. */
function parse(args: string[]): EmulatorCommandOptions {
  const root = program();
  const command = root.commands.find((c) => c.name() === 'emulator')!;
  let captured: EmulatorCommandOptions | undefined;
  command.action((options: EmulatorCommandOptions) => {
    captured = options;
  });
  root.parse(['node', 'cognito-export', 'emulator', ...args]);
  return captured!;
}

function usageError(args: string[]): { exitCode: number; message: string } {
  const errors: string[] = [];
  const root = program(errors);
  try {
    root.parse(['node', 'cognito-export', 'emulator', ...args]);
  } catch (error) {
    if (error instanceof CommanderError) return { exitCode: error.exitCode, message: errors.join('') };
    throw error;
  }
  throw new Error('the command line was accepted');
}

describe('the emulator command', () => {
  const ownSignalListeners = (): ((...args: unknown[]) => void)[] => process.listeners('SIGTERM') as ((...args: unknown[]) => void)[];
  let before: ((...args: unknown[]) => void)[] = [];
  afterEach(() => {
    for (const listener of ownSignalListeners()) if (!before.includes(listener)) process.off('SIGTERM', listener);
  });

  it('has defaults an operator expects', () => {
    expect(parse([])).toMatchObject({
      port: DEFAULT_EMULATOR_PORT,
      host: '127.0.0.1',
      region: 'us-east-1',
      users: 0,
      groups: 0,
      bigGroupShare: 0.6,
      tailShare: 0.4,
      seed: 1,
      latencyMs: 0,
      dropRate: 0,
      memberPageOverlap: 0,
      accountId: '000000000000',
      role: [],
      appPattern: 'steady',
    });
    expect(parse([]).appRps).toBeUndefined();
    expect(parse([]).quotaRps).toBeUndefined();
  });

  it('parses every flag', () => {
    const options = parse(
      '--port 0 --host 0.0.0.0 --region eu-west-2 --users 500 --groups 40 --seed 9 --sub-skew 0.5 --pool-name demo --latency-ms 120 --jitter-ms 30 --quota-rps 30 --throttle-rate 0.25 --internal-error-rate 0.01 --drop-rate 0.02 --short-page-rate 0.1 --empty-page-rate 0.05 --member-page-overlap 2 --token-ttl-seconds 3600 --random-seed 7 --account-id 222222222222 --role arn:aws:iam::111111111111:role/exporter,ext-1 --role arn:aws:iam::333333333333:role/path/reader --app-rps 12.5 --app-pattern burst --big-group-share 0.75 --tail-share 0.3'.split(' '),
    );
    expect(options).toEqual({
      port: 0,
      host: '0.0.0.0',
      region: 'eu-west-2',
      users: 500,
      groups: 40,
      bigGroupShare: 0.75,
      tailShare: 0.3,
      seed: 9,
      subSkew: 0.5,
      poolName: 'demo',
      latencyMs: 120,
      jitterMs: 30,
      quotaRps: 30,
      throttleRate: 0.25,
      internalErrorRate: 0.01,
      dropRate: 0.02,
      shortPageRate: 0.1,
      emptyPageRate: 0.05,
      memberPageOverlap: 2,
      tokenTtlSeconds: 3600,
      randomSeed: 7,
      accountId: '222222222222',
      role: [{ roleArn: 'arn:aws:iam::111111111111:role/exporter', externalId: 'ext-1' }, { roleArn: 'arn:aws:iam::333333333333:role/path/reader' }],
      appRps: 12.5,
      appPattern: 'burst',
    });
  });

  it.each([
    ['--port', 'abc'],
    ['--port', '70000'],
    ['--users', '-5'],
    ['--users', '1.5'],
    ['--groups', '10001'],
    ['--drop-rate', '1.5'],
    ['--throttle-rate', '-0.1'],
    ['--quota-rps', '0'],
    ['--member-page-overlap', '60'],
    ['--region', 'moon'],
    ['--token-ttl-seconds', 'soon'],
    ['--account-id', '12345'],
    ['--app-rps', '0'],
    ['--app-pattern', 'wave'],
    ['--role', 'arn:aws:iam::1:role/x'],
    ['--role', 'arn:aws:iam::111111111111:role/x,a b'],
  ])('rejects %s %s with a one-line error and exit code 2', (flag, value) => {
    const { exitCode, message } = usageError([flag, value]);
    expect(exitCode).toBe(2);
    expect(message.trim().split('\n')).toHaveLength(1);
    expect(message).toContain(flag);
  });

  it('prints the url and pool id, serves the seeded pool, and stops on SIGTERM', async () => {
    before = ownSignalListeners();
    const lines: string[] = [];
    const running = runEmulatorCommand({ ...parse(['--port', '0', '--users', '130', '--random-seed', '3']) }, { stdout: (l) => lines.push(l), stderr: () => {} });
    await expect.poll(() => lines.length).toBe(3);
    const url = lines[0]!.replace(/^url=/, '');
    const poolId = lines[1]!.replace(/^user_pool_id=/, '');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(poolId).toMatch(/^us-east-1_[0-9A-Za-z]{9}$/);
    expect(lines[2]).toContain(`AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=${url}`);

    const client = new CognitoIdentityProviderClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const page = await client.send(new ListUsersCommand({ UserPoolId: poolId }));
    expect(page.Users).toHaveLength(60);
    client.destroy();

    const added = ownSignalListeners().filter((listener) => !before.includes(listener));
    expect(added).toHaveLength(1);
    added[0]!('SIGTERM');
    await running;
    expect(ownSignalListeners().filter((listener) => !before.includes(listener))).toHaveLength(0);
    await expect(fetch(`${url}/__emulator/health`)).rejects.toThrow();
  });

  it('seeds groups with --groups and says how many memberships it made', async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    const errors: string[] = [];
    const running = runEmulatorCommand(parse(['--port', '0', '--users', '300', '--groups', '25', '--random-seed', '3']), {
      stdout: (l) => lines.push(l),
      stderr: (l) => errors.push(l),
      signal: controller.signal,
    });
    await expect.poll(() => lines.length).toBe(3);
    const url = lines[0]!.replace(/^url=/, '');
    const poolId = lines[1]!.replace(/^user_pool_id=/, '');
    expect(errors.join('\n')).toMatch(/^seeded 300 users, 25 groups and \d+ memberships in \d+\.\d s$/);
    const pools = (await (await fetch(`${url}/__emulator/pools`)).json()) as { pools: { id: string; groups: number; memberships: number }[] };
    expect(pools.pools).toEqual([expect.objectContaining({ id: poolId, groups: 25, memberships: expect.any(Number) as number })]);
    expect(pools.pools[0]!.memberships).toBeGreaterThan(200);
    controller.abort();
    await running;
  });

  it('registers --role roles and puts static keys in --account-id', async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    const args = ['--port', '0', '--account-id', '444444444444', '--role', 'arn:aws:iam::555555555555:role/exporter,ext-9'];
    const running = runEmulatorCommand(parse(args), { stdout: (l) => lines.push(l), signal: controller.signal });
    await expect.poll(() => lines.length).toBe(3);
    const sts = new STSClient({ endpoint: lines[0]!.replace(/^url=/, ''), region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    expect((await sts.send(new GetCallerIdentityCommand({}))).Account).toBe('444444444444');
    const assumed = await sts.send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::555555555555:role/exporter', RoleSessionName: 'cli', ExternalId: 'ext-9' }));
    expect(assumed.AssumedRoleUser!.Arn).toBe('arn:aws:sts::555555555555:assumed-role/exporter/cli');
    sts.destroy();
    controller.abort();
    await running;
  });

  it('stops when its abort signal fires', async () => {
    before = ownSignalListeners();
    const controller = new AbortController();
    const lines: string[] = [];
    const running = runEmulatorCommand(parse(['--port', '0']), { stdout: (l) => lines.push(l), signal: controller.signal });
    await expect.poll(() => lines.length).toBe(3);
    controller.abort();
    await running;
  });

  it('says which port is taken', async () => {
    const blocker = await import('node:net').then(({ createServer }) => createServer());
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    await expect(runEmulatorCommand(parse(['--port', String(port)]), { stdout: () => {} })).rejects.toThrow(`port ${port} on 127.0.0.1 is in use`);
    await new Promise((resolve) => blocker.close(resolve));
  });
});
