import { isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Where a run's files go: an S3 bucket and key prefix, or a local directory with the same layout. */
export type Destination =
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string }
  | { readonly kind: 'file'; readonly directory: string };

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses `s3://bucket/prefix` or `file:///absolute/dir` (a bare absolute path or `./relative` path
 * is taken as a directory too). Throws a RangeError saying what form is expected.
 */
export function parseDestination(text: string): Destination {
  const value = text.trim();
  if (value.startsWith('s3://')) {
    const rest = value.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    if (!BUCKET.test(bucket)) {
      throw new RangeError(`destination ${JSON.stringify(text)} has no valid bucket name: expected s3://bucket/prefix`);
    }
    return { kind: 's3', bucket, prefix };
  }
  if (value.startsWith('file:')) {
    let directory: string;
    try {
      directory = fileURLToPath(value);
    } catch {
      throw new RangeError(`destination ${JSON.stringify(text)} is not a file URL: expected file:///absolute/dir`);
    }
    return { kind: 'file', directory: directory.replace(/\/+$/, '') || '/' };
  }
  if (isAbsolute(value) || value.startsWith('./') || value.startsWith('../')) {
    return { kind: 'file', directory: fileURLToPath(pathToFileURL(value)).replace(/\/+$/, '') || '/' };
  }
  throw new RangeError(
    `destination ${JSON.stringify(text)} is not supported: expected s3://bucket/prefix or file:///absolute/dir`,
  );
}

/** The destination written back as a URL (`s3://bucket/prefix` or `file:///dir`). */
export function formatDestination(destination: Destination): string {
  if (destination.kind === 's3') {
    return destination.prefix ? `s3://${destination.bucket}/${destination.prefix}` : `s3://${destination.bucket}`;
  }
  return pathToFileURL(destination.directory).href;
}

/**
 * A destination as the allow-list compares it: canonical (`s3://bucket/prefix`, `file:///dir`),
 * with `.` and `..` segments (`%2e` too) resolved as a URL resolves them, no trailing slash. Throws a
 * RangeError for a destination that cannot be parsed.
 */
export function normalizedDestination(text: string): string {
  const value = text.trim();
  const resolved = /^(s3|file):/.test(value) ? new URL(value).href : value;
  const canonical = formatDestination(parseDestination(resolved));
  return new URL(canonical).href.replace(/\/+$/, '');
}

/**
 * Whether `destination` is one of `allowed` or under one of them (at a `/`: `s3://b/p` allows
 * `s3://b/p/x`, not `s3://b/px`), compared normalized so `..` cannot step out. False for a
 * destination that cannot be parsed.
 */
export function isDestinationAllowed(destination: string, allowed: readonly string[]): boolean {
  let target: string;
  try {
    target = normalizedDestination(destination);
  } catch {
    return false;
  }
  return allowed.some((entry) => {
    let prefix: string;
    try {
      prefix = normalizedDestination(entry);
    } catch {
      return false;
    }
    return target === prefix || target.startsWith(`${prefix}/`);
  });
}
