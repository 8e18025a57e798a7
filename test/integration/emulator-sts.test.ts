import { CognitoIdentityProviderClient, ListUsersCommand } from '@aws-sdk/client-cognito-identity-provider';
import type { CognitoIdentityProviderClientConfig } from '@aws-sdk/client-cognito-identity-provider';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { Credentials, STSClientConfig } from '@aws-sdk/client-sts';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator, DEFAULT_FAULTS } from '../../src/emulator/index.js';
import { failureOf } from '../support/service-failure.js';

const EXPORTER = 'arn:aws:iam::111111111111:role/exporter';
const GUARDED = 'arn:aws:iam::222222222222:role/team/guarded';
const STATIC = { accessKeyId: 'AKIASTATICEXAMPLE', secretAccessKey: 'secret' };

let emulator: CognitoEmulator;
let sts: STSClient;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ randomSeed: 21, accountId: '999999999999', roles: [{ roleArn: EXPORTER }] });
  emulator.createRole({ roleArn: GUARDED, externalId: 'ext-123' });
  sts = stsClient(STATIC);
});

afterEach(() => emulator.setFaults(DEFAULT_FAULTS));

afterAll(async () => {
  sts.destroy();
  await emulator.stop();
});

function stsClient(credentials: STSClientConfig['credentials']): STSClient {
  return new STSClient({ endpoint: emulator.url, region: emulator.region, credentials, maxAttempts: 1 });
}

function temporary(credentials: Credentials): { accessKeyId: string; secretAccessKey: string; sessionToken: string } {
  return { accessKeyId: credentials.AccessKeyId!, secretAccessKey: credentials.SecretAccessKey!, sessionToken: credentials.SessionToken! };
}

async function untilPast(moment: Date): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, moment.getTime() - Date.now()) + 50));
}

