import { describe, expect, it } from 'vitest';
import { FatalExportError } from '../../src/limits/export-errors.js';
import { RateLimitScope } from '../../src/limits/rate-limit-scope.js';

const AWS = { cognitoEndpoint: undefined, stsEndpoint: undefined, awsRegion: 'eu-west-1', awsAccountId: undefined };
const FAST = { transientBackoff: { baseMs: 1, capMs: 2 } };
const stsError = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

describe('the rate-limit scope', () => {
  it('names the bucket by AWS_ACCOUNT_ID and region without asking STS', async () => {
    const scope = new RateLimitScope({ ...AWS, awsAccountId: '123456789012' }, FAST, () => Promise.reject(new Error('not called')));
    expect(await scope.forRegion('eu-west-1')).toBe('123456789012:eu-west-1');
  });

  it('is local against a Cognito endpoint override, but asks STS when STS is overridden too', async () => {
    expect(await new RateLimitScope({ ...AWS, cognitoEndpoint: 'http://127.0.0.1:1' }, FAST).forRegion('us-east-1')).toBe('local:us-east-1');
    const asked = new RateLimitScope({ ...AWS, cognitoEndpoint: 'http://127.0.0.1:1', stsEndpoint: 'http://127.0.0.1:2' }, FAST, () => Promise.resolve('111111111111'));
    expect(await asked.forRegion('us-east-1')).toBe('111111111111:us-east-1');
  });

  it('retries a failed GetCallerIdentity instead of falling back to a bucket of its own', async () => {
    let calls = 0;
    const scope = new RateLimitScope(AWS, FAST, () => (++calls === 1 ? Promise.reject(stsError()) : Promise.resolve('222222222222')));
    expect(await scope.forRegion('eu-west-1')).toBe('222222222222:eu-west-1');
    expect(await scope.forRegion('us-east-1')).toBe('222222222222:us-east-1');
    expect(calls).toBe(2);
  });

  it('fails with a message naming AWS_ACCOUNT_ID when STS keeps failing, and asks again next time', async () => {
    let calls = 0;
    let answer: () => Promise<string> = () => Promise.reject(stsError());
    const scope = new RateLimitScope(AWS, FAST, () => {
      calls++;
      return answer();
    });
    const failure = await scope.forRegion('eu-west-1').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(FatalExportError);
    expect((failure as Error).message).toMatch(/cannot tell which AWS account this worker is in.*ECONNREFUSED.*: set AWS_ACCOUNT_ID$/);
    expect(calls).toBe(5);
    answer = () => Promise.resolve('333333333333');
    expect(await scope.forRegion('eu-west-1')).toBe('333333333333:eu-west-1');
  });

  it('says the credentials are missing, not the account id, when the SDK has none to ask STS with', async () => {
    const missing = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    const failure = await new RateLimitScope(AWS, FAST, () => Promise.reject(missing)).forRegion('eu-west-1').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(FatalExportError);
    expect((failure as Error).message).toBe(
      'AWS credentials: CredentialsProviderError: Could not load credentials from any providers: give the worker AWS credentials (environment, profile or role)',
    );
  });
});
