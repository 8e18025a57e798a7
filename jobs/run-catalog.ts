import { CHANGE_KINDS } from '../src/changes/change-kinds.js';
import { FatalExportError } from '../src/limits/export-errors.js';
import { runS3Role, runTables, type RunSpec } from '../src/runs/run-spec.js';
import { GlueCatalog, GlueCatalogError, type CatalogRun } from '../src/warehouse/glue-catalog.js';
import { runSink, type ExportRuntime } from './export-runtime.js';

/**
 * The Glue Data Catalog a run registers its partitions in (`--glue-database`), or undefined when it
 * has none: the bucket's region and account's catalog, through the run's S3 role if any.
 */
export function runCatalog(runtime: ExportRuntime, spec: RunSpec): GlueCatalog | undefined {
  if (spec.glueDatabase === undefined) return undefined;
  return new GlueCatalog({
    client: runtime.glue(spec.region, runS3Role(spec)),
    database: spec.glueDatabase,
    tablePrefix: spec.glueTablePrefix,
    rootUrl: runSink(runtime, spec).urlOf(''),
    format: spec.format ?? 'ndjson',
    gzip: spec.gzip,
  });
}

/** The tables a run may write, each a catalog table: its data tables and, unless `--no-changes`, their change tables. */
export function catalogTables(spec: RunSpec): string[] {
  const tables = runTables(spec);
  const changes = spec.changes === false ? [] : CHANGE_KINDS.filter((kind) => tables.includes(kind.table)).map((kind) => kind.changes);
  return [...tables, ...changes];
}

/** The `dt=` partition of a snapshot: its start date, which its id begins with (`20261126T…`). */
export function dtOfSnapshot(snapshotId: string): string {
  return `${snapshotId.slice(0, 4)}-${snapshotId.slice(4, 6)}-${snapshotId.slice(6, 8)}`;
}

/** The catalog partitions of a run: one per table it wrote. */
export function catalogRun(spec: Pick<RunSpec, 'userPoolId' | 'snapshotId'>, tables: readonly string[]): CatalogRun {
  return { userPoolId: spec.userPoolId, dt: dtOfSnapshot(spec.snapshotId), snapshotId: spec.snapshotId, tables };
}

/**
 * Creates the catalog's database and tables before the run's commit point, and checks that their
 * partitions can be written and removed (a probe partition), or fails the run: a catalog the
 * worker cannot write (access denied, a bad name) is known before anything is published, so no run
 * is published that its catalog could never register.
 */
export async function prepareCatalog(runtime: ExportRuntime, spec: RunSpec): Promise<void> {
  const catalog = runCatalog(runtime, spec);
  if (!catalog) return;
  try {
    const tables = catalogTables(spec);
    const result = await catalog.ensureTables(tables);
    await catalog.checkPartitionWrites(tables[0] ?? 'users');
    if (result.databaseCreated || result.created.length > 0 || result.updated.length > 0) {
      runtime.log.info({ snapshotId: spec.snapshotId, database: spec.glueDatabase, ...result }, 'prepared the Glue catalog');
    }
  } catch (error) {
    if (error instanceof GlueCatalogError && error.code !== 'ThrottlingException' && error.code !== 'InternalServiceException') {
      throw new FatalExportError(error.message);
    }
    throw error;
  }
}
