import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The npm package: what `npm pack` ships (the built product, README, LICENSE; no sources, tests or
 * bench) and its exports map, used the way a consumer does: `import … from 'cognito-export/emulator'`
 * from a project whose node_modules holds the package. `dist/` is built by the global setup.
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// npm and tsc child processes without the test runner's Node flags.
const env = { ...process.env, NODE_OPTIONS: '' };

interface PackResult {
  readonly name: string;
  readonly files: readonly { readonly path: string }[];
}

describe('npm pack', () => {
  let files: string[];

  beforeAll(async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 });
    const [result] = JSON.parse(stdout) as PackResult[];
    files = (result?.files ?? []).map((file) => file.path);
  });

  it('ships the CLI, the emulator entry with its types, the README and the LICENSE', () => {
    expect(files).toEqual(expect.arrayContaining([
      'package.json',
      'README.md',
      'LICENSE',
      'dist/src/cli.js',
      'dist/src/emulator/index.js',
      'dist/src/emulator/index.d.ts',
      'dist/jobs/export-worker.js',
    ]));
  });

  it('ships only the compiled product: no tests, no bench, no TypeScript sources, no maps or build info', () => {
    const outside = files.filter((path) => !/^dist\/(src|jobs)\//.test(path) && !['package.json', 'README.md', 'LICENSE'].includes(path));
    expect(outside).toEqual([]);
    expect(files.filter((path) => /(^|\/)(test|bench)\//.test(path))).toEqual([]);
    expect(files.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((path) => /\.(map|tsbuildinfo)$/.test(path))).toEqual([]);
  });

  it('ships every module the CLI needs (each compiled source of src and jobs)', async () => {
    const { stdout } = await run('git', ['ls-files', 'src', 'jobs'], { cwd: ROOT });
    const modules = stdout.split('\n').filter((path) => path.endsWith('.ts')).map((path) => `dist/${path.replace(/\.ts$/, '.js')}`);
    expect(modules.length).toBeGreaterThan(50);
    expect(modules.filter((path) => !files.includes(path))).toEqual([]);
  });
});

describe('the package exports, as a consumer resolves them', () => {
  let project: string;

  beforeAll(async () => {
    // A consumer project: node_modules/cognito-export is this checkout (as `npm link` makes it).
    project = await mkdtemp(join(tmpdir(), 'ce-consumer-'));
    await mkdir(join(project, 'node_modules'), { recursive: true });
    await symlink(ROOT, join(project, 'node_modules', 'cognito-export'), 'dir');
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  });

  afterAll(async () => {
    await rm(project, { recursive: true, force: true });
  });

  it("imports { CognitoEmulator } from 'cognito-export/emulator', starts it, seeds a pool and stops it", async () => {
    await writeFile(
      join(project, 'use-emulator.mjs'),
      `import { CognitoEmulator, MAX_SEED_USERS } from 'cognito-export/emulator';
import * as main from 'cognito-export';
const emulator = await CognitoEmulator.start({ port: 0 });
const pool = emulator.createPoolWithUsers({ users: 3, seed: 7, name: 'consumer' });
const response = await fetch(emulator.url + '/__emulator/health');
await emulator.stop();
console.log(JSON.stringify({ pool, health: response.status, seedLimit: typeof MAX_SEED_USERS, sameAsMain: main.CognitoEmulator === CognitoEmulator }));
`,
    );
    const { stdout } = await run(process.execPath, ['use-emulator.mjs'], { cwd: project, env });
    const result = JSON.parse(stdout) as { pool: string; health: number; seedLimit: string; sameAsMain: boolean };
    expect(result.pool).toMatch(/^us-east-1_\w+$/);
    expect(result.health).toBe(200);
    expect(result.seedLimit).toBe('number');
    expect(result.sameAsMain).toBe(true);
  });

  it('keeps the internals private: a deep import is refused (ERR_PACKAGE_PATH_NOT_EXPORTED)', async () => {
    await writeFile(join(project, 'deep.mjs'), `await import('cognito-export/dist/src/emulator/emulator-server.js');\n`);
    const failed = await run(process.execPath, ['deep.mjs'], { cwd: project, env }).then(() => undefined, (error: unknown) => error as { stderr: string });
    expect(failed?.stderr).toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it("type-checks a consumer's TypeScript against the exported declarations", async () => {
    await writeFile(
      join(project, 'consumer.ts'),
      `import { CognitoEmulator, type EmulatorOptions } from 'cognito-export/emulator';
const options: EmulatorOptions = { port: 0 };
const emulator: CognitoEmulator = await CognitoEmulator.start(options);
const pool: string = emulator.createPoolWithUsers({ users: 1, seed: 1, name: 'types' });
// @ts-expect-error createPoolWithUsers takes options, not a number: the types are the real ones.
emulator.createPoolWithUsers(5);
await emulator.stop();
export { pool };
`,
    );
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2023', lib: ['ES2023', 'DOM'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true,
          types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, env }).then(
      () => 'ok',
      (error: unknown) => `${(error as { stdout: string }).stdout}`,
    );
    expect(result).toBe('ok');
  });
});
