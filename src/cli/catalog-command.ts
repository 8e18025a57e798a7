import type { Command } from 'commander';
import type { S3Client } from '@aws-sdk/client-s3';
import { regionOfUserPool } from '../cognito/cognito-client.js';
import type { AppConfig } from '../config/app-config.js';
import { createS3Client, s3RegionOf } from '../storage/s3-client.js';
import type { ObjectSink } from '../storage/object-sink.js';
import { openSink } from '../storage/open-sink.js';
import { TABLES, USERS_TABLE } from '../storage/output-layout.js';
import { listSnapshots, manifestAtUrl, splitManifestUrl, type SnapshotEntry } from '../storage/snapshot-catalog.js';
import { parseDestination } from '../storage/destination.js';
import { POOL_ID } from '../storage/manifest.js';
import { athenaDdl, athenaMerge } from '../warehouse/athena-ddl.js';
import { bigQueryDdl, bigQueryMerge } from '../warehouse/bigquery-ddl.js';
import { CLICKHOUSE_MERGE_PROBLEM, clickHouseDdl } from '../warehouse/clickhouse-ddl.js';
import { dbtSources } from '../warehouse/dbt-sources.js';
import { localRootProblem, type DataFormat, type WarehouseDdlInput } from '../warehouse/ddl-input.js';
import { duckDbDdl, duckDbMerge } from '../warehouse/duckdb-ddl.js';
import { snowflakeDdl, snowflakeMerge } from '../warehouse/snowflake-ddl.js';
import { tableLabel } from '../runs/run-views.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE, readConfig } from './cli-context.js';
import { textTable } from './text-table.js';

/**
 * A read-only sink for a destination, without Redis: `snapshots` and `files` only read what the
 * runs published. S3 calls go to AWS_REGION, else to the pool's region. Closes its S3 client.
 */
async function withSink<T>(config: AppConfig, destination: string, userPoolId: string | undefined, use: (sink: ObjectSink) => Promise<T>): Promise<T> {
  let client: S3Client | undefined;
  let sink: ObjectSink;
  try {
    sink = openSink(destination, {
      modes: { fileMode: config.fileMode, dirMode: config.dirMode },
      s3: () => (client = createS3Client({ ...config, awsRegion: s3RegionOf(config, undefined, userPoolId === undefined ? undefined : regionOfUserPool(userPoolId)) })),
      owner: config.s3ExpectedBucketOwner,
    });
  } catch (error) {
    throw new CliError((error as Error).message, EXIT_USAGE);
  }
  try {
    return await use(sink);
  } finally {
    client?.destroy();
  }
}

/** Adds `snapshots` (a pool's complete snapshots at a destination) and `files` (a table's files in a manifest). */
export function registerCatalogCommands(program: Command): void {
  program
    .command('snapshots')
    .description("list a pool's complete snapshots at a destination, newest first")
    .requiredOption('--destination <url>', 's3://bucket/prefix or file:///dir, as given to export')
    .requiredOption('--user-pool-id <id>', 'the pool')
    .option('--json', 'print JSON')
    .action(async (flags: { destination: string; userPoolId: string; json?: boolean }) => {
      const config = readConfig();
      const listed = await withSink(config, flags.destination, flags.userPoolId, async (sink) => {
        try {
          return await listSnapshots(sink, flags.userPoolId);
        } catch (error) {
          if (error instanceof RangeError) throw new CliError(error.message, EXIT_USAGE);
          throw error;
        }
      });
      for (const reason of listed.skipped) process.stderr.write(`cognito-export: warning: left out: ${reason}\n`);
      if (flags.json) process.stdout.write(`${JSON.stringify(listed.snapshots, null, 2)}\n`);
      else process.stdout.write(renderSnapshots(listed.snapshots, flags.userPoolId));
    });

  program
    .command('files')
    .description("print the URLs of a table's files in a snapshot, one a line (for read_ndjson, COPY INTO, bq load)")
    .requiredOption('--manifest <url>', "a snapshot's manifest URL, or a pointer's (…/latest.json)")
    .option('--table <name>', `one of ${TABLES.join(', ')}`, USERS_TABLE)
    .action(async (flags: { manifest: string; table: string }) => {
      const config = readConfig();
      const place = splitManifestUrl(flags.manifest);
      if (!place) {
        throw new CliError(`--manifest ${JSON.stringify(flags.manifest)} is not a manifest or pointer URL: expected <destination>/manifests/user_pool_id=<pool>/dt=<date>/run=<id>.json or …/latest.json`, EXIT_USAGE);
      }
      if (!TABLES.includes(flags.table)) throw new CliError(`--table ${JSON.stringify(flags.table)} is not a table: expected one of ${TABLES.join(', ')}`, EXIT_USAGE);
      const urls = await withSink(config, place.destination, place.userPoolId, async (sink) => {
        let found;
        try {
          found = await manifestAtUrl(sink, place.key, place.userPoolId);
        } catch (error) {
          if (error instanceof RangeError) throw new CliError(error.message, EXIT_FAILURE);
          throw error;
        }
        const table = flags.table === USERS_TABLE && !found.manifest.tables ? { files: found.manifest.files } : found.manifest.tables?.[flags.table];
        if (!table) {
          const has = Object.keys(found.manifest.tables ?? { users: {} }).join(', ');
          throw new CliError(`snapshot ${found.manifest.snapshot_id} has no ${flags.table} table (it has ${has})`, EXIT_FAILURE);
        }
        return table.files.map((file) => file.url);
      });
      process.stdout.write(urls.length > 0 ? `${urls.join('\n')}\n` : '');
    });
}

