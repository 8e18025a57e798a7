import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/app-config.js';
import {
  ConfigFileError,
  type ExportConfigFile,
  loadExportConfig,
  nextRuns,
  parseExportConfig,
  type ScheduledPool,
  scheduledRequest,
} from '../../src/config/config-file.js';
import { buildRunSpec } from '../../src/runs/export-request.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/cognito-export.yaml', import.meta.url));
const SOURCE = 'cognito-export.yaml';

/** Parses `text` with an empty environment unless one is given. */
const parse = (text: string, env: NodeJS.ProcessEnv = {}): ExportConfigFile => parseExportConfig(text, { source: SOURCE, env });

/** The one-line message `parse` throws; fails the test when it does not throw a ConfigFileError. */
function errorOf(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parse(text, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as Error).name).toBe('ConfigFileError');
    expect((error as Error).message).not.toContain('\n');
    return (error as Error).message;
  }
  throw new Error('expected parseExportConfig to throw');
}

const POOL = 'user_pool_id: eu-west-1_AbCdEf123\n    destination: s3://my-bucket/cognito\n    schedule: "0 2 * * *"';

const BUILT_IN: Omit<ScheduledPool, 'userPoolId' | 'destination' | 'schedule'> = {
  region: undefined,
  timezone: 'UTC',
  shards: 16,
  filter: null,
  attributes: null,
  format: 'ndjson',
  gzip: true,
  groups: true,
  changes: true,
  excludeAttributes: [],
  pseudonymize: [],
  roleArn: undefined,
  externalId: undefined,
  s3RoleArn: undefined,
  glueDatabase: undefined,
  glueTablePrefix: undefined,
  rateLimitRps: undefined,
  keepLast: null,
};

describe('the example config file', () => {
  it('parses to the pools it describes', async () => {
    const config = await loadExportConfig(EXAMPLE, { EXPORT_BUCKET: 'acme-exports' });
    expect(config.pools).toEqual([
      {
        userPoolId: 'eu-west-1_AbCdEf123',
        region: undefined,
        destination: 's3://acme-exports/cognito',
        schedule: '0 2 * * *',
        timezone: 'Europe/Berlin',
        shards: 16,
        filter: null,
        attributes: null,
        format: 'ndjson',
        gzip: true,
        groups: true,
        changes: true,
        excludeAttributes: [],
        pseudonymize: [],
        roleArn: undefined,
        externalId: undefined,
        s3RoleArn: undefined,
        rateLimitRps: undefined,
        keepLast: 7,
      },
      {
        userPoolId: 'us-east-1_ZyXwVu987',
        region: 'us-east-1',
        destination: 's3://acme-exports/cognito',
        schedule: '30 1 * * 1-5',
        timezone: 'America/New_York',
        shards: 256,
        filter: null,
        attributes: null,
        format: 'parquet',
        gzip: true,
        groups: true,
        changes: true,
        excludeAttributes: [],
        pseudonymize: [],
        roleArn: undefined,
        externalId: undefined,
        s3RoleArn: undefined,
        glueDatabase: 'cognito',
        glueTablePrefix: 'ce_',
        rateLimitRps: 20,
        keepLast: 14,
      },
      {
        userPoolId: 'eu-central-1_Tenant42',
        region: undefined,
        destination: 'file:///var/lib/cognito-export',
        schedule: '0 0 */6 * * *',
        timezone: 'UTC',
        shards: 1,
        filter: 'status = "Enabled"',
        attributes: ['email', 'custom:tenant', 'given_name'],
        format: 'ndjson',
        gzip: false,
        groups: true,
        changes: true,
        excludeAttributes: [],
        pseudonymize: [],
        roleArn: undefined,
        externalId: undefined,
        s3RoleArn: undefined,
        rateLimitRps: undefined,
        keepLast: null,
      },
      {
        userPoolId: 'eu-west-1_Analytics9',
        region: undefined,
        destination: 's3://acme-exports/cognito',
        schedule: '0 2 * * *',
        timezone: 'Europe/Berlin',
        shards: 16,
        filter: null,
        attributes: null,
        format: 'ndjson',
        gzip: true,
        groups: true,
        changes: true,
        excludeAttributes: ['name', 'given_name', 'family_name', 'identities'],
        pseudonymize: ['email', 'phone_number', 'username'],
        roleArn: undefined,
        externalId: undefined,
        s3RoleArn: undefined,
        rateLimitRps: undefined,
        keepLast: 7,
      },
    ]);
  });

  it('needs EXPORT_BUCKET, and says so', async () => {
    await expect(loadExportConfig(EXAMPLE, {})).rejects.toThrow(
      `${EXAMPLE}: defaults.destination: environment variable EXPORT_BUCKET is not set`,
    );
  });

  it('makes requests buildRunSpec accepts for every pool', async () => {
    const config = await loadExportConfig(EXAMPLE, { EXPORT_BUCKET: 'acme-exports' });
    const now = new Date('2026-01-15T02:00:00Z');
    const specs = config.pools.map((pool) => buildRunSpec(scheduledRequest(pool), { ...loadConfig({}), pseudonymizationKey: 'k'.repeat(32) }, now));
    expect(specs.map((spec) => [spec.userPoolId, spec.region, spec.shards, spec.trigger, spec.keepLast])).toEqual([
      ['eu-west-1_AbCdEf123', 'eu-west-1', 16, 'schedule', 7],
      ['us-east-1_ZyXwVu987', 'us-east-1', 256, 'schedule', 14],
      ['eu-central-1_Tenant42', 'eu-central-1', 1, 'schedule', null],
      ['eu-west-1_Analytics9', 'eu-west-1', 16, 'schedule', 7],
    ]);
    expect(specs[3]).toMatchObject({ pseudonymize: ['email', 'phone_number', 'username'], excludeAttributes: ['family_name', 'given_name', 'identities', 'name'] });
    expect(specs[2]).toMatchObject({ filter: 'status = "Enabled"', attributes: ['email', 'custom:tenant', 'given_name'], gzip: false });
    expect(specs[1]).toMatchObject({ rateLimitRps: 20 });
  });
});

