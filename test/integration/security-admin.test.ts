import * as crypto from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startAdminServer } from '../../jobs/admin-port.js';
import { loadConfig } from '../../src/config/app-config.js';
import { parseExportConfig } from '../../src/config/config-file.js';
import { adminRolePolicy } from '../../src/config/role-policy.js';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { serveAdmin, type AdminEndpoints, type AdminServer } from '../../src/ops/admin-server.js';
import { createLogger } from '../../src/ops/logger.js';
import { ExportMetrics } from '../../src/ops/metrics.js';
import type { ExportRequest } from '../../src/runs/export-request.js';
import { startHarness, type ExportHarness } from '../support/export-harness.js';
import { deletePrefix, TEST_REDIS_URL, testPrefix } from '../support/redis-test-prefix.js';
import { eventually, spawnCli } from '../support/worker-process.js';

// Spies on the compare, to see that every wrong token reaches it the same way whatever its length.
vi.mock('node:crypto', async (original) => {
  const actual = await original<typeof crypto>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const TOKEN = 'test-admin-token-0123456789';
const ALLOWED = 'arn:aws:iam::111111111111:role/exporter';
const FROM_FILE = 'arn:aws:iam::222222222222:role/scheduled-exporter';
const OTHER = 'arn:aws:iam::999999999999:role/anything';
const WRITER = 'arn:aws:iam::333333333333:role/writer';

const servers: AdminServer[] = [];
const triggered: ExportRequest[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  triggered.length = 0;
  vi.mocked(crypto.timingSafeEqual).mockClear();
});

/** An admin port over stubs: a trigger that records what it was asked, a dashboard that says hello. */
async function admin(overrides: Partial<AdminEndpoints> = {}): Promise<AdminServer> {
  const config = loadConfig({ ALLOWED_ROLE_ARNS: `${ALLOWED}, ${WRITER}`, ROLE_EXTERNAL_IDS: `${ALLOWED}=ext-from-the-server` });
  const file = parseExportConfig(
    `pools:\n  - user_pool_id: us-east-1_Sched\n    destination: s3://exports/scheduled\n    schedule: "0 2 * * *"\n    role_arn: ${FROM_FILE}\n    external_id: ext-from-the-file\n`,
    { source: 'schedules.yaml', env: {} },
  );
  const endpoints: AdminEndpoints = {
    log: createLogger('silent', { pretty: false }),
    metrics: new ExportMetrics(),
    ping: () => Promise.resolve('PONG'),
    workerRunning: () => true,
    trigger: (request) => {
      triggered.push(request);
      return Promise.resolve({ snapshotId: 'snap-1', created: true, pointer: 'latest.json' });
    },
    status: () => Promise.resolve(undefined),
    cancel: () => Promise.resolve({ kind: 'unknown' }),
    allowedDestinations: ['s3://exports/'],
    roles: adminRolePolicy(config, file.pools),
    dashboard: (_request, response) => void response.writeHead(200, { 'content-type': 'text/html' }).end('<html>board</html>'),
    ...overrides,
  };
  const server = await serveAdmin(endpoints, { host: '127.0.0.1', port: 0, token: TOKEN });
  servers.push(server);
  return server;
}

async function post(server: AdminServer, body: unknown, authorization = `Bearer ${TOKEN}`): Promise<{ status: number; error?: string; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${server.url}/exports`, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify(body) });
  const answer = (await response.json()) as { error?: string };
  return { status: response.status, ...(answer.error === undefined ? {} : { error: answer.error }), ms: performance.now() - started };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const request = { user_pool_id: 'us-east-1_AbC', destination: 's3://exports/x' };

describe('the admin token', () => {
  it('is matched exactly: a leading space, or a token inside a longer one, is a wrong token', async () => {
    const server = await admin();
    // Trailing spaces never reach the server: HTTP strips a field value's trailing whitespace (RFC 9110 5.5).
    for (const given of [` ${TOKEN}`, `\t${TOKEN}`, `  ${TOKEN}`, `${TOKEN} x`, TOKEN.slice(0, -1)]) {
      expect((await post(server, request, `Bearer ${given}`)).status, JSON.stringify(given)).toBe(403);
    }
    expect(triggered).toEqual([]);
    expect((await post(server, request)).status).toBe(202);
  });

  it('opens the dashboard with HTTP Basic only for the user admin', async () => {
    const server = await admin();
    const page = (authorization: string) => fetch(`${server.url}/dashboard`, { headers: { authorization } });
    expect((await page(basic('admin', TOKEN))).status).toBe(200);
    for (const user of ['root', '', 'Admin', 'admin ']) expect((await page(basic(user, TOKEN))).status, JSON.stringify(user)).toBe(403);
    expect((await page(`Basic ${Buffer.from(TOKEN).toString('base64')}`)).status).toBe(403);
  });

  it('compares wrong tokens of any length the same way: digests of equal size, never a length check first', async () => {
    const server = await admin();
    const compare = vi.mocked(crypto.timingSafeEqual);
    for (const wrong of ['x', 'y'.repeat(TOKEN.length), 'z'.repeat(TOKEN.length * 4)]) {
      compare.mockClear();
      expect((await post(server, request, `Bearer ${wrong}`)).status).toBe(403);
      expect(compare, `a ${wrong.length}-character token`).toHaveBeenCalledTimes(1);
      const [a, b] = compare.mock.calls[0] ?? [];
      expect([(a as Buffer).length, (b as Buffer).length]).toEqual([32, 32]);
    }
  });

  it('answers a failed attempt only after a delay', async () => {
    const server = await admin();
    const wrong = await post(server, request, 'Bearer not-the-token-at-all-xxxx');
    expect(wrong.status).toBe(403);
    expect(wrong.ms).toBeGreaterThanOrEqual(240);
    const started = performance.now();
    const badUser = await fetch(`${server.url}/dashboard`, { headers: { authorization: basic('root', TOKEN) } });
    expect(badUser.status).toBe(403);
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
    expect((await post(server, request)).status).toBe(202);
  });
});

describe('pools over HTTP', () => {
  it('exports only the pools of ALLOWED_POOLS and the config file when it is set (403 otherwise), any pool when it is not', async () => {
    const limited = await admin({ allowedPools: ['us-east-1_AbC', 'us-east-1_Sched'] });
    const refused = await post(limited, { ...request, user_pool_id: 'us-east-1_Other' });
    expect(refused.status).toBe(403);
    expect(refused.error).toBe(
      'user pool "us-east-1_Other" is not allowed: POST /exports exports only the pools in ALLOWED_POOLS (set on the worker, comma-separated pool ids) or of the worker\'s --config file',
    );
    expect(triggered).toEqual([]);
    expect((await post(limited, request)).status).toBe(202);
    expect(triggered.map((r) => r.userPoolId)).toEqual(['us-east-1_AbC']);
    const open = await admin();
    expect((await post(open, { ...request, user_pool_id: 'us-east-1_Other' })).status).toBe(202);
  });

  it('forgets only the pools of ALLOWED_POOLS too: DELETE /pools of another pool is 403 and forgets nothing', async () => {
    const forgotten: string[] = [];
    const forget = (pool: string) => {
      forgotten.push(pool);
      return Promise.resolve({ kind: 'forgotten' as const, kept: false });
    };
    const limited = await admin({ allowedPools: ['us-east-1_AbC'], forget });
    const del = (pool: string) => fetch(`${limited.url}/pools/${pool}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    const refused = await del('us-east-1_Other');
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toBe(
      'user pool "us-east-1_Other" is not allowed: DELETE /pools forgets only the pools in ALLOWED_POOLS (set on the worker, comma-separated pool ids) or of the worker\'s --config file',
    );
    expect(forgotten).toEqual([]);
    expect((await del('us-east-1_AbC')).status).toBe(200);
    expect(forgotten).toEqual(['us-east-1_AbC']);
  });

  it('reads ALLOWED_POOLS as comma-separated pool ids, and refuses anything else with one line', () => {
    expect(loadConfig({ ALLOWED_POOLS: ' eu-west-1_AbC , us-east-1_Xy9 ' }).allowedPools).toEqual(['eu-west-1_AbC', 'us-east-1_Xy9']);
    expect(loadConfig({}).allowedPools).toBeUndefined();
    expect(() => loadConfig({ ALLOWED_POOLS: 'eu-west-1_AbC,my-pool' })).toThrow(
      'ALLOWED_POOLS="eu-west-1_AbC,my-pool" is invalid: expected comma-separated user pool ids such as eu-west-1_AbC123',
    );
  });
});

