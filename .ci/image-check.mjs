#!/usr/bin/env node
// @ts-check
/**
 * The Dockerfile's build, without Docker: reads the Dockerfile (.ci/dockerfile.mjs), replays each
 * stage's COPY and RUN lines in a temporary directory that stands for the stage's filesystem, then
 * runs the final stage's ENTRYPOINT with its ENV and WORKDIR:
 *   <entrypoint> --help, <entrypoint> <CMD> --help, <entrypoint> demo (emulator → local files),
 *   the HEALTHCHECK against a worker on a free ADMIN_PORT, and the package's `./emulator` export
 *   loaded with production dependencies only.
 *
 *   node .ci/image-check.mjs [--files tracked|context] [--node image|host] [--users N] [--keep]
 *
 * The build context (what COPY copies from):
 *   --files tracked (default): the files git tracks, as they are in the working tree (uncommitted
 *     edits included, deleted files left out, untracked files left out): what CI's clean clone has
 *     once you commit your edits. `git add` a new file for the check to see it.
 *   --files context: every file under the repository, like `docker build .` on this machine.
 *   Both apply .dockerignore.
 * Node: --node image (default) runs the RUN lines and the entrypoint on the major version of the
 * FROM image (node:24-… → `npx -p node@24`, cached by npm after the first run) unless this Node is
 * that major already; --node host uses this Node.
 * Not replayed: the base image's own files (the host's npm, sh and libc stand in for them), USER
 * and --chown (everything runs as you), EXPOSE. Redis must answer at REDIS_URL (default
 * redis://127.0.0.1:6379); the demo and the worker use a key prefix of their own, deleted at the end.
 * Exits 1 with the failing step on stderr; --keep leaves the stage directories for a look.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { contextFilter, contextMatches, parseDockerfile, posixJoin } from './dockerfile.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const started = Date.now();

const { values: options } = parseArgs({
  options: {
    files: { type: 'string', default: 'tracked' },
    node: { type: 'string', default: 'image' },
    users: { type: 'string', default: '500' },
    keep: { type: 'boolean', default: false },
    dockerfile: { type: 'string', default: 'Dockerfile' },
  },
});
for (const [name, allowed] of /** @type {[ 'files' | 'node', string[] ][]} */ ([['files', ['tracked', 'context']], ['node', ['image', 'host']]])) {
  if (!allowed.includes(options[name])) {
    process.stderr.write(`image-check: --${name} is ${allowed.join(' or ')}, not ${options[name]}\n`);
    process.exit(2);
  }
}

/** A failed step: printed as one `image-check: FAILED:` message, exit code 1. */
class CheckFailed extends Error {}

/** @param {string} message @returns {never} */
function fail(message) {
  throw new CheckFailed(message);
}

