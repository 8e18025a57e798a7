import { describe, expect, it } from 'vitest';
import { isDestinationAllowed, normalizedDestination } from '../../src/storage/destination.js';

describe('the destination allow-list', () => {
  it('compares normalized URLs (no trailing slash) and refuses dot segments and % escapes instead of resolving them', () => {
    expect(normalizedDestination('s3://bkt/x/')).toBe('s3://bkt/x');
    expect(() => normalizedDestination('s3://bkt/p/../x')).toThrow(/has a "\.\." segment/);
    expect(() => normalizedDestination('s3://bkt/p/%2e%2e/x/')).toThrow(/% escape/);
    expect(() => normalizedDestination('file:///a/../b')).toThrow(/has a "\.\." segment/);
    expect(() => normalizedDestination('file:///a/%2E%2E/b/')).toThrow();
  });

  it('allows a listed destination and what is under it, at a slash, and nothing that steps out', () => {
    const allowed = ['s3://bkt/exports', 'file:///data/exports/'];
    expect(isDestinationAllowed('s3://bkt/exports', allowed)).toBe(true);
    expect(isDestinationAllowed('s3://bkt/exports/team-a', allowed)).toBe(true);
    expect(isDestinationAllowed('file:///data/exports/a', allowed)).toBe(true);
    expect(isDestinationAllowed('s3://bkt/exports-other', allowed)).toBe(false);
    expect(isDestinationAllowed('s3://bkt/exports/../secrets', allowed)).toBe(false);
    expect(isDestinationAllowed('s3://bkt/exports/%2e%2e/secrets', allowed)).toBe(false);
    expect(isDestinationAllowed('file:///data/exports/../../etc', allowed)).toBe(false);
    expect(isDestinationAllowed('s3://other/exports', allowed)).toBe(false);
    expect(isDestinationAllowed('not a url', allowed)).toBe(false);
    expect(isDestinationAllowed('s3://bkt/exports', [])).toBe(false);
  });
});