describe('STS on the emulator, through @aws-sdk/client-sts', () => {
  it('answers GetCallerIdentity for static keys as the default account\'s root', async () => {
    expect(await sts.send(new GetCallerIdentityCommand({}))).toMatchObject({
      Account: '999999999999',
      Arn: 'arn:aws:iam::999999999999:root',
      UserId: '999999999999',
    });
  });

  it('assumes a registered role: credentials of the role\'s account, expiring after DurationSeconds', async () => {
    const before = Date.now();
    const answer = await sts.send(new AssumeRoleCommand({ RoleArn: EXPORTER, RoleSessionName: 'nightly-export', DurationSeconds: 900 }));
    expect(answer.$metadata.httpStatusCode).toBe(200);
    expect(answer.AssumedRoleUser).toEqual({
      Arn: 'arn:aws:sts::111111111111:assumed-role/exporter/nightly-export',
      AssumedRoleId: expect.stringMatching(/^AROA[A-Z2-7]{17}:nightly-export$/) as string,
    });
    const credentials = answer.Credentials!;
    expect(credentials.AccessKeyId).toMatch(/^ASIA/);
    expect(credentials.Expiration).toBeInstanceOf(Date);
    expect(credentials.Expiration!.getTime() % 1000).toBe(0);
    expect(credentials.Expiration!.getTime()).toBeGreaterThanOrEqual(before + 900_000);
    expect(credentials.Expiration!.getTime()).toBeLessThanOrEqual(Date.now() + 901_000);

    const assumed = stsClient(temporary(credentials));
    expect(await assumed.send(new GetCallerIdentityCommand({}))).toMatchObject({
      Account: '111111111111',
      Arn: answer.AssumedRoleUser!.Arn,
      UserId: answer.AssumedRoleUser!.AssumedRoleId,
    });
    assumed.destroy();
  });

  it('defaults DurationSeconds to an hour and validates it, and the session name, as STS does', async () => {
    const answer = await sts.send(new AssumeRoleCommand({ RoleArn: EXPORTER, RoleSessionName: 's' + 'x' }));
    expect(answer.Credentials!.Expiration!.getTime() - Date.now()).toBeGreaterThan(3_590_000);
    expect(await failureOf(sts.send(new AssumeRoleCommand({ RoleArn: EXPORTER, RoleSessionName: 'ok', DurationSeconds: 899 })))).toEqual({
      name: 'ValidationError',
      message: "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
      status: 400,
    });
    expect((await failureOf(sts.send(new AssumeRoleCommand({ RoleArn: EXPORTER, RoleSessionName: 'ok', DurationSeconds: 43_201 })))).message).toContain(
      'less than or equal to 43200',
    );
    expect((await failureOf(sts.send(new AssumeRoleCommand({ RoleArn: EXPORTER, RoleSessionName: 'has space' })))).message).toBe(
      "1 validation error detected: Value 'has space' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
    );
  });

  it('denies an unregistered role, and a missing or wrong ExternalId, with AccessDenied (HTTP 403) and AWS\'s message', async () => {
    const denied = (role: string): { name: string; message: string; status: number } => ({
      name: 'AccessDenied',
      message: `User: arn:aws:iam::999999999999:root is not authorized to perform: sts:AssumeRole on resource: ${role}`,
      status: 403,
    });
    const unknown = 'arn:aws:iam::111111111111:role/not-registered';
    expect(await failureOf(sts.send(new AssumeRoleCommand({ RoleArn: unknown, RoleSessionName: 'x1' })))).toEqual(denied(unknown));
    expect(await failureOf(sts.send(new AssumeRoleCommand({ RoleArn: GUARDED, RoleSessionName: 'x1' })))).toEqual(denied(GUARDED));
    expect(await failureOf(sts.send(new AssumeRoleCommand({ RoleArn: GUARDED, RoleSessionName: 'x1', ExternalId: 'ext-999' })))).toEqual(denied(GUARDED));
    const ok = await sts.send(new AssumeRoleCommand({ RoleArn: GUARDED, RoleSessionName: 'x1', ExternalId: 'ext-123' }));
    expect(ok.AssumedRoleUser!.Arn).toBe('arn:aws:sts::222222222222:assumed-role/guarded/x1');
  });

  it('names the assumed role as the caller when temporary credentials assume another role', async () => {
    const first = await sts.send(new AssumeRoleCommand({ RoleArn: EXPORTER, RoleSessionName: 'hop' }));
    const chained = stsClient(temporary(first.Credentials!));
    expect((await failureOf(chained.send(new AssumeRoleCommand({ RoleArn: GUARDED, RoleSessionName: 'hop2' })))).message).toBe(
      `User: ${first.AssumedRoleUser!.Arn} is not authorized to perform: sts:AssumeRole on resource: ${GUARDED}`,
    );
    chained.destroy();
  });

  it('refuses a forged session token and expired credentials as STS does', async () => {
    const { Credentials: credentials } = await sts.send(new AssumeRoleCommand({ RoleArn: EXPORTER, RoleSessionName: 'forged' }));
    const forged = stsClient({ ...temporary(credentials!), sessionToken: 'not-the-token' });
    expect(await failureOf(forged.send(new GetCallerIdentityCommand({})))).toEqual({
      name: 'InvalidClientTokenId',
      message: 'The security token included in the request is invalid.',
      status: 403,
    });
    forged.destroy();
    emulator.setFaults({ sessionDurationSeconds: 1 });
    const short = await sts.send(new AssumeRoleCommand({ RoleArn: EXPORTER, RoleSessionName: 'short', DurationSeconds: 3600 }));
    expect(short.Credentials!.Expiration!.getTime() - Date.now()).toBeLessThanOrEqual(2000);
    await untilPast(short.Credentials!.Expiration!);
    const expired = stsClient(temporary(short.Credentials!));
    expect(await failureOf(expired.send(new GetCallerIdentityCommand({})))).toEqual({
      name: 'ExpiredToken',
      message: 'The security token included in the request is expired',
      status: 400,
    });
    expired.destroy();
  });

  it('answers an unknown Action with InvalidAction and forced errors in STS\'s XML', async () => {
    const response = await fetch(emulator.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'Action=GetSessionToken&Version=2011-06-15',
    });
    expect(response.status).toBe(400);
    const xml = await response.text();
    expect(xml).toContain('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidAction</Code>');
    expect(xml).toMatch(/<\/Error><RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>/);
    emulator.setFaults({ forcedErrors: { AssumeRole: { code: 'RegionDisabledException', status: 403, message: 'STS is not activated in this region' } } });
    expect(await failureOf(sts.send(new AssumeRoleCommand({ RoleArn: EXPORTER, RoleSessionName: 'forced' })))).toEqual({
      name: 'RegionDisabledException',
      message: 'STS is not activated in this region',
      status: 403,
    });
  });
});

