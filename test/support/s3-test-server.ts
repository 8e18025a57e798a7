import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import type { S3ClientOverrides as ClientOverrides } from '../../src/storage/s3-client.js';

/** A real S3-compatible server (s3rver) on an ephemeral port, with one bucket, for a test file. */
export interface S3TestServer {
  readonly endpoint: string;
  readonly bucket: string;
  /** s3rver's directory: each object is `<directory>/<bucket>/<key>._S3rver_object`. */
  readonly directory: string;
  /** Whether it honours `If-Match` / `If-None-Match` on PutObject, as AWS S3 does (see {@link S3TestServerOptions}). */
  readonly conditionalWrites: boolean;
  /** Overrides that point our S3 client at this server. */
  readonly overrides: ClientOverrides;
  /** A client for the test's own reads. */
  readonly client: S3Client;
  /** Every key under `prefix`, sorted. */
  listKeys(prefix?: string): Promise<string[]>;
  getObject(key: string): Promise<Buffer>;
  putObject(key: string, body: string): Promise<void>;
  stop(): Promise<void>;
}

export const TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3TestServerOptions {
  /**
   * Honour `If-None-Match: *` and `If-Match: "<etag>"` on a plain PutObject, as AWS S3 does since
   * 2024: 412 PreconditionFailed when the key exists / its ETag differs, 404 NoSuchKey for
   * `If-Match` on no object; checked atomically with the write. Off, the server is s3rver as it
   * comes, which ignores both headers (a store without conditional writes). @default false
   */
  readonly conditionalWrites?: boolean;
}

/** What of s3rver (a Koa application) the conditional-write middleware uses; its typings omit them. */
interface KoaContext {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, unknown>;
  readonly headers: Record<string, string | string[] | undefined>;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
interface S3rverInternals {
  readonly middleware: KoaMiddleware[];
  readonly store: { getMetadata(bucket: string, key: string): Promise<{ etag: string }> };
}
/** s3rver's own error: its error handler renders it as S3's XML error body with its status. */
type S3ErrorClass = new (code: string, message: string, detail?: Record<string, string>) => Error;
const S3Error = createRequire(import.meta.url)('s3rver/lib/models/error.js') as S3ErrorClass;

/** Query parameters that make a PUT/POST on a key something else than writing the whole object. */
const SUBRESOURCES = ['uploadId', 'partNumber', 'uploads', 'tagging', 'acl', 'retention', 'legal-hold', 'torrent', 'select'];

/** The ETags an `If-Match` / `If-None-Match` value lists, unquoted (`*` stays `*`). */
const etagsOf = (header: string): string[] =>
  header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1'))
    .filter((tag) => tag.length > 0);

/**
 * A Koa middleware for the front of s3rver's stack: evaluates `If-Match` / `If-None-Match` on a
 * plain PutObject against the object's current ETag, holding a per-key lock across the check and
 * the write (every write of the key, conditional or not, a copy, a CompleteMultipartUpload and a
 * DELETE, takes the same lock), so two racing conditional PUTs cannot both pass. Path-style
 * requests only (`/<bucket>/<key>`), as the test clients send. DeleteObjects (POST ?delete) does
 * not take the locks.
 */
function conditionalWrites(store: S3rverInternals['store']): KoaMiddleware {
  const tails = new Map<string, Promise<void>>();
  const locked = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const before = tails.get(name) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = before.then(() => mine);
    tails.set(name, tail);
    await before;
    try {
      return await work();
    } finally {
      release();
      if (tails.get(name) === tail) tails.delete(name);
    }
  };
  const header = (ctx: KoaContext, name: string): string | undefined => {
    const value = ctx.headers[name];
    return Array.isArray(value) ? value.join(',') : value;
  };
  return async (ctx, next) => {
    const match = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
    const subresource = SUBRESOURCES.find((name) => name in ctx.query);
    const writesKey =
      match !== null &&
      ((ctx.method === 'PUT' && (subresource === undefined || subresource === 'uploadId') && !('partNumber' in ctx.query)) ||
        (ctx.method === 'POST' && subresource === 'uploadId') ||
        (ctx.method === 'DELETE' && subresource === undefined));
    if (!writesKey) return next();
    const [, bucketName = '', encodedKey = ''] = match;
    const key = decodeURIComponent(encodedKey);
    const plainPut = ctx.method === 'PUT' && subresource === undefined && header(ctx, 'x-amz-copy-source') === undefined;
    const ifMatch = plainPut ? header(ctx, 'if-match') : undefined;
    const ifNoneMatch = plainPut ? header(ctx, 'if-none-match') : undefined;
    await locked(`${bucketName}/${key}`, async () => {
      if (ifMatch !== undefined || ifNoneMatch !== undefined) {
        const current = await currentEtag(store, bucketName, key);
        if (ifMatch !== undefined) {
          if (current === undefined) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key });
          const tags = etagsOf(ifMatch);
          if (!tags.includes('*') && !tags.includes(current)) throw preconditionFailed('If-Match');
        }
        if (ifNoneMatch !== undefined && current !== undefined) {
          const tags = etagsOf(ifNoneMatch);
          if (tags.includes('*') || tags.includes(current)) throw preconditionFailed('If-None-Match');
        }
      }
      await next();
    });
  };
}

const preconditionFailed = (condition: string): Error =>
  new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: condition });

/** The object's ETag as s3rver's store has it (its MD5, unquoted), or undefined when there is no object. */
async function currentEtag(store: S3rverInternals['store'], bucket: string, key: string): Promise<string | undefined> {
  try {
    const { etag } = await store.getMetadata(bucket, key);
    return etag.replace(/^"(.*)"$/, '$1');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Starts s3rver with `bucket` created; with `conditionalWrites`, it honours PutObject's conditions as S3 does. */
export async function startS3TestServer(bucket = 'exports', options: S3TestServerOptions = {}): Promise<S3TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const conditional = options.conditionalWrites === true;
  if (conditional) {
    const internals = server as unknown as S3rverInternals;
    // Before s3rver's own middleware (logger, XML, vhost, router): a failed condition never reaches the store.
    internals.middleware.unshift(conditionalWrites(internals.store));
  }
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  // s3rver stores streamed bodies with aws-chunked framing unless checksums are only sent when required.
  const overrides: ClientOverrides = { endpoint, credentials: TEST_CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED' };
  const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: TEST_CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED' });
  return {
    endpoint,
    bucket,
    directory,
    conditionalWrites: conditional,
    overrides,
    client,
    async listKeys(prefix = '') {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
        token = page.NextContinuationToken;
      } while (token);
      return keys.sort();
    },
    async getObject(key) {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await response.Body!.transformToByteArray());
    },
    async putObject(key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async stop() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
