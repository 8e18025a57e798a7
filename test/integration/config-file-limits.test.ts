import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/worker-process.js';

const POOL = '  - user_pool_id: eu-west-1_AbCdEf123\n    destination: s3://my-bucket/cognito\n    schedule: "0 2 * * *"\n';
let directory = '';

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'config-file-limits-'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('a config file the worker refuses at start (exit 2, one line)', () => {
  it('over 1 MiB', async () => {
    const path = join(directory, 'huge.yaml');
    await writeFile(path, `pools:\n${POOL.replace('AbCdEf123', 'Pool').repeat(15_000)}`);
    const { code, stderr } = await runCli(['worker', '--config', path], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([expect.stringContaining(`${path}: is larger than 1 MiB (1048576 bytes)`)]);
  });

  it('that references a secret, without printing it', async () => {
    const path = join(directory, 'secret.yaml');
    await writeFile(path, `pools:\n${POOL}    destination: "s3://my-bucket/\${PSEUDONYMIZATION_KEY}"\n`.replace('    destination: s3://my-bucket/cognito\n', ''));
    const key = 'Kx9vQ2mP7zL4wR8tY6Kx9vQ2mP7zL4wR8tY6';
    const { code, stderr } = await runCli(['schedule', 'apply', '--config', path], { PSEUDONYMIZATION_KEY: key, REDIS_URL: 'redis://127.0.0.1:1' });
    expect(code).toBe(2);
    expect(stderr).toContain('${PSEUDONYMIZATION_KEY} names a secret');
    for (let i = 0; i + 4 <= key.length; i++) expect(stderr).not.toContain(key.slice(i, i + 4));
  });
});