describe('parseExportConfig', () => {
  it('reads an empty pool list as no pools (schedule apply removes schedules only with --prune)', () => {
    expect(parse('pools: []\n').pools).toEqual([]);
  });

  it('applies built-in defaults to a pool that sets only what it must', () => {
    expect(parse(`pools:\n  - ${POOL}\n`).pools).toEqual([
      { userPoolId: 'eu-west-1_AbCdEf123', destination: 's3://my-bucket/cognito', schedule: '0 2 * * *', ...BUILT_IN },
    ]);
  });

  it('merges defaults under every pool, and a pool overrides them key by key', () => {
    const { pools } = parse(`
defaults:
  destination: s3://shared-bucket/cognito
  schedule: "0 2 * * *"
  timezone: Europe/Berlin
  shards: 256
  gzip: false
  rate_limit_rps: 10
  keep_last: 7
pools:
  - user_pool_id: eu-west-1_One
  - user_pool_id: eu-west-1_Two
    destination: s3://own-bucket/x
    schedule: "*/3 * * * * *"
    timezone: UTC
    shards: 1
    gzip: true
    rate_limit_rps: 2.5
    keep_last: 30
  - user_pool_id: eu-west-1_Three
    keep_last: null
    rate_limit_rps: ~
`);
    expect(pools[0]).toEqual({
      ...BUILT_IN,
      userPoolId: 'eu-west-1_One',
      destination: 's3://shared-bucket/cognito',
      schedule: '0 2 * * *',
      timezone: 'Europe/Berlin',
      shards: 256,
      gzip: false,
      rateLimitRps: 10,
      keepLast: 7,
    });
    expect(pools[1]).toEqual({
      ...BUILT_IN,
      userPoolId: 'eu-west-1_Two',
      destination: 's3://own-bucket/x',
      schedule: '*/3 * * * * *',
      shards: 1,
      rateLimitRps: 2.5,
      keepLast: 30,
    });
    expect(pools[2]).toMatchObject({ userPoolId: 'eu-west-1_Three', keepLast: null, rateLimitRps: undefined, shards: 256 });
  });

  it('reads JSON as well as YAML', () => {
    const json = JSON.stringify({
      defaults: { destination: 's3://my-bucket/cognito', schedule: '0 2 * * *' },
      pools: [{ user_pool_id: 'eu-west-1_AbCdEf123', attributes: 'email, custom:tenant', keep_last: 3 }],
    });
    expect(parse(json).pools).toEqual([
      {
        ...BUILT_IN,
        userPoolId: 'eu-west-1_AbCdEf123',
        destination: 's3://my-bucket/cognito',
        schedule: '0 2 * * *',
        attributes: ['email', 'custom:tenant'],
        keepLast: 3,
      },
    ]);
  });

  it('makes a filtered pool one shard, as buildRunSpec would', () => {
    const { pools } = parse(`defaults:\n  shards: 256\npools:\n  - ${POOL}\n    filter: 'email ^= "a"'\n`);
    expect(pools[0]).toMatchObject({ filter: 'email ^= "a"', shards: 1 });
  });

  it('returns frozen pools', () => {
    const config = parse(`pools:\n  - ${POOL}\n    attributes: [email]\n`);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.pools)).toBe(true);
    expect(Object.isFrozen(config.pools[0])).toBe(true);
    expect(Object.isFrozen(config.pools[0]?.attributes)).toBe(true);
  });

  it('accepts every pattern BullMQ schedules: 6 fields with seconds, names, L, aliases', () => {
    for (const schedule of ['*/3 * * * * *', '0 2 * * MON-FRI', '0 2 L * *', '@daily', '0 0 29 2 *']) {
      expect(parse(`pools:\n  - user_pool_id: eu-west-1_A\n    destination: s3://my-bucket\n    schedule: "${schedule}"\n`).pools[0]?.schedule).toBe(
        schedule,
      );
    }
  });
});

