import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/app-config.js';
import { adminRolePolicy } from '../../src/config/role-policy.js';

const ROLE = 'arn:aws:iam::111111111111:role/exporter';
const WRITER = 'arn:aws:iam::222222222222:role/team/writer';

describe('the role and bucket-owner settings', () => {
  it('are off by default', () => {
    const config = loadConfig({});
    expect([config.allowedRoleArns, config.roleExternalIds, config.s3ExpectedBucketOwner]).toEqual([[], {}, undefined]);
  });

  it('read ALLOWED_ROLE_ARNS, ROLE_EXTERNAL_IDS (ids may hold = and :) and S3_EXPECTED_BUCKET_OWNER', () => {
    const config = loadConfig({ ALLOWED_ROLE_ARNS: ` ${ROLE} , ${WRITER}`, ROLE_EXTERNAL_IDS: `${ROLE}=ab:c=d==, ${WRITER}=x1`, S3_EXPECTED_BUCKET_OWNER: '123456789012' });
    expect(config.allowedRoleArns).toEqual([ROLE, WRITER]);
    expect(config.roleExternalIds).toEqual({ [ROLE]: 'ab:c=d==', [WRITER]: 'x1' });
    expect(config.s3ExpectedBucketOwner).toBe('123456789012');
  });

  it.each([
    ['ALLOWED_ROLE_ARNS', 'exporter', 'ALLOWED_ROLE_ARNS="exporter" is invalid: expected comma-separated role ARNs such as arn:aws:iam::111111111111:role/cognito-export'],
    ['ROLE_EXTERNAL_IDS', `${ROLE}=has space`, 'ROLE_EXTERNAL_IDS=(hidden) is invalid: expected comma-separated <role arn>=<external id> pairs'],
    ['ROLE_EXTERNAL_IDS', ROLE, 'ROLE_EXTERNAL_IDS=(hidden) is invalid: expected comma-separated <role arn>=<external id> pairs'],
    ['S3_EXPECTED_BUCKET_OWNER', 'my-account', 'S3_EXPECTED_BUCKET_OWNER="my-account" is invalid: expected the 12-digit AWS account id that owns the buckets'],
  ])('refuse a bad %s, naming it (and hiding external ids)', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});

describe('adminRolePolicy', () => {
  it("allows ALLOWED_ROLE_ARNS and the config file's roles; ids from ROLE_EXTERNAL_IDS first, then the file", () => {
    const policy = adminRolePolicy({ allowedRoleArns: [ROLE], roleExternalIds: { [ROLE]: 'from-env', [WRITER]: 'env-writer' } }, [
      { roleArn: undefined, s3RoleArn: WRITER, externalId: 'file-writer' },
      { roleArn: 'arn:aws:iam::333333333333:role/r', s3RoleArn: undefined, externalId: 'file-r' },
    ] as never);
    expect(policy.allowed).toEqual([ROLE, WRITER, 'arn:aws:iam::333333333333:role/r']);
    expect([ROLE, WRITER, 'arn:aws:iam::333333333333:role/r', 'arn:aws:iam::444444444444:role/x'].map((role) => policy.externalIdOf(role))).toEqual(['from-env', 'env-writer', 'file-r', undefined]);
  });
});
