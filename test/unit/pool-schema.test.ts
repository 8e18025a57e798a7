import { describe, expect, it } from 'vitest';
import { unknownAttributeProblem } from '../../jobs/pool-schema.js';
import { buildRunSpec, type ExportRequest } from '../../src/runs/export-request.js';

const defaults = { awsRegion: undefined, fileMaxRecords: 100_000, gzipLevel: 6 };
const spec = (request: Partial<ExportRequest>) => buildRunSpec({ userPoolId: 'eu-west-1_AbC123', destination: 's3://b-1/a', trigger: 'http', ...request }, defaults);
const schema = ['sub', 'email', 'email_verified', 'name', 'identities', 'custom:tenant'].map((Name) => ({ Name }));

describe('unknownAttributeProblem', () => {
  it('accepts names in the schema, standard and custom', () => {
    expect(unknownAttributeProblem(spec({ attributes: 'email,custom:tenant', excludeAttributes: 'name' }), schema)).toBeUndefined();
  });

  it('names an unknown attribute and the closest known one', () => {
    expect(unknownAttributeProblem(spec({ attributes: 'email,custom:tenat' }), schema)).toMatch(/^attribute custom:tenat is not in the schema of user pool eu-west-1_AbC123 \(did you mean custom:tenant\?\)/);
    expect(unknownAttributeProblem(spec({ attributes: 'emial' }), schema)).toMatch(/did you mean email\?/);
  });

  it('refuses a typo in the excluded attributes, which would otherwise export what it meant to drop', () => {
    expect(unknownAttributeProblem(spec({ excludeAttributes: 'identitys' }), schema)).toMatch(/^excluded attribute identitys is not in the schema .*did you mean identities\?/);
  });

  it('refuses a typo in the pseudonymized attributes, which would otherwise export the attribute in clear', () => {
    expect(unknownAttributeProblem(spec({ pseudonymize: 'username,emial', excludeAttributes: 'identities' }), schema)).toBe(
      'pseudonymized attribute emial is not in the schema of user pool eu-west-1_AbC123 (did you mean email?): check the attribute names, custom ones are custom:<name>',
    );
    expect(unknownAttributeProblem(spec({ pseudonymize: 'username,email', excludeAttributes: 'identities' }), schema)).toBeUndefined();
  });

  it('checks nothing without a schema (no DescribeUserPool permission, or an answer without one)', () => {
    expect(unknownAttributeProblem(spec({ attributes: 'anything' }), undefined)).toBeUndefined();
    expect(unknownAttributeProblem(spec({ attributes: 'anything' }), [])).toBeUndefined();
  });
});