describe('roles over HTTP', () => {
  it('assumes only roles of ALLOWED_ROLE_ARNS or the config file: others are 403 naming the role and the setting', async () => {
    const server = await admin();
    const refused = await post(server, { ...request, role_arn: OTHER });
    expect(refused.status).toBe(403);
    expect(refused.error).toContain(OTHER);
    expect(refused.error).toContain('ALLOWED_ROLE_ARNS');
    expect(refused.error).not.toContain('\n');
    const s3Refused = await post(server, { ...request, role_arn: ALLOWED, s3_role_arn: OTHER });
    expect(s3Refused.status).toBe(403);
    expect(s3Refused.error).toContain(OTHER);
    expect(triggered).toEqual([]);

    expect((await post(server, { ...request, role_arn: ALLOWED })).status).toBe(202);
    expect((await post(server, { ...request, role_arn: FROM_FILE })).status).toBe(202);
    expect((await post(server, { ...request, role_arn: ALLOWED, s3_role_arn: WRITER })).status).toBe(202);
    // The external id is the server's: ROLE_EXTERNAL_IDS, or the config file's pool entry.
    expect(triggered.map((r) => [r.roleArn, r.s3RoleArn, r.externalId])).toEqual([
      [ALLOWED, undefined, 'ext-from-the-server'],
      [FROM_FILE, undefined, 'ext-from-the-file'],
      [ALLOWED, WRITER, 'ext-from-the-server'],
    ]);
  });

  it('refuses a caller-supplied external_id with one line', async () => {
    const server = await admin();
    const answer = await post(server, { ...request, role_arn: ALLOWED, external_id: 'guessed' });
    expect(answer.status).toBe(400);
    expect(answer.error).toMatch(/^external_id is not accepted over HTTP: .*ROLE_EXTERNAL_IDS/);
    expect(answer.error).not.toContain('\n');
    expect(triggered).toEqual([]);
  });

  it('assumes no role at all when the worker allows none', async () => {
    const server = await admin({ roles: undefined });
    expect((await post(server, { ...request, role_arn: ALLOWED })).status).toBe(403);
    expect((await post(server, request)).status).toBe(202);
  });
});

