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