describe('environment references', () => {
  const withDestination = (destination: string) => `pools:\n  - user_pool_id: eu-west-1_A\n    destination: ${destination}\n    schedule: "0 2 * * *"\n`;
  const destinationOf = (destination: string, env: NodeJS.ProcessEnv) => parse(withDestination(destination), env).pools[0]?.destination;

  it('replaces ${VAR} in string values', () => {
    expect(destinationOf('s3://${EXPORT_BUCKET}/${PREFIX}', { EXPORT_BUCKET: 'acme', PREFIX: 'cognito' })).toBe('s3://acme/cognito');
  });

  it('uses the fallback of ${VAR:-fallback} when the variable is unset or empty', () => {
    expect(destinationOf('s3://${EXPORT_BUCKET:-fallback-bucket}/x', {})).toBe('s3://fallback-bucket/x');
    expect(destinationOf('s3://${EXPORT_BUCKET:-fallback-bucket}/x', { EXPORT_BUCKET: '' })).toBe('s3://fallback-bucket/x');
    expect(destinationOf('s3://${EXPORT_BUCKET:-fallback-bucket}/x', { EXPORT_BUCKET: 'acme' })).toBe('s3://acme/x');
  });

  it('names the key and the variable when it is not set', () => {
    expect(errorOf(withDestination('s3://${EXPORT_BUCKET}/cognito'))).toBe(
      `${SOURCE}: pools[0].destination: environment variable EXPORT_BUCKET is not set`,
    );
    expect(errorOf(withDestination('s3://${EXPORT_BUCKET}/cognito'), { EXPORT_BUCKET: '' })).toBe(
      `${SOURCE}: pools[0].destination: environment variable EXPORT_BUCKET is empty`,
    );
  });

  it('keeps $${ as a literal ${', () => {
    const { pools } = parse(`pools:\n  - ${POOL}\n    filter: 'email = "$\${HOME}"'\n`, { HOME: '/root' });
    expect(pools[0]?.filter).toBe('email = "${HOME}"');
  });

  it('substitutes before validating, so a bad value from the environment is reported, without the value', () => {
    const error = errorOf(withDestination('s3://${EXPORT_BUCKET}'), { EXPORT_BUCKET: 'A-secret-bucket' });
    expect(error).toMatch(/^.*: pools\[0\]\.destination: .*\$\{EXPORT_BUCKET\}.*values from the environment are not shown/);
    expect(error).not.toContain('secret');
  });

  it('substitutes in strings only, including list items and numbers given as strings', () => {
    const { pools } = parse(`pools:\n  - ${POOL}\n    attributes: [email, "\${EXTRA}"]\n    shards: "\${SHARDS}"\n`, { EXTRA: 'custom:tenant', SHARDS: '256' });
    expect(pools[0]).toMatchObject({ attributes: ['email', 'custom:tenant'], shards: 256 });
  });

  it('rejects malformed references instead of passing them through', () => {
    expect(errorOf(withDestination('"s3://${EXPORT_BUCKET"'))).toBe(
      `${SOURCE}: pools[0].destination: "\${EXPORT_BUCKET" has no closing } (write $\${ for a literal \${)`,
    );
    expect(errorOf(withDestination('"s3://${1BUCKET}"'))).toBe(
      `${SOURCE}: pools[0].destination: "\${1BUCKET}" is not an environment reference: expected \${NAME} or \${NAME:-fallback}`,
    );
  });
});

