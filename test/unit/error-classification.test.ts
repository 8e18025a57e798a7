import { describe, expect, it } from 'vitest';
import { classifyError, describeError, errorCode } from '../../src/limits/error-classification.js';

/** An error shaped like the AWS SDK's service exceptions. */
function awsError(name: string, status: number, message = 'boom'): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

describe('classifyError', () => {
  it('treats Cognito throttling as throttled although it arrives with HTTP 400', () => {
    expect(classifyError(awsError('TooManyRequestsException', 400))).toBe('throttled');
    expect(classifyError(awsError('LimitExceededException', 400))).toBe('throttled');
  });

  it('treats an unknown 429 and S3 SlowDown as throttled', () => {
    expect(classifyError(awsError('Whatever', 429))).toBe('throttled');
    expect(classifyError(awsError('SlowDown', 503))).toBe('throttled');
  });

  it('treats server errors and dropped connections as transient', () => {
    expect(classifyError(awsError('InternalErrorException', 500))).toBe('transient');
    expect(classifyError(awsError('SomethingNew', 502))).toBe('transient');
    expect(classifyError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe('transient');
    expect(classifyError(new Error('no code at all'))).toBe('transient');
  });

  it('treats a missing pool, bad credentials, bad parameters and a missing bucket as fatal', () => {
    for (const name of ['ResourceNotFoundException', 'NotAuthorizedException', 'InvalidParameterException', 'AccessDeniedException', 'NoSuchBucket', 'UnrecognizedClientException']) {
      expect(classifyError(awsError(name, 400)), name).toBe('fatal');
    }
    expect(classifyError(Object.assign(new Error('read-only'), { code: 'EROFS' }))).toBe('fatal');
  });

  it('treats S3 answers by their code: SlowDown waits, 5xx retries, bad keys and missing buckets fail at once', () => {
    expect(classifyError(awsError('SlowDown', 503))).toBe('throttled');
    expect(classifyError(awsError('ServiceUnavailable', 503))).toBe('transient');
    expect(classifyError(awsError('InternalError', 500))).toBe('transient');
    expect(classifyError(awsError('RequestTimeout', 400))).toBe('transient');
    for (const name of ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'NoSuchBucket']) {
      expect(classifyError(awsError(name, 403)), name).toBe('fatal');
    }
  });

  it('retries an unknown 4xx a bounded number of times instead of failing the run on it', () => {
    expect(classifyError(awsError('SomeOtherClientError', 400))).toBe('transient');
  });

  it('never retries a bodiless 403 or 404 (a HEAD), whose SDK error has no code', () => {
    expect(classifyError(awsError('Unknown', 403))).toBe('fatal');
    expect(classifyError(awsError('Unknown', 404))).toBe('fatal');
    expect(classifyError(awsError('Unknown', 500))).toBe('transient');
  });

  it('never retries an answer that says something is not there', () => {
    for (const name of ['NoSuchKey', 'NotFound', 'NoSuchUpload', 'NotImplemented']) expect(classifyError(awsError(name, 404)), name).toBe('fatal');
  });

  it('reads the code from a namespaced __type', () => {
    expect(errorCode({ name: 'com.amazonaws.cognito#TooManyRequestsException' })).toBe('TooManyRequestsException');
  });
});

describe('describeError', () => {
  it('gives one line with the code first', () => {
    expect(describeError(awsError('ResourceNotFoundException', 400, 'User pool x does not exist.\nmore'))).toBe(
      'ResourceNotFoundException: User pool x does not exist.',
    );
  });
});
