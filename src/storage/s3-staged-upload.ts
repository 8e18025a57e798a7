import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { CreateMultipartUploadCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import type { StagedLocation, StagedPart, StagedWriter } from './object-sink.js';

/** Multipart part size: memory per open file is about one part. 5 MiB is S3's minimum (but for the last part). */
export const PART_SIZE = 5 * 1024 * 1024;

/** Runs one S3 request with the sink's retries (throttles waited out, transient errors bounded). */
export type S3Call = <T>(call: () => Promise<T>) => Promise<T>;

/** Where the upload goes. */
export interface StagedUploadTarget {
  readonly client: S3Client;
  readonly bucket: string;
  /** The object's key in the bucket (with the destination's prefix). */
  readonly bucketKey: string;
  /** The key relative to the destination root, as locations record it. */
  readonly key: string;
  readonly contentType: string;
  /** Runs each request with retries; every request here is replayable (parts are buffered). */
  readonly send: S3Call;
  /** Best-effort abort, for a writer that gives up. */
  readonly abort: (location: StagedLocation) => Promise<void>;
  /** @default PART_SIZE */
  readonly partSize?: number;
  /** `ExpectedBucketOwner` of every request (see S3Sink). @default undefined (not checked) */
  readonly expectedBucketOwner?: string | undefined;
}

/**
 * Stages a file as an S3 multipart upload on its final key that the writer never completes: the
 * bytes are durable once every part is uploaded, invisible until the finalizer completes exactly the
 * upload (and parts) its checkpoint recorded. Parts carry Content-MD5 and a SHA-256 checksum, so S3
 * checks each part as it arrives, and the finalizer can check the whole object after completing it.
 */
export async function openStagedUpload(target: StagedUploadTarget): Promise<StagedWriter> {
  const { client, bucket, bucketKey, send } = target;
  const partSize = target.partSize ?? PART_SIZE;
  const owner = target.expectedBucketOwner === undefined ? {} : { ExpectedBucketOwner: target.expectedBucketOwner };
  const created = await send(() =>
    client.send(new CreateMultipartUploadCommand({ ...owner, Bucket: bucket, Key: bucketKey, ContentType: target.contentType, ChecksumAlgorithm: 'SHA256' })),
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error(`CreateMultipartUpload for ${bucketKey} answered no upload id`);
  const parts: StagedPart[] = [];
  let chunks: Buffer[] = [];
  let buffered = 0;

  const uploadPart = async (): Promise<void> => {
    const body = Buffer.concat(chunks, buffered);
    chunks = [];
    buffered = 0;
    const partNumber = parts.length + 1;
    const md5 = createHash('md5').update(body).digest('base64');
    const sha256 = createHash('sha256').update(body).digest('base64');
    const answer = await send(() =>
      client.send(
        new UploadPartCommand({ ...owner, Bucket: bucket, Key: bucketKey, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentMD5: md5, ChecksumSHA256: sha256 }),
      ),
    );
    parts.push({ partNumber, etag: (answer.ETag ?? '').replace(/"/g, ''), md5, sha256, bytes: body.length });
  };

  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      buffered += chunk.length;
      if (buffered < partSize) return callback();
      // Backpressure: the writer waits while a part is on its way, so memory stays near one part.
      uploadPart().then(() => callback(), callback);
    },
    final(callback) {
      if (buffered === 0 && parts.length > 0) return callback();
      uploadPart().then(() => callback(), callback);
    },
  });
  const location = (): StagedLocation => ({ kind: 's3-upload', key: target.key, uploadId, parts: [...parts] });
  return {
    stream,
    location: location(),
    commit: () => Promise.resolve(location()),
    abort: async () => {
      stream.destroy();
      await target.abort(location());
    },
  };
}
