import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UserType } from '@aws-sdk/client-cognito-identity-provider';
import { DuckDBInstance } from '@duckdb/node-api';
import { FileSink } from '../src/storage/file-sink.js';
import { dataFileExtension, dataFileKey, type DataFormat } from '../src/storage/output-layout.js';
import { TABLE_COLUMNS } from '../src/storage/table-columns.js';
import { DUCKDB_TYPES } from '../src/warehouse/duckdb-ddl.js';
import { toUserRecord, type UserRecord } from '../src/tables/user-record.js';
import { PartFile, type PartFileOptions } from '../src/walk/part-file.js';
import { DEFAULT_ROW_GROUP_ROWS } from '../src/walk/table-walk.js';

/** One format's figures for the same users: writing them, their size, and a DuckDB scan of them. */
export interface FormatResult {
  readonly format: string;
  readonly users: number;
  readonly cpuSeconds: number;
  readonly usersPerCpuSecond: number;
  readonly bytes: number;
  readonly bytesPerUser: number;
  /** Best of three scans of the users table in DuckDB (count, distinct subs, a filter, a map lookup). */
  readonly scanSeconds: number;
}

const RUN = { userPoolId: 'us-east-1_Bench', snapshotId: '20260101T000000000Z-000000', startedAt: new Date('2026-01-01T00:00:00Z') };


/** User `i`: a sample user with its own username and sub, so that no two records are alike (as in a real pool). */
function userAt(sample: readonly UserType[], i: number): UserRecord {
  const record = toUserRecord(sample[i % sample.length] as UserType, { userPoolId: RUN.userPoolId, snapshotId: RUN.snapshotId, attributes: null });
  const hex = i.toString(16).padStart(12, '0');
  return { ...record, username: `${record.username}-${i}`, sub: `${(record.sub ?? '').slice(0, 24)}${hex}` };
}

/**
 * Writes `users` users as the users table would hold them (pages of 60, files of 100,000 records)
 * in one format to a local directory, then scans them with DuckDB. CPU time is the process's.
 */
async function benchFormat(sample: readonly UserType[], users: number, format: DataFormat): Promise<FormatResult> {
  const directory = await mkdtemp(join(tmpdir(), `ce-format-${format}-`));
  try {
    const sink = new FileSink(directory);
    const options: PartFileOptions = format === 'parquet' ? { format, columns: TABLE_COLUMNS.users ?? [], rowGroupRows: DEFAULT_ROW_GROUP_ROWS } : { gzip: true, gzipLevel: 6 };
    const extension = dataFileExtension(format, true);
    let bytes = 0;
    let part: PartFile | null = null;
    let seq = 0;
    const cpu = process.cpuUsage();
    for (let done = 0; done < users; done += 60) {
      if (part === null) {
        const key = dataFileKey(RUN, 'all', seq, extension);
        part = await PartFile.open(sink, { key, stagingKey: `bench/${seq++}.${extension}` }, options);
      }
      const page: UserRecord[] = [];
      for (let i = done; i < Math.min(users, done + 60); i++) page.push(userAt(sample, i));
      await part.append(page);
      if (part.records >= 100_000) {
        const sealed = await part.seal();
        await sink.publish(sealed);
        bytes += sealed.bytes;
        part = null;
      }
    }
    if (part) {
      const sealed = await part.seal();
      await sink.publish(sealed);
      bytes += sealed.bytes;
    }
    const used = process.cpuUsage(cpu);
    const cpuSeconds = (used.user + used.system) / 1e6;
    const glob = `${directory}/users/*/*/*/*.${extension}`;
    const columns = (TABLE_COLUMNS.users ?? []).map((column) => `'${column.name}': '${DUCKDB_TYPES[column.type]}'`).join(', ');
    const source = format === 'parquet' ? `read_parquet('${glob}')` : `read_json('${glob}', format = 'newline_delimited', columns = {'user_pool_id': 'VARCHAR', ${columns}})`;
    const scanSeconds = await bestScan(`SELECT count(*) AS n, count(DISTINCT sub) AS subs, count(*) FILTER (WHERE enabled) AS enabled, max(attributes['email']) AS email FROM ${source}`, users);
    return { format: format === 'parquet' ? 'Parquet (snappy)' : 'NDJSON (gzip 6)', users, cpuSeconds, usersPerCpuSecond: users / cpuSeconds, bytes, bytesPerUser: bytes / users, scanSeconds };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** The fastest of three runs of `query`, after checking it counted every user. */
async function bestScan(query: string, users: number): Promise<number> {
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  try {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const row = (await connection.runAndReadAll(query)).getRowObjectsJson()[0] as { n?: string; subs?: string } | undefined;
      best = Math.min(best, (performance.now() - started) / 1000);
      if (row?.n !== String(users) || row.subs !== String(users)) throw new Error(`the scan counted ${row?.n ?? '?'} users, ${row?.subs ?? '?'} subs, not ${users}`);
    }
    return best;
  } finally {
    connection.closeSync();
    db.closeSync();
  }
}

/** NDJSON then Parquet, the same users. */
export async function runFormatBench(sample: readonly UserType[], users: number, log: (line: string) => void): Promise<FormatResult[]> {
  await benchFormat(sample, 60_000, 'parquet'); // warm-up: JIT
  const results: FormatResult[] = [];
  for (const format of ['ndjson', 'parquet'] as const) {
    log(`running: ${users} users as ${format}`);
    results.push(await benchFormat(sample, users, format));
  }
  return results;
}

/** The formats side by side, ratios against NDJSON measured in the same run. */
export function formatTable(results: readonly FormatResult[]): string {
  const ndjson = results[0];
  const head = ['format', 'users', 'write users/s per core', 'bytes/user', 'DuckDB scan s', 'vs NDJSON: write', 'size', 'scan'];
  const rows = results.map((r) => [
    r.format,
    String(r.users),
    r.usersPerCpuSecond.toFixed(0),
    r.bytesPerUser.toFixed(1),
    r.scanSeconds.toFixed(3),
    ndjson ? `${(r.usersPerCpuSecond / ndjson.usersPerCpuSecond).toFixed(2)}×` : '',
    ndjson ? `${(r.bytesPerUser / ndjson.bytesPerUser).toFixed(2)}×` : '',
    ndjson ? `${(r.scanSeconds / ndjson.scanSeconds).toFixed(2)}×` : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  return [line(head), `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`, ...rows.map(line)].join('\n');
}
