import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { StsError } from './sts-error.js';

/** The XML namespace of every STS response. */
export const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

/** An XML element's content: text, or child elements in order. */
export type XmlContent = string | readonly (readonly [string, XmlContent])[];

/** True for an AWS Query request (`POST /`, form-encoded, no X-Amz-Target): STS, on the emulator's port. */
export function isQueryRequest(request: IncomingMessage): boolean {
  const type = request.headers['content-type'] ?? '';
  return request.method === 'POST' && request.headers['x-amz-target'] === undefined && type.toLowerCase().startsWith('application/x-www-form-urlencoded');
}

/** The form parameters of a Query request body (`Action=AssumeRole&Version=2011-06-15&…`). */
export function parseForm(raw: Buffer): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
}

/** The access key id and session token a SigV4-signed request carries (null when it carries none). */
export function requestCredentials(headers: IncomingHttpHeaders): { accessKeyId: string | null; sessionToken: string | null } {
  const authorization = headers.authorization ?? '';
  const accessKeyId = /Credential=([^/,\s]+)\//.exec(authorization)?.[1] ?? (authorization === '' ? null : '');
  const token = headers['x-amz-security-token'];
  return { accessKeyId, sessionToken: typeof token === 'string' && token !== '' ? token : null };
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function render(name: string, content: XmlContent): string {
  const inner = typeof content === 'string' ? escape(content) : content.map(([child, value]) => render(child, value)).join('');
  return `<${name}>${inner}</${name}>`;
}

function send(response: ServerResponse, status: number, xml: string, requestId: string): void {
  const payload = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}\n`, 'utf8');
  response.writeHead(status, {
    'Content-Type': 'text/xml',
    'Content-Length': String(payload.length),
    'x-amzn-RequestId': requestId,
    Date: new Date().toUTCString(),
  });
  response.end(payload);
}

/** Sends `<{Action}Response><{Action}Result>…</…Result><ResponseMetadata><RequestId>` as STS does. */
export function sendStsResult(response: ServerResponse, action: string, result: XmlContent, requestId: string): void {
  const body = render(`${action}Result`, result) + render('ResponseMetadata', [['RequestId', requestId]]);
  send(response, 200, `<${action}Response xmlns="${STS_NAMESPACE}">${body}</${action}Response>`, requestId);
}

/** Sends STS's `<ErrorResponse>` with the error's status. */
export function sendStsError(response: ServerResponse, error: StsError, requestId: string): void {
  const body = render('Error', [['Type', error.type], ['Code', error.code], ['Message', error.message]]) + render('RequestId', requestId);
  send(response, error.status, `<ErrorResponse xmlns="${STS_NAMESPACE}">${body}</ErrorResponse>`, requestId);
}
