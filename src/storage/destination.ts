import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Where a run's files go: an S3 bucket and key prefix, or a local directory with the same layout. */
export type Destination =
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string }
  | { readonly kind: 'file'; readonly directory: string };

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Control characters (C0, DEL, C1): never part of a key or a path we write. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The one parser of destinations, used by every entry (CLI, HTTP, config file, schedules, start
 * jobs, the sink itself): `s3://bucket/prefix` or `file:///absolute/dir` (a bare absolute path or
 * `./relative` path is taken as a directory too). Refuses what could make the checked string and the
 * written location differ: `.`/`..` segments (and their percent-encodings), any `%` escape in an S3
 * prefix, control characters. Throws a RangeError, one line naming the destination and the fix.
 */
export function parseDestination(text: string): Destination {
  const shown = JSON.stringify(text);
  const refuse = (why: string): never => {
    throw new RangeError(`destination ${shown} ${why}`);
  };
  if (CONTROL.test(text)) refuse('contains a control character: write the destination without them');
  const value = text.trim();
  if (value.startsWith('s3://')) {
    const rest = value.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    if (!BUCKET.test(bucket)) refuse('has no valid bucket name: expected s3://bucket/prefix');
    // S3 keys are taken literally: an escape would be written as the three characters it is, after
    // an allow-list that decoded it had said yes. Refused, so the checked string is the written one.
    if (prefix.includes('%')) refuse('has a % escape in its S3 prefix: write the prefix as the literal key prefix, without % escapes');
    if (prefix !== '') checkSegments(prefix.split('/'), refuse);
    return { kind: 's3', bucket, prefix };
  }
  if (value.startsWith('file:')) {
    if (!value.startsWith('file:///')) refuse('is not a file URL with an absolute path: expected file:///absolute/dir');
    const path = value.slice('file://'.length).replace(/[?#].*$/, '');
    const segments = path.split('/').slice(1);
    const decoded = segments.map((segment) => {
      // %2e, %2f, %5c, %25 and encoded control characters decode into another path than the one
      // checked; escapes of other characters (a space, UTF-8 bytes) are what file URLs are made of.
      for (const escape of segment.match(/%[0-9a-fA-F]{2}|%/g) ?? []) {
        const byte = escape.length === 3 ? parseInt(escape.slice(1), 16) : -1;
        const char = String.fromCharCode(byte);
        if (byte === -1 || (byte < 0x80 && ('.%/\\'.includes(char) || CONTROL.test(char)))) {
          refuse(`has the escape ${JSON.stringify(escape)} in its path: only escapes of ordinary characters (such as %20 for a space) are allowed`);
        }
      }
      let plain = '';
      try {
        plain = decodeURIComponent(segment);
      } catch {
        refuse('has an escape that is not UTF-8 in its path: expected file:///absolute/dir');
      }
      if (CONTROL.test(plain)) refuse('contains a control character: write the destination without them');
      return plain;
    });
    checkSegments(decoded.slice(0, -1).concat(decoded.at(-1) === '' ? [] : decoded.slice(-1)), refuse);
    let directory: string;
    try {
      directory = fileURLToPath(value);
    } catch {
      return refuse('is not a file URL: expected file:///absolute/dir');
    }
    return { kind: 'file', directory: directory.replace(/\/+$/, '') || '/' };
  }
  if (isAbsolute(value) || value.startsWith('./') || value.startsWith('../')) {
    if (value.includes('%')) refuse('has a % in its path: use a file:/// URL with escapes of ordinary characters, or a path without %');
    const relativeMarker = value.startsWith('./') ? 1 : 0;
    const segments = value.split('/').slice(isAbsolute(value) ? 1 : relativeMarker);
    checkSegments(segments.filter((segment, i) => segment !== '' || i < segments.length - 1), refuse);
    return { kind: 'file', directory: resolve(value).replace(/\/+$/, '') || '/' };
  }
  return refuse('is not supported: expected s3://bucket/prefix or file:///absolute/dir');
}

/** Refuses `.`, `..` and empty segments (a path written twice over, `a//b`). */
function checkSegments(segments: readonly string[], refuse: (why: string) => never): void {
  for (const segment of segments) {
    if (segment === '.' || segment === '..') refuse(`has a "${segment}" segment: write the destination without . or .. segments`);
    if (segment === '') refuse('has an empty segment (//): write the destination without it');
  }
}

/** The destination written back as a URL (`s3://bucket/prefix` or `file:///dir`). */
export function formatDestination(destination: Destination): string {
  if (destination.kind === 's3') {
    return destination.prefix ? `s3://${destination.bucket}/${destination.prefix}` : `s3://${destination.bucket}`;
  }
  return pathToFileURL(destination.directory).href;
}

/**
 * The canonical string of a destination (`s3://bucket/prefix`, `file:///dir`, no trailing slash):
 * what the allow-list compares, what a run records and what its sink writes to, so the string
 * checked is the string used. Throws the parser's RangeError for a destination it refuses.
 */
export function canonicalDestination(text: string): string {
  return formatDestination(parseDestination(text));
}

/**
 * A destination as the allow-list compares it: {@link canonicalDestination}. Dot segments and
 * escapes are refused by the parser rather than resolved, so there is nothing to resolve.
 */
export function normalizedDestination(text: string): string {
  return canonicalDestination(text);
}

/**
 * Whether `destination` is one of `allowed` or under one of them (at a `/`: `s3://b/p` allows
 * `s3://b/p/x`, not `s3://b/px`), both canonical. False for a destination (or an entry) the parser
 * refuses.
 */
export function isDestinationAllowed(destination: string, allowed: readonly string[]): boolean {
  let target: string;
  try {
    target = canonicalDestination(destination);
  } catch {
    return false;
  }
  return allowed.some((entry) => {
    let prefix: string;
    try {
      prefix = canonicalDestination(entry);
    } catch {
      return false;
    }
    return target === prefix || target.startsWith(`${prefix}/`);
  });
}
