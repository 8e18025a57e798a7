import { describe, expect, it } from 'vitest';
import { formatDestination, parseDestination } from '../../src/storage/destination.js';
import { dataFileKey, latestKey, manifestKey, runDataPrefix } from '../../src/storage/output-layout.js';
import { s3RegionOf } from '../../src/storage/s3-client.js';
import { planShards, parseShardCount } from '../../src/runs/shard-plan.js';
import { newSnapshotId, snapshotIdTime } from '../../src/storage/snapshot-id.js';

const run = { userPoolId: 'eu-west-1_AbC', snapshotId: '20251231T235959999Z-0a0b0c', startedAt: new Date('2025-12-31T23:59:59.999Z') };

describe('output layout', () => {
  it('puts data under users/ partitioned by pool, date and run', () => {
    expect(dataFileKey(run, '0', 7, 'ndjson.gz')).toBe(
      'users/user_pool_id=eu-west-1_AbC/dt=2025-12-31/run=20251231T235959999Z-0a0b0c/part-0-00007.ndjson.gz',
    );
    expect(dataFileKey(run, 'all', 0, 'ndjson')).toMatch(/part-all-00000\.ndjson$/);
    expect(dataFileKey(run, 'a', 1, 'ndjson.gz').startsWith(runDataPrefix(run))).toBe(true);
  });

  it('keeps markers under manifests/, away from the data prefix', () => {
    expect(manifestKey(run)).toBe('manifests/user_pool_id=eu-west-1_AbC/dt=2025-12-31/run=20251231T235959999Z-0a0b0c.json');
    expect(latestKey('eu-west-1_AbC')).toBe('manifests/user_pool_id=eu-west-1_AbC/latest.json');
  });
});

describe('destinations', () => {
  it('parses s3 URLs with and without a prefix', () => {
    expect(parseDestination('s3://my-bucket/exports/cognito/')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: 'exports/cognito' });
    expect(parseDestination('s3://my-bucket')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '' });
  });

  it('parses file URLs and absolute paths', () => {
    expect(parseDestination('file:///tmp/out/')).toEqual({ kind: 'file', directory: '/tmp/out' });
    expect(parseDestination('/tmp/out')).toEqual({ kind: 'file', directory: '/tmp/out' });
    expect(formatDestination({ kind: 'file', directory: '/tmp/a b' })).toBe('file:///tmp/a%20b');
  });

  it('refuses anything else, saying what is expected', () => {
    expect(() => parseDestination('http://x')).toThrow(/expected s3:\/\/bucket\/prefix or file:\/\/\/absolute\/dir/);
    expect(() => parseDestination('s3://A_B')).toThrow(/no valid bucket name/);
  });
});

describe('snapshot ids', () => {
  it('sort by time and carry their start time', () => {
    const a = newSnapshotId(new Date('2026-01-01T00:00:00.000Z'), () => Buffer.from('ffffff', 'hex'));
    const b = newSnapshotId(new Date('2026-01-01T00:00:00.001Z'), () => Buffer.from('000000', 'hex'));
    expect(a).toBe('20260101T000000000Z-ffffff');
    expect(a < b).toBe(true);
    expect(snapshotIdTime(b)?.toISOString()).toBe('2026-01-01T00:00:00.001Z');
    expect(a).not.toContain(':');
  });
});

describe('shard plans', () => {
  it('covers every first hex digit of sub exactly once with 16 shards', () => {
    const shards = planShards(16, null);
    expect(shards.map((s) => s.id).join('')).toBe('0123456789abcdef');
    expect(shards[10]?.filter).toBe('sub ^= "a"');
  });

  it('uses two-digit prefixes for 256 shards', () => {
    const ids = planShards(256, null).map((s) => s.id);
    expect(new Set(ids).size).toBe(256);
    expect(ids[0]).toBe('00');
    expect(ids[255]).toBe('ff');
  });

  it('makes a user filter a single shard', () => {
    expect(planShards(16, { attribute: 'email', operator: '^=', value: 'a' })).toEqual([{ id: 'all', filter: 'email ^= "a"' }]);
    expect(planShards(1, null)).toEqual([{ id: 'all', filter: null }]);
  });

  it('accepts only 1, 16 or 256', () => {
    expect(parseShardCount('16')).toBe(16);
    expect(() => parseShardCount('8')).toThrow('shards must be one of 1, 16, 256, got "8"');
  });
});

describe('the region S3 requests are signed for', () => {
  it('is AWS_REGION when set; else the run’s pool region on AWS; us-east-1 on an S3-compatible endpoint or without a run', () => {
    expect(s3RegionOf({ awsRegion: 'ap-southeast-2', s3Endpoint: 'http://minio:9000' }, undefined, 'eu-west-1')).toBe('ap-southeast-2');
    expect(s3RegionOf({ awsRegion: undefined, s3Endpoint: undefined }, undefined, 'eu-west-1')).toBe('eu-west-1');
    expect(s3RegionOf({ awsRegion: undefined, s3Endpoint: 'http://minio:9000' }, undefined, 'eu-west-1')).toBe('us-east-1');
    expect(s3RegionOf({ awsRegion: undefined, s3Endpoint: undefined }, 'http://127.0.0.1:4568', 'eu-west-1')).toBe('us-east-1');
    expect(s3RegionOf({ awsRegion: undefined, s3Endpoint: undefined }, undefined, undefined)).toBe('us-east-1');
  });
});
