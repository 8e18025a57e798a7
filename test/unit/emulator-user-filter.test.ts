import { describe, expect, it } from 'vitest';
import { CognitoServiceError } from '../../src/emulator/cognito-error.js';
import { StoredUser } from '../../src/emulator/stored-user.js';
import { compileUserFilter } from '../../src/emulator/user-filter.js';

const alice = new StoredUser('a1b2c3d4-0000-4000-8000-000000000000', 'Alice', true, 'CONFIRMED', 1, 1, ['email', 'alice@example.com', 'name', 'Al "Ace" \\ Smith'], null);
const bob = new StoredUser('b1b2c3d4-0000-4000-8000-000000000000', 'bob', false, 'FORCE_CHANGE_PASSWORD', 1, 1, ['email', 'bob@example.org'], null);

function matching(filter: string): string[] {
  const compiled = compileUserFilter(filter);
  return [alice, bob].filter((u) => compiled.matches(u)).map((u) => u.username);
}

function errorOf(filter: string): CognitoServiceError {
  try {
    compileUserFilter(filter);
  } catch (error) {
    if (error instanceof CognitoServiceError) return error;
    throw error;
  }
  throw new Error(`filter ${filter} was accepted`);
}

describe('ListUsers filters', () => {
  it('match everyone when empty', () => {
    expect(matching('')).toEqual(['Alice', 'bob']);
  });

  it('match whole values with = and prefixes with ^=', () => {
    expect(matching('email = "alice@example.com"')).toEqual(['Alice']);
    expect(matching('email = "alice"')).toEqual([]);
    expect(matching('email ^= "b"')).toEqual(['bob']);
  });

  it('compare usernames case-sensitively', () => {
    expect(matching('username = "alice"')).toEqual([]);
    expect(matching('username = "Alice"')).toEqual(['Alice']);
  });

  it('compare cognito:user_status case-insensitively', () => {
    expect(matching('cognito:user_status = "force_change_password"')).toEqual(['bob']);
    expect(matching('"cognito:user_status" ^= "conf"')).toEqual(['Alice']);
  });

  it('match status against Enabled and Disabled', () => {
    expect(matching('status = "Enabled"')).toEqual(['Alice']);
    expect(matching('status = "Disabled"')).toEqual(['bob']);
    expect(matching('status = "disabled"')).toEqual([]);
  });

  it('unescape quotes and backslashes in values', () => {
    expect(matching(String.raw`name = "Al \"Ace\" \\ Smith"`)).toEqual(['Alice']);
  });

  it('give sub filters a key range', () => {
    expect(compileUserFilter('sub ^= "a1"').subPrefix).toBe('a1');
    expect(compileUserFilter('email ^= "a1"').subPrefix).toBeNull();
  });

  it('reject custom attributes as Cognito does', () => {
    expect(errorOf('custom:tenant = "acme"').message).toBe('Invalid search attribute: custom:tenant');
    expect(errorOf('"custom:tenant" = "acme"').message).toBe('Invalid search attribute: custom:tenant');
  });

  it('reject malformed filters with Cognito’s parse error', () => {
    for (const bad of ['email = acme', 'email =', 'email ~= "a"', '= "a"', 'email = "a" extra']) {
      expect(errorOf(bad)).toMatchObject({ code: 'InvalidParameterException', message: 'Error while parsing filter.' });
    }
  });

  it('reject filters over 256 characters', () => {
    expect(errorOf(`email = "${'a'.repeat(250)}"`).message).toMatch(/Member must have length less than or equal to 256/);
  });
});
