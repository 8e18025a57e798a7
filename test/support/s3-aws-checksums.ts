import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request as forward, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { operationOf } from './s3-fault-proxy.js';

/**
 * A proxy in front of s3rver that answers what AWS S3 answers, and s3rver does not, about the
 * integrity of a multipart upload:
 *
 * - CreateMultipartUpload with `x-amz-checksum-algorithm: SHA256` makes a checksummed upload.
 * - UploadPart checks `Content-MD5` and `x-amz-checksum-sha256` against the body it received (400
 *   BadDigest, as AWS, without storing the part) and answers the part's `x-amz-checksum-sha256`.
 * - CompleteMultipartUpload answers the multipart ETag, `"<md5 of the parts' MD5s>-<parts>"`, and
 *   for a checksummed upload the composite `ChecksumSHA256`, `<base64 SHA-256 of the parts'
 *   SHA-256s>-<parts>` (ChecksumType COMPOSITE).
 * - HeadObject and GetObject of such an object answer that ETag, and (with `x-amz-checksum-mode:
 *   ENABLED`) `x-amz-checksum-sha256` and `x-amz-checksum-type`.
 *
 * Both are computed from the bytes the store kept of each part. What it does not do: check the
 * parts' checksums a CompleteMultipartUpload lists against the stored ones (s3rver checks their
 * ETags), rewrite ETags in listings, or keep checksums of single PutObjects. Path-style only.
 *
 * Faults, for the tests of the finalizer's verification: a part kept with one byte changed (after
 * the request's digests were checked: a store that loses a byte on its own write path; its ETag
 * and checksum are those of what it kept), and a HEAD/GET answering a wrong checksum.
 */
export interface S3AwsChecksums {
  readonly endpoint: string;
  setFaults(faults: AwsChecksumFaults): void;
  stats(): AwsChecksumStats;
  /** Every multipart object completed through the proxy, in order. */
  completed(): CompletedObject[];
  stop(): Promise<void>;
}

export interface AwsChecksumOptions {
  /** Answer SHA-256 checksums of uploads created with ChecksumAlgorithm SHA256, as AWS does. @default true */
  readonly checksums?: boolean;
  /** Answer multipart ETags (`<hex>-<parts>`), as AWS does. @default true */
  readonly multipartEtags?: boolean;
}

/** One part upload, for choosing which to corrupt. */
export interface PartUpload {
  /** The object's key in the bucket. */
  readonly key: string;
  readonly uploadId: string;
  readonly partNumber: number;
}

export interface AwsChecksumFaults {
  /** Parts the store keeps with one byte changed (the middle byte, XOR 0x01). @default none */
  corruptStoredPart?: ((part: PartUpload) => boolean) | null;
  /** Keys whose HEAD/GET answers a checksum with one bit changed. @default none */
  wrongChecksum?: ((key: string) => boolean) | null;
}

export interface AwsChecksumStats {
  /** HEAD/GET object answers that carried `x-amz-checksum-sha256`, by method. */
  readonly checksumsAnswered: Record<string, number>;
  /** HEAD/GET object answers that carried a multipart ETag, by method. */
  readonly multipartEtagsAnswered: Record<string, number>;
  readonly corruptedParts: number;
  readonly wrongChecksums: number;
  /** UploadParts refused with BadDigest. */
  readonly badDigests: number;
}

export interface CompletedObject {
  readonly key: string;
  readonly parts: number;
  /** The multipart ETag of the stored parts, unquoted. */
  readonly etag: string;
  /** The composite checksum of the stored parts (`<base64>-<parts>`), or undefined for an upload without checksums. */
  readonly checksum: string | undefined;
  /** The composite of the checksums the client sent with its parts: equal to `checksum` unless a part was corrupted. */
  readonly sentChecksum: string | undefined;
  /** The multipart ETag of the MD5s the client sent (Content-MD5): equal to `etag` unless a part was corrupted. */
  readonly sentEtag: string;
}

interface StoredPart {
  readonly md5: Buffer;
  readonly sha256: Buffer;
  readonly sentMd5: Buffer;
  readonly sentSha256: Buffer;
}

interface Upload {
  readonly key: string;
  readonly checksummed: boolean;
  readonly parts: Map<number, StoredPart>;
}

interface StoredObject extends CompletedObject {
  readonly checksummed: boolean;
  /** s3rver's own ETag of the object (its MD5), unquoted: the object is ours only while s3rver still has it. */
  readonly s3rverEtag: string;
}

