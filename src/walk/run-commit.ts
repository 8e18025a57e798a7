import { FatalExportError } from '../limits/export-errors.js';
import type { ObjectSink, StagedLocation, SweepResult } from '../storage/object-sink.js';
import { runDataPrefix, runStagingPrefix, type RunLocation } from '../storage/output-layout.js';
import type { SealedPart } from './part-file.js';

/**
 * The commit of a run's data, in the finalizer only (Hadoop's S3A committers: tasks stage, the job
 * committer completes). Workers never write where readers look; here exactly the staged files the
 * checkpoints list become visible under their contract names, each checked to be the file its
 * checkpoint recorded, and every other staged file of the run goes. Then the caller writes the
 * manifest and moves `latest.json`.
 */

/** Which run, and the tables it wrote. */
export interface RunScope {
  readonly run: RunLocation;
  readonly tables: readonly string[];
  /**
   * Only these tables' staged files are swept: the run's other tables are still being written (its
   * change tables, while the diff jobs read the published tables). @default false: the whole run's staging
   */
  readonly tablesOnly?: boolean;
}

/** What publishing did besides publishing. */
export interface PublishReport {
  /** Staged files removed: zombies', restarted walks', aborted ones. */
  readonly swept: SweepResult;
  /** Objects in the run's table folders that no checkpoint listed (only hand-made ones can be there), deleted. */
  readonly strays: readonly string[];
}

/** Staged locations compare by identity (an upload id, a staging path). */
const identity = (location: StagedLocation): string => (location.kind === 's3-upload' ? `s3:${location.uploadId}` : `file:${location.path}`);

/**
 * Publishes exactly `committed` (in order), removes every other staged file of the run (`known`:
 * those recorded in Redis, plus whatever a listing finds), then makes each table's run folder hold
 * exactly the published files. Idempotent: a finalizer that runs again, or two at once, end in the
 * same state. `beforeWrite` runs before the files are published and before strays are deleted
 * (the finalizer's fence).
 */
export async function publishRunFiles(
  sink: ObjectSink,
  scope: RunScope,
  committed: readonly SealedPart[],
  known: readonly StagedLocation[],
  beforeWrite: () => Promise<void> = () => Promise.resolve(),
): Promise<PublishReport> {
  await beforeWrite();
  for (const file of committed) await sink.publish(file);
  const published = new Set(committed.map((file) => identity(file.location)));
  const swept = await sink.sweepStaged(stagingScope(scope), known.filter((location) => !published.has(identity(location))));
  const expected = new Map(committed.map((file) => [file.key, file.bytes]));
  const strays: string[] = [];
  for (const table of scope.tables) {
    for (const object of await sink.listObjects(runDataPrefix(scope.run, table))) {
      const bytes = expected.get(object.key);
      if (bytes === undefined) strays.push(object.key);
      else if (bytes !== object.bytes) throw new FatalExportError(`${sink.urlOf(object.key)} has ${object.bytes} bytes after publishing, not ${bytes}: run the export again`);
    }
  }
  if (strays.length > 0) {
    await beforeWrite();
    await sink.deleteObjects(strays);
  }
  return { swept, strays };
}

/**
 * Takes everything of a run off the destination's data and staging: every staged file (recorded or
 * listed) and every object in its table folders. For a run that failed or was cancelled, and for a
 * finalizer that must undo a publication it could not finish.
 */
export async function withdrawRunFiles(sink: ObjectSink, scope: RunScope, known: readonly StagedLocation[]): Promise<{ swept: SweepResult; deleted: number }> {
  const swept = await sink.sweepStaged(stagingScope(scope), known);
  const keys: string[] = [];
  for (const table of scope.tables) keys.push(...(await sink.listObjects(runDataPrefix(scope.run, table))).map((object) => object.key));
  if (keys.length > 0) await sink.deleteObjects(keys);
  return { swept, deleted: keys.length };
}

function stagingScope(scope: RunScope) {
  const stagingPrefix = runStagingPrefix(scope.run);
  const dataPrefixes = scope.tables.map((table) => runDataPrefix(scope.run, table));
  if (!scope.tablesOnly) return { stagingPrefix, dataPrefixes };
  // A file stages under <run staging>/<table>/…; an S3 upload is on its final key in the table's folder.
  const ours = (location: StagedLocation): boolean =>
    location.kind === 'file'
      ? scope.tables.some((table) => location.path.startsWith(`${stagingPrefix}${table}/`))
      : dataPrefixes.some((prefix) => location.key.startsWith(prefix));
  return { stagingPrefix, dataPrefixes, keep: (location: StagedLocation) => !ours(location) };
}
