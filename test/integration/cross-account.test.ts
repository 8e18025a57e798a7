import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { rateLimitKey } from '../../src/redis/redis-keys.js';
import { readManifest, startHarness, type ExportHarness } from '../support/export-harness.js';
import { startStsRecorder } from '../support/sts-recorder.js';

const ROLE_A = 'arn:aws:iam::111111111111:role/exporter';
const ROLE_B = 'arn:aws:iam::333333333333:role/team/reader';
let emulator: CognitoEmulator;
let scratch: string;
const harnesses: ExportHarness[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  emulator.createRole({ roleArn: ROLE_A, externalId: 'ext-a-1234' });
  emulator.createRole({ roleArn: ROLE_B });
  scratch = await mkdtemp(join(tmpdir(), 'ce-accounts-'));
});

afterEach(async () => {
  for (const harness of harnesses.splice(0)) await harness.close();
});

afterAll(async () => {
  await emulator.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function harness(): Promise<ExportHarness> {
  const h = await startHarness({ cognitoEndpoint: emulator.url, env: { AWS_ENDPOINT_URL_STS: emulator.url } });
  harnesses.push(h);
  return h;
}

describe('pools in other accounts, through a role', () => {
  it('exports two pools of two accounts, each under its own account’s rate-limit bucket', async () => {
    const h = await harness();
    const poolA = emulator.createPoolWithUsers({ users: 400, seed: 801, account: '111111111111', groups: 3 });
    const poolB = emulator.createPoolWithUsers({ users: 300, seed: 802, account: '333333333333' });
    for (const key of [rateLimitKey('111111111111:us-east-1'), rateLimitKey('333333333333:us-east-1')]) await h.runtime.redis.del(key);
    const [a, b] = await Promise.all([
      h.run({ userPoolId: poolA, destination: pathToFileURL(join(scratch, 'a')).href, roleArn: ROLE_A, externalId: 'ext-a-1234' }),
      h.run({ userPoolId: poolB, destination: pathToFileURL(join(scratch, 'b')).href, roleArn: ROLE_B }),
    ]);
    expect([a.error, b.error]).toEqual([undefined, undefined]);
    expect((await readManifest(a.manifestUrl ?? '')).record_count).toBe(400);
    expect((await readManifest(b.manifestUrl ?? '')).record_count).toBe(300);
    // Each account's bucket was drawn on; the worker's own account's was not.
    expect(await h.runtime.redis.exists(rateLimitKey('111111111111:us-east-1'))).toBe(1);
    expect(await h.runtime.redis.exists(rateLimitKey('333333333333:us-east-1'))).toBe(1);
    expect(await h.runtime.redis.exists(rateLimitKey(`${h.config.awsAccountId ?? ''}:us-east-1`))).toBe(0);
    // Without the role the pool is not there, as AWS answers for a pool of another account.
    const alone = await h.run({ userPoolId: poolB, destination: pathToFileURL(join(scratch, 'alone')).href });
    expect(alone.state).toBe('failed');
    expect(alone.error).toMatch(/ResourceNotFoundException/);
  });

  it('fails a run whose external id is wrong, with one line naming the role', async () => {
    const h = await harness();
    const pool = emulator.createPoolWithUsers({ users: 20, seed: 803, account: '111111111111' });
    const status = await h.run({ userPoolId: pool, destination: pathToFileURL(join(scratch, 'wrong')).href, roleArn: ROLE_A, externalId: 'not-the-one' });
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(/^cannot assume role arn:aws:iam::111111111111:role\/exporter \(with the given external_id\): AccessDenied: .*; check the role's trust policy/);
    expect(status.error).not.toContain('\n');
  });

  it("signs the destination's S3 calls with the S3 role's credentials, only when s3_role_arn is set", async () => {
    // An S3 endpoint that records who signed each request and refuses them all.
    const signers: string[] = [];
    const server = createServer((request, response) => {
      signers.push(/Credential=([A-Z0-9]+)\//.exec(request.headers.authorization ?? '')?.[1] ?? '');
      request.resume();
      response.writeHead(403, { 'content-type': 'application/xml' }).end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Both roles' temporary keys start with ASIA: only the key STS issued tells whose a signature is.
    const sts = await startStsRecorder(emulator.url);
    try {
      const h = await startHarness({
        cognitoEndpoint: emulator.url,
        env: { AWS_ENDPOINT_URL_STS: sts.endpoint, AWS_ENDPOINT_URL_S3: endpoint, S3_FORCE_PATH_STYLE: 'true' },
        runtime: { s3: { credentials: { accessKeyId: 'AKIAOWNWORKERKEY', secretAccessKey: 'secret' } } },
      });
      harnesses.push(h);
      const pool = emulator.createPoolWithUsers({ users: 5, seed: 804, account: '111111111111' });
      const viaRole = await h.run({ userPoolId: pool, destination: 's3://partner-bucket/exports', roleArn: ROLE_A, externalId: 'ext-a-1234', s3RoleArn: ROLE_B });
      expect(viaRole.state).toBe('failed');
      expect(viaRole.error).toMatch(/InvalidAccessKeyId/);
      const s3RoleKeys = sts.issued(ROLE_B);
      const cognitoRoleKeys = sts.issued(ROLE_A);
      expect(signers.length).toBeGreaterThan(0);
      expect(new Set(signers), `S3 signed with ${JSON.stringify(signers)}; STS issued ${JSON.stringify(s3RoleKeys)} for the S3 role, ${JSON.stringify(cognitoRoleKeys)} for the Cognito role`).toEqual(new Set(s3RoleKeys));
      signers.length = 0;
      const own = await h.run({ userPoolId: pool, destination: 's3://partner-bucket/exports', roleArn: ROLE_A, externalId: 'ext-a-1234' });
      expect(own.state).toBe('failed');
      expect(new Set(signers)).toEqual(new Set(['AKIAOWNWORKERKEY']));
    } finally {
      server.close();
      await sts.stop();
    }
  });

  it('refuses a malformed role ARN or external id at once', async () => {
    const h = await harness();
    const destination = pathToFileURL(join(scratch, 'bad')).href;
    await expect(h.request({ userPoolId: 'us-east-1_AbC', destination, roleArn: 'exporter' })).rejects.toThrow(/role arn "exporter" is not valid: expected arn:aws:iam::<account>:role\/<name>/);
    await expect(h.request({ userPoolId: 'us-east-1_AbC', destination, roleArn: ROLE_A, externalId: 'x' })).rejects.toThrow(/external id is not valid/);
  });
});
