import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { createCognitoClient } from '../../src/cognito/cognito-client.js';
import { boundedResponseBody, MAX_RESPONSE_BYTES, ResponseTooLargeError } from '../../src/cognito/response-size-limit.js';
import { classifyError } from '../../src/limits/error-classification.js';

interface RawResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Readable;
}

/** Runs the middleware around a handler answering `response`; what the deserializer would be given. */
async function through(limit: number, response: RawResponse): Promise<RawResponse> {
  const handler = boundedResponseBody(limit)(() => Promise.resolve({ response, output: {} }), {});
  const result = await handler({ input: {}, request: {} });
  return result.response as RawResponse;
}

/** A body of `size` bytes in 1 KiB chunks, made only as it is read; counts what was read. */
function lazyBody(size: number): Readable & { produced: number } {
  let produced = 0;
  const body = new Readable({
    read() {
      if (produced >= size) return void this.push(null);
      const n = Math.min(1024, size - produced);
      produced += n;
      body.produced = produced;
      this.push(Buffer.alloc(n, 0x78));
    },
  }) as Readable & { produced: number };
  body.produced = 0;
  return body;
}

describe('the Cognito response size limit', () => {
  it('is 16 MiB by default', () => {
    expect(MAX_RESPONSE_BYTES).toBe(16 * 1024 * 1024);
  });

  it('passes a body within the limit through byte for byte', async () => {
    const response = await through(4096, { statusCode: 200, headers: { 'content-length': '4096' }, body: lazyBody(4096) });
    expect((await buffer(response.body)).length).toBe(4096);
  });

  it('refuses a response whose Content-Length is over the limit before reading its body, as a transient error', async () => {
    const body = lazyBody(10_000);
    const error: unknown = await through(4096, { statusCode: 200, headers: { 'content-length': '10000' }, body }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponseTooLargeError);
    expect((error as Error).message).toMatch(/10000 bytes.*4096/);
    expect(classifyError(error)).toBe('transient');
    expect(body.destroyed).toBe(true);
    expect(body.produced).toBe(0);
  });

  it('stops reading a body without Content-Length once it passes the limit', async () => {
    const body = lazyBody(1024 * 1024);
    const response = await through(8 * 1024, { statusCode: 200, headers: {}, body });
    const error: unknown = await buffer(response.body).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponseTooLargeError);
    expect(classifyError(error)).toBe('transient');
    // Read a little past the limit (stream buffers), never the whole megabyte.
    expect(body.produced).toBeLessThan(128 * 1024);
  });

  it('is on every Cognito client, after the deserializer (it sees the raw body first)', () => {
    const client = createCognitoClient({ cognitoEndpoint: 'http://127.0.0.1:1' }, 'eu-west-1');
    const names = client.middlewareStack.identify();
    expect(names.slice(-2)).toEqual(['deserializerMiddleware - deserialize', 'boundedResponseBody - after deserializerMiddleware']);
  });
});
