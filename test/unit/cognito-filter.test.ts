import { describe, expect, it } from 'vitest';
import { escapeFilterValue, FilterError, formatFilter, parseFilter } from '../../src/cognito/cognito-filter.js';

describe('parseFilter', () => {
  it('parses the equality and prefix forms', () => {
    expect(parseFilter('email = "a@example.com"')).toEqual({ attribute: 'email', operator: '=', value: 'a@example.com' });
    expect(parseFilter('sub ^= "0"')).toEqual({ attribute: 'sub', operator: '^=', value: '0' });
  });

  it('accepts a quoted attribute name and any whitespace', () => {
    expect(parseFilter('"family_name"^="Reddy"')).toEqual({ attribute: 'family_name', operator: '^=', value: 'Reddy' });
    expect(parseFilter(' \tname\n=  "x" ')).toEqual({ attribute: 'name', operator: '=', value: 'x' });
  });

  it('unescapes quotes and backslashes in the value', () => {
    expect(parseFilter('name = "say \\"hi\\" \\\\ bye"').value).toBe('say "hi" \\ bye');
  });

  it('accepts cognito:user_status and status', () => {
    expect(parseFilter('cognito:user_status = "confirmed"').attribute).toBe('cognito:user_status');
    expect(parseFilter('status = "Enabled"').attribute).toBe('status');
  });

  it.each([
    ['custom:tenant = "a"', /not searchable/],
    ['email == "a"', /expected a double-quoted value/],
    ['email = a', /expected a double-quoted value/],
    ['email = "a', /unterminated/],
    ['email = "a" extra', /unexpected text/],
    ['= "a"', /no attribute name/],
    ['email ~ "a"', /expected = or \^=/],
    [`email = "${'a'.repeat(260)}"`, /at most 256/],
  ])('rejects %s', (expression, message) => {
    expect(() => parseFilter(expression)).toThrow(FilterError);
    expect(() => parseFilter(expression)).toThrow(message);
  });
});

describe('formatFilter', () => {
  it('round-trips a value with quotes and backslashes', () => {
    const filter = { attribute: 'name', operator: '^=', value: 'O"Brien \\ co' } as const;
    expect(parseFilter(formatFilter(filter))).toEqual(filter);
  });

  it('escapes only quotes and backslashes', () => {
    expect(escapeFilterValue('a"b\\c\nd')).toBe('a\\"b\\\\c\nd');
  });

  it('refuses a filter longer than Cognito accepts', () => {
    expect(() => formatFilter({ attribute: 'email', operator: '=', value: 'x'.repeat(250) })).toThrow(/at most 256/);
  });
});
