import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UserType } from '@aws-sdk/client-cognito-identity-provider';
import { CognitoEmulator } from '../src/emulator/index.js';
import { FileSink } from '../src/storage/file-sink.js';
import { PartFile } from '../src/walk/part-file.js';
import { toUserRecord } from '../src/tables/user-record.js';

/** What the pipeline alone achieves: records → NDJSON → gzip → local file, without Cognito or Redis. */
export interface PipelineResult {
  /** zlib level, or null without compression. */
  readonly gzipLevel: number | null;
  readonly users: number;
  readonly cpuSeconds: number;
  readonly usersPerCpuSecond: number;
  readonly bytes: number;
}

/** Distinct users the pipeline cycles through: realistic values without a huge live heap to skew GC. */
const DISTINCT_USERS = 12_000;

/** Seeded users as ListUsers returns them, from the emulator. */
export async function sampleUsers(): Promise<UserType[]> {
  const emulator = await CognitoEmulator.start({ port: 0 });
  const poolId = emulator.createPoolWithUsers({ users: DISTINCT_USERS, seed: 3 });
  const users = emulator.listAllUsers(poolId);
  await emulator.stop();
  return users;
}

/**
 * Times the pure part of the pipeline on realistic users in pages of 60, as ListUsers delivers
 * them, into 100,000-record files. CPU time is the whole process's, so zlib's threads count.
 */
export async function benchPipeline(sample: readonly UserType[], users: number, gzipLevel: number | null): Promise<PipelineResult> {
  const directory = await mkdtemp(join(tmpdir(), 'ce-pipeline-'));
  const sink = new FileSink(directory);
  const context = { userPoolId: 'us-east-1_Bench', snapshotId: '20260101T000000000Z-000000', attributes: null };
  const options = gzipLevel === null ? { gzip: false } : { gzip: true, gzipLevel };
  let bytes = 0;
  let part: PartFile | null = null;
  let seq = 0;
  const cpu = process.cpuUsage();
  for (let done = 0; done < users; done += 60) {
    part ??= await PartFile.open(sink, { key: `part-${seq}.ndjson`, stagingKey: `bench/part-${seq++}.ndjson` }, options);
    const start = done % sample.length;
    const page = sample.slice(start, start + Math.min(60, users - done));
    await part.append(page.map((user) => toUserRecord(user, context)));
    if (part.records >= 100_000) {
      bytes += (await part.seal()).bytes;
      part = null;
    }
  }
  if (part) bytes += (await part.seal()).bytes;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  await rm(directory, { recursive: true, force: true });
  return { gzipLevel, users, cpuSeconds, usersPerCpuSecond: users / cpuSeconds, bytes };
}
