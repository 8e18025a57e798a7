import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3FaultProxy, type S3FaultProxy } from '../support/s3-fault-proxy.js';
import { startS3TestServer, TEST_CREDENTIALS, type S3TestServer } from '../support/s3-test-server.js';

let conditional: S3TestServer;
let plain: S3TestServer;
let n = 0;
const freshKey = () => `manifests/user_pool_id=us-east-1_x/latest-${++n}.json`;

beforeAll(async () => {
  [conditional, plain] = await Promise.all([startS3TestServer('conditional', { conditionalWrites: true }), startS3TestServer('plain')]);
});

afterAll(async () => {
  await Promise.all([conditional.stop(), plain.stop()]);
});

/** PutObject through `client`; returns the new ETag. */
async function put(s3: S3TestServer, key: string, body: string, conditions: Pick<PutObjectCommandInput, 'IfMatch' | 'IfNoneMatch'> = {}, client: S3Client = s3.client): Promise<string> {
  const answer = await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body, ...conditions }));
  return answer.ETag ?? '';
}

/** What the SDK rejected with: its error name and HTTP status. */
async function rejection(attempt: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await attempt;
  } catch (error) {
    const e = error as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('the PUT succeeded');
}

const text = async (s3: S3TestServer, key: string) => (await s3.getObject(key)).toString('utf8');

describe('startS3TestServer({ conditionalWrites: true }): PutObject conditions as AWS S3 evaluates them', () => {
  it('says so', () => {
    expect(conditional.conditionalWrites).toBe(true);
    expect(plain.conditionalWrites).toBe(false);
  });

  it('If-None-Match: * creates a missing key and refuses an existing one with 412 PreconditionFailed', async () => {
    const key = freshKey();
    expect(await put(conditional, key, 'first', { IfNoneMatch: '*' })).toMatch(/^"[0-9a-f]{32}"$/);
    expect(await rejection(put(conditional, key, 'second', { IfNoneMatch: '*' }))).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await text(conditional, key)).toBe('first');
  });

  it('If-Match writes over the ETag it names, refuses another with 412, and answers 404 NoSuchKey for no object', async () => {
    const key = freshKey();
    const first = await put(conditional, key, 'first');
    const second = await put(conditional, key, 'second', { IfMatch: first });
    expect(second).not.toBe(first);
    expect(await rejection(put(conditional, key, 'stale', { IfMatch: first }))).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await text(conditional, key)).toBe('second');
    await put(conditional, key, 'third', { IfMatch: second });
    expect(await text(conditional, key)).toBe('third');
    expect(await rejection(put(conditional, freshKey(), 'none', { IfMatch: first }))).toEqual({ name: 'NoSuchKey', status: 404 });
  });

  it('of two racing PUTs with the same If-Match exactly one succeeds, every time', async () => {
    const key = freshKey();
    let etag = await put(conditional, key, 'v0');
    for (let round = 1; round <= 15; round++) {
      const bodies = [`a${round}`, `b${round}`, `c${round}`];
      const results = await Promise.allSettled(bodies.map((body) => put(conditional, key, body, { IfMatch: etag })));
      const won = results.flatMap((result, i) => (result.status === 'fulfilled' ? [{ body: bodies[i], etag: result.value }] : []));
      expect(won).toHaveLength(1);
      for (const result of results) if (result.status === 'rejected') expect((result.reason as Error).name).toBe('PreconditionFailed');
      expect(await text(conditional, key)).toBe(won[0]!.body);
      etag = won[0]!.etag;
    }
  });

  it('of two racing If-None-Match: * creations exactly one succeeds', async () => {
    for (let round = 0; round < 10; round++) {
      const key = freshKey();
      const results = await Promise.allSettled(['x', 'y'].map((body) => put(conditional, key, body, { IfNoneMatch: '*' })));
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    }
  });

  it('leaves unconditional PUTs and multipart uploads (parts, completion) as they were', async () => {
    const key = freshKey();
    await put(conditional, key, 'one');
    await put(conditional, key, 'two');
    expect(await text(conditional, key)).toBe('two');

    const dataKey = `users/user_pool_id=us-east-1_x/part-0-${++n}.ndjson`;
    const client = conditional.client;
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: conditional.bucket, Key: dataKey }));
    const part = await client.send(new UploadPartCommand({ Bucket: conditional.bucket, Key: dataKey, UploadId, PartNumber: 1, Body: 'multipart body' }));
    await client.send(
      new CompleteMultipartUploadCommand({ Bucket: conditional.bucket, Key: dataKey, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }),
    );
    expect(await text(conditional, dataKey)).toBe('multipart body');
  });
});

describe('startS3TestServer() without the option: s3rver as it comes, conditions ignored', () => {
  it('writes whatever If-None-Match and If-Match say', async () => {
    const key = freshKey();
    const first = await put(plain, key, 'first', { IfNoneMatch: '*' });
    await put(plain, key, 'second', { IfNoneMatch: '*' });
    await put(plain, key, 'third', { IfMatch: first });
    await put(plain, freshKey(), 'no object', { IfMatch: first });
    expect(await text(plain, key)).toBe('third');
  });
});

describe('a conditional PUT held by the fault proxy', () => {
  let proxy: S3FaultProxy;
  let viaProxy: S3Client;

  beforeAll(async () => {
    proxy = await startS3FaultProxy(conditional.endpoint);
    viaProxy = new S3Client({
      region: 'us-east-1',
      endpoint: proxy.endpoint,
      forcePathStyle: true,
      credentials: TEST_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    viaProxy.destroy();
    await proxy.stop();
  });

  it('is evaluated when it reaches the server after release: 412 if the object changed meanwhile', async () => {
    const key = freshKey();
    const etag = await put(conditional, key, 'before');
    const gate = proxy.hold((request) => request.method === 'PUT' && request.url.includes(key.split('/').pop()!));
    const held = put(conditional, key, 'from the held writer', { IfMatch: etag }, viaProxy);
    const outcome = rejection(held);
    await gate.reached;
    await put(conditional, key, 'meanwhile');
    gate.open();
    expect(await outcome).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await text(conditional, key)).toBe('meanwhile');
  });

  it('succeeds after release when nothing changed meanwhile (headers and body forwarded intact)', async () => {
    const key = freshKey();
    const etag = await put(conditional, key, 'before');
    const gate = proxy.hold((request) => request.method === 'PUT' && request.url.includes(key.split('/').pop()!));
    const held = put(conditional, key, 'from the held writer', { IfMatch: etag }, viaProxy);
    await gate.reached;
    gate.open();
    expect(await held).not.toBe(etag);
    expect(await text(conditional, key)).toBe('from the held writer');
    expect(await rejection(put(conditional, key, 'stale', { IfMatch: etag }, viaProxy))).toEqual({ name: 'PreconditionFailed', status: 412 });
  });
});
