import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CONFIG_FILE_MAX_BYTES, ConfigFileError, loadExportConfig, parseExportConfig } from '../../src/config/config-file.js';

const SOURCE = 'cognito-export.yaml';
const POOL = 'user_pool_id: eu-west-1_AbCdEf123\n    destination: s3://my-bucket/cognito\n    schedule: "0 2 * * *"';

/** The one-line message parsing `text` throws. */
function errorOf(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseExportConfig(text, { source: SOURCE, env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as Error).message).not.toContain('\n');
    return (error as Error).message;
  }
  throw new Error('expected parseExportConfig to throw');
}

/** Fails when `message` holds `value` or any 4 characters in a row of it. */
function expectNoPieceOf(message: string, value: string): void {
  for (let i = 0; i + 4 <= value.length; i++) {
    expect(message, `holds ${JSON.stringify(value.slice(i, i + 4))} of the value`).not.toContain(value.slice(i, i + 4));
  }
}

describe('values substituted from the environment are never echoed', () => {
  const secretish = 'Zq8vX2mWkP0tLr9sYb4n';

  it.each([
    ['role_arn', `role_arn: "\${PARTNER_ROLE}"`, { PARTNER_ROLE: `arn:aws:iam::1:${secretish}` }],
    ['s3_role_arn', `s3_role_arn: "\${PARTNER_ROLE}"`, { PARTNER_ROLE: secretish }],
    ['destination', `destination: "\${DEST}"`, { DEST: `ftp://${secretish}` }],
    ['an attribute list', `attributes: "\${ATTRS}"`, { ATTRS: `email,${secretish}!` }],
    ['a filter', `filter: "\${FILTER}"`, { FILTER: `email ^= ${secretish}` }],
    ['shards', `shards: "\${SHARDS}"`, { SHARDS: secretish }],
    ['region', `region: "\${REGION}"`, { REGION: `us-${secretish}-1` }],
    ['the external id', `role_arn: arn:aws:iam::111111111111:role/x\n    external_id: "\${EXT}"`, { EXT: `${secretish} with spaces` }],
  ])('in a problem with %s', (_what, line, env) => {
    // The pool's own line of that key gives way to the test's.
    const key = line.split(':')[0] ?? '';
    const pool = POOL.split('\n    ').filter((own) => !own.startsWith(`${key}:`)).join('\n    ');
    const message = errorOf(`pools:\n  - ${pool}\n    ${line}\n`, env);
    expect(message).toMatch(/^cognito-export\.yaml: pools\[0\]/);
    const problem = message.replace(/^cognito-export\.yaml: pools\[0\](\.\w+)?: /, '');
    for (const value of Object.values(env)) expectNoPieceOf(problem, value);
  });

  it('in a problem of the whole pool (a duplicate id from the environment)', () => {
    const message = errorOf(`pools:\n  - ${POOL}\n  - user_pool_id: "\${POOL_ID}"\n    destination: s3://my-bucket/other\n    schedule: "0 2 * * *"\n`, { POOL_ID: 'eu-west-1_AbCdEf123' });
    expectNoPieceOf(message.replace(`${SOURCE}: `, '').replace(/pools\[\d\]/g, ''), 'AbCdEf123');
  });
});

describe('secrets cannot be referenced from the config file', () => {
  it.each(['PSEUDONYMIZATION_KEY', 'ADMIN_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'ROLE_EXTERNAL_IDS', 'MINIO_ROOT_PASSWORD', 'GITHUB_TOKEN'])('${%s} is refused, naming the variable and not its value', (name) => {
    const value = 'Kx9vQ2mP7zL4wR8tY6';
    const message = errorOf(`pools:\n  - ${POOL}\n    external_id: "\${${name}}"\n    role_arn: arn:aws:iam::111111111111:role/x\n`, { [name]: value });
    expect(message).toContain(`\${${name}} names a secret`);
    expectNoPieceOf(message, value);
  });

  it('even with a fallback, and when the variable is unset', () => {
    expect(errorOf(`pools:\n  - ${POOL}\n    external_id: "\${ADMIN_TOKEN:-x0}"\n    role_arn: arn:aws:iam::111111111111:role/x\n`)).toContain('${ADMIN_TOKEN} names a secret');
  });
});

describe('the config file as a file', () => {
  let directory = '';
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'config-file-secrets-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('is refused over 1 MiB with one line naming the file and the cap', async () => {
    expect(CONFIG_FILE_MAX_BYTES).toBe(1024 * 1024);
    const path = join(directory, 'huge.yaml');
    await writeFile(path, `pools:\n${`  - ${POOL.replace('AbCdEf123', 'Pool')}\n`.repeat(15_000)}`);
    const error = await loadExportConfig(path, {}).then(() => undefined, (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(ConfigFileError);
    expect(error?.message).toBe(`${path}: is larger than 1 MiB (1048576 bytes), the most a config file may be`);
  });

  it('is read only up to the cap, even from a file that never ends', async () => {
    const error = await loadExportConfig('/dev/zero', {}).then(() => undefined, (e: unknown) => e as Error);
    expect(error?.message).toMatch(/^\/dev\/zero: is larger than 1 MiB/);
  });

  it('has its content kept out of messages: a file that is not a config file', async () => {
    const path = join(directory, 'shadow');
    for (const content of ['root:$6$saltsalt$Zq8vX2mWkP0tLr9sYb4nHashHash:19000:0:99999:7:::\n', 'Zq8vX2mWkP0tLr9sYb4nHashHash\n']) {
      await writeFile(path, content);
      const error = await loadExportConfig(path, {}).then(() => undefined, (e: unknown) => e as Error);
      expect(error).toBeInstanceOf(ConfigFileError);
      expectNoPieceOf(error?.message.replace(path, '') ?? '', 'Zq8vX2mWkP0tLr9sYb4nHashHash');
    }
  });

  it('has its content kept out of YAML errors and process warnings', async () => {
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      for (const content of ['pools: *Zq8vX2mWkP0tLr9sYb4n\n', '? [Zq8vX2mWkP0tLr9sYb4n]\n: 1\n', 'pools: !Zq8vX2mWkP0tLr9sYb4n\n  - a\n']) {
        const path = join(directory, 'odd.yaml');
        await writeFile(path, content);
        const error = await loadExportConfig(path, {}).then(() => undefined, (e: unknown) => e as Error);
        expect(error, content).toBeInstanceOf(ConfigFileError);
        expectNoPieceOf(error?.message.replace(path, '') ?? '', 'Zq8vX2mWkP0tLr9sYb4n');
      }
      expect(warnings.mock.calls.map((call) => String(call[0]))).toEqual([]);
    } finally {
      warnings.mockRestore();
    }
  });
});
