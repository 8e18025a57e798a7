import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { CognitoEmulator } from '../../src/emulator/index.js';

/** The unmodified SDK client pointed at an emulator: any credentials, and no SDK retries to hide errors. */
export function emulatorClient(emulator: CognitoEmulator, accessKeyId = 'test'): CognitoIdentityProviderClient {
  return new CognitoIdentityProviderClient({
    endpoint: emulator.url,
    region: emulator.region,
    credentials: { accessKeyId, secretAccessKey: 'test' },
    maxAttempts: 1,
  });
}
