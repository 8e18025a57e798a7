import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, TEST_REDIS_URL, testPrefix } from '../support/redis-test-prefix.js';
import { CLI } from '../support/worker-process.js';

/**
 * The walkthroughs the docs show, run as written (`npm run demo` and `npm run cli --` become the
 * built CLI they run) by bash in an empty directory: a reader who copies them gets change tables.
 */
const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url);
let scratch: string;
const prefix = testPrefix();

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ce-walkthrough-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
  await deletePrefix(prefix);
});

/** The first ```sh block after `marker` in a page. */
async function blockAfter(page: string, marker: string): Promise<string> {
  const text = await readFile(new URL(page, ROOT), 'utf8');
  const at = text.indexOf(marker);
  expect(at, `${marker} in ${page}`).toBeGreaterThanOrEqual(0);
  const start = text.indexOf('```sh\n', at) + '```sh\n'.length;
  return text.slice(start, text.indexOf('```\n', start));
}

async function bash(script: string, cwd: string): Promise<{ stdout: string; stderr: string }> {
  const commands = script.replaceAll('npm run demo --', `node ${CLI} demo`).replaceAll('npm run demo', `node ${CLI} demo`).replaceAll('npm run cli --', `node ${CLI}`);
  return run('bash', ['-euo', 'pipefail', '-c', commands], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: cwd, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 240_000,
  });
}

describe('the walkthroughs', () => {
  it("README: a demo, a demo with 25 users changed through Cognito's Admin* calls, and the change tables read back", { timeout: 240_000 }, async () => {
    const cwd = await mkdtemp(join(scratch, 'readme-'));
    const { stdout, stderr } = await bash(await blockAfter('README.md', '<!-- walkthrough: change tables'), cwd);
    expect(stderr).toMatch(/changed 25 users through Cognito's Admin\* calls: 5 updated, 4 disabled, 4 deleted, 4 created, 4 added to a group, 4 removed from a group/);
    expect(stderr).toMatch(/users \+4 inserted, 9 updated, 4 deleted since \S+; groups \+0 inserted, 0 updated, 0 deleted; memberships \+\d+ inserted, \d+ deleted/);
    // What the two `zcat … | head -3` print: the lines after the second demo's last line, its manifest URL.
    const lines = stdout.trimEnd().split('\n');
    const afterDemo = lines.slice(lines.findLastIndex((line) => /^file:\/\/.*\/manifests\/.*\.json$/.test(line)) + 1);
    const changes = afterDemo.map((line) => JSON.parse(line) as { op: string; from_snapshot_id: string; group_name?: string });
    // Three user changes, then three membership changes, as the two `zcat … | head -3` print them.
    expect(changes).toHaveLength(6);
    expect(changes.slice(0, 3).every((change) => change.group_name === undefined && ['insert', 'update', 'delete'].includes(change.op))).toBe(true);
    expect(changes.slice(3).every((change) => typeof change.group_name === 'string' && ['insert', 'delete'].includes(change.op))).toBe(true);
    // The first demo printed every table, and said how to see change tables.
    expect(stdout).toMatch(/\ngroups: 20 records in 1 files; the first lines of file:\/\//);
    expect(stdout).toMatch(/\ngroup_memberships: \d+ records in \d+ files; the first lines of file:\/\//);
    expect(stdout).toMatch(/no change tables: no previous complete snapshot of this dataset; run `npm run demo -- --change 25`/);
  });

  it('docs/emulator.md: an export, a user created and added to a group with curl, an export again', { timeout: 180_000 }, async () => {
    const cwd = await mkdtemp(join(scratch, 'emulator-'));
    // A free port of its own instead of 9325 (tests run side by side); the emulator is stopped at the end.
    const port = String(40_000 + Math.floor(Math.random() * 20_000));
    const script = (await blockAfter('docs/emulator.md', '### Change a user and export again')).replaceAll('9325', port);
    const { stdout, stderr } = await bash(`${script}\nkill %1`, cwd);
    expect(stderr).toMatch(/users \+1 inserted, 0 updated, 0 deleted since \S+; groups \+0 inserted, 0 updated, 0 deleted; memberships \+1 inserted, 0 deleted/);
    const change = JSON.parse(stdout.trimEnd().split('\n').at(-1) ?? '') as { username: string; op: string };
    expect(change).toMatchObject({ username: 'ana', op: 'insert' });
  });
});
