import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/app-config.js';
import { buildRunSpec, ExportRequestError } from '../../src/runs/export-request.js';

describe('loadConfig', () => {
  it('works out of the box with visible defaults', () => {
    expect(loadConfig({})).toEqual({
      redisUrl: 'redis://127.0.0.1:6379',
      redisKeyPrefix: '{cognito-export}',
      awsRegion: undefined,
      cognitoEndpoint: undefined,
      s3Endpoint: undefined,
      stsEndpoint: undefined,
      awsAccountId: undefined,
      s3ForcePathStyle: false,
      rateLimitRps: 25,
      logLevel: 'info',
      workerConcurrency: 16,
      fileMaxRecords: 100_000,
      workerLockDurationMs: 30_000,
      reconcileIntervalMs: 30_000,
      gzipLevel: 6,
      parquetRowGroupRows: 25_000,
      restoreRps: { userCreation: 40, userUpdate: 20, membershipUpdate: 20, resourceWrite: 4 },
      adminPort: 9464,
      adminPortChosen: false,
      adminHost: '0.0.0.0',
      adminToken: undefined,
      adminDashboard: false,
      pseudonymizationKey: undefined,
      allowedDestinations: [],
      allowedRoleArns: [],
      allowedPools: undefined,
      roleExternalIds: {},
      s3ExpectedBucketOwner: undefined,
      fileMode: 0o600,
      dirMode: 0o700,
    });
  });

  it('reads the privacy and access settings', () => {
    const key = 'dfacb6aa613a89e12294ed703c97a42c60e7f1d725a540335d2bb2fa2c0180d6';
    const config = loadConfig({ PSEUDONYMIZATION_KEY: key, ALLOWED_DESTINATIONS: ' s3://bucket/exports , file:///data/exports' });
    expect(config.pseudonymizationKey).toBe(key);
    expect(config.allowedDestinations).toEqual(['s3://bucket/exports', 'file:///data/exports']);
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });

  it.each([
    ['REDIS_URL', 'localhost:6379', 'REDIS_URL="localhost:6379" is invalid: expected a URL starting with redis:// or rediss://'],
    ['REDIS_URL', 'redis://127.0.0.1:6379/abc', 'REDIS_URL="redis://127.0.0.1:6379/abc" is invalid: expected a database number after the port, e.g. redis://127.0.0.1:6379/0'],
    ['AWS_ACCOUNT_ID', 'my account', 'AWS_ACCOUNT_ID="my account" is invalid: expected an AWS account id such as 123456789012'],
    ['COGNITO_RATE_LIMIT_RPS', 'fast', 'COGNITO_RATE_LIMIT_RPS="fast" is invalid: expected a number from 0.1 to 10000'],
    ['S3_FORCE_PATH_STYLE', 'maybe', 'S3_FORCE_PATH_STYLE="maybe" is invalid: expected true or false'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL="loud" is invalid: expected one of trace, debug, info, warn, error, fatal, silent'],
    ['AWS_REGION', 'Europe', 'AWS_REGION="Europe" is invalid: expected an AWS region such as eu-west-1'],
    ['WORKER_CONCURRENCY', '1.5', 'WORKER_CONCURRENCY="1.5" is invalid: expected an integer from 1 to 1024'],
    ['REDIS_KEY_PREFIX', 'cognito-export', 'REDIS_KEY_PREFIX="cognito-export" is invalid: expected a prefix with one {hash tag} and no spaces or colons, e.g. {cognito-export}'],
    ['ADMIN_PORT', 'http', 'ADMIN_PORT="http" is invalid: expected a port from 0 to 65535, or off'],
    ['ADMIN_TOKEN', 'short', 'ADMIN_TOKEN=(hidden) is invalid: expected at least 16 characters (it guards POST /exports)'],
    ['PSEUDONYMIZATION_KEY', 'too short a key', 'PSEUDONYMIZATION_KEY=(hidden) is invalid: expected the hex or base64 of at least 32 random bytes (not a passphrase): make one with openssl rand -hex 32'],
    ['ALLOWED_DESTINATIONS', 'bucket/exports', 'ALLOWED_DESTINATIONS="bucket/exports" is invalid: expected comma-separated s3:// or file:// URL prefixes'],
  ])('names %s, its value and what it expects', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});

describe('buildRunSpec', () => {
  const config = loadConfig({});
  const now = new Date('2026-11-26T11:30:42.123Z');

  it('fixes the run: id, region from the pool id, canonical filter, defaults', () => {
    const spec = buildRunSpec({ userPoolId: 'eu-west-1_AbC123', destination: 's3://b-1/p', trigger: 'cli' }, config, now);
    expect(spec).toMatchObject({
      userPoolId: 'eu-west-1_AbC123',
      region: 'eu-west-1',
      destination: 's3://b-1/p',
      startedAt: '2026-11-26T11:30:42.123Z',
      shards: 16,
      filter: null,
      attributes: null,
      gzip: true,
      fileMaxRecords: 100_000,
    });
    expect(spec.snapshotId).toMatch(/^20261126T113042123Z-[0-9a-f]{6}$/);
  });

  it('makes a filtered run one shard, with the filter in canonical form', () => {
    const spec = buildRunSpec({ userPoolId: 'eu-west-1_A', destination: 's3://b-1', filter: '"email"^="a\\"b"', shards: 256, trigger: 'cli' }, config, now);
    expect(spec.shards).toBe(1);
    expect(spec.filter).toBe('email ^= "a\\"b"');
  });

  it.each([
    [{ userPoolId: 'nope' }, /user pool id "nope" is not valid/],
    [{ destination: 'ftp://x' }, /is not supported/],
    [{ shards: 3 }, /shards must be one of 1, 16, 256/],
    [{ filter: 'custom:x = "1"' }, /filter .* is not valid: attribute "custom:x" is not searchable/],
    [{ attributes: 'email,bad name' }, /attribute name "bad name" is not valid/],
  ])('rejects %o with one line', (override, message) => {
    const request = { userPoolId: 'eu-west-1_A', destination: 's3://b-1', trigger: 'cli' as const, ...override };
    expect(() => buildRunSpec(request, config, now)).toThrow(ExportRequestError);
    expect(() => buildRunSpec(request, config, now)).toThrow(message);
  });
});
