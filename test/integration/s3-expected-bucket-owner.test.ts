import { once } from 'node:events';
import { createServer, request as forward, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { startHarness, type ExportHarness } from '../support/export-harness.js';
import { operationOf } from '../support/s3-fault-proxy.js';
import { startS3TestServer, type S3TestServer } from '../support/s3-test-server.js';

/** One S3 request: what it was and the owner it expected, if any. */
interface Seen {
  readonly operation: string;
  readonly owner: string | undefined;
}

/** An S3 endpoint that records each request's x-amz-expected-bucket-owner, forwarding to `target` or refusing. */
async function recordingS3(target: string | undefined): Promise<{ endpoint: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const upstream = target === undefined ? undefined : new URL(target);
  const server = createServer((incoming, outgoing) => {
    const header = incoming.headers['x-amz-expected-bucket-owner'];
    seen.push({ operation: operationOf({ method: incoming.method ?? 'GET', url: incoming.url ?? '/' }), owner: Array.isArray(header) ? header.join(',') : header });
    if (upstream === undefined) {
      incoming.resume();
      outgoing.writeHead(403, { 'content-type': 'application/xml' }).end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
      return;
    }
    const sent = forward({ host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers: incoming.headers }, (answer: IncomingMessage) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
    });
    sent.on('error', () => incoming.socket.destroy());
    incoming.pipe(sent);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

let emulator: CognitoEmulator;
let s3: S3TestServer;
const closing: (() => Promise<void>)[] = [];

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  emulator.createRole({ roleArn: 'arn:aws:iam::333333333333:role/writer' });
  s3 = await startS3TestServer();
});

afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

afterAll(async () => {
  await s3.stop();
  await emulator.stop();
});

describe('ExpectedBucketOwner', () => {
  it('is on every S3 request of a run when S3_EXPECTED_BUCKET_OWNER is set: uploads, manifests, pointers, listings, deletes', async () => {
    const recorder = await recordingS3(s3.endpoint);
    closing.push(() => stop(recorder.server));
    const harness: ExportHarness = await startHarness({
      cognitoEndpoint: emulator.url,
      s3: { ...s3, endpoint: recorder.endpoint, overrides: { ...s3.overrides, endpoint: recorder.endpoint } },
      env: { S3_EXPECTED_BUCKET_OWNER: '123456789012' },
    });
    closing.push(() => harness.close());
    const pool = emulator.createPoolWithUsers({ users: 300, seed: 1804, groups: 2 });
    const destination = `s3://${s3.bucket}/owned`;
    for (let i = 0; i < 2; i++) expect((await harness.run({ userPoolId: pool, destination, fileMaxRecords: 100, keepLast: 1 })).error).toBeUndefined();
    const operations = new Set(recorder.seen.map((request) => request.operation));
    expect([...operations]).toEqual(expect.arrayContaining(['HEAD bucket', 'POST create-upload', 'PUT part', 'POST complete', 'PUT object', 'GET object', 'GET list', 'GET list-uploads', 'POST delete-objects']));
    const without = recorder.seen.filter((request) => request.owner !== '123456789012');
    expect(without, `requests without the owner: ${JSON.stringify(without.slice(0, 5))}`).toEqual([]);
  });

  it("is the S3 role's account for a run with s3_role_arn", async () => {
    const recorder = await recordingS3(undefined);
    closing.push(() => stop(recorder.server));
    const harness = await startHarness({
      cognitoEndpoint: emulator.url,
      env: { AWS_ENDPOINT_URL_STS: emulator.url, AWS_ENDPOINT_URL_S3: recorder.endpoint, S3_FORCE_PATH_STYLE: 'true', S3_EXPECTED_BUCKET_OWNER: '123456789012' },
      runtime: { s3: { credentials: { accessKeyId: 'AKIAOWNWORKERKEY', secretAccessKey: 'secret' } } },
    });
    closing.push(() => harness.close());
    const pool = emulator.createPoolWithUsers({ users: 5, seed: 1805 });
    const status = await harness.run({ userPoolId: pool, destination: 's3://partner-bucket/exports', s3RoleArn: 'arn:aws:iam::333333333333:role/writer' });
    expect(status.state).toBe('failed');
    expect(recorder.seen.length).toBeGreaterThan(0);
    expect(new Set(recorder.seen.map((request) => request.owner))).toEqual(new Set(['333333333333']));
  });

  it('is absent when the account is not known', async () => {
    const recorder = await recordingS3(s3.endpoint);
    closing.push(() => stop(recorder.server));
    const harness = await startHarness({ cognitoEndpoint: emulator.url, s3: { ...s3, endpoint: recorder.endpoint, overrides: { ...s3.overrides, endpoint: recorder.endpoint } } });
    closing.push(() => harness.close());
    const pool = emulator.createPoolWithUsers({ users: 10, seed: 1806 });
    expect((await harness.run({ userPoolId: pool, destination: `s3://${s3.bucket}/unowned` })).error).toBeUndefined();
    expect(new Set(recorder.seen.map((request) => request.owner))).toEqual(new Set([undefined]));
  });
});
