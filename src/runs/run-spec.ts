import { GROUP_MEMBERSHIPS_TABLE, GROUPS_TABLE, type DataFormat, type RunLocation, USERS_TABLE } from '../storage/output-layout.js';
import { parseFilter } from '../cognito/cognito-filter.js';
import { planShards, type Shard, type ShardCount } from './shard-plan.js';

/** Who asked for a run; recorded in the run's state and the manifest's log lines. */
export type RunTrigger = 'cli' | 'schedule' | 'http' | 'demo';

/**
 * Everything that defines one export run (a snapshot). Fixed when the run is triggered and carried
 * in its jobs' data, so every worker walks and names files identically.
 */
export interface RunSpec {
  readonly userPoolId: string;
  /** Region of the pool's Cognito endpoint. */
  readonly region: string;
  /** `s3://bucket/prefix` or `file:///dir`. */
  readonly destination: string;
  readonly snapshotId: string;
  /** ISO 8601 UTC; also the `dt=` partition. */
  readonly startedAt: string;
  readonly shards: ShardCount;
  /** Canonical user filter (validated, escaped), or null for the whole pool. */
  readonly filter: string | null;
  /** Attributes kept client-side, or null for all. */
  readonly attributes: readonly string[] | null;
  /** NDJSON lines or Parquet, for every table of the run. @default 'ndjson' (a run asked for before Parquet existed) */
  readonly format?: DataFormat | undefined;
  readonly gzip: boolean;
  /** zlib level when gzip is on (1 fastest … 9 smallest). */
  readonly gzipLevel: number;
  /** Records per data file before it is sealed. */
  readonly fileMaxRecords: number;
  readonly trigger: RunTrigger;
  /** Overrides the process's COGNITO_RATE_LIMIT_RPS for this run's account and region. */
  readonly rateLimitRps?: number | undefined;
  /** Retention: after this run is published, keep only the pool's newest N snapshots. Null keeps all. */
  readonly keepLast: number | null;
  /** Run by the process that asked for it (`export --inline`), in queues of its own. */
  readonly inline?: boolean | undefined;
  /** Whether the run also exports the pool's groups and memberships (`--no-groups` turns it off). */
  readonly groups?: boolean | undefined;
  /**
   * Whether the run also writes change tables against the previous snapshot of its dataset
   * (`--no-changes` turns it off). Runs registered before change tables existed have none. @default false
   */
  readonly changes?: boolean | undefined;
  /** Attributes dropped from every record (`--exclude-attributes`), sorted; absent: none. */
  readonly excludeAttributes?: readonly string[] | undefined;
  /** Fields pseudonymized in every table (`--pseudonymize`: `username`, attributes), sorted; absent: none. */
  readonly pseudonymize?: readonly string[] | undefined;
  /**
   * The id of the key the run pseudonymizes with (never the key): every worker must have that key.
   * Recorded by the worker that starts the run (RunStore.recordKeyId), not by the requester.
   */
  readonly pseudonymizationKeyId?: string | undefined;
  /** A role in the pool's account the worker assumes for Cognito (`--role-arn`); absent: its own credentials. */
  readonly roleArn?: string | undefined;
  /** The ExternalId the role's trust policy asks for (`--external-id`; also sent for `s3RoleArn`). */
  readonly externalId?: string | undefined;
  /** A role the worker assumes for the destination's S3 calls (`--s3-role-arn`); absent: its own credentials. */
  readonly s3RoleArn?: string | undefined;
  /**
   * The Glue database the finalizer registers the run's partitions in (`--glue-database`), as part
   * of the commit; absent: no catalog. Its tables are named `<glueTablePrefix><table>`.
   */
  readonly glueDatabase?: string | undefined;
  readonly glueTablePrefix?: string | undefined;
  /** A partial run's own pointer name (`latest-<name>.json`), from `--name`. */
  readonly name?: string | undefined;
  /**
   * The pointer file this run moves under the pool's manifests folder when it completes:
   * `latest.json` for a run of the pool's own dataset (the whole pool, its configured attributes),
   * `latest-<name>.json` for a named partial run, null for any other. Decided when it is requested.
   */
  readonly pointer?: string | null | undefined;
  /**
   * Why the run is not of the pool's own dataset (see {@link partialReasons}), when it is not:
   * `--filter`, `--attributes`, `--no-groups`… Absent for a run of the pool's own dataset.
   */
  readonly partial?: readonly string[] | undefined;
}

/**
 * How a run's options differ from the pool's own dataset (its config file entry, or the whole pool
 * with groups when the file does not name it), one phrase per option; empty for the pool's own
 * dataset. Only a run with none moves `latest.json` and compares itself with the snapshot it names.
 */
