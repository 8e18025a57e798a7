import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { classifyError, describeError, errorCode, fatalHint, httpStatus } from '../limits/error-classification.js';
import { FatalExportError, StagedFileGoneError } from '../limits/export-errors.js';
import { withRetries, type RetryPolicy } from '../limits/retry-policy.js';
import type { ObjectSink, StagedFile, StagedLocation, StagedWriter, StagingScope, StoredObject, SweepResult } from './object-sink.js';
import { openStagedUpload } from './s3-staged-upload.js';

/**
 * An S3 bucket and key prefix. Data files are staged as multipart uploads that only `publish`
 * (the finalizer) completes; manifests are single atomic puts. Every request goes through our retry
 * layer: S3's SlowDown is waited out, 5xx and resets are retried a bounded number of times.
 */
export class S3Sink implements ObjectSink {
  readonly rootUrl: string;
  /** `ExpectedBucketOwner` for every request, or nothing when the owner is not known. */
  private readonly owner: { readonly ExpectedBucketOwner?: string };

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly retryPolicy: Partial<RetryPolicy> = {},
    /**
     * The account that must own the bucket: S3 refuses every request (403) when another account
     * owns it, so a bucket deleted and re-created by someone else never receives the data.
     * @default undefined (not checked)
     */
    expectedBucketOwner?: string,
  ) {
    this.rootUrl = prefix ? `s3://${bucket}/${prefix}` : `s3://${bucket}`;
    this.owner = expectedBucketOwner === undefined ? {} : { ExpectedBucketOwner: expectedBucketOwner };
  }

  urlOf(key: string): string {
    return `${this.rootUrl}/${key}`;
  }

  async preflight(): Promise<void> {
    try {
      // A short budget: at the start of a run an S3 that cannot be reached is most likely a wrong endpoint.
      await withRetries(() => this.client.send(new HeadBucketCommand({ ...this.owner, Bucket: this.bucket })), { policy: { ...this.retryPolicy, transientRetries: 3 } });
    } catch (error) {
      // HEAD responses have no body, so the SDK only knows the status; a listing says which 403 it is.
      const status = httpStatus(error);
      if (status === 404) throw new FatalExportError(`bucket ${this.bucket} does not exist: create it or fix --destination`);
      if (status === 403) throw await this.forbidden();
      if (status === undefined) {
        throw new FatalExportError(`cannot reach S3 for bucket ${this.bucket} (${describeError(error)}): check AWS_ENDPOINT_URL_S3, AWS_REGION and the network`);
      }
      throw this.translate(error);
    }
  }

  async openStaged(key: string, _stagingKey: string, contentType: string): Promise<StagedWriter> {
    try {
      return await openStagedUpload({
        client: this.client,
        bucket: this.bucket,
        bucketKey: this.keyOf(key),
        key,
        ...(this.owner.ExpectedBucketOwner === undefined ? {} : { expectedBucketOwner: this.owner.ExpectedBucketOwner }),
        contentType,
        send: (call) => this.sendOrTranslate(call),
        abort: (location) => this.discardStaged(location),
      });
    } catch (error) {
      throw this.translate(error);
    }
  }

  async publish(file: StagedFile): Promise<void> {
    const { location } = file;
    if (location.kind !== 's3-upload') throw new Error(`cannot publish ${location.kind} ${file.key} to S3`);
    const complete = () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          ...this.owner,
          Bucket: this.bucket,
          Key: this.keyOf(file.key),
          UploadId: location.uploadId,
          MultipartUpload: { Parts: location.parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag, ChecksumSHA256: p.sha256 })) },
        }),
      );
    try {
      await this.send(async () => {
        try {
          await complete();
        } catch (error) {
          // A completion whose answer was lost (and retried), or an earlier finalizer's: the upload is
          // gone but the object is there. Success if it is exactly this file.
          if ((await this.verify(file)) === undefined) return;
          throw error;
        }
      });
    } catch (error) {
      if (errorCode(error) === 'NoSuchUpload') {
        throw new StagedFileGoneError(
          `the staged upload of ${this.urlOf(file.key)} no longer exists and the object is not there (a lifecycle rule that aborts unfinished uploads sooner than a run takes?): run the export again`,
          file.key,
        );
      }
      throw this.translate(error);
    }
    const problem = await this.verify(file);
    if (problem !== undefined) {
      throw new FatalExportError(`${this.urlOf(file.key)} ${problem} after publishing its staged upload: run the export again`);
    }
  }

  async discardStaged(location: StagedLocation): Promise<void> {
    if (location.kind !== 's3-upload') return;
    // Best effort, one try: some S3-compatible servers lack AbortMultipartUpload, and an unfinished
    // upload is invisible anyway (the next run's sweep tries again).
    await this.client
      .send(new AbortMultipartUploadCommand({ ...this.owner, Bucket: this.bucket, Key: this.keyOf(location.key), UploadId: location.uploadId }))
      .catch(() => undefined);
  }

  async sweepStaged(scope: StagingScope, known: readonly StagedLocation[]): Promise<SweepResult> {
    const found = new Map<string, StagedLocation>();
    for (const location of known) if (location.kind === 's3-upload') found.set(location.uploadId, location);
    let listed = true;
    for (const prefix of scope.dataPrefixes) {
      const uploads = await this.listUploads(prefix);
      if (uploads === undefined) {
        listed = false;
        continue;
      }
      for (const upload of uploads) found.set(upload.uploadId, upload);
    }
    let removed = 0;
    for (const location of found.values()) {
      if (scope.keep?.(location)) continue;
      await this.discardStaged(location);
      removed++;
    }
    return { removed, listed };
  }

  async putText(key: string, text: string, contentType: string): Promise<void> {
    await this.sendOrTranslate(() =>
      this.client.send(new PutObjectCommand({ ...this.owner, Bucket: this.bucket, Key: this.keyOf(key), Body: text, ContentType: contentType })),
    );
  }

  async getText(key: string): Promise<string | undefined> {
    try {
      return await this.send(async () => {
        const response = await this.client.send(new GetObjectCommand({ ...this.owner, Bucket: this.bucket, Key: this.keyOf(key) }));
        return (await response.Body?.transformToString('utf8')) ?? '';
      });
    } catch (error) {
      if (missing(error)) return undefined;
      throw this.translate(error);
    }
  }

  async getVersioned(key: string): Promise<{ text: string; version: string } | undefined> {
    try {
      return await this.send(async () => {
        const response = await this.client.send(new GetObjectCommand({ ...this.owner, Bucket: this.bucket, Key: this.keyOf(key) }));
        return { text: (await response.Body?.transformToString('utf8')) ?? '', version: response.ETag ?? '' };
      });
    } catch (error) {
      if (missing(error)) return undefined;
      throw this.translate(error);
    }
  }

  async putIfVersion(key: string, text: string, contentType: string, version: string | null): Promise<boolean> {
    const condition = version === null ? { IfNoneMatch: '*' } : { IfMatch: version };
    return this.sendOrTranslate(async () => {
      try {
        await this.client.send(new PutObjectCommand({ ...this.owner, Bucket: this.bucket, Key: this.keyOf(key), Body: text, ContentType: contentType, ...condition }));
        return true;
      } catch (error) {
        // 412: it moved on; 409: a concurrent conditional write; 404: If-Match on an object deleted since.
        if (conditionFailed(error)) return false;
        throw error;
      }
    });
  }

  honoursConditions(): Promise<boolean> {
    let buckets = PROBED.get(this.client);
    if (!buckets) PROBED.set(this.client, (buckets = new Map<string, Promise<boolean>>()));
    let probe = buckets.get(this.bucket);
    if (!probe) {
      probe = this.probeConditions();
      buckets.set(this.bucket, probe);
      probe.catch(() => buckets.delete(this.bucket));
    }
    return probe;
  }

  /** Writes a probe object twice with `If-None-Match: *`: a store that honours it refuses the second. */
  private async probeConditions(): Promise<boolean> {
    const key = `.cognito-export-probe-${randomBytes(6).toString('hex')}`;
    try {
      if (!(await this.putIfVersion(key, 'probe', 'text/plain', null))) return true;
      return !(await this.putIfVersion(key, 'probe', 'text/plain', null));
    } finally {
      await this.deleteObjects([key]).catch(() => undefined);
    }
  }

  /**
   * The object's bytes, streamed. A body cut mid-way (a connection reset, a timeout) is resumed with a
   * ranged GET from the byte it stopped at, of the same version (If-Match on its ETag), up to
   * {@link BODY_RESUMES} times in a row without progress: a reader of a large file (the change diff)
   * never starts over, nor fails its job, for one dropped connection.
   */
  async readStream(key: string): Promise<Readable | undefined> {
    const first = await this.getBody(key);
    return first === undefined ? undefined : Readable.from(this.resumable(key, first), { objectMode: false });
  }

  private async getBody(
    key: string,
    from?: { offset: number; etag: string | undefined },
  ): Promise<{ body: Readable; etag: string | undefined; length: number | undefined } | undefined> {
    try {
      const response = await this.send(() =>
        this.client.send(
          new GetObjectCommand({
            ...this.owner,
            Bucket: this.bucket,
            Key: this.keyOf(key),
            ...(from === undefined ? {} : { Range: `bytes=${from.offset}-`, ...(from.etag === undefined ? {} : { IfMatch: from.etag }) }),
          }),
        ),
      );
      return { body: response.Body as Readable, etag: response.ETag, length: response.ContentLength };
    } catch (error) {
      if (missing(error)) return undefined;
      throw this.translate(error);
    }
  }

  private async *resumable(key: string, first: { body: Readable; etag: string | undefined; length: number | undefined }): AsyncGenerator<Buffer, void, undefined> {
    let current = first;
    let offset = 0;
    let resumes = 0;
    for (;;) {
      try {
        for await (const chunk of current.body as AsyncIterable<Buffer>) {
          offset += chunk.length;
          resumes = 0;
          yield chunk;
        }
        return;
      } catch (error) {
        current.body.destroy();
        // Every byte arrived before the connection broke: a ranged GET from the end would be a 416.
        if (first.length !== undefined && offset >= first.length) return;
        if (classifyError(error) === 'fatal' || ++resumes > BODY_RESUMES) throw error;
        const next = await this.getBody(key, { offset, etag: current.etag ?? first.etag });
        if (next === undefined) throw new Error(`${this.urlOf(key)} was deleted while it was read`);
        current = { body: next.body, etag: next.etag ?? current.etag, length: first.length };
      }
    }
  }

  async deleteObjects(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((key) => ({ Key: this.keyOf(key) }));
      await this.sendOrTranslate(async () => {
        const response = await this.client.send(new DeleteObjectsCommand({ ...this.owner, Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } }));
        // DeleteObjects answers 200 even when single keys fail (AccessDenied without s3:DeleteObject).
        const failed = response.Errors?.[0];
        if (failed) {
          const count = response.Errors?.length ?? 1;
          throw Object.assign(new Error(`cannot delete ${count} object(s), e.g. ${failed.Key}: ${failed.Message ?? ''}`), {
            name: failed.Code ?? 'DeleteObjectsError',
          });
        }
      });
    }
  }

  async listObjects(prefix: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    let token: string | undefined;
    do {
      const page = await this.sendOrTranslate(() =>
        this.client.send(new ListObjectsV2Command({ ...this.owner, Bucket: this.bucket, Prefix: this.keyOf(prefix), ContinuationToken: token })),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key) objects.push({ key: object.Key.slice(strip), bytes: object.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * Why the object at the file's key is not exactly the staged file, or undefined when it is: its
   * size, then S3's SHA-256 checksum of its parts (or, where a server keeps none, the multipart
   * ETag; failing both, its bytes read back and hashed).
   */
  private async verify(file: StagedFile): Promise<string | undefined> {
    if (file.location.kind !== 's3-upload') return 'is not an S3 upload';
    const parts = file.location.parts;
    let head;
    try {
      head = await this.send(() => this.client.send(new HeadObjectCommand({ ...this.owner, Bucket: this.bucket, Key: this.keyOf(file.key), ChecksumMode: 'ENABLED' })));
    } catch (error) {
      if (missing(error)) return 'is missing';
      throw this.translate(error);
    }
    if (head.ContentLength !== file.bytes) return `has ${head.ContentLength ?? 0} bytes, not ${file.bytes}`;
    if (head.ChecksumSHA256) {
      // A multipart object's checksum is the SHA-256 of its parts' checksums ("<base64>-<parts>").
      const composite = createHash('sha256');
      for (const part of parts) composite.update(Buffer.from(part.sha256, 'base64'));
      const expected = composite.digest('base64');
      const stored = head.ChecksumSHA256.split('-')[0];
      const whole = parts.length === 1 ? parts[0]?.sha256 : undefined;
      return stored === expected || stored === whole ? undefined : `has SHA-256 checksum ${head.ChecksumSHA256}, not ${expected}-${parts.length}`;
    }
    const etag = (head.ETag ?? '').replace(/"/g, '');
    if (/-\d+$/.test(etag)) {
      const md5 = createHash('md5');
      for (const part of parts) md5.update(Buffer.from(part.md5, 'base64'));
      const expected = `${md5.digest('hex')}-${parts.length}`;
      return etag === expected ? undefined : `has ETag ${etag}, not ${expected}`;
    }
    const sha256 = await this.send(async () => {
      const response = await this.client.send(new GetObjectCommand({ ...this.owner, Bucket: this.bucket, Key: this.keyOf(file.key) }));
      const hash = createHash('sha256');
      for await (const chunk of response.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
      return hash.digest('hex');
    });
    return sha256 === file.sha256 ? undefined : `has sha256 ${sha256}, not ${file.sha256}`;
  }

  /** Unfinished uploads under `prefix`, or undefined when the server cannot list them. */
  private async listUploads(prefix: string): Promise<S3Upload[] | undefined> {
    const uploads: S3Upload[] = [];
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      do {
        const page = await this.send(() =>
          this.client.send(
            new ListMultipartUploadsCommand({ ...this.owner, Bucket: this.bucket, Prefix: this.keyOf(prefix), KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
          ),
        );
        for (const upload of page.Uploads ?? []) {
          if (upload.Key && upload.UploadId) uploads.push({ kind: 's3-upload', key: upload.Key.slice(strip), uploadId: upload.UploadId, parts: [] });
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker);
    } catch (error) {
      if (errorCode(error) === 'NotImplemented' || httpStatus(error) === 501) return undefined;
      throw this.translate(error);
    }
    return uploads;
  }

  /** Why a HeadBucket was refused: a listing's error code tells bad credentials from missing permissions. */
  private async forbidden(): Promise<FatalExportError> {
    let code = 'AccessDenied';
    try {
      await this.client.send(new ListObjectsV2Command({ ...this.owner, Bucket: this.bucket, MaxKeys: 1 }));
    } catch (error) {
      code = errorCode(error);
    }
    if (code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || code === 'InvalidToken' || code === 'ExpiredToken') {
      return new FatalExportError(`the S3 credentials were rejected by bucket ${this.bucket} (${code}): check the access key and secret the worker runs with`);
    }
    return new FatalExportError(`access to bucket ${this.bucket} is denied: grant the worker the IAM permissions listed in docs/operations.md (IAM policy)`);
  }

  /** Ends this sink's retries when it aborts (see {@link during}); undefined: retries run their course. */
  private signal: AbortSignal | undefined;

  during(signal: AbortSignal): S3Sink {
    const bound = Object.create(this) as S3Sink;
    bound.signal = signal;
    return bound;
  }

  private send<T>(call: () => Promise<T>): Promise<T> {
    return withRetries(call, { policy: this.retryPolicy, ...(this.signal === undefined ? {} : { signal: this.signal }) });
  }

  private async sendOrTranslate<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await this.send(call);
    } catch (error) {
      throw this.translate(error);
    }
  }

  private keyOf(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  /** Fatal S3 errors become one line naming the bucket and the fix; others pass through to be retried. */
  private translate(error: unknown): Error {
    if (error instanceof FatalExportError) return error;
    const hint = fatalHint(error);
    if (hint && errorCode(error) !== 'InvalidParameterException') {
      return new FatalExportError(`cannot write to ${this.rootUrl}: ${describeError(error)}; ${hint}`);
    }
    return error instanceof Error ? error : new Error(String(error));
  }
}

type S3Upload = Extract<StagedLocation, { kind: 's3-upload' }>;

/** Ranged GETs a read may resume with in a row, none of which brought a byte. */
const BODY_RESUMES = 5;

/** What each S3 client has shown of a bucket's conditional writes (probed once a process). */
const PROBED = new WeakMap<S3Client, Map<string, Promise<boolean>>>();

/** A conditional write refused: 412 PreconditionFailed, 409 ConditionalRequestConflict, or If-Match on a missing object. */
function conditionFailed(error: unknown): boolean {
  const code = errorCode(error);
  const status = httpStatus(error);
  return status === 412 || status === 409 || code === 'PreconditionFailed' || code === 'ConditionalRequestConflict' || missing(error);
}

/** A 404 or NoSuchKey: the object is not there. */
function missing(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'NoSuchKey' || code === 'NotFound' || httpStatus(error) === 404;
}