/** @param {string} message */
function step(message) {
  process.stderr.write(`image-check [${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
}

// ---- the Dockerfile and the build context ---------------------------------------------------------

const stages = parseDockerfile(readFileSync(resolve(ROOT, options.dockerfile), 'utf8'));
const final = /** @type {import('./dockerfile.mjs').Stage} */ (stages.at(-1));
const keep = contextFilter(existsSync(join(ROOT, '.dockerignore')) ? readFileSync(join(ROOT, '.dockerignore'), 'utf8') : '');

/** @returns {string[]} context-relative paths of the files in the build context */
function contextFiles() {
  if (options.files === 'tracked') {
    const listed = spawnSync('git', ['ls-files', '-z', '--cached'], { cwd: ROOT, encoding: 'utf8' });
    if (listed.status !== 0) fail(`git ls-files: ${listed.stderr}`);
    return listed.stdout.split('\0').filter((path) => path !== '' && keep(path) && existsSync(join(ROOT, path)) && !lstatSync(join(ROOT, path)).isDirectory());
  }
  /** @type {string[]} */
  const out = [];
  /** @param {string} dir */
  const walk = (dir) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
      if (path === '.git' || !keep(path)) continue;
      if (entry.isDirectory()) walk(path);
      else out.push(path);
    }
  };
  walk('');
  return out;
}
const files = contextFiles();
step(`${options.dockerfile}: ${stages.length} stage(s), final image ${final.image}; build context: ${files.length} files (--files ${options.files})`);

// ---- Node --------------------------------------------------------------------------------------------

/**
 * The directory of the `node` binary for an image such as node:24-bookworm-slim.
 * @param {string} image
 */
function nodeDirFor(image) {
  const major = /^(?:docker\.io\/)?(?:library\/)?node:(\d+)/.exec(image)?.[1];
  if (options.node === 'host' || major === undefined || major === process.versions.node.split('.')[0]) return dirname(process.execPath);
  const found = spawnSync('npx', ['-y', '-p', `node@${major}`, '--', 'node', '-p', 'process.execPath'], { cwd: tmpdir(), encoding: 'utf8', env: cleanEnv() });
  const path = found.stdout.trim().split('\n').at(-1) ?? '';
  if (found.status !== 0 || !existsSync(path)) fail(`could not get Node ${major} with npx -p node@${major} (try --node host): ${found.stderr}`);
  return dirname(path);
}

/** This process's environment without what npm, a test runner or the caller's Node settings add. */
function cleanEnv() {
  /** @type {Record<string, string>} */
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^npm_/i.test(name) || ['NODE_ENV', 'NODE_OPTIONS', 'INIT_CWD', 'VITEST', 'VITEST_WORKER_ID', 'VITEST_POOL_ID'].includes(name)) continue;
    env[name] = value;
  }
  return env;
}

/**
 * The environment of a RUN line or of the container: the host's, the stage's ENV, and the Node
 * of the image first on PATH.
 * @param {Record<string, string>} stageEnv
 * @param {string} nodeDir
 * @returns {Record<string, string>}
 */
function envFor(stageEnv, nodeDir) {
  const env = { ...cleanEnv(), ...stageEnv };
  env.PATH = `${nodeDir}:${stageEnv.PATH ?? process.env.PATH ?? ''}`;
  return env;
}

// ---- replaying the stages ------------------------------------------------------------------------------

const base = mkdtempSync(join(tmpdir(), 'image-check-'));
/** @type {string[]} a temporary directory per stage, standing for its filesystem's root */
const roots = stages.map((_stage, i) => join(base, `stage-${i}`));
/** @type {string[]} */
const nodeDirs = [];
/** @type {(() => Promise<void>)[]} */
const cleanups = [];

/**
 * A path inside the image as a path on this machine.
 * @param {number} stage
 * @param {string} path absolute, inside the image
 */
const onDisk = (stage, path) => join(/** @type {string} */ (roots[stage]), path);

/**
 * @param {number} index
 * @param {import('./dockerfile.mjs').Copy} copy
 * @param {string} workdir
 */
function replayCopy(index, copy, workdir) {
  const destAbs = copy.dest.startsWith('/') ? copy.dest : posixJoin(workdir, copy.dest);
  const destIsDir = copy.dest.endsWith('/') || copy.dest === '.' || copy.sources.length > 1;
  const dest = onDisk(index, destAbs);
  if (copy.from !== undefined) {
    const from = /^\d+$/.test(copy.from) ? Number(copy.from) : stages.findIndex((stage) => stage.name === copy.from);
    if (from < 0 || from >= index) fail(`Dockerfile:${copy.line}: COPY --from=${copy.from}: no such earlier stage (images are not supported)`);
    for (const source of copy.sources) {
      const path = onDisk(from, posixJoin('/', source));
      if (!existsSync(path)) fail(`Dockerfile:${copy.line}: COPY --from=${copy.from} ${source}: not found in that stage`);
      const target = statSync(path).isDirectory() || !destIsDir ? dest : join(dest, source.split('/').at(-1) ?? '');
      mkdirSync(dirname(target), { recursive: true });
      cpSync(path, target, { recursive: true, verbatimSymlinks: true, force: true });
    }
    return;
  }
  for (const source of copy.sources) {
    const matches = contextMatches(files, source);
    if (matches.length === 0) fail(`Dockerfile:${copy.line}: COPY ${source}: not in the build context (tracked by git and not in .dockerignore?)`);
    const single = matches.length === 1 && matches[0]?.path === posixJoin('/', source).slice(1);
    for (const match of matches) {
      const target = single && !destIsDir ? dest : join(dest, match.relative);
      mkdirSync(dirname(target), { recursive: true });
      cpSync(join(ROOT, match.path), target, { force: true, verbatimSymlinks: true });
    }
  }
}

async function main() {
  for (const [index, stage] of stages.entries()) {
    const nodeDir = nodeDirFor(stage.image);
    nodeDirs.push(nodeDir);
    const nodeVersion = spawnSync(join(nodeDir, 'node'), ['--version'], { encoding: 'utf8' }).stdout.trim();
    step(`stage ${index}${stage.name ? ` (${stage.name})` : ''}: FROM ${stage.image} → Node ${nodeVersion} in ${roots[index]}`);
    mkdirSync(onDisk(index, '/'), { recursive: true });
    for (const item of stage.steps) {
      mkdirSync(onDisk(index, item.workdir), { recursive: true });
      if (item.kind === 'COPY') {
        const { copy } = item;
        step(`  COPY ${copy.from ? `--from=${copy.from} ` : ''}${copy.sources.join(' ')} ${copy.dest}`);
        replayCopy(index, copy, item.workdir);
        continue;
      }
      const shown = item.shell ? item.command[0] : JSON.stringify(item.command);
      step(`  RUN ${shown}`);
      const [command = '', ...args] = item.shell ? ['sh', '-c', item.command[0] ?? ''] : item.command;
      const ran = spawnSync(command, args, { cwd: onDisk(index, item.workdir), env: envFor(item.env, nodeDir), stdio: ['ignore', 'inherit', 'inherit'] });
      if (ran.status !== 0) fail(`Dockerfile:${item.line}: RUN ${shown} exited with ${ran.status ?? ran.signal}`);
    }
  }

  // ---- the final image ----------------------------------------------------------------------------------

  const finalIndex = stages.length - 1;
  const app = onDisk(finalIndex, final.workdir);
  const finalNode = /** @type {string} */ (nodeDirs[finalIndex]);
  const entrypoint = final.entrypoint ?? [];
  if (entrypoint.length === 0) fail('the final stage has no ENTRYPOINT');
  const prefix = `{ce-image-check-${randomBytes(4).toString('hex')}}`;
  /** @type {Record<string, string>} */
  const containerEnv = { ...envFor(final.env, finalNode), REDIS_KEY_PREFIX: prefix };
  step(`final image: WORKDIR ${final.workdir}, ENV ${Object.entries(final.env).map(([name, value]) => `${name}=${value}`).join(' ')}`);
  cleanups.push(() => deleteKeys(app, containerEnv.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix));

  /**
   * Runs the entrypoint with `args` in the final image, as `docker run IMAGE args…` would.
   * @param {string[]} args
   * @param {Record<string, string>} [extraEnv]
   * @param {number} [timeoutMs]
   */
  const run = (args, extraEnv = {}, timeoutMs = 60_000) => {
    const [command = '', ...rest] = [...entrypoint, ...args];
    step(`  docker run … ${args.join(' ')}`);
    const ran = spawnSync(command, rest, { cwd: app, env: { ...containerEnv, ...extraEnv }, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    if (ran.status !== 0) fail(`${[...entrypoint, ...args].join(' ')} exited with ${ran.status ?? ran.signal}\n${ran.stdout}\n${ran.stderr}`);
    return ran;
  };

  const help = run(['--help']);
  if (!/Usage: cognito-export/.test(help.stdout)) fail(`--help printed no usage:\n${help.stdout}`);
  const cmd = final.cmd ?? [];
  const cmdHelp = run([...cmd, '--help']);
  if (!/Usage: cognito-export/.test(cmdHelp.stdout)) fail(`${cmd.join(' ')} --help printed no usage:\n${cmdHelp.stdout}`);

  const exportsDir = join(base, 'exports');
  const demo = run(['demo', '--users', options.users, '--destination', pathToFileURL(exportsDir).href], {}, 180_000);
  const manifestUrl = demo.stdout.trim().split('\n').at(-1) ?? '';
  if (!manifestUrl.startsWith('file://') || !existsSync(fileURLToPath(manifestUrl))) fail(`demo: no manifest at the URL it printed last (${manifestUrl})\n${demo.stdout}`);
  const manifest = /** @type {{ files?: unknown[] }} */ (readJson(fileURLToPath(manifestUrl)));
  if (!Array.isArray(manifest.files) || manifest.files.length === 0) fail(`demo: the manifest lists no files: ${JSON.stringify(manifest)}`);
  step(`  demo: ${options.users} users exported, manifest ${manifestUrl}`);

  if (final.healthcheck !== undefined) await checkHealth(app, containerEnv, entrypoint, cmd, final.healthcheck);
  checkEmulatorExport(app, containerEnv);

  step('OK: the image builds from the build context and its entrypoint runs');
}

try {
  await main();
} catch (error) {
  process.stderr.write(`image-check: FAILED: ${error instanceof CheckFailed ? error.message : String(error instanceof Error ? error.stack : error)}\n`);
  process.exitCode = 1;
} finally {
  for (const cleanup of cleanups) await cleanup().catch((error) => step(`cleanup: ${String(error)}`));
  if (options.keep) step(`kept ${base}`);
  else rmSync(base, { recursive: true, force: true });
}

/**
 * Starts the CMD (the worker) on a free ADMIN_PORT and runs the HEALTHCHECK's CMD in the
 * container's environment: healthy while the worker runs, unhealthy once it stopped. A free port
 * (not the default) shows the check follows ADMIN_PORT.
 * @param {string} app
 * @param {Record<string, string>} env
 * @param {string[]} entrypoint
 * @param {string[]} cmd
 * @param {string} healthcheck
 */
async function checkHealth(app, env, entrypoint, cmd, healthcheck) {
  const port = String(await freePort());
  const workerEnv = { ...env, ADMIN_PORT: port, ADMIN_HOST: '127.0.0.1' };
  const [command = '', ...args] = [...entrypoint, ...cmd];
  step(`  docker run … ${cmd.join(' ')} (ADMIN_PORT=${port}), then HEALTHCHECK`);
  const worker = spawn(command, args, { cwd: app, env: workerEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  worker.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const exited = new Promise((resolve) => worker.once('exit', (code, signal) => resolve(code ?? signal)));
  const probe = () => spawnSync('sh', ['-c', healthcheck], { cwd: app, env: workerEnv, encoding: 'utf8', timeout: 3_000 }).status;
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (worker.exitCode !== null) fail(`the worker exited with ${worker.exitCode} before it was healthy\n${stderr}`);
      if (probe() === 0) break;
      if (Date.now() > deadline) fail(`HEALTHCHECK never passed within 30 s on ADMIN_PORT=${port}\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    step('  HEALTHCHECK: healthy');
  } finally {
    worker.kill('SIGTERM');
    const killer = setTimeout(() => worker.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
  }
  if (probe() === 0) fail(`HEALTHCHECK passed with the worker stopped: it does not probe ADMIN_PORT=${port}`);
  step('  HEALTHCHECK: unhealthy once the worker stopped');
}

/**
 * `import('<package>/emulator')` from inside the final image (the package's own exports map, with
 * production dependencies only), then starts and stops an emulator.
 * @param {string} app
 * @param {Record<string, string>} env
 */
function checkEmulatorExport(app, env) {
  const pkg = /** @type {{ name?: string, exports?: Record<string, unknown> }} */ (readJson(join(app, 'package.json')));
  if (!pkg.exports?.['./emulator']) {
    step('  (package.json exports no ./emulator: skipped)');
    return;
  }
  const script = `const { CognitoEmulator } = await import('${pkg.name}/emulator');
const emulator = await CognitoEmulator.start({ port: 0 });
const pool = emulator.createPoolWithUsers({ users: 5, seed: 1, name: 'image-check' });
await emulator.stop();
console.log(pool);`;
  step(`  node -e "import('${pkg.name}/emulator') …" (production dependencies only)`);
  const ran = spawnSync('node', ['--input-type=module', '-e', script], { cwd: app, env, encoding: 'utf8', timeout: 30_000 });
  if (ran.status !== 0) fail(`importing ${pkg.name}/emulator in the image failed:\n${ran.stdout}\n${ran.stderr}`);
}

/**
 * @param {string} path
 * @returns {unknown}
 */
function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/**
 * `require(id)` as a module of the package at `dir` would.
 * @param {string} dir
 * @param {string} id
 * @returns {unknown}
 */
function requireFrom(dir, id) {
  return createRequire(join(dir, 'package.json'))(id);
}

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Deletes the keys the demo and the worker wrote under their prefix (ioredis from the image).
 * @param {string} app
 * @param {string} url
 * @param {string} prefix
 */
async function deleteKeys(app, url, prefix) {
  const { Redis } = /** @type {typeof import('ioredis')} */ (requireFrom(app, 'ioredis'));
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
