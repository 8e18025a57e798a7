import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/app-config.js';
import { buildRunSpec, ExportRequestError, type ExportRequest } from '../../src/runs/export-request.js';
import { toMembershipRecord } from '../../src/tables/group-record.js';
import { keyIdOf, pseudonym, type RecordPrivacy } from '../../src/tables/privacy.js';
import { toUserRecord } from '../../src/tables/user-record.js';

const KEY = randomBytes(32).toString('hex');
const defaults = { ...loadConfig({}), pseudonymizationKey: KEY };
const request = (fields: Partial<ExportRequest>): ExportRequest => ({ userPoolId: 'eu-west-1_Private1', destination: 'file:///tmp/private', trigger: 'cli', ...fields });

/** The one-line message buildRunSpec refuses `fields` with. */
function refusal(fields: Partial<ExportRequest>): string {
  try {
    buildRunSpec(request(fields), defaults);
  } catch (error) {
    expect(error).toBeInstanceOf(ExportRequestError);
    const message = (error as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    return message;
  }
  throw new Error(`buildRunSpec accepted ${JSON.stringify(fields)}`);
}

describe('a filter on a private field', () => {
  it('is refused when the field is pseudonymized, without echoing the value', () => {
    const message = refusal({ filter: 'email ^= "alice.secret@"', pseudonymize: 'email', excludeAttributes: 'identities' });
    expect(message).toMatch(/filter on email, which is pseudonymized/);
    expect(message).not.toContain('alice.secret');
    expect(refusal({ filter: 'username = "alice.secret"', pseudonymize: 'username', excludeAttributes: 'identities' })).toMatch(/filter on username, which is pseudonymized/);
  });

  it('is refused when the field is excluded', () => {
    expect(refusal({ filter: 'phone_number ^= "+4478"', excludeAttributes: 'phone_number' })).toMatch(/filter on phone_number, which is excluded/);
  });

  it('is allowed on a field that is kept as it is', () => {
    const spec = buildRunSpec(request({ filter: 'status = "Enabled"', pseudonymize: 'email' }), defaults);
    expect(spec.filter).toBe('status = "Enabled"');
  });
});

describe('a hashed username beside identities', () => {
  it('is refused while identities is exported (it holds the provider user id the username is made of)', () => {
    const message = refusal({ pseudonymize: 'username' });
    expect(message).toMatch(/username is pseudonymized but identities is exported/);
    expect(message).toMatch(/exclude identities/);
    expect(refusal({ pseudonymize: 'username', attributes: 'email,identities' })).toMatch(/identities is exported/);
  });

  it('is allowed when identities is excluded, pseudonymized too, or not among the kept attributes', () => {
    expect(buildRunSpec(request({ pseudonymize: 'username', excludeAttributes: 'identities' }), defaults).pseudonymize).toEqual(['username']);
    expect(buildRunSpec(request({ pseudonymize: 'username,identities' }), defaults).pseudonymize).toEqual(['identities', 'username']);
    expect(buildRunSpec(request({ pseudonymize: 'username', attributes: 'email' }), defaults).pseudonymize).toEqual(['username']);
  });
});

describe('pseudonyms', () => {
  const privacy: RecordPrivacy = { exclude: new Set(), pseudonymize: new Set(['username', 'email', 'preferred_username']), key: Buffer.from(KEY) };
  const context = { userPoolId: 'eu-west-1_Private1', snapshotId: 's', attributes: null, privacy };
  const user = {
    Username: 'alice@example.com',
    Attributes: [
      { Name: 'sub', Value: '0b0c' },
      { Name: 'email', Value: 'alice@example.com' },
      { Name: 'preferred_username', Value: 'alice@example.com' },
    ],
  };

  it('differ between fields for the same value (a hash of one field reveals nothing about another)', () => {
    const record = toUserRecord(user, context);
    expect(new Set([record.username, record.attributes.email, record.attributes.preferred_username]).size).toBe(3);
    expect(pseudonym(Buffer.from(KEY), 'email', 'a')).not.toBe(pseudonym(Buffer.from(KEY), 'username', 'a'));
  });

  it('are the same for one field in every table, so joins keep working', () => {
    const record = toUserRecord(user, context);
    expect(toMembershipRecord('admins', user, context).username).toBe(record.username);
    expect(record.username).toBe(pseudonym(Buffer.from(KEY), 'username', 'alice@example.com'));
    expect(record.attributes.email).toBe(pseudonym(Buffer.from(KEY), 'email', 'alice@example.com'));
    expect(record.attributes.email).toMatch(/^[0-9a-f]{64}$/);
  });

  it('carry a versioned key id, so snapshots hashed the old way are never diffed against new ones', () => {
    expect(keyIdOf(KEY)).toMatch(/^v2-[0-9a-f]{16}$/);
    expect(keyIdOf(KEY)).toBe(keyIdOf(KEY));
    expect(keyIdOf(KEY)).not.toBe(keyIdOf(randomBytes(32).toString('hex')));
  });
});

describe('PSEUDONYMIZATION_KEY', () => {
  it('takes hex or base64 of at least 32 random bytes', () => {
    for (const key of [randomBytes(32).toString('hex'), randomBytes(48).toString('hex').toUpperCase(), randomBytes(32).toString('base64'), randomBytes(32).toString('base64url'), randomBytes(33).toString('base64')]) {
      expect(loadConfig({ PSEUDONYMIZATION_KEY: key }).pseudonymizationKey).toBe(key);
    }
  });

  it.each([
    ['a passphrase', 'correct horse battery staple, but longer than 32 bytes'],
    ['a passphrase without spaces', 'correcthorsebatterystaplecorrecthorsebatterystaple'],
    ['31 bytes of hex', randomBytes(31).toString('hex')],
    ['31 bytes of base64', randomBytes(31).toString('base64')],
    ['one repeated character', 'k'.repeat(64)],
    ['a repeated pattern', 'ab'.repeat(32)],
  ])('refuses %s with one line naming the variable and how to make a key, never the value', (_what, key) => {
    let error: unknown;
    try {
      loadConfig({ PSEUDONYMIZATION_KEY: key });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toMatch(/^PSEUDONYMIZATION_KEY=\(hidden\) is invalid: /);
    expect(message).toContain('openssl rand -hex 32');
    expect(message).not.toContain(key.slice(0, 8));
  });
});
