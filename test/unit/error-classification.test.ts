import { describe, expect, it } from 'vitest';
import { classifyError, describeError, errorCode, httpStatus, redactTokens } from '../../src/limits/error-classification.js';

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

  it('classifies a thrown null, undefined or non-object as an unknown transient error instead of throwing', () => {
    for (const thrown of [null, undefined, 'boom', 42]) {
      expect(errorCode(thrown), String(thrown)).toBe('UnknownError');
      expect(httpStatus(thrown), String(thrown)).toBeUndefined();
      expect(classifyError(thrown), String(thrown)).toBe('transient');
    }
    expect(describeError('socket closed')).toBe('UnknownError: socket closed');
  });

  it('reads the HTTP status only from a numeric $metadata.httpStatusCode', () => {
    expect(httpStatus(awsError('SlowDown', 503))).toBe(503);
    expect(httpStatus({ $metadata: { httpStatusCode: '503' } })).toBeUndefined();
    expect(httpStatus(new Error('no metadata'))).toBeUndefined();
  });

  it("prefers a Node system error's code to the error's own name", () => {
    const refused = Object.assign(new Error('open /d/x'), { name: 'FetchError', code: 'EACCES' });
    expect(errorCode(refused)).toBe('EACCES');
    expect(classifyError(refused)).toBe('fatal');
  });

  it("classifies a plain Error by its code when that code is an S3 one, not by the name 'Error'", () => {
    const missing = Object.assign(new Error('The specified key does not exist.'), { code: 'NoSuchKey' });
    expect(errorCode(missing)).toBe('NoSuchKey');
    expect(classifyError(missing)).toBe('fatal');
    expect(errorCode(new Error('no code'))).toBe('UnknownError');
    expect(errorCode({})).toBe('UnknownError');
  });

  it('fails on a 403 or 404 only without a code: an unknown code with those statuses is retried', () => {
    expect(classifyError(awsError('SomeNewCode', 404))).toBe('transient');
    expect(classifyError(awsError('SomeNewCode', 403))).toBe('transient');
    // A HEAD's error from an SDK that sets no name at all: a plain Error with only the status.
    expect(classifyError(Object.assign(new Error(''), { $metadata: { httpStatusCode: 403 } }))).toBe('fatal');
    expect(classifyError(Object.assign(new Error(''), { $metadata: { httpStatusCode: 404 } }))).toBe('fatal');
    expect(classifyError(Object.assign(new Error(''), { $metadata: { httpStatusCode: 400 } }))).toBe('transient');
  });
});

describe('describeError', () => {
  it('gives one line with the code first', () => {
    expect(describeError(awsError('ResourceNotFoundException', 400, 'User pool x does not exist.\nmore'))).toBe(
      'ResourceNotFoundException: User pool x does not exist.',
    );
  });

  it("names an error without a code 'UnknownError', and gives the code alone when there is no message", () => {
    expect(describeError(new Error('x'))).toBe('UnknownError: x');
    expect(describeError(new Error(''))).toBe('UnknownError');
    expect(describeError(awsError('Unknown', 403, ''))).toBe('Unknown');
    expect(describeError(Object.assign(new Error('ECONNRESET'), { code: 'ECONNRESET' }))).toBe('ECONNRESET');
  });

  it('does not repeat a code the message already starts with', () => {
    expect(describeError(Object.assign(new Error('ECONNRESET read'), { code: 'ECONNRESET' }))).toBe('ECONNRESET read');
    expect(describeError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe('ECONNRESET: read ECONNRESET');
  });

  it('takes pagination tokens out of the message, and keeps the words around them', () => {
    expect(redactTokens('Paging marker abcdefghijklmnopqrstu is invalid')).toBe('Paging marker [redacted] is invalid');
    expect(redactTokens('bad NextToken: "AbCdEfGh12345678+/=="')).toBe('bad NextToken: "[redacted]"');
    expect(redactTokens('marker short is fine')).toBe('marker short is fine');
    expect(describeError(awsError('InvalidParameterException', 400, 'Paging marker abcdefghijklmnopqrstu is invalid'))).toBe(
      'InvalidParameterException: Paging marker [redacted] is invalid',
    );
  });
});