describe('Cognito with temporary credentials', () => {
  it('needs the matching session token, and answers ExpiredTokenException after Expiration', async () => {
    const UserPoolId = emulator.createPoolWithUsers({ users: 3, account: '111111111111' });
    const { Credentials: credentials } = await sts.send(new AssumeRoleCommand({ RoleArn: EXPORTER, RoleSessionName: 'cognito' }));
    const withToken = cognito(temporary(credentials!));
    expect((await withToken.send(new ListUsersCommand({ UserPoolId }))).Users).toHaveLength(3);
    const withoutToken = cognito({ accessKeyId: credentials!.AccessKeyId!, secretAccessKey: credentials!.SecretAccessKey! });
    expect(await failureOf(withoutToken.send(new ListUsersCommand({ UserPoolId })))).toEqual({
      name: 'UnrecognizedClientException',
      message: 'The security token included in the request is invalid.',
      status: 400,
    });
    emulator.setFaults({ sessionDurationSeconds: 1 });
    const { Credentials: short } = await sts.send(new AssumeRoleCommand({ RoleArn: EXPORTER, RoleSessionName: 'short' }));
    const expiring = cognito(temporary(short!));
    await untilPast(short!.Expiration!);
    expect(await failureOf(expiring.send(new ListUsersCommand({ UserPoolId })))).toEqual({
      name: 'ExpiredTokenException',
      message: 'The security token included in the request is expired',
      status: 400,
    });
    for (const client of [withToken, withoutToken, expiring]) client.destroy();
  });

  it('works with fromTemporaryCredentials, which refreshes credentials before they expire', async () => {
    const UserPoolId = emulator.createPoolWithUsers({ users: 5, account: '222222222222' });
    emulator.setFaults({ sessionDurationSeconds: 1 });
    emulator.resetStats();
    const client = cognito(
      fromTemporaryCredentials({
        masterCredentials: STATIC,
        params: { RoleArn: GUARDED, ExternalId: 'ext-123', RoleSessionName: 'refreshing', DurationSeconds: 900 },
        clientConfig: { endpoint: emulator.url, region: emulator.region },
      }),
    );
    const started = Date.now();
    let calls = 0;
    while (Date.now() - started < 3000) {
      expect((await client.send(new ListUsersCommand({ UserPoolId }))).Users).toHaveLength(5);
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const stats = emulator.stats();
    expect(stats.errors).toEqual({});
    expect(stats.calls.AssumeRole).toBeGreaterThan(1);
    expect(stats.accounts['222222222222']!.calls.ListUsers).toBe(calls);
    expect(stats.accounts['999999999999']!.calls.AssumeRole).toBe(stats.calls.AssumeRole);
    client.destroy();
  });
});

function cognito(credentials: CognitoIdentityProviderClientConfig['credentials']): CognitoIdentityProviderClient {
  return new CognitoIdentityProviderClient({ endpoint: emulator.url, region: emulator.region, credentials, maxAttempts: 1 });
}
