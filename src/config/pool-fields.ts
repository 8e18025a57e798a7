/**
 * The keys of one pool (or `defaults`) in the config file: each key's parser, in one table, using the
 * same validators as an export request, and the reporting every parser shares (a problem is reported
 * once, at its key path, and the value marked INVALID so nothing downstream reports it again).
 */
import { attributesProblem, destinationProblem, filterProblem, poolIdProblem, rangeMessage } from '../runs/export-request-fields.js';
import { parseShardCount, SHARD_COUNTS, type ShardCount } from '../runs/shard-plan.js';
import { parseAttributeList } from '../tables/user-record.js';
import { DATA_FORMATS, type DataFormat } from '../storage/output-layout.js';
import { glueNameError } from '../warehouse/glue-catalog.js';
import { cronProblem, timeZoneProblem } from './cron-schedule.js';
import { type Inserted, substituteEnvironment } from './environment-reference.js';

/** Where a file is being read: the environment for `${VAR}`, and the problems found so far. */
export interface Context {
  readonly env: NodeJS.ProcessEnv;
  /** `<key path>: <problem>`, in file order. */
  readonly issues: string[];
  /** Every value put in for a `${VAR}` so far: no problem message may show any piece of one. */
  readonly inserted: Inserted[];
}

/** Marks a value already reported as bad, so nothing downstream reports it again. */
export const INVALID = Symbol('invalid');
export type Invalid = typeof INVALID;

/**
 * Records a problem at key path `at` and returns the INVALID marker. A problem that would show a
 * piece of a value from the environment is replaced by one naming the variables only.
 */
export function report(context: Context, at: string, problem: string): Invalid {
  const shown = context.inserted.filter((inserted) => showsPieceOf(problem, inserted.text));
  const safe = shown.length === 0 ? problem : hiddenProblem(shown.map((inserted) => inserted.name));
  context.issues.push(at === '' ? safe : `${at}: ${safe}`);
  return INVALID;
}

/** The characters in a row that count as a piece of a value (shorter values: the whole value). */
const PIECE = 4;

/** True when `message` holds `value`, or PIECE characters in a row of it. */
function showsPieceOf(message: string, value: string): boolean {
  if (value.length <= PIECE) return message.includes(value);
  for (let i = 0; i + PIECE <= value.length; i++) if (message.includes(value.slice(i, i + PIECE))) return true;
  return false;
}

/** A problem with a value from the environment, naming the variables and never their values. */
function hiddenProblem(names: readonly string[], what?: string): string {
  const references = [...new Set(names)].map((name) => `\${${name}}`).join(', ');
  return `${what === undefined ? 'not valid' : `expected ${what}`} with the value of ${references} (values from the environment are not shown)`;
}

/** Parsed values by property; `filter` parses to null when blank, as buildRunSpec reads it. */
export interface Values {
  userPoolId: string;
  region: string;
  destination: string;
  schedule: string;
  timezone: string;
  shards: ShardCount;
  filter: string | null;
  attributes: readonly string[];
  format: DataFormat;
  gzip: boolean;
  groups: boolean;
  changes: boolean;
  excludeAttributes: readonly string[];
  pseudonymize: readonly string[];
  roleArn: string;
  externalId: string;
  s3RoleArn: string;
  glueDatabase: string;
  glueTablePrefix: string;
  rateLimitRps: number;
  keepLast: number;
}

/** One mapping (`defaults` or a pool), as parsed: a key written `null` clears the default. */
export type Section = { -readonly [K in keyof Values]?: Values[K] | null | Invalid };

export type Parse<T> = (value: unknown, at: string, context: Context) => T | Invalid;

/** A string key, after `${VAR}` substitution, that `problem` accepts; `what` says what is expected. */
const textField =
  (what: string, problem: (text: string) => string | undefined = () => undefined): Parse<string> =>
  (value, at, context) => {
    if (typeof value !== 'string') return report(context, at, `expected ${what}, got ${describe(value)}`);
    const substituted = substitute(value, at, context);
    if (substituted === INVALID) return INVALID;
    const found = problem(substituted.text);
    if (found === undefined) return substituted.text;
    // The validators quote what they were given: with a value from the environment, say only what was expected.
    return report(context, at, substituted.names.length === 0 ? found : hiddenProblem(substituted.names, what));
  };

/** A YAML scalar that `accepts` takes as it is; anything else is "expected <what>, got <value>". */
const scalarField =
  <T>(accepts: (value: unknown) => value is T, what: string): Parse<T> =>
  (value, at, context) =>
    accepts(value) ? value : report(context, at, `expected ${what}, got ${describe(value)}`);

const filterText = textField('a ListUsers filter such as \'status = "Enabled"\'', filterProblem);
const attributeText = textField('an attribute name', attributesProblem);

const field = <K extends keyof Values>(prop: K, parse: Parse<Values[K]>, perPoolOnly = false) => ({ prop, parse, perPoolOnly });

