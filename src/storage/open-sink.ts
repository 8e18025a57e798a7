import type { S3Client } from '@aws-sdk/client-s3';
import type { RetryPolicy } from '../limits/retry-policy.js';
import { parseDestination } from './destination.js';
import { FileSink, type FileModes } from './file-sink.js';
import type { ObjectSink } from './object-sink.js';
import { S3Sink } from './s3-sink.js';

/** What opening a destination needs besides its URL. */
export interface SinkSettings {
  readonly modes: FileModes;
  /** The S3 client, asked for only when the destination is on S3. */
  readonly s3: () => S3Client;
  /** The account that must own the bucket (S3's ExpectedBucketOwner), if known. */
  readonly owner?: string | undefined;
  readonly retryPolicy?: Partial<RetryPolicy>;
}

/** The sink of a destination URL (`s3://…` or `file://…`); throws the parser's RangeError for a bad one. */
export function openSink(destination: string, settings: SinkSettings): ObjectSink {
  const parsed = parseDestination(destination);
  if (parsed.kind === 'file') return new FileSink(parsed.directory, settings.modes);
  return new S3Sink(settings.s3(), parsed.bucket, parsed.prefix, settings.retryPolicy, settings.owner);
}
