/**
 * The service's config file: which pools to export, where and when. YAML (so JSON too), snake_case
 * keys, `defaults` merged under every pool, `${VAR}` references to the environment. Values go through
 * the same validators as an export request, so a file that loads makes runs that start.
 */
import { open } from 'node:fs/promises';
import { regionOfUserPool } from '../cognito/cognito-client.js';
import { buildRunSpec, DEFAULT_SHARDS, type ExportRequest, ExportRequestError } from '../runs/export-request.js';
import type { ShardCount } from '../runs/shard-plan.js';
import type { DataFormat } from '../storage/output-layout.js';
import { type AppConfig, loadConfig } from './app-config.js';
import { DEFAULT_TIMEZONE } from './cron-schedule.js';
import { unknownKey } from './key-suggestion.js';
import {
  type Context,
  DEFAULT_KEYS,
  describe,
  FIELDS,
  INVALID,
  type Invalid,
  isMapping,
  type Key,
  keyPath,
  POOL_KEYS,
  report,
  type Section,
  type Values,
} from './pool-fields.js';
import { parseYamlDocument } from './yaml-document.js';

/** One pool of the file with defaults applied: what its schedule exports, and when. */
export interface ScheduledPool {
  readonly userPoolId: string;
  /** Written in the file, or undefined: the region then comes from the pool id. */
  readonly region: string | undefined;
  /** After `${VAR}` substitution, as written (`s3://bucket/prefix` or `file:///dir`). */
  readonly destination: string;
  /** The cron pattern as written: 5 fields, or 6 with seconds first. */
  readonly schedule: string;
  /** IANA zone the schedule is read in. @default 'UTC' */
  readonly timezone: string;
  /** 1 whenever a filter is set. @default 16 */
  readonly shards: ShardCount;
  /** The ListUsers filter as written, or null for the whole pool. */
  readonly filter: string | null;
  /** Attributes to keep, or null for all. */
  readonly attributes: readonly string[] | null;
  /** `ndjson` or `parquet`, for every table. @default 'ndjson' */
  readonly format: DataFormat;
  /** @default true */
  readonly gzip: boolean;
  /** Export the pool's groups and memberships too. @default true */
  readonly groups: boolean;
  /** Write change tables against the previous snapshot. @default true */
  readonly changes: boolean;
  /** Attributes dropped from every record. @default [] */
  readonly excludeAttributes: readonly string[];
  /** Fields pseudonymized (`username`, attributes) under PSEUDONYMIZATION_KEY. @default [] */
  readonly pseudonymize: readonly string[];
  /** A role in the pool's account to assume for Cognito, and its ExternalId. @default undefined */
  readonly roleArn: string | undefined;
  readonly externalId: string | undefined;
  /** A role to assume for the destination's S3 calls. @default undefined */
  readonly s3RoleArn: string | undefined;
  /** The Glue database runs register their partitions in, and its tables' name prefix. @default undefined */
  readonly glueDatabase: string | undefined;
  readonly glueTablePrefix: string | undefined;
  /** ListUsers calls/s for the pool's account and region; undefined uses COGNITO_RATE_LIMIT_RPS. */
  readonly rateLimitRps: number | undefined;
  /** Retention: keep the newest N snapshots. @default null (keep all) */
  readonly keepLast: number | null;
}

/** A parsed, validated config file. */
export interface ExportConfigFile {
  readonly pools: readonly ScheduledPool[];
}

/**
 * A config file that cannot be used. The message is one line: every problem as
 * `<source>: <key path>: <what is wrong>`, joined by "; " (YAML syntax errors: only the first).
 */
export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
  /** Each problem on its own, in file order, in the same form as in the message. */
  readonly issues: readonly string[];

  constructor(issues: string | readonly string[], options?: ErrorOptions) {
    const list = typeof issues === 'string' ? [issues] : issues;
    super(list.join('; '), options);
    this.issues = Object.freeze([...list]);
  }
}

export { DEFAULT_TIMEZONE, nextRuns } from './cron-schedule.js';

/** Options of {@link parseExportConfig}. */
export interface ParseExportConfigOptions {
  /** Names the file in every message, e.g. its path. */
  readonly source: string;
  /** Where `${VAR}` references are read from. @default process.env */
  readonly env?: NodeJS.ProcessEnv | undefined;
}

/**
 * Parses and validates a config file's text; `source` names the file in messages. Throws
 * {@link ConfigFileError} listing every problem found.
 */
