import { CognitoIdentityProviderClient, type CognitoIdentityProviderClientConfig } from '@aws-sdk/client-cognito-identity-provider';
import { limitResponseSize } from './response-size-limit.js';

/** What the Cognito client needs from the process configuration (an AppConfig has it). */
export interface CognitoClientSettings {
  /** The SDK's endpoint override (`AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`), if any. */
  readonly cognitoEndpoint: string | undefined;
}

/** Client settings a caller (a test, the demo) may override. */
export interface CognitoClientOverrides {
  /** Static keys, or a provider (an assumed role's temporary credentials, refreshed before they expire). */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | Exclude<CognitoIdentityProviderClientConfig['credentials'], undefined>;
  readonly endpoint?: string;
}

const REQUEST_HANDLER = { connectionTimeout: 5_000, requestTimeout: 30_000 } as const;

/**
 * A Cognito client whose own retries are off (`maxAttempts: 1`): our retry layer classifies every
 * error and tells the shared rate limiter about throttles, which the SDK's retries would hide. Its
 * response bodies are capped (see `response-size-limit.ts`): an oversized one is a transient error.
 */
export function createCognitoClient(
  settings: CognitoClientSettings,
  region: string,
  overrides: CognitoClientOverrides = {},
): CognitoIdentityProviderClient {
  const endpoint = overrides.endpoint ?? settings.cognitoEndpoint;
  const client = new CognitoIdentityProviderClient({
    region,
    maxAttempts: 1,
    requestHandler: REQUEST_HANDLER,
    ...(endpoint ? { endpoint } : {}),
    ...(overrides.credentials ? { credentials: overrides.credentials } : {}),
  });
  limitResponseSize(client.middlewareStack);
  return client;
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