export function partialReasons(spec: RunSpec, dataset: PoolDataset | undefined): string[] {
  const sorted = (list: readonly string[] | null | undefined) => (list ? [...list].sort().join(',') : null);
  const reasons: string[] = [];
  if (spec.filter !== null) reasons.push('--filter');
  if (sorted(spec.attributes) !== sorted(dataset?.attributes)) {
    reasons.push(dataset?.attributes ? "--attributes other than the pool's configured ones" : '--attributes');
  }
  const groups = dataset?.groups ?? true;
  if ((spec.groups ?? false) !== groups) {
    reasons.push(groups ? "--no-groups while the pool's dataset has groups" : "groups while the pool's dataset is users only (groups: false)");
  }
  if (sorted(spec.excludeAttributes ?? []) !== sorted(dataset?.excludeAttributes ?? [])) reasons.push("--exclude-attributes other than the pool's configured ones");
  if (sorted(spec.pseudonymize ?? []) !== sorted(dataset?.pseudonymize ?? [])) reasons.push("--pseudonymize other than the pool's configured fields");
  return reasons;
}

/** What a pool's own dataset keeps (the config file entry of the pool; see RunStore.poolDataset). */
export interface PoolDataset {
  /** Attributes kept, or null for all. */
  readonly attributes: readonly string[] | null;
  /** Whether its groups and memberships are exported. @default true */
  readonly groups?: boolean;
  /** Attributes dropped and fields pseudonymized. @default none */
  readonly excludeAttributes?: readonly string[];
  readonly pseudonymize?: readonly string[];
}

/**
 * One line saying a run is partial and what follows from it, or undefined for a run of the pool's
 * own dataset: printed when it is requested, so nobody learns it from a missing change table.
 */
export function partialNotice(spec: RunSpec): string | undefined {
  if (!spec.partial || spec.partial.length === 0) return undefined;
  const moves = spec.pointer
    ? `it moves ${spec.pointer}, never latest.json`
    : 'it moves no pointer and writes no change tables (give it --name NAME to keep latest-NAME.json and changes between such runs)';
  const hint = spec.partial.some((reason) => reason.startsWith('--no-groups'))
    ? "; to make users only the pool's own dataset, set groups: false for it in the worker's --config file"
    : '';
  return `export ${spec.snapshotId} is a partial run (${spec.partial.join(', ')}): ${moves}${hint}`;
}

/** The role a run's Cognito calls go through, or undefined for the worker's own credentials. */
export function runRole(spec: RunSpec): { readonly roleArn: string; readonly externalId?: string | undefined } | undefined {
  return spec.roleArn ? { roleArn: spec.roleArn, ...(spec.externalId ? { externalId: spec.externalId } : {}) } : undefined;
}

/** The role a run's S3 calls go through, or undefined for the worker's own credentials. */
export function runS3Role(spec: RunSpec): { readonly roleArn: string; readonly externalId?: string | undefined } | undefined {
  return spec.s3RoleArn ? { roleArn: spec.s3RoleArn, ...(spec.externalId ? { externalId: spec.externalId } : {}) } : undefined;
}

/** The pointer of the pool's own dataset. */
export const LATEST_POINTER = 'latest.json';

/** The pointer a run moves (runs registered before pointers existed move `latest.json`). */
export function runPointer(spec: RunSpec): string | null {
  return spec.pointer === undefined ? LATEST_POINTER : spec.pointer;
}

/** Where a run's objects are named from. */
export function runLocation(spec: RunSpec): RunLocation {
  return { userPoolId: spec.userPoolId, snapshotId: spec.snapshotId, startedAt: new Date(spec.startedAt) };
}

/** The shards of a run: derived from its spec, so every worker agrees without storing them. */
export function runShards(spec: RunSpec): Shard[] {
  return planShards(spec.shards, spec.filter === null ? null : parseFilter(spec.filter));
}

/** The tables a run writes. */
export function runTables(spec: RunSpec): string[] {
  return spec.groups ? [USERS_TABLE, GROUPS_TABLE, GROUP_MEMBERSHIPS_TABLE] : [USERS_TABLE];
}

/** The checkpoint unit of the groups table's one shard. */
export const GROUPS_UNIT = `${GROUPS_TABLE}.all`;

/** The checkpoint unit of membership batch `batch`. */
export function membershipUnit(batch: number): string {
  return `${GROUP_MEMBERSHIPS_TABLE}.${batch}`;
}

/** Membership shards a run has at most: one group a shard up to this many groups, batches beyond. */
export const MAX_MEMBERSHIP_SHARDS = 256;

