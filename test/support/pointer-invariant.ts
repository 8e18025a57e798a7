import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { poolManifestPrefix } from '../../src/storage/output-layout.js';
import type { S3TestServer } from './s3-test-server.js';

/**
 * The invariant DESIGN.md has checked in tests everywhere: every pointer names a snapshot whose
 * manifest and every listed file exist. For each `manifests/user_pool_id=<pool>/latest.json` and
 * `latest-<name>.json` under the destination: the pointer parses and names `snapshot_id` and
 * `manifest_url`; that manifest exists, parses and has the pointer's `snapshot_id` (and the pool);
 * every file it lists (top-level `files` and every `tables.<t>.files`) exists with exactly `bytes`
 * bytes and the `sha256` of the stored bytes.
 *
 * Returns one line per problem, naming the pointer and what is wrong; none when it holds (also when
 * the destination holds no pointer at all).
 */
export async function pointerProblems(destination: string, userPoolId: string, s3?: S3TestServer): Promise<string[]> {
  const store = storeOf(destination, s3);
  const folder = poolManifestPrefix(userPoolId);
  const pointers = (await store.list(folder)).filter((name) => /^latest(-[^/]+)?\.json$/.test(name)).sort();
  const problems: string[] = [];
  for (const name of pointers) {
    const pointer = `${folder}${name}`;
    for (const problem of await pointerIssues(store, pointer, userPoolId)) problems.push(`${pointer}: ${problem}`);
  }
  return problems;
}