/** The dialects `ddl` writes: each one's views (a destination read first) and its MERGE statements (none for ClickHouse, dbt). */
const DIALECTS = ['duckdb', 'dbt', 'athena', 'bigquery', 'snowflake', 'clickhouse'] as const;
type Dialect = (typeof DIALECTS)[number];

const VIEWS: Readonly<Record<Exclude<Dialect, 'dbt'>, (input: WarehouseDdlInput) => string>> = {
  duckdb: duckDbDdl,
  athena: athenaDdl,
  bigquery: bigQueryDdl,
  snowflake: snowflakeDdl,
  clickhouse: clickHouseDdl,
};
const MERGE_STATEMENTS: Readonly<Partial<Record<Dialect, (schema: string, target: string) => string>>> = {
  duckdb: duckDbMerge,
  athena: athenaMerge,
  bigquery: bigQueryMerge,
  snowflake: snowflakeMerge,
};

/** The format of a data file from its name, or undefined for another object. */
function formatOfKey(key: string): DataFormat | undefined {
  if (key.endsWith('.parquet')) return 'parquet';
  return /\.ndjson(\.gz)?$/.test(key) ? 'ndjson' : undefined;
}

/**
 * What `ddl` declares from a listing of a table's folder: the formats of its files, the newest
 * file's first (the newest run's: snapshot ids sort by time), with that run. Pure.
 */
export function tableFormatsOf(keys: readonly string[]): { formats: DataFormat[]; newestRun: string } {
  const newest = new Map<DataFormat, string>();
  for (const key of keys) {
    const format = formatOfKey(key);
    const run = /\/run=([^/]+)\//.exec(key)?.[1] ?? '';
    if (format !== undefined && run >= (newest.get(format) ?? '')) newest.set(format, run);
  }
  const byRun = [...newest].sort(([, a], [, b]) => (a < b ? 1 : a > b ? -1 : 0));
  return { formats: byRun.map(([format]) => format), newestRun: byRun[0]?.[1] ?? '' };
}

