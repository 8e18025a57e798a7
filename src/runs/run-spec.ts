import { GROUP_MEMBERSHIPS_TABLE, GROUPS_TABLE, type RunLocation, USERS_TABLE } from '../storage/output-layout.js';
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
  /** A partial run's own pointer name (`latest-<name>.json`), from `--name`. */
  readonly name?: string | undefined;
  /**
   * The pointer file this run moves under the pool's manifests folder when it completes:
   * `latest.json` for a run of the pool's own dataset (the whole pool, its configured attributes),
   * `latest-<name>.json` for a named partial run, null for any other. Decided when it is requested.
   */
  readonly pointer?: string | null | undefined;
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

/**
 * True when two runs of a pool export the same thing the same way: a trigger like that joins the
 * run in flight instead of starting its own.
 */
export function sameRunOptions(a: RunSpec, b: RunSpec): boolean {
  const options = (spec: RunSpec) => [
    spec.userPoolId,
    spec.region,
    spec.destination,
    spec.shards,
    spec.filter,
    spec.attributes === null ? null : [...spec.attributes].sort(),
    spec.gzip,
    spec.fileMaxRecords,
    spec.keepLast,
    spec.rateLimitRps ?? null,
    spec.name ?? null,
    spec.groups ?? false,
    spec.changes ?? false,
    spec.excludeAttributes ?? [],
    spec.pseudonymize ?? [],
    spec.roleArn ?? null,
    spec.externalId ?? null,
    spec.s3RoleArn ?? null,
  ];
  return JSON.stringify(options(a)) === JSON.stringify(options(b));
}