/** Every key a pool may have, with its parser; `perPoolOnly` keys cannot be set in `defaults`. */
export const FIELDS = {
  user_pool_id: field('userPoolId', textField('a user pool id such as eu-west-1_AbCdEf123', poolIdProblem), true),
  region: field('region', textField('a region such as eu-west-1'), true),
  destination: field('destination', textField('a destination such as s3://bucket/prefix', destinationProblem)),
  schedule: field('schedule', textField('a cron pattern such as "0 2 * * *"', cronProblem)),
  timezone: field('timezone', textField('an IANA time zone such as Europe/Berlin', timeZoneProblem)),
  shards: field('shards', parseShards),
  // Blank means no filter, as in buildRunSpec.
  filter: field('filter', (value, at, context) => {
    const filter = filterText(value, at, context);
    return filter !== INVALID && filter.trim() === '' ? null : filter;
  }, true),
  attributes: field('attributes', parseAttributes, true),
  exclude_attributes: field('excludeAttributes', parseAttributes, true),
  pseudonymize: field('pseudonymize', parseAttributes, true),
  role_arn: field('roleArn', textField('a role ARN such as arn:aws:iam::111111111111:role/cognito-export', (text) => (/^arn:aws[a-z-]*:iam::\d{12}:role\/\S+$/.test(text) ? undefined : `expected a role ARN such as arn:aws:iam::111111111111:role/cognito-export, got ${JSON.stringify(text)}`))),
  external_id: field('externalId', textField('the ExternalId the role trusts')),
  s3_role_arn: field('s3RoleArn', textField('a role ARN such as arn:aws:iam::111111111111:role/cognito-export-writer', (text) => (/^arn:aws[a-z-]*:iam::\d{12}:role\/\S+$/.test(text) ? undefined : `expected a role ARN such as arn:aws:iam::111111111111:role/cognito-export-writer, got ${JSON.stringify(text)}`))),
  format: field('format', scalarField((value): value is DataFormat => (DATA_FORMATS as readonly unknown[]).includes(value), DATA_FORMATS.join(' or '))),
  glue_database: field('glueDatabase', textField('a Glue database name such as cognito', (text) => glueNameError('database', text) ?? undefined)),
  glue_table_prefix: field('glueTablePrefix', textField('a Glue table name prefix such as cognito_', (text) => glueNameError('table prefix', text) ?? undefined)),
  gzip: field('gzip', scalarField((value): value is boolean => typeof value === 'boolean', 'true or false')),
  groups: field('groups', scalarField((value): value is boolean => typeof value === 'boolean', 'true or false')),
  changes: field('changes', scalarField((value): value is boolean => typeof value === 'boolean', 'true or false')),
  rate_limit_rps: field(
    'rateLimitRps',
    scalarField((value): value is number => typeof value === 'number' && Number.isFinite(value) && value > 0, 'a number of ListUsers calls per second above 0'),
  ),
  keep_last: field(
    'keepLast',
    scalarField((value): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 1, 'an integer from 1 (snapshots to keep)'),
  ),
} as const;

/** A key of a pool. */
export type Key = keyof typeof FIELDS;
/** The keys of a pool, and those `defaults` may set. */
export const POOL_KEYS = Object.keys(FIELDS) as Key[];
export const DEFAULT_KEYS = POOL_KEYS.filter((key) => !FIELDS[key].perPoolOnly);


function parseShards(value: unknown, at: string, context: Context): ShardCount | Invalid {
  // Strings are allowed because ExportRequest allows them (`shards: ${SHARDS}`).
  const substituted = typeof value === 'string' ? substitute(value, at, context) : { text: value, names: [] };
  if (substituted === INVALID) return INVALID;
  const { text: raw, names } = substituted;
  if (typeof raw === 'number' || (typeof raw === 'string' && raw.trim() !== '')) {
    try {
      return parseShardCount(raw);
    } catch (error) {
      rangeMessage(error);
    }
  }
  const counts = SHARD_COUNTS.map(String);
  const expected = `${counts.slice(0, -1).join(', ')} or ${counts.at(-1)}`;
  return report(context, at, names.length > 0 ? hiddenProblem(names, expected) : `expected ${expected}, got ${describe(raw)}`);
}

/** A list of names (each item checked on its own, so errors point at it) or one comma-separated string. */
function parseAttributes(value: unknown, at: string, context: Context): readonly string[] | Invalid {
  const items: unknown[] | undefined = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
  if (items === undefined) {
    return report(context, at, `expected a list of attribute names or a comma-separated string, got ${describe(value)}`);
  }
  if (items.length === 0) return report(context, at, 'expected at least one attribute name');
  const lists = items.map((item, index) => attributeText(item, Array.isArray(value) ? `${at}[${index}]` : at, context));
  if (lists.includes(INVALID)) return INVALID;
  return [...parseAttributeList(lists.join(','))];
}




/** A value as a problem message shows it. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : 'a mapping';
}

/** True for a YAML mapping (a plain object). */
export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The path of `key` under `at`, as problems name it: `pools[0].shards`. A key that is not a name is
 * not quoted (`pools[1][a key that is not a name]`): the file may be no config file at all, and
 * its content stays out of messages.
 */
export const keyPath = (at: string, key: string) => (/^[\w:-]{1,64}$/.test(key) ? (at === '' ? key : `${at}.${key}`) : `${at}[a key that is not a name]`);

/**
 * `${VAR}` substitution with its problem reported at `at`: the text, and the variables put in it
 * (remembered in `context`, so no later message shows their values).
 */
function substitute(value: string, at: string, context: Context): { readonly text: string; readonly names: readonly string[] } | Invalid {
  const result = substituteEnvironment(value, context.env);
  if (result.problem !== undefined) return report(context, at, result.problem);
  context.inserted.push(...result.inserted);
  return { text: result.value, names: result.inserted.map((inserted) => inserted.name) };
}
