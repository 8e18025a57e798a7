import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { AppConfig } from '../config/app-config.js';

/** Client settings a caller (a test, the demo) may override. */
export interface ClientOverrides {
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  readonly endpoint?: string;
  /** Passed to the S3 client; s3rver needs `WHEN_REQUIRED`. */
  readonly requestChecksumCalculation?: S3ClientConfig['requestChecksumCalculation'];
}

const REQUEST_HANDLER = { connectionTimeout: 5_000, requestTimeout: 30_000 } as const;

/**
 * A Cognito client whose own retries are off (`maxAttempts: 1`): our retry layer classifies every
 * error and tells the shared rate limiter about throttles, which the SDK's retries would hide.
 */
export function createCognitoClient(config: AppConfig, region: string, overrides: ClientOverrides = {}): CognitoIdentityProviderClient {
  const endpoint = overrides.endpoint ?? config.cognitoEndpoint;
  return new CognitoIdentityProviderClient({
    region,
    maxAttempts: 1,
    requestHandler: REQUEST_HANDLER,
    ...(endpoint ? { endpoint } : {}),
    ...(overrides.credentials ? { credentials: overrides.credentials } : {}),
  });
}

/**
 * An S3 client. Streamed uploads cannot be replayed by our retry layer, so this client keeps the
 * SDK's standard retries (which retry each part from its buffer) and follows region redirects.
 */
export function createS3Client(config: AppConfig, overrides: ClientOverrides = {}): S3Client {
  const endpoint = overrides.endpoint ?? config.s3Endpoint;
  return new S3Client({
    region: config.awsRegion ?? 'us-east-1',
    maxAttempts: 5,
    followRegionRedirects: true,
    forcePathStyle: config.s3ForcePathStyle,
    requestHandler: REQUEST_HANDLER,
    ...(endpoint ? { endpoint } : {}),
    ...(overrides.credentials ? { credentials: overrides.credentials } : {}),
    ...(overrides.requestChecksumCalculation ? { requestChecksumCalculation: overrides.requestChecksumCalculation } : {}),
  });
}

const POOL_ID = /^([a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+$/;

/** True when `id` has the shape of a user pool id (`<region>_<id>`). */
export function isUserPoolId(id: string): boolean {
  return POOL_ID.test(id);
}

/** The region a user pool lives in, read from its id (`eu-west-1_AbC` → `eu-west-1`). */
export function regionOfUserPool(userPoolId: string): string | undefined {
  return POOL_ID.exec(userPoolId)?.[1];
}