describe('errors name the file and the key', () => {
  it.each([
    ['a cron expression that cannot fire', `pools:\n  - ${POOL}\n  - ${POOL.replace('AbCdEf123', 'Other').replace('0 2 * * *', '0 25 * * *')}\n`,
      'pools[1].schedule: "0 25 * * *" is not a valid cron expression (Constraint error, got value 25 expected range 0-23)'],
    ['a cron expression with too few fields', `pools:\n  - ${POOL.replace('0 2 * * *', '0 2 * *')}\n`,
      'pools[0].schedule: "0 2 * *" is not a valid cron expression (expected 5 fields, or 6 with seconds first; got 4)'],
    ['a date that never comes', `pools:\n  - ${POOL.replace('0 2 * * *', '0 0 31 4,6 *')}\n`,
      'pools[0].schedule: "0 0 31 4,6 *" is not a valid cron expression (it never fires)'],
    ['a shard count', `pools:\n  - ${POOL}\n    shards: 8\n`, 'pools[0].shards: expected 1, 16 or 256, got 8'],
    ['a missing pool id', `defaults:\n  destination: s3://my-bucket\n  schedule: "0 2 * * *"\npools:\n  - ${POOL}\n  - user_pool_id: eu-west-1_B\n  - shards: 1\n`,
      'pools[2]: user_pool_id is required'],
    ['a missing destination', `pools:\n  - user_pool_id: eu-west-1_A\n    schedule: "0 2 * * *"\n`,
      'pools[0]: destination is required (on the pool or in defaults)'],
    ['a pool that clears a required default', `defaults:\n  schedule: "0 2 * * *"\npools:\n  - user_pool_id: eu-west-1_A\n    destination: s3://my-bucket\n    schedule: null\n`,
      'pools[0]: schedule is required (on the pool or in defaults)'],
    ['a misspelt key', `pools:\n  - ${POOL}\n    shard: 16\n`, 'pools[0].shard: unknown key (did you mean shards?)'],
    ['a camelCase key', `pools:\n  - ${POOL}\n    keepLast: 3\n`, 'pools[0].keepLast: unknown key (did you mean keep_last?)'],
    ['a key with nothing close', `pools:\n  - ${POOL}\n    colour: blue\n`,
      'pools[0].colour: unknown key (expected one of user_pool_id, region, destination, schedule, timezone, shards, filter, attributes, exclude_attributes, pseudonymize, role_arn, external_id, s3_role_arn, format, glue_database, glue_table_prefix, gzip, groups, changes, rate_limit_rps, keep_last)'],
    ['an unknown key in defaults', `defaults:\n  timezon: UTC\npools:\n  - ${POOL}\n`, 'defaults.timezon: unknown key (did you mean timezone?)'],
    ['a per-pool key in defaults', `defaults:\n  filter: 'email ^= "a"'\npools:\n  - ${POOL}\n`,
      'defaults.filter: unknown key (filter can only be set per pool)'],
    ['an unknown top-level key', `pool:\n  - ${POOL}\n`, 'pool: unknown key (did you mean pools?)'],
    ['a pool listed twice', `pools:\n  - user_pool_id: eu-west-1_X\n  - user_pool_id: eu-west-1_Y\n  - user_pool_id: eu-west-1_Z\n  - user_pool_id: eu-west-1_X\ndefaults:\n  destination: s3://my-bucket\n  schedule: "0 2 * * *"\n`,
      'pools[3].user_pool_id: eu-west-1_X is listed twice (also pools[0])'],
    ['pools that are not a list', `pools:\n  user_pool_id: eu-west-1_X\n`, 'pools: expected a list of pools, got a mapping'],
    ['no pools at all', `defaults:\n  gzip: true\n`, 'pools: expected a list of pools'],
    ['a pool that is not a mapping', `pools:\n  - eu-west-1_X\n`,
      'pools[0]: expected a mapping with user_pool_id, destination and schedule, got "eu-west-1_X"'],
    ['a file that is a list', '- user_pool_id: eu-west-1_X\n', 'expected a mapping with defaults and pools, got a list'],
    ['a time zone', `defaults:\n  timezone: Mars/Olympus\npools:\n  - ${POOL}\n`, 'defaults.timezone: "Mars/Olympus" is not an IANA time zone'],
    ['a pool id', `pools:\n  - ${POOL.replace('eu-west-1_AbCdEf123', 'eu-west-1')}\n`,
      'pools[0].user_pool_id: "eu-west-1" is not a valid user pool id: expected <region>_<id>, e.g. eu-west-1_AbCdEf123'],
    ['a region that is not the pool\'s', `pools:\n  - ${POOL}\n    region: us-east-1\n`,
      'pools[0].region: "us-east-1" does not match the region of eu-west-1_AbCdEf123'],
    ['a destination', `pools:\n  - ${POOL.replace('s3://my-bucket/cognito', 'ftp://host/dir')}\n`,
      'pools[0].destination: "ftp://host/dir" is not supported: expected s3://bucket/prefix or file:///absolute/dir'],
    ['a filter', `pools:\n  - ${POOL}\n    filter: 'custom:tenant = "a"'\n`, 'pools[0].filter: "custom:tenant = \\"a\\"" is not a valid filter: '],
    ['a filter with more shards', `pools:\n  - ${POOL}\n    filter: 'email ^= "a"'\n    shards: 16\n`,
      'pools[0].shards: a filter makes the run one shard: remove shards or set it to 1, got 16'],
    ['an attribute in a list', `pools:\n  - ${POOL}\n    attributes: [email, "bad name"]\n`,
      'pools[0].attributes[1]: attribute name "bad name" is not valid: expected a comma-separated list such as email,custom:tenant'],
    ['an empty attribute list', `pools:\n  - ${POOL}\n    attributes: []\n`, 'pools[0].attributes: expected at least one attribute name'],
    ['gzip', `pools:\n  - ${POOL}\n    gzip: yes\n`, 'pools[0].gzip: expected true or false, got "yes"'],
    ['a rate limit', `pools:\n  - ${POOL}\n    rate_limit_rps: 0\n`, 'pools[0].rate_limit_rps: expected a number of ListUsers calls per second above 0, got 0'],
    ['retention', `pools:\n  - ${POOL}\n    keep_last: 1.5\n`, 'pools[0].keep_last: expected an integer from 1 (snapshots to keep), got 1.5'],
    ['a schedule that is not a string', `pools:\n  - ${POOL.replace('"0 2 * * *"', '5')}\n`,
      'pools[0].schedule: expected a cron pattern such as "0 2 * * *", got 5'],
  ])('reports %s', (_what, text, message) => {
    expect(errorOf(text, {})).toContain(`${SOURCE}: ${message}`);
  });

  it('reports a YAML syntax error with its line and column', () => {
    expect(errorOf(`pools:\n  - ${POOL}\n  shards: [1,\n`)).toMatch(/^cognito-export\.yaml: line \d+, column \d+: \S/);
    expect(errorOf('pools:\n  - user_pool_id: a\n    user_pool_id: b\n')).toBe(`${SOURCE}: line 3, column 5: Map keys must be unique`);
  });

  it('explains an unquoted cron pattern that YAML reads as an alias', () => {
    expect(errorOf(`pools:\n  - user_pool_id: eu-west-1_A\n    schedule: */5 * * * *\n`)).toBe(
      `${SOURCE}: line 3, column 15: */5 is read as a YAML alias to an undefined anchor; quote values that start with *, e.g. "*/5 * * * *"`,
    );
  });

  it('reports every problem in one line, joined by "; "', () => {
    const error = (() => {
      try {
        parse(`pools:\n  - ${POOL}\n    shards: 8\n    gzip: 1\n  - destination: s3://my-bucket\n`);
      } catch (caught) {
        return caught as ConfigFileError;
      }
      throw new Error('expected an error');
    })();
    expect(error.issues).toEqual([
      `${SOURCE}: pools[0].shards: expected 1, 16 or 256, got 8`,
      `${SOURCE}: pools[0].gzip: expected true or false, got 1`,
      `${SOURCE}: pools[1]: user_pool_id is required`,
      `${SOURCE}: pools[1]: schedule is required (on the pool or in defaults)`,
    ]);
    expect(error.message).toBe(error.issues.join('; '));
  });
});

