import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/app-config.js';
import { compareAndSwapFile } from '../../src/storage/file-cas.js';
import { FileSink, STAGING_FOLDER } from '../../src/storage/file-sink.js';

let scratch: string;
let umask: number;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ce-modes-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

beforeEach(() => {
  // The usual umask of a service: files 0644 and folders 0755 unless the code says otherwise.
  umask = process.umask(0o022);
});

afterEach(() => {
  process.umask(umask);
});

/** Every file and folder under `root` (the root included) with its permission bits. */
async function modesUnder(root: string): Promise<Map<string, { kind: 'file' | 'folder'; mode: number }>> {
  const found = new Map<string, { kind: 'file' | 'folder'; mode: number }>();
  const walk = async (path: string): Promise<void> => {
    const info = await stat(path);
    found.set(path, { kind: info.isDirectory() ? 'folder' : 'file', mode: info.mode & 0o7777 });
    if (info.isDirectory()) for (const entry of await readdir(path)) await walk(join(path, entry));
  };
  await walk(root);
  return found;
}

/** Writes through every path a FileSink creates files by: preflight probe, staged file, publish, manifest, pointer (lock + rename). */
async function exercise(sink: FileSink): Promise<void> {
  await sink.preflight();
  const writer = await sink.openStaged('users/user_pool_id=eu-west-1_A/dt=2026-01-01/run=x/part-0-00000.ndjson', 'user_pool_id=eu-west-1_A/run=x/users/part-0-00000.t.ndjson');
  writer.stream.end('{"a":1}\n');
  await new Promise((resolve) => writer.stream.once('close', resolve));
  await writer.commit();
  await sink.putText('manifests/user_pool_id=eu-west-1_A/dt=2026-01-01/run=x.json', '{}');
  expect(await sink.putIfVersion('manifests/user_pool_id=eu-west-1_A/latest.json', '{}', 'application/json', null)).toBe(true);
}

describe('files a FileSink creates', () => {
  it('are 0600 and its folders 0700 by default under umask 022, the destination folder and staging included', async () => {
    const root = join(scratch, 'default', 'nested', 'dest');
    await exercise(new FileSink(root));
    const modes = await modesUnder(join(scratch, 'default'));
    expect([...modes.values()].filter((m) => m.kind === 'file').length).toBeGreaterThanOrEqual(3);
    for (const [path, { kind, mode }] of modes) {
      if (path === join(scratch, 'default')) continue;
      expect(mode.toString(8), path).toBe(kind === 'file' ? '600' : '700');
    }
    expect(modes.get(join(root, STAGING_FOLDER))?.mode).toBe(0o700);
  });

  it('take FILE_MODE and DIR_MODE as given, for a group of readers', async () => {
    const root = join(scratch, 'group', 'dest');
    const config = loadConfig({ FILE_MODE: '0640', DIR_MODE: '750' });
    await exercise(new FileSink(root, { fileMode: config.fileMode, dirMode: config.dirMode }));
    for (const [path, { kind, mode }] of await modesUnder(root)) expect(mode.toString(8), path).toBe(kind === 'file' ? '640' : '750');
  });

  it('are given their mode even under a umask stricter than the setting', async () => {
    process.umask(0o077);
    const root = join(scratch, 'strict', 'dest');
    await exercise(new FileSink(root, { fileMode: 0o640, dirMode: 0o750 }));
    for (const [path, { kind, mode }] of await modesUnder(root)) expect(mode.toString(8), path).toBe(kind === 'file' ? '640' : '750');
  });

  it('hold a pointer lock created 0600 while the pointer is replaced', async () => {
    const lock = join(scratch, 'lock-test');
    let seen = -1;
    await compareAndSwapFile(join(scratch, 'pointer'), lock, null, async () => {
      seen = (await stat(lock)).mode & 0o777;
    });
    expect(seen.toString(8)).toBe('600');
  });
});

describe('FILE_MODE and DIR_MODE', () => {
  it('default to 0600 and 0700', () => {
    expect(loadConfig({})).toMatchObject({ fileMode: 0o600, dirMode: 0o700 });
  });

  it.each([
    ['FILE_MODE', '644', 'FILE_MODE="644" is invalid: expected a mode with no access for others and no write access for the group, such as 0640'],
    ['FILE_MODE', '0400', 'FILE_MODE="0400" is invalid: expected a mode that gives the owner at least 0600'],
    ['FILE_MODE', 'rw-r-----', 'FILE_MODE="rw-r-----" is invalid: expected an octal mode of files such as 0600'],
    ['DIR_MODE', '0777', 'DIR_MODE="0777" is invalid: expected a mode with no access for others and no write access for the group, such as 0750'],
    ['FILE_MODE', '0660', 'FILE_MODE="0660" is invalid: expected a mode with no access for others and no write access for the group, such as 0640'],
    ['DIR_MODE', '0600', 'DIR_MODE="0600" is invalid: expected a mode that gives the owner at least 0700'],
    ['DIR_MODE', '8', 'DIR_MODE="8" is invalid: expected an octal mode of folders such as 0700'],
  ])('refuse %s=%s with one line', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