/** Adds `ddl`: SQL that makes a destination's tables queryable, for a warehouse dialect. */
export function registerDdlCommand(program: Command): void {
  program
    .command('ddl')
    .description('print SQL that makes the tables at a destination queryable (views of every run, of each pool\'s latest snapshot, of the change tables); see docs/warehouses.md')
    .requiredOption('--dialect <name>', `the SQL dialect: ${DIALECTS.join(', ')}`)
    .requiredOption('--destination <url>', 's3://bucket/prefix or file:///dir, as given to export')
    .option('--user-pool-id <id>', 'only this pool (default: every pool at the destination)')
    .option('--schema <name>', 'the schema (dataset, database) the tables and views are created in', 'cognito')
    .option('--merge-into <schema>', "instead of the views: the MERGE statements that apply one run's change tables to copies of the snapshot tables in this schema (not clickhouse)")
    .action(async (flags: { dialect: string; destination: string; userPoolId?: string; schema: string; mergeInto?: string }) => {
      const config = readConfig();
      if (!(DIALECTS as readonly string[]).includes(flags.dialect)) {
        throw new CliError(`--dialect ${JSON.stringify(flags.dialect)} is not supported: expected ${DIALECTS.join(', ')}`, EXIT_USAGE);
      }
      const dialect = flags.dialect as Dialect;
      if (flags.userPoolId !== undefined && !POOL_ID.test(flags.userPoolId)) {
        throw new CliError(`"${flags.userPoolId}" is not a user pool id: expected <region>_<id>, e.g. eu-west-1_AbCdEf123`, EXIT_USAGE);
      }
      for (const [flag, value] of [['--schema', flags.schema], ['--merge-into', flags.mergeInto]] as const) {
        if (value !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) throw new CliError(`${flag} ${JSON.stringify(value)} is not a plain SQL name: letters, digits and _`, EXIT_USAGE);
      }
      if (dialect === 'dbt') {
        process.stdout.write(dbtSources(flags.schema));
        return;
      }
      if (flags.mergeInto !== undefined) {
        const merge = MERGE_STATEMENTS[dialect];
        if (!merge) throw new CliError(CLICKHOUSE_MERGE_PROBLEM, EXIT_USAGE);
        process.stdout.write(merge(flags.schema, flags.mergeInto));
        return;
      }
      let parsed;
      try {
        parsed = parseDestination(flags.destination);
      } catch (error) {
        throw new CliError((error as Error).message, EXIT_USAGE);
      }
      const local = localRootProblem(dialect);
      if (parsed.kind === 'file' && local !== undefined) {
        const readers = DIALECTS.filter((name) => localRootProblem(name) === undefined);
        throw new CliError(`--dialect ${JSON.stringify(dialect)} is not supported: expected ${readers.join(', ')} for a file:// destination (${local})`, EXIT_USAGE);
      }
      const pool = flags.userPoolId ? `user_pool_id=${flags.userPoolId}/` : '';
      const found = await withSink(config, flags.destination, flags.userPoolId, async (sink) => {
        const tableFormats = new Map<string, DataFormat[]>();
        let newest: { run: string; format: DataFormat } | undefined;
        for (const table of TABLES) {
          const { formats, newestRun } = tableFormatsOf((await sink.listObjects(`${table}/${pool}`)).map((object) => object.key));
          const [first] = formats;
          if (first === undefined) continue;
          tableFormats.set(table, formats);
          if (newest === undefined || newestRun > newest.run) newest = { run: newestRun, format: first };
        }
        const hasLatest = (await sink.listObjects(`manifests/${pool}`)).some((object) => object.key.endsWith('/latest.json'));
        return { tableFormats, hasLatest, format: newest?.format ?? 'ndjson' };
      });
      const root = parsed.kind === 'file' ? parsed.directory : `s3://${parsed.bucket}${parsed.prefix ? `/${parsed.prefix}` : ''}`;
      const input: WarehouseDdlInput = {
        root,
        userPoolId: flags.userPoolId,
        format: found.format,
        tableFormats: found.tableFormats,
        tablesWithFiles: new Set(found.tableFormats.keys()),
        hasLatest: found.hasLatest,
        schema: flags.schema,
        s3Endpoint: config.s3Endpoint,
        region: config.awsRegion ?? (flags.userPoolId === undefined ? undefined : regionOfUserPool(flags.userPoolId)),
        generatedAt: new Date(),
      };
      process.stdout.write(VIEWS[dialect](input));
    });
}

/** The `snapshots` table for a person. Pure. */
export function renderSnapshots(snapshots: readonly SnapshotEntry[], userPoolId: string): string {
  if (snapshots.length === 0) return `no complete snapshot of ${userPoolId} at this destination\n`;
  const tables = TABLES.filter((table) => snapshots.some((snapshot) => snapshot.records[table] !== undefined));
  const columns = ['SNAPSHOT', 'COMPLETED', 'DATASET', ...tables.map((table) => tableLabel(table).toUpperCase()), 'NAMED BY', 'MANIFEST'];
  const rows = snapshots.map((snapshot) => [
    snapshot.snapshot_id,
    snapshot.completed_at,
    snapshot.dataset,
    ...tables.map((table) => (snapshot.records[table] === undefined ? '–' : String(snapshot.records[table]))),
    snapshot.named_by.join(',') || '–',
    snapshot.manifest_url,
  ]);
  return textTable(columns, rows);
}
