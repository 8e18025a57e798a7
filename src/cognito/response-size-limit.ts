import { Transform, type Readable } from 'node:stream';
import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';

/**
 * The largest Cognito response body read: 16 MiB. A real ListUsers page of 60 users with every
 * attribute at its 2,048-character maximum is well under 10 MiB; anything bigger is not Cognito
 * talking, and reading it whole (as the SDK's deserializer does) could exhaust the worker's memory.
 */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * A Cognito response whose body is over {@link MAX_RESPONSE_BYTES}. Its code is not in the error
 * table, so it is transient: retried a bounded number of times, then the run fails. Never an OOM.
 */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
}

/** The shape of an SDK deserialize-step handler, as far as this middleware needs it. */
export type DeserializeHandler = (args: { readonly input: object; readonly request: unknown }) => Promise<{ readonly response: unknown; readonly output?: unknown }>;

interface RawResponse {
  readonly headers?: Record<string, string | undefined>;
  body?: unknown;
}

function isReadable(body: unknown): body is Readable {
  return typeof body === 'object' && body !== null && typeof (body as Readable).pipe === 'function' && typeof (body as Readable).destroy === 'function';
}

/**
 * A deserialize-step middleware placed after the SDK's deserializer, so it sees the raw HTTP answer
 * before the body is read: a `Content-Length` over `limit` is refused before a byte is read, and a
 * body without one is counted as it streams and cut off once it passes `limit`.
 */
export function boundedResponseBody(limit: number = MAX_RESPONSE_BYTES): (next: DeserializeHandler, context: unknown) => DeserializeHandler {
  return (next) => async (args) => {
    const result = await next(args);
    const response = result.response as RawResponse;
    const body = response.body;
    if (!isReadable(body)) return result;
    const declared = Number(response.headers?.['content-length'] ?? Number.NaN);
    if (Number.isFinite(declared) && declared > limit) {
      body.destroy();
      throw new ResponseTooLargeError(`Cognito answered with ${declared} bytes, over the limit of ${limit}: refused unread`);
    }
    let read = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        read += chunk.length;
        if (read > limit) {
          body.unpipe(counted);
          body.destroy();
          callback(new ResponseTooLargeError(`Cognito answered with more than ${limit} bytes: stopped reading`));
          return;
        }
        callback(null, chunk);
      },
    });
    body.on('error', (error) => counted.destroy(error));
    response.body = body.pipe(counted);
    return result;
  };
}

type Stack = CognitoIdentityProviderClient['middlewareStack'];

/**
 * Puts {@link boundedResponseBody} on a client, right after (inside) the SDK's deserializer, which
 * otherwise reads whatever body arrives into memory before parsing it.
 */
export function limitResponseSize(stack: Stack, limit: number = MAX_RESPONSE_BYTES): void {
  stack.addRelativeTo(boundedResponseBody(limit) as unknown as Parameters<Stack['addRelativeTo']>[0], {
    name: 'boundedResponseBody',
    relation: 'after',
    toMiddleware: 'deserializerMiddleware',
    override: true,
  });
}