describe('a role the worker cannot assume', () => {
  let emulator: CognitoEmulator;
  let scratch: string;
  let harness: ExportHarness | undefined;

  beforeAll(async () => {
    emulator = await CognitoEmulator.start({ port: 0 });
    scratch = await mkdtemp(join(tmpdir(), 'ce-security-admin-'));
  });

  afterAll(async () => {
    await harness?.close();
    await emulator.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it("fails the run naming the role, without the worker's own principal in GET /exports/<id>", async () => {
    harness = await startHarness({ cognitoEndpoint: emulator.url, env: { AWS_ENDPOINT_URL_STS: emulator.url } });
    const pool = emulator.createPoolWithUsers({ users: 5, seed: 1801, account: '111111111111' });
    // No such role: STS answers "User: <the worker's ARN> is not authorized to perform: sts:AssumeRole on …".
    const status = await harness.run({ userPoolId: pool, destination: pathToFileURL(join(scratch, 'out')).href, roleArn: ALLOWED });
    expect(status.state).toBe('failed');
    const server = await startAdminServer(harness.runtime, harness.queues, harness.worker, { host: '127.0.0.1', port: 0, token: TOKEN, dashboard: false });
    servers.push(server);
    const view = (await (await fetch(`${server.url}/exports/${status.spec.snapshotId}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { error: string };
    for (const reason of [status.error ?? '', view.error]) {
      expect(reason).toMatch(/^cannot assume role arn:aws:iam::111111111111:role\/exporter: AccessDenied/);
      const arns = (reason.match(/arn:[\w-]+:(iam|sts)::\d{12}:[^\s,;)]+/g) ?? []).map((arn) => arn.replace(/:$/, ''));
      expect(new Set(arns), reason).toEqual(new Set([ALLOWED]));
      expect(reason).not.toContain('\n');
    }
  });
});

describe("the worker's log line", () => {
  it('states the address the admin port is bound to, all interfaces included', async () => {
    for (const [host, expected] of [[undefined, /^http:\/\/0\.0\.0\.0:\d+$/], ['127.0.0.1', /^http:\/\/127\.0\.0\.1:\d+$/]] as const) {
      const prefix = testPrefix();
      const child = spawnCli(['worker'], {
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        AWS_REGION: 'us-east-1',
        AWS_ACCOUNT_ID: '123456789012',
        ADMIN_PORT: '0',
        LOG_LEVEL: 'info',
        ...(host === undefined ? {} : { ADMIN_HOST: host }),
      });
      try {
        const line = await eventually(() => Promise.resolve(child.stderr().split('\n').find((l) => l.includes('worker started'))), 20_000, 'a worker to start');
        const admin = (JSON.parse(line) as { admin?: string }).admin ?? '';
        expect(admin, line).toMatch(expected);
        expect((await fetch(`http://127.0.0.1:${new URL(admin).port}/healthz`)).status).toBe(200);
      } finally {
        child.child.kill('SIGTERM');
        await child.exited();
        await deletePrefix(prefix);
      }
    }
  });
});
