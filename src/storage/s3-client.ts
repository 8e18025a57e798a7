import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/** What the S3 client needs from the process configuration (an AppConfig has it). */
export interface S3ClientSettings {
  /** Region of the bucket's endpoint when nothing else says. */
  readonly awsRegion: string | undefined;
  /** The SDK's endpoint override (`AWS_ENDPOINT_URL_S3`), e.g. MinIO. */
  readonly s3Endpoint: string | undefined;
  /** Path-style URLs, which most S3-compatible servers need. */
  readonly s3ForcePathStyle: boolean;
}

/** Client settings a caller (a test, the demo) may override. */
export interface S3ClientOverrides {
  /** Static keys, or a provider (an assumed role's temporary credentials). */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | Exclude<S3ClientConfig['credentials'], undefined>;
  readonly endpoint?: string;
  /** s3rver needs `WHEN_REQUIRED`. */
  readonly requestChecksumCalculation?: S3ClientConfig['requestChecksumCalculation'];
}

const REQUEST_HANDLER = { connectionTimeout: 5_000, requestTimeout: 30_000 } as const;

/**
 * An S3 client whose own retries are off (`maxAttempts: 1`): the sink wraps every request in our
 * retry layer, which waits out SlowDown without limit and retries 5xx and resets a bounded number
 * of times (every request is replayable: parts are buffered). Follows region redirects.
 */
export function createS3Client(settings: S3ClientSettings, overrides: S3ClientOverrides = {}): S3Client {
  const endpoint = overrides.endpoint ?? settings.s3Endpoint;
  return new S3Client({
    region: settings.awsRegion ?? 'us-east-1',
    maxAttempts: 1,
    followRegionRedirects: true,
    forcePathStyle: settings.s3ForcePathStyle,
    requestHandler: REQUEST_HANDLER,
    ...(endpoint ? { endpoint } : {}),
    ...(overrides.credentials ? { credentials: overrides.credentials } : {}),
    ...(overrides.requestChecksumCalculation ? { requestChecksumCalculation: overrides.requestChecksumCalculation } : {}),
  });
}

/**
 * The region S3 requests are signed for: AWS_REGION when set; else, on AWS, the run's (its pool's,
 * so a bucket beside the pool is reached without a redirect); else us-east-1. An S3-compatible
 * store (an endpoint override: MinIO, R2, a VPC endpoint) keeps us-east-1 without AWS_REGION, as most
 * expect it whatever the pool. Pure.
 */
export function s3RegionOf(settings: Pick<S3ClientSettings, 'awsRegion' | 's3Endpoint'>, endpointOverride: string | undefined, runRegion: string | undefined): string {
  if (settings.awsRegion) return settings.awsRegion;
  if (settings.s3Endpoint || endpointOverride) return 'us-east-1';
  return runRegion ?? 'us-east-1';
}