const XML = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>aws-checksums</RequestId></Error>`;

const unquote = (etag: string): string => etag.replace(/&quot;/g, '"').replace(/^"(.*)"$/, '$1');

async function bodyOf(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const headerOf = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
};

/** `<hash of the concatenated part digests>-<parts>`, as S3 builds multipart ETags and composite checksums. */
function composite(algorithm: 'md5' | 'sha256', digests: readonly Buffer[], encoding: 'hex' | 'base64'): string {
  const hash = createHash(algorithm);
  for (const digest of digests) hash.update(digest);
  return `${hash.digest(encoding)}-${digests.length}`;
}

/** Starts the proxy on a free port, forwarding to `target` (the S3 test server's endpoint). */
export async function startS3AwsChecksums(target: string, options: AwsChecksumOptions = {}): Promise<S3AwsChecksums> {
  const upstream = new URL(target);
  const checksums = options.checksums !== false;
  const multipartEtags = options.multipartEtags !== false;
  let faults: Required<AwsChecksumFaults> = { corruptStoredPart: null, wrongChecksum: null };
  const uploads = new Map<string, Upload>();
  const objects = new Map<string, StoredObject>();
  const completed: CompletedObject[] = [];
  const totals = { corruptedParts: 0, wrongChecksums: 0, badDigests: 0 };
  const checksumsAnswered: Record<string, number> = {};
  const etagsAnswered: Record<string, number> = {};

  /** Sends `body` upstream and resolves with the whole answer. */
  const send = (incoming: IncomingMessage, body: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...incoming.headers, 'content-length': String(body.length) };
      const sent = forward({ host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers }, (answer) => {
        bodyOf(answer).then((bytes) => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: bytes }), reject);
      });
      sent.on('error', reject);
      sent.end(body);
    });

  const reply = (outgoing: ServerResponse, answer: { status: number; headers: IncomingHttpHeaders; body: Buffer }): void => {
    const headers = { ...answer.headers, 'content-length': String(answer.body.length) };
    delete headers['transfer-encoding'];
    outgoing.writeHead(answer.status, headers).end(answer.body);
  };

  const handle = async (incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> => {
    const method = incoming.method ?? 'GET';
    const url = new URL(incoming.url ?? '/', 'http://proxy');
    const operation = operationOf({ method, url: incoming.url ?? '/' });
    const segments = /^\/([^/]+)\/(.+)$/.exec(url.pathname);
    const objectName = segments ? `${segments[1]}/${decodeURIComponent(segments[2] ?? '')}` : undefined;
    const key = segments ? decodeURIComponent(segments[2] ?? '') : '';

    if (operation === 'POST create-upload' && objectName) {
      const algorithm = headerOf(incoming.headers, 'x-amz-checksum-algorithm')?.toUpperCase();
      const answer = await send(incoming, await bodyOf(incoming));
      const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(answer.body.toString('utf8'))?.[1];
      const checksummed = checksums && algorithm === 'SHA256';
      if (answer.status === 200 && uploadId) uploads.set(uploadId, { key: objectName, checksummed, parts: new Map() });
      if (checksummed) answer.headers['x-amz-checksum-algorithm'] = 'SHA256';
      reply(outgoing, answer);
      return;
    }

    if (operation === 'PUT part' && objectName) {
      const uploadId = url.searchParams.get('uploadId') ?? '';
      const partNumber = Number(url.searchParams.get('partNumber'));
      let body = await bodyOf(incoming);
      const md5 = createHash('md5').update(body).digest();
      const sha256 = createHash('sha256').update(body).digest();
      const sentMd5 = headerOf(incoming.headers, 'content-md5');
      const sentSha256 = headerOf(incoming.headers, 'x-amz-checksum-sha256');
      if (sentMd5 !== undefined && sentMd5 !== md5.toString('base64')) {
        totals.badDigests++;
        outgoing.writeHead(400, { 'content-type': 'application/xml' }).end(XML('BadDigest', 'The Content-MD5 you specified did not match what we received.'));
        return;
      }
      if (sentSha256 !== undefined && sentSha256 !== sha256.toString('base64')) {
        totals.badDigests++;
        outgoing.writeHead(400, { 'content-type': 'application/xml' }).end(XML('BadDigest', 'The SHA256 you specified did not match the calculated checksum.'));
        return;
      }
      const upload = uploads.get(uploadId);
      let stored = { md5, sha256 };
      if (upload && body.length > 0 && faults.corruptStoredPart?.({ key, uploadId, partNumber })) {
        totals.corruptedParts++;
        body = Buffer.from(body);
        const middle = Math.floor(body.length / 2);
        body[middle] = (body[middle] ?? 0) ^ 0x01;
        stored = { md5: createHash('md5').update(body).digest(), sha256: createHash('sha256').update(body).digest() };
      }
      const answer = await send(incoming, body);
      if (answer.status === 200 && upload) {
        upload.parts.set(partNumber, { ...stored, sentMd5: md5, sentSha256: sha256 });
        if (upload.checksummed) answer.headers['x-amz-checksum-sha256'] = stored.sha256.toString('base64');
      }
      reply(outgoing, answer);
      return;
    }

    if (operation === 'POST complete' && objectName) {
      const uploadId = url.searchParams.get('uploadId') ?? '';
      const body = await bodyOf(incoming);
      const upload = uploads.get(uploadId);
      const listed = [...body.toString('utf8').matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((match) => Number(match[1]));
      const answer = await send(incoming, body);
      const text = answer.body.toString('utf8');
      const etagElement = /<ETag>([^<]*)<\/ETag>/.exec(text);
      const parts = listed.map((n) => upload?.parts.get(n));
      if (answer.status !== 200 || !upload || !etagElement || parts.length === 0 || parts.some((part) => part === undefined)) {
        reply(outgoing, answer);
        return;
      }
      uploads.delete(uploadId);
      const kept = parts as StoredPart[];
      const object: StoredObject = {
        key,
        parts: kept.length,
        etag: composite('md5', kept.map((part) => part.md5), 'hex'),
        sentEtag: composite('md5', kept.map((part) => part.sentMd5), 'hex'),
        checksum: upload.checksummed ? composite('sha256', kept.map((part) => part.sha256), 'base64') : undefined,
        sentChecksum: upload.checksummed ? composite('sha256', kept.map((part) => part.sentSha256), 'base64') : undefined,
        checksummed: upload.checksummed,
        s3rverEtag: unquote(etagElement[1] ?? ''),
      };
      objects.set(objectName, object);
      completed.push({ key: object.key, parts: object.parts, etag: object.etag, sentEtag: object.sentEtag, checksum: object.checksum, sentChecksum: object.sentChecksum });
      let rewritten = text;
      if (multipartEtags) rewritten = rewritten.replace(etagElement[0], `<ETag>&quot;${object.etag}&quot;</ETag>`);
      if (object.checksum !== undefined) {
        rewritten = rewritten.replace(/<\/ETag>/, `</ETag><ChecksumSHA256>${object.checksum}</ChecksumSHA256><ChecksumType>COMPOSITE</ChecksumType>`);
      }
      reply(outgoing, { ...answer, body: Buffer.from(rewritten, 'utf8') });
      return;
    }

    // Everything else streams through; HEAD/GET of an object we completed get AWS's headers.
    const proxied = forward({ host: upstream.hostname, port: upstream.port, method, path: incoming.url, headers: incoming.headers }, (answer) => {
      const object = objectName ? objects.get(objectName) : undefined;
      const read = operation === 'GET object' || operation === 'HEAD object';
      const status = answer.statusCode ?? 502;
      if (read && object && (status === 200 || status === 206) && unquote(String(answer.headers.etag ?? '')) === object.s3rverEtag) {
        if (multipartEtags) {
          answer.headers.etag = `"${object.etag}"`;
          etagsAnswered[method] = (etagsAnswered[method] ?? 0) + 1;
        }
        const mode = headerOf(incoming.headers, 'x-amz-checksum-mode')?.toUpperCase();
        if (object.checksum !== undefined && mode === 'ENABLED') {
          let checksum = object.checksum;
          if (faults.wrongChecksum?.(key)) {
            totals.wrongChecksums++;
            const [digest = '', parts] = checksum.split('-');
            const bytes = Buffer.from(digest, 'base64');
            bytes[0] = (bytes[0] ?? 0) ^ 0x01;
            checksum = `${bytes.toString('base64')}-${parts ?? ''}`;
          }
          answer.headers['x-amz-checksum-sha256'] = checksum;
          answer.headers['x-amz-checksum-type'] = 'COMPOSITE';
          checksumsAnswered[method] = (checksumsAnswered[method] ?? 0) + 1;
        }
      }
      if (objectName && status < 300 && (operation === 'DELETE object' || operation === 'PUT object')) objects.delete(objectName);
      outgoing.writeHead(status, answer.headers);
      answer.pipe(outgoing);
    });
    proxied.on('error', () => outgoing.socket?.destroy());
    incoming.pipe(proxied);
  };

  const server = createServer((incoming, outgoing) => {
    handle(incoming, outgoing).catch(() => outgoing.socket?.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setFaults(next) {
      faults = { ...faults, ...next };
    },
    stats: () => ({ checksumsAnswered: { ...checksumsAnswered }, multipartEtagsAnswered: { ...etagsAnswered }, ...totals }),
    completed: () => [...completed],
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
