import { PassThrough } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { describeError, errorCode, fatalHint, httpStatus } from '../limits/error-classification.js';
import { FatalExportError } from '../limits/export-errors.js';
import type { ObjectSink, ObjectWriter, StoredObject } from './object-sink.js';

/** Multipart part size: memory per open file is about one part. 5 MiB is S3's minimum. */
const PART_SIZE = 5 * 1024 * 1024;

/**
 * An S3 bucket and key prefix. Files stream through a multipart upload that S3 publishes atomically
 * on completion; a file that is not completed never appears.
 */
export class S3Sink implements ObjectSink {
  readonly rootUrl: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {
    this.rootUrl = prefix ? `s3://${bucket}/${prefix}` : `s3://${bucket}`;
  }

  urlOf(key: string): string {
    return `${this.rootUrl}/${key}`;
  }

  async preflight(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      // HEAD responses have no body, so the SDK only knows the status.
      const status = httpStatus(error);
      if (status === 404) {
        throw new FatalExportError(`bucket ${this.bucket} does not exist: create it or fix --destination`);
      }
      if (status === 403) {
        throw new FatalExportError(
          `access to bucket ${this.bucket} is denied: grant the worker the IAM permissions listed in the README`,
        );
      }
      throw this.translate(error);
    }
  }

  async openWriter(key: string, contentType: string): Promise<ObjectWriter> {
    const body = new PassThrough();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.keyOf(key), Body: body, ContentType: contentType },
      partSize: PART_SIZE,
      queueSize: 1,
      leavePartsOnError: false,
    });
    const done = upload.done();
    // If the upload fails, nothing reads the body any more: fail the writer instead of blocking it.
    done.catch((error: unknown) => body.destroy(error instanceof Error ? error : new Error(String(error))));
    return Promise.resolve({
      stream: body,
      commit: async () => {
        try {
          await done;
        } catch (error) {
          throw this.translate(error);
        }
      },
      abort: async () => {
        body.destroy();
        // Some S3-compatible servers lack AbortMultipartUpload; a lifecycle rule cleans up after them.
        await upload.abort().catch(() => undefined);
      },
    });
  }

  async putText(key: string, text: string, contentType: string): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key), Body: text, ContentType: contentType }),
      );
    } catch (error) {
      throw this.translate(error);
    }
  }

  async getText(key: string): Promise<string | undefined> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
      return await response.Body?.transformToString('utf8');
    } catch (error) {
      if (errorCode(error) === 'NoSuchKey' || httpStatus(error) === 404) return undefined;
      throw this.translate(error);
    }
  }

  async deleteObjects(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((key) => ({ Key: this.keyOf(key) }));
      try {
        const response = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } }));
        // DeleteObjects answers 200 even when single keys fail (AccessDenied without s3:DeleteObject).
        const failed = response.Errors?.[0];
        if (failed) {
          const count = response.Errors?.length ?? 1;
          throw Object.assign(new Error(`cannot delete ${count} object(s), e.g. ${failed.Key}: ${failed.Message ?? ''}`), {
            name: failed.Code ?? 'DeleteObjectsError',
          });
        }
      } catch (error) {
        throw this.translate(error);
      }
    }
  }

  async listObjects(prefix: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.keyOf(prefix), ContinuationToken: token }),
        );
        for (const object of page.Contents ?? []) {
          if (object.Key) objects.push({ key: object.Key.slice(strip), bytes: object.Size ?? 0 });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw this.translate(error);
    }
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private keyOf(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  /** Fatal S3 errors become one line naming the bucket and the fix; others pass through to be retried. */
  private translate(error: unknown): Error {
    const hint = fatalHint(error);
    if (hint && errorCode(error) !== 'InvalidParameterException') {
      return new FatalExportError(`cannot write to ${this.rootUrl}: ${describeError(error)}; ${hint}`);
    }
    return error instanceof Error ? error : new Error(String(error));
  }
}