/** Throws an Error listing every {@link pointerProblems} problem, one a line. */
export async function expectPointersWhole(destination: string, userPoolId: string, s3?: S3TestServer): Promise<void> {
  const problems = await pointerProblems(destination, userPoolId, s3);
  if (problems.length > 0) {
    throw new Error(`pointers of ${userPoolId} under ${destination} are not whole:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

interface Store {
  /** Names of the objects directly in `folder` (relative to the destination, ending in `/`). */
  list(folder: string): Promise<string[]>;
  /** Bytes of a relative key, or undefined if there is none. */
  readKey(key: string): Promise<Buffer | undefined>;
  /** Bytes of a file:// or s3:// URL, or undefined if there is none; throws for a URL it cannot read. */
  readUrl(url: string): Promise<Buffer | undefined>;
}

const absent = (error: unknown): boolean => {
  const e = error as { code?: string; name?: string; $metadata?: { httpStatusCode?: number } };
  return e.code === 'ENOENT' || e.code === 'ENOTDIR' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
};

async function orAbsent(read: () => Promise<Buffer>): Promise<Buffer | undefined> {
  try {
    return await read();
  } catch (error) {
    if (absent(error)) return undefined;
    throw error;
  }
}

function storeOf(destination: string, s3: S3TestServer | undefined): Store {
  const url = new URL(destination);
  if (url.protocol === 'file:') {
    const root = fileURLToPath(url);
    const readUrl = async (target: string) => {
      if (!target.startsWith('file:')) throw new Error(`${target} is not a file:// URL`);
      return orAbsent(() => readFile(fileURLToPath(target)));
    };
    return {
      async list(folder) {
        try {
          const entries = await readdir(join(root, folder), { withFileTypes: true });
          return entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
        } catch (error) {
          if (absent(error)) return [];
          throw error;
        }
      },
      readKey: (key) => orAbsent(() => readFile(join(root, key))),
      readUrl,
    };
  }
  if (url.protocol === 's3:') {
    if (!s3) throw new Error(`need the S3 test server to read ${destination}`);
    if (url.hostname !== s3.bucket) throw new Error(`${destination} is not in the S3 test server's bucket ${s3.bucket}`);
    const prefix = url.pathname.replace(/^\/+|\/+$/g, '');
    const base = prefix === '' ? '' : `${prefix}/`;
    return {
      async list(folder) {
        const keys = await s3.listKeys(`${base}${folder}`);
        return keys.map((key) => key.slice(`${base}${folder}`.length)).filter((name) => name !== '' && !name.includes('/'));
      },
      readKey: (key) => orAbsent(() => s3.getObject(`${base}${key}`)),
      async readUrl(target) {
        const bucketPrefix = `s3://${s3.bucket}/`;
        if (!target.startsWith(bucketPrefix)) throw new Error(`${target} is not in the S3 test server's bucket ${s3.bucket}`);
        return orAbsent(() => s3.getObject(target.slice(bucketPrefix.length)));
      },
    };
  }
  throw new Error(`${destination} is neither a file:// nor an s3:// destination`);
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function parse(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** What is wrong with one pointer and what it names (without the pointer's name). */
async function pointerIssues(store: Store, pointerKey: string, userPoolId: string): Promise<string[]> {
  const text = await store.readKey(pointerKey);
  if (text === undefined) return ['listed but cannot be read'];
  const pointer = parse(text);
  if (!isObject(pointer)) return ['is not a JSON object'];
  const { snapshot_id: snapshotId, manifest_url: manifestUrl } = pointer;
  if (typeof snapshotId !== 'string' || snapshotId === '') return ['names no snapshot_id'];
  if (typeof manifestUrl !== 'string' || manifestUrl === '') return [`(snapshot ${snapshotId}) names no manifest_url`];
  const named = `snapshot ${snapshotId}, manifest ${manifestUrl}`;

  let manifestBytes: Buffer | undefined;
  try {
    manifestBytes = await store.readUrl(manifestUrl);
  } catch (error) {
    return [`(${named}) the manifest cannot be read: ${(error as Error).message}`];
  }
  if (manifestBytes === undefined) return [`(${named}) the manifest does not exist`];
  const manifest = parse(manifestBytes);
  if (!isObject(manifest)) return [`(${named}) the manifest is not a JSON object`];

  const problems: string[] = [];
  if (manifest.snapshot_id !== snapshotId) problems.push(`(${named}) the manifest's snapshot_id is ${JSON.stringify(manifest.snapshot_id)}`);
  if (manifest.user_pool_id !== userPoolId) problems.push(`(${named}) the manifest's user_pool_id is ${JSON.stringify(manifest.user_pool_id)}`);

  const lists: { where: string; files: unknown }[] = [{ where: 'files', files: manifest.files }];
  if (manifest.tables !== undefined) {
    if (!isObject(manifest.tables)) problems.push(`(${named}) the manifest's tables is not an object`);
    else for (const [table, content] of Object.entries(manifest.tables)) lists.push({ where: `tables.${table}.files`, files: isObject(content) ? content.files : undefined });
  }
  // A file listed twice (the users table's files are both `files` and `tables.users.files`) is one problem, naming both places.
  const issues = new Map<string, { issue: string; where: string[] }>();
  for (const { where, files } of lists) {
    if (!Array.isArray(files)) {
      problems.push(`(${named}) the manifest's ${where} is not a list`);
      continue;
    }
    for (const [i, file] of files.entries()) {
      const id = JSON.stringify(file);
      const seen = issues.get(id);
      if (seen) seen.where.push(`${where}[${i}]`);
      else {
        const issue = await fileIssue(store, file);
        if (issue !== undefined) issues.set(id, { issue, where: [`${where}[${i}]`] });
      }
    }
  }
  for (const { issue, where } of issues.values()) problems.push(`(${named}) ${where.join(', ')}: ${issue}`);
  return problems;
}

/** What is wrong with one listed file, or undefined. */
async function fileIssue(store: Store, file: unknown): Promise<string | undefined> {
  if (!isObject(file) || typeof file.url !== 'string' || typeof file.bytes !== 'number' || typeof file.sha256 !== 'string') {
    return `is not {url, bytes, sha256}: ${JSON.stringify(file)}`;
  }
  const { url, bytes, sha256 } = file;
  let issue: string | undefined;
  try {
    const stored = await store.readUrl(url);
    if (stored === undefined) issue = `${url} does not exist`;
    else {
      const actual = createHash('sha256').update(stored).digest('hex');
      if (stored.length !== bytes) issue = `${url} has ${stored.length} bytes, the manifest says ${bytes}`;
      else if (actual !== sha256) issue = `${url} has sha256 ${actual}, the manifest says ${sha256}`;
    }
  } catch (error) {
    issue = `${url} cannot be read: ${(error as Error).message}`;
  }
  return issue;
}