/**
 * Splits the groups into membership shards: one group a shard while there are at most 256 (a
 * group's walk is one page per round trip, so groups walk best in parallel), else 256 batches of
 * about equal size. Pure, so a retried planner makes the same plan from the same groups.
 */
export function planMembershipBatches(groups: readonly string[]): string[][] {
  const size = Math.max(1, Math.ceil(groups.length / MAX_MEMBERSHIP_SHARDS));
  const batches: string[][] = [];
  for (let i = 0; i < groups.length; i += size) batches.push(groups.slice(i, i + size));
  return batches;
}

/** An option two runs of a pool can differ in, as the CLI and POST /exports (and the config file) name it. */
interface RunOption {
  readonly cli: string;
  readonly http: string;
  readonly value: (spec: RunSpec) => OptionValue;
}

/** What an option's value can be. */
type OptionValue = string | number | boolean | null | readonly string[];

const sorted = (list: readonly string[] | undefined): string[] => [...(list ?? [])].sort();

/** Every option that decides what a run exports and how: runs that agree on all of them are the same run. */
const RUN_OPTIONS: readonly RunOption[] = [
  { cli: '--user-pool-id', http: 'user_pool_id', value: (spec) => spec.userPoolId },
  { cli: '--region', http: 'region', value: (spec) => spec.region },
  { cli: '--destination', http: 'destination', value: (spec) => spec.destination },
  { cli: '--shards', http: 'shards', value: (spec) => spec.shards },
  { cli: '--filter', http: 'filter', value: (spec) => spec.filter },
  { cli: '--attributes', http: 'attributes', value: (spec) => (spec.attributes === null ? null : sorted(spec.attributes)) },
  { cli: '--format', http: 'format', value: (spec) => spec.format ?? 'ndjson' },
  { cli: '--no-gzip', http: 'gzip', value: (spec) => spec.gzip },
  { cli: '--file-max-records', http: 'file_max_records', value: (spec) => spec.fileMaxRecords },
  { cli: '--keep-last', http: 'keep_last', value: (spec) => spec.keepLast },
  { cli: 'rate_limit_rps', http: 'rate_limit_rps', value: (spec) => spec.rateLimitRps ?? null },
  { cli: '--name', http: 'name', value: (spec) => spec.name ?? null },
  { cli: '--no-groups', http: 'groups', value: (spec) => spec.groups ?? false },
  { cli: '--no-changes', http: 'changes', value: (spec) => spec.changes ?? false },
  { cli: '--exclude-attributes', http: 'exclude_attributes', value: (spec) => spec.excludeAttributes ?? [] },
  { cli: '--pseudonymize', http: 'pseudonymize', value: (spec) => spec.pseudonymize ?? [] },
  { cli: '--role-arn', http: 'role_arn', value: (spec) => spec.roleArn ?? null },
  { cli: '--external-id', http: 'external_id', value: (spec) => spec.externalId ?? null },
  { cli: '--s3-role-arn', http: 's3_role_arn', value: (spec) => spec.s3RoleArn ?? null },
  { cli: '--glue-database', http: 'glue_database', value: (spec) => spec.glueDatabase ?? null },
  { cli: '--glue-table-prefix', http: 'glue_table_prefix', value: (spec) => spec.glueTablePrefix ?? null },
];

/** One option two runs differ in: its name (as the requester's surface spells it) and both values, for messages. */
export interface RunOptionDifference {
  readonly option: string;
  readonly running: string;
  readonly requested: string;
}

/** A value of an option, for a message: lists comma-separated, none for null or empty. */
function shown(value: OptionValue): string {
  if (value === null) return 'none';
  if (typeof value === 'object') return value.length === 0 ? 'none' : value.join(',');
  return String(value);
}

/**
 * The options in which `requested` differs from `running`, named as the requester's surface names
 * them (`--shards` for the CLI, `shards` for POST /exports and schedules). Empty when they are the same run.
 */
export function runOptionDifferences(running: RunSpec, requested: RunSpec): RunOptionDifference[] {
  // POST /exports and the config file behind schedules spell options as snake_case keys.
  const keys = requested.trigger === 'http' || requested.trigger === 'schedule';
  return RUN_OPTIONS.filter((option) => JSON.stringify(option.value(running)) !== JSON.stringify(option.value(requested))).map((option) => ({
    option: keys ? option.http : option.cli,
    running: shown(option.value(running)),
    requested: shown(option.value(requested)),
  }));
}

/**
 * True when two runs of a pool export the same thing the same way: a trigger like that joins the
 * run in flight instead of starting its own.
 */
export function sameRunOptions(a: RunSpec, b: RunSpec): boolean {
  return runOptionDifferences(a, b).length === 0;
}