export function parseExportConfig(text: string, options: ParseExportConfigOptions): ExportConfigFile {
  if (Buffer.byteLength(text, 'utf8') > CONFIG_FILE_MAX_BYTES) throw new ConfigFileError([tooLarge(options.source)]);
  const parsed = parseYamlDocument(text, options.source);
  if (parsed.problem !== undefined) throw new ConfigFileError([parsed.problem]);
  const root = parsed.value;
  const context: Context = { env: options.env ?? process.env, issues: [], inserted: [] };
  const pools = readPools(root, context);
  if (context.issues.length > 0) throw new ConfigFileError(context.issues.map((issue) => `${options.source}: ${issue}`));
  return Object.freeze({ pools: Object.freeze(pools) });
}

/**
 * Reads the file and parses it. An unreadable or missing file is a {@link ConfigFileError} with the
 * path and the OS reason, e.g. `cognito-export.yaml: cannot be read (ENOENT: no such file or directory)`.
 */
export async function loadExportConfig(path: string, env?: NodeJS.ProcessEnv): Promise<ExportConfigFile> {
  let text: string | undefined;
  try {
    text = await readCapped(path, CONFIG_FILE_MAX_BYTES);
  } catch (error) {
    // Node appends ", open '<path>'"; the path already leads the message.
    const reason = (error as Error).message.replace(/, \w+ '.*'$/s, '');
    throw new ConfigFileError([`${path}: cannot be read (${reason})`], { cause: error });
  }
  if (text === undefined) throw new ConfigFileError([tooLarge(path)]);
  return parseExportConfig(text, { source: path, env });
}

/**
 * The most a config file may hold: far more than any real file (a pool takes a few hundred bytes),
 * far less than what would exhaust a worker's memory in parsing (200,000 pools took 1.7 GB).
 */
export const CONFIG_FILE_MAX_BYTES = 1024 * 1024;

const tooLarge = (source: string) => `${source}: is larger than 1 MiB (${CONFIG_FILE_MAX_BYTES} bytes), the most a config file may be`;

/**
 * The file's text, or undefined when it holds more than `cap` bytes. Reads at most `cap + 1`
 * bytes, so a file that never ends (a FIFO, /dev/zero) or grows while read is refused too.
 */
async function readCapped(path: string, cap: number): Promise<string | undefined> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(cap + 1);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled > cap ? undefined : buffer.subarray(0, filled).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** The request one schedule tick of `pool` makes (trigger `schedule`), for {@link buildRunSpec}. */
export function scheduledRequest(pool: ScheduledPool): ExportRequest {
  return {
    userPoolId: pool.userPoolId,
    destination: pool.destination,
    region: pool.region,
    shards: pool.shards,
    filter: pool.filter,
    attributes: pool.attributes,
    format: pool.format,
    gzip: pool.gzip,
    groups: pool.groups,
    changes: pool.changes,
    excludeAttributes: pool.excludeAttributes,
    pseudonymize: pool.pseudonymize,
    roleArn: pool.roleArn,
    externalId: pool.externalId,
    s3RoleArn: pool.s3RoleArn,
    glueDatabase: pool.glueDatabase,
    glueTablePrefix: pool.glueTablePrefix,
    rateLimitRps: pool.rateLimitRps,
    keepLast: pool.keepLast,
    trigger: 'schedule',
  };
}

const ROOT_KEYS = ['defaults', 'pools'];

// ---- Sections and pools --------------------------------------------------------------------------

function readPools(root: unknown, context: Context): ScheduledPool[] {
  if (root !== null && !isMapping(root)) {
    // Not quoted: a file that is no config file at all (a wrong --config) may hold anything.
    const got = typeof root === 'string' ? 'a string' : describe(root);
    report(context, '', `expected a mapping with defaults and pools, got ${got}`);
    return [];
  }
  const top = root ?? {};
  for (const key of Object.keys(top)) {
    if (!ROOT_KEYS.includes(key)) report(context, keyPath('', key), unknownKey(key, ROOT_KEYS));
  }
  const defaults = top['defaults'] == null ? {} : readSection(top['defaults'], 'defaults', context);
  const list = top['pools'];
  // An empty list is a file that removes every schedule: `schedule apply --prune` takes it.
  if (!Array.isArray(list)) {
    const got = list === undefined ? '' : `, got ${describe(list)}`;
    report(context, 'pools', `expected a list of pools${got}`);
    return [];
  }
  const pools: ScheduledPool[] = [];
  const seen = new Map<string, number>();
  list.forEach((raw: unknown, index) => {
    const at = `pools[${index}]`;
    const own = readSection(raw, at, context);
    if (own === INVALID) return;
    const id = own.userPoolId;
    if (typeof id === 'string') {
      const first = seen.get(id);
      if (first === undefined) seen.set(id, index);
      else report(context, `${at}.user_pool_id`, `${id} is listed twice (also pools[${first}])`);
    }
    const pool = defaults === INVALID ? undefined : assemble(own, defaults, at, context);
    if (pool !== undefined) pools.push(pool);
  });
  return pools;
}

