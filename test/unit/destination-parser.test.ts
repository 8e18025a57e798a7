import { describe, expect, it } from 'vitest';
import { canonicalDestination, isDestinationAllowed, parseDestination } from '../../src/storage/destination.js';

/** The one line the parser throws for `text`, or undefined if it accepts it. */
function refusal(text: string): string | undefined {
  try {
    parseDestination(text);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(RangeError);
    return (error as Error).message;
  }
}

describe('the destination parser', () => {
  it('refuses dot segments in S3 prefixes, literal or percent-encoded, naming the destination in one line', () => {
    for (const text of [
      's3://good-bucket/tenant-b/%2e%2e/tenant-a',
      's3://good-bucket/tenant-b/%2E%2E/tenant-a',
      's3://good-bucket/tenant-b/../tenant-a',
      's3://good-bucket/./tenant-a',
      's3://good-bucket/tenant-a/..',
      's3://good-bucket/tenant-a/%2e',
      's3://good-bucket/tenant-a/.%2e/x',
    ]) {
      const message = refusal(text);
      expect(message, text).toBeDefined();
      expect(message, text).toContain(JSON.stringify(text));
      expect(message?.split('\n'), text).toHaveLength(1);
    }
  });

  it('refuses any % escape and control characters in S3 prefixes', () => {
    expect(refusal('s3://good-bucket/a%20b')).toMatch(/% escape in its S3 prefix/);
    expect(refusal('s3://good-bucket/a%2fb')).toMatch(/% escape/);
    expect(refusal('s3://good-bucket/a\nb')).toMatch(/control character/);
    expect(refusal('s3://good-bucket/a\u0000b')).toMatch(/control character/);
    expect(refusal('s3://good-bucket/a//b')).toMatch(/empty segment/);
  });

  it('refuses dot segments, their encodings and control characters in file paths', () => {
    for (const text of ['file:///data/a/../b', 'file:///data/a/%2e%2e/b', 'file:///data/a/%2E./b', 'file:///data/./b', 'file:///data/a%2fb', 'file:///data/a%5cb', 'file:///data/a%00b', 'file:///data/a%25b', '/data/a/../b', './a/../b', '../elsewhere', '/data/a%2e%2e']) {
      expect(refusal(text), text).toBeDefined();
    }
    expect(refusal('file:///data/a%0ab')).toMatch(/escape "%0a"/);
  });

  it('accepts ordinary destinations and gives them back canonical', () => {
    expect(parseDestination('s3://good-bucket/tenant-a/')).toEqual({ kind: 's3', bucket: 'good-bucket', prefix: 'tenant-a' });
    expect(parseDestination('file:///data/exports/')).toEqual({ kind: 'file', directory: '/data/exports' });
    expect(parseDestination('file:///data/a%20b')).toEqual({ kind: 'file', directory: '/data/a b' });
    expect(parseDestination('file:///data/caf%C3%A9')).toEqual({ kind: 'file', directory: '/data/café' });
    expect(parseDestination('/data/exports')).toEqual({ kind: 'file', directory: '/data/exports' });
    expect(parseDestination('./exports').kind).toBe('file');
    expect(canonicalDestination('s3://good-bucket/tenant-a/')).toBe('s3://good-bucket/tenant-a');
    expect(canonicalDestination('file:///data/a b/')).toBe('file:///data/a%20b');
    // The canonical string parses to the same place again: what was checked is what is written.
    for (const text of ['s3://good-bucket/tenant-a', 'file:///data/a%20b', 'file:///data/caf%C3%A9', '/data/a b']) {
      expect(parseDestination(canonicalDestination(text))).toEqual(parseDestination(text));
    }
  });

  it('never lets an encoded dot segment pass the allow-list', () => {
    expect(isDestinationAllowed('s3://good-bucket/tenant-b/%2e%2e/tenant-a', ['s3://good-bucket/tenant-a'])).toBe(false);
    expect(isDestinationAllowed('s3://good-bucket/tenant-a/%2e%2e/tenant-a', ['s3://good-bucket/tenant-a'])).toBe(false);
    expect(isDestinationAllowed('s3://good-bucket/tenant-a/x', ['s3://good-bucket/tenant-a/'])).toBe(true);
    expect(isDestinationAllowed('file:///data/a%20b/x', ['file:///data/a b'])).toBe(true);
  });
});