describe('loadExportConfig', () => {
  let directory = '';
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'export-config-file-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('names the path and the OS reason when the file is missing', async () => {
    const path = join(directory, 'missing.yaml');
    await expect(loadExportConfig(path, {})).rejects.toThrow(new ConfigFileError([`${path}: cannot be read (ENOENT: no such file or directory)`]));
  });

  it('names the path and the OS reason when it is a directory', async () => {
    await expect(loadExportConfig(directory, {})).rejects.toThrow(`${directory}: cannot be read (EISDIR`);
  });

  it('uses the path as the source of every message', async () => {
    const path = join(directory, 'bad.yaml');
    await writeFile(path, `pools:\n  - ${POOL}\n    shards: 8\n`);
    await expect(loadExportConfig(path, {})).rejects.toThrow(`${path}: pools[0].shards: expected 1, 16 or 256, got 8`);
  });
});

describe('scheduledRequest', () => {
  it('is a request with trigger schedule that buildRunSpec accepts', () => {
    const [pool] = parse(`pools:\n  - ${POOL}\n    attributes: email,custom:tenant\n    rate_limit_rps: 5\n    keep_last: 2\n`).pools;
    if (pool === undefined) throw new Error('expected one pool');
    const request = scheduledRequest(pool);
    expect(request).toMatchObject({ userPoolId: 'eu-west-1_AbCdEf123', trigger: 'schedule', shards: 16 });
    const spec = buildRunSpec(request, loadConfig({}), new Date('2026-01-15T02:00:00Z'));
    expect(spec).toMatchObject({
      userPoolId: 'eu-west-1_AbCdEf123',
      region: 'eu-west-1',
      destination: 's3://my-bucket/cognito',
      shards: 16,
      filter: null,
      attributes: ['email', 'custom:tenant'],
      gzip: true,
      rateLimitRps: 5,
      keepLast: 2,
      trigger: 'schedule',
      startedAt: '2026-01-15T02:00:00.000Z',
    });
  });
});

