import type { IncomingMessage, ServerResponse } from 'node:http';
import { CognitoServiceError } from './cognito-error.js';

/** The `X-Amz-Target` prefix of every Cognito user-pool operation. */
export const TARGET_PREFIX = 'AWSCognitoIdentityProviderService.';

/** The content type of AWS JSON 1.1 requests and responses. */
export const AMZ_JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';

/** Bodies above this are refused; real Cognito requests are a few kilobytes. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** The operation named by an `X-Amz-Target` header, or null when it names none of this service. */
export function operationFromTarget(target: string | string[] | undefined): string | null {
  if (typeof target !== 'string' || !target.startsWith(TARGET_PREFIX)) return null;
  const operation = target.slice(TARGET_PREFIX.length);
  return /^[A-Za-z0-9]+$/.test(operation) ? operation : null;
}

/** Reads the whole request body; rejects when it exceeds {@link MAX_BODY_BYTES}. */
export function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new CognitoServiceError('SerializationException', 'Request body is too large', 413, 'com.amazon.coral.service'));
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Parses an AWS JSON body; an empty body is `{}`. Anything but a JSON object is a SerializationException. */
export function parseJsonBody(raw: Buffer): Record<string, unknown> {
  const text = raw.toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw CognitoServiceError.serialization('Request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw CognitoServiceError.serialization('Start of structure or map found where not expected.');
  }
  return parsed as Record<string, unknown>;
}

/** Sends a JSON 1.1 answer with AWS's request-id header. */
export function sendJson(response: ServerResponse, status: number, body: unknown, requestId: string, headers: Record<string, string> = {}): void {
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  response.writeHead(status, {
    'Content-Type': AMZ_JSON_CONTENT_TYPE,
    'Content-Length': String(payload.length),
    'x-amzn-RequestId': requestId,
    Date: new Date().toUTCString(),
    ...headers,
  });
  response.end(payload);
}

/** Sends an error as AWS does: status, `{"__type", "message"}` and `x-amzn-ErrorType`. */
export function sendError(response: ServerResponse, error: CognitoServiceError, requestId: string): void {
  sendJson(response, error.status, error.toBody(), requestId, { 'x-amzn-ErrorType': error.errorTypeHeader });
}