function readSection(raw: unknown, at: string, context: Context): Section | Invalid {
  const inDefaults = at === 'defaults';
  if (!isMapping(raw)) {
    const expected = inDefaults ? 'settings for every pool' : 'user_pool_id, destination and schedule';
    return report(context, at, `expected a mapping with ${expected}, got ${describe(raw)}`);
  }
  const section: Section = {};
  for (const [key, value] of Object.entries(raw)) {
    const spec = Object.hasOwn(FIELDS, key) ? FIELDS[key as Key] : undefined;
    if (spec === undefined || (inDefaults && spec.perPoolOnly)) {
      const problem = spec ? `unknown key (${key} can only be set per pool)` : unknownKey(key, inDefaults ? DEFAULT_KEYS : POOL_KEYS);
      report(context, keyPath(at, key), problem);
      continue;
    }
    // One table drives every key; the cast joins each key's parser to its own property.
    (section as Record<string, unknown>)[spec.prop] = value === null ? null : spec.parse(value, keyPath(at, key), context);
  }
  return section;
}

/** A pool with defaults under it; undefined (with the problems reported) when anything is wrong. */
function assemble(own: Section, defaults: Section, at: string, context: Context): ScheduledPool | undefined {
  // A key the pool writes, even as null, hides the default.
  const merged: Section = { ...defaults, ...own };
  let broken = Object.values(merged).includes(INVALID);
  for (const [prop, key] of REQUIRED) {
    if (merged[prop] != null) continue;
    broken = true;
    report(context, at, `${key} is required${prop === 'userPoolId' ? '' : ' (on the pool or in defaults)'}`);
  }
  // Every INVALID was ruled out just above.
  const values = merged as { [K in keyof Values]?: Values[K] | null };
  const { userPoolId, destination, schedule, region, filter = null } = values;
  if (broken || userPoolId == null || destination == null || schedule == null) return undefined;
  if (region != null && region !== regionOfUserPool(userPoolId)) {
    report(context, `${at}.region`, `${JSON.stringify(region)} does not match the region of ${userPoolId}`);
    return undefined;
  }
  // buildRunSpec makes a filtered run one shard; a pool that asks for more contradicts its own filter.
  if (filter !== null && own.shards != null && own.shards !== 1) {
    report(context, `${at}.shards`, `a filter makes the run one shard: remove shards or set it to 1, got ${String(own.shards)}`);
    return undefined;
  }
  const pool: ScheduledPool = Object.freeze({
    userPoolId,
    region: region ?? undefined,
    destination,
    schedule,
    timezone: values.timezone ?? DEFAULT_TIMEZONE,
    shards: filter === null ? (values.shards ?? DEFAULT_SHARDS) : 1,
    filter,
    attributes: values.attributes == null ? null : Object.freeze([...values.attributes]),
    format: values.format ?? 'ndjson',
    gzip: values.gzip ?? true,
    groups: values.groups ?? true,
    changes: values.changes ?? true,
    excludeAttributes: Object.freeze([...(values.excludeAttributes ?? [])]),
    pseudonymize: Object.freeze([...(values.pseudonymize ?? [])]),
    roleArn: values.roleArn ?? undefined,
    externalId: values.externalId ?? undefined,
    s3RoleArn: values.s3RoleArn ?? undefined,
    glueDatabase: values.glueDatabase ?? undefined,
    glueTablePrefix: values.glueTablePrefix ?? undefined,
    rateLimitRps: values.rateLimitRps ?? undefined,
    keepLast: values.keepLast ?? null,
  });
  // Each key was checked with buildRunSpec's own validators; this keeps the file honest if they grow.
  try {
    buildRunSpec(scheduledRequest(pool), backstopConfig(), new Date(0));
  } catch (error) {
    if (!(error instanceof ExportRequestError)) throw error;
    report(context, at, error.message);
    return undefined;
  }
  return pool;
}

const REQUIRED = [
  ['userPoolId', 'user_pool_id'],
  ['destination', 'destination'],
  ['schedule', 'schedule'],
] as const;

let defaultConfig: AppConfig | undefined;
function backstopConfig(): AppConfig {
  // A stand-in key: whether the worker has the real one is checked where the file is used.
  defaultConfig ??= { ...loadConfig({}), pseudonymizationKey: 'a stand-in key of at least 32 bytes' };
  return defaultConfig;
}