describe('nextRuns', () => {
  const iso = (dates: Date[]) => dates.map((date) => date.toISOString());

  it('reads the schedule in its time zone: 02:00 Berlin is 01:00Z in winter and 00:00Z in summer', () => {
    const pool = { schedule: '0 2 * * *', timezone: 'Europe/Berlin' };
    expect(iso(nextRuns(pool, new Date('2026-01-15T12:00:00Z'), 2))).toEqual(['2026-01-16T01:00:00.000Z', '2026-01-17T01:00:00.000Z']);
    expect(iso(nextRuns(pool, new Date('2026-07-15T12:00:00Z'), 1))).toEqual(['2026-07-16T00:00:00.000Z']);
  });

  it('follows the change to summer time', () => {
    const pool = { schedule: '0 2 * * *', timezone: 'Europe/Berlin' };
    // 2026-03-29 has no 02:00 in Berlin; cron-parser fires at 03:00 CEST, which is 01:00Z.
    expect(iso(nextRuns(pool, new Date('2026-03-27T12:00:00Z'), 3))).toEqual([
      '2026-03-28T01:00:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:00:00.000Z',
    ]);
  });

  it('counts strictly after from, with seconds when the pattern has six fields', () => {
    expect(iso(nextRuns({ schedule: '*/3 * * * * *', timezone: 'UTC' }, new Date('2026-01-15T00:00:03Z'), 2))).toEqual([
      '2026-01-15T00:00:06.000Z',
      '2026-01-15T00:00:09.000Z',
    ]);
  });

  it('returns nothing for a count of 0 and rejects a bad count, pattern or zone', () => {
    const from = new Date('2026-01-15T00:00:00Z');
    expect(nextRuns({ schedule: '0 2 * * *', timezone: 'UTC' }, from, 0)).toEqual([]);
    expect(() => nextRuns({ schedule: '0 2 * * *', timezone: 'UTC' }, from, -1)).toThrow(RangeError);
    expect(() => nextRuns({ schedule: '0 25 * * *', timezone: 'UTC' }, from, 1)).toThrow('"0 25 * * *" is not a valid cron expression');
    expect(() => nextRuns({ schedule: '0 2 * * *', timezone: 'Mars/Olympus' }, from, 1)).toThrow('"Mars/Olympus" is not an IANA time zone');
  });
});
