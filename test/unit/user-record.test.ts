import { describe, expect, it } from 'vitest';
import { parseAttributeList, toUserRecord, type RecordContext } from '../../src/tables/user-record.js';
import { encodeNdjson } from '../../src/walk/ndjson.js';

const context: RecordContext = { userPoolId: 'eu-west-1_AbC', snapshotId: '20250102T030405678Z-abcdef', attributes: null };

const user = {
  Username: 'Google_109384756',
  Attributes: [
    { Name: 'sub', Value: '0f8fad5b-d9cb-469f-a165-70867728950e' },
    { Name: 'email', Value: 'a"b\\c@example.com' },
    { Name: 'email_verified', Value: 'true' },
    { Name: 'name', Value: 'Zoë 山田\nline two' },
    { Name: 'custom:tenant', Value: 'acme' },
  ],
  UserCreateDate: new Date('2025-01-02T03:04:05.678Z'),
  UserLastModifiedDate: new Date('2025-02-03T04:05:06.789Z'),
  Enabled: false,
  UserStatus: 'EXTERNAL_PROVIDER' as const,
};

describe('toUserRecord', () => {
  it('maps a Cognito user to the schema_version 1 record', () => {
    expect(toUserRecord(user, context)).toEqual({
      user_pool_id: 'eu-west-1_AbC',
      snapshot_id: '20250102T030405678Z-abcdef',
      username: 'Google_109384756',
      sub: '0f8fad5b-d9cb-469f-a165-70867728950e',
      enabled: false,
      status: 'EXTERNAL_PROVIDER',
      created_at: '2025-01-02T03:04:05.678Z',
      last_modified_at: '2025-02-03T04:05:06.789Z',
      attributes: { email: 'a"b\\c@example.com', email_verified: 'true', name: 'Zoë 山田\nline two', 'custom:tenant': 'acme' },
      mfa_options: [],
    });
  });

  it('keeps only the selected attributes, and sub always', () => {
    const record = toUserRecord(user, { ...context, attributes: new Set(['email', 'phone_number']) });
    expect(record.attributes).toEqual({ email: 'a"b\\c@example.com' });
    expect(record.sub).toBe('0f8fad5b-d9cb-469f-a165-70867728950e');
  });

  it('maps MFA options to snake_case', () => {
    const record = toUserRecord({ ...user, MFAOptions: [{ DeliveryMedium: 'SMS', AttributeName: 'phone_number' }] }, context);
    expect(record.mfa_options).toEqual([{ delivery_medium: 'SMS', attribute_name: 'phone_number' }]);
  });
});

describe('encodeNdjson', () => {
  it('writes one line per record even when values hold newlines', () => {
    const text = encodeNdjson([toUserRecord(user, context), toUserRecord(user, context)]);
    const lines = text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect(JSON.parse(lines[0] ?? '')).toEqual(toUserRecord(user, context));
  });
});

describe('parseAttributeList', () => {
  it('parses a comma-separated list', () => {
    expect([...parseAttributeList('email, custom:tenant')]).toEqual(['email', 'custom:tenant']);
  });

  it('names the bad entry', () => {
    expect(() => parseAttributeList('email,,name')).toThrow(/attribute name "" is not valid/);
  });
});
