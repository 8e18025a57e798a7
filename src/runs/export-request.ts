import { isUserPoolId, regionOfUserPool } from '../cognito/cognito-client.js';
import { FilterError, formatFilter, parseFilter } from '../cognito/cognito-filter.js';
import { canonicalDestination } from '../storage/destination.js';
import type { RunSpec, RunTrigger } from './run-spec.js';
import { parseShardCount } from './shard-plan.js';
import { newSnapshotId } from '../storage/snapshot-id.js';
import { DATA_FORMATS } from '../storage/output-layout.js';
import { glueNameError } from '../warehouse/glue-catalog.js';
import { parseAttributeList } from '../tables/user-record.js';
import { filterPrivacyProblem, privacyListProblem } from '../tables/privacy.js';

/** What a caller (CLI, HTTP, schedule) asks for; everything but pool and destination is optional. */
export interface ExportRequest {
  readonly userPoolId: string;
  readonly destination: string;
  readonly region?: string | undefined;
  readonly shards?: number | string | undefined;
  readonly filter?: string | null | undefined;
  /** A comma-separated list or an array of attribute names to keep. */
  readonly attributes?: string | readonly string[] | null | undefined;
  /** `ndjson` (the default) or `parquet`. */
  readonly format?: string | undefined;
  readonly gzip?: boolean | undefined;
  readonly fileMaxRecords?: number | undefined;
  readonly rateLimitRps?: number | undefined;
  /** Keep only the pool's newest N snapshots after this one is published (retention); off when unset. */
  readonly keepLast?: number | null | undefined;
  /** Run it in the asking process, in queues of its own (`export --inline`). */
  readonly inline?: boolean | undefined;
  /** Names a partial run's own pointer, `latest-<name>.json`. */
  readonly name?: string | null | undefined;
  /** Export the pool's groups and memberships too. @default true */
  readonly groups?: boolean | undefined;
  /** Write change tables against the previous snapshot. @default true */
  readonly changes?: boolean | undefined;
  /** Attributes to drop (a comma-separated list or an array). */
  readonly excludeAttributes?: string | readonly string[] | null | undefined;
  /** Fields to pseudonymize: `username` and attribute names (a comma-separated list or an array). */
  readonly pseudonymize?: string | readonly string[] | null | undefined;
  /** A role in the pool's account to assume for Cognito, and the ExternalId its trust policy wants. */
  readonly roleArn?: string | null | undefined;
  readonly externalId?: string | null | undefined;
  /** A role to assume for the destination's S3 calls (the same external id is sent). */
  readonly s3RoleArn?: string | null | undefined;
  /** The Glue database to register the run's partitions in, and a prefix for its table names. */
  readonly glueDatabase?: string | null | undefined;
  readonly glueTablePrefix?: string | null | undefined;
  readonly trigger: RunTrigger;
}

/** The process-wide defaults a request falls back on (an AppConfig has them). */
export interface RunDefaults {
  /** Region of pools whose id does not say (it always does for real pool ids). */
  readonly awsRegion: string | undefined;
  /** Records per data file. */
  readonly fileMaxRecords: number;
  /** zlib level of data files. */
  readonly gzipLevel: number;
  /** The pseudonymization key, if this process has one (a run that pseudonymizes needs it). */
  readonly pseudonymizationKey?: string | undefined;
}

/** A request that cannot become a run; the message is one line naming the field and the fix. */
export class ExportRequestError extends Error {
  override readonly name = 'ExportRequestError';
}

/** An IAM role ARN (any partition), and what AWS accepts as an ExternalId. */
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;

/** A partial run's name, as it appears in `latest-<name>.json`. */
const RUN_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Default shard count: enough parallelism to reach the quota from one worker. */
export const DEFAULT_SHARDS = 16;

/**
 * Validates a request and fixes everything about the run it starts: snapshot id, start time,
 * canonical filter. Throws {@link ExportRequestError}; makes no call to AWS or Redis.
 */
export function buildRunSpec(request: ExportRequest, config: RunDefaults, now: Date = new Date()): RunSpec {
  const fail = (message: string): never => {
    throw new ExportRequestError(message);
  };
  if (!isUserPoolId(request.userPoolId)) {
    fail(`user pool id ${JSON.stringify(request.userPoolId)} is not valid: expected <region>_<id>, e.g. eu-west-1_AbCdEf123`);
  }
  const region = request.region ?? regionOfUserPool(request.userPoolId) ?? config.awsRegion;
  if (!region || !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
    fail(`region ${JSON.stringify(region ?? '')} is not valid: pass --region such as eu-west-1`);
  }
  let destination = '';
  try {
    // The one parser of destinations: the canonical string it returns is what the run writes to.
    destination = canonicalDestination(request.destination);
  } catch (error) {
    fail((error as Error).message);
  }
  let shards = parseShardCountOrFail(request.shards ?? DEFAULT_SHARDS, fail);
  let filter: string | null = null;
  let filterAttribute: string | null = null;
  if (request.filter !== undefined && request.filter !== null && request.filter.trim() !== '') {
    try {
      const parsed = parseFilter(request.filter);
      filterAttribute = parsed.attribute;
      filter = formatFilter(parsed);
    } catch (error) {
      if (!(error instanceof FilterError)) throw error;
      fail(`filter ${JSON.stringify(request.filter)} is not valid: ${error.message}`);
    }
    // Cognito takes one filter a call: a user filter cannot be combined with sub-prefix shards.
    shards = 1;
  }
  let attributes: string[] | null = null;
  if (request.attributes !== undefined && request.attributes !== null) {
    const list = typeof request.attributes === 'string' ? request.attributes : request.attributes.join(',');
    try {
      attributes = [...parseAttributeList(list)];
    } catch (error) {
      fail((error as Error).message);
    }
  }
  const list = (value: string | readonly string[] | null | undefined): string[] =>
    value === undefined || value === null ? [] : (typeof value === 'string' ? value.split(',') : [...value]).map((name) => name.trim()).filter((name) => name !== '');
  const excludeAttributes = [...new Set(list(request.excludeAttributes))].sort();
  const pseudonymize = [...new Set(list(request.pseudonymize))].sort();
  const problem =
    privacyListProblem(excludeAttributes, pseudonymize, attributes) ??
    (filterAttribute === null ? undefined : filterPrivacyProblem(filterAttribute, excludeAttributes, pseudonymize));
  if (problem !== undefined) fail(problem);
  const roleArn = request.roleArn?.trim() || undefined;
  const externalId = request.externalId?.trim() || undefined;
  if (roleArn !== undefined && !ROLE_ARN.test(roleArn)) fail(`role arn ${JSON.stringify(roleArn)} is not valid: expected arn:aws:iam::<account>:role/<name>, e.g. arn:aws:iam::111111111111:role/cognito-export`);
  if (externalId !== undefined && !EXTERNAL_ID.test(externalId)) fail('external id is not valid: expected 2 to 1224 characters of letters, digits and +=,.@:/-');
  const s3RoleArn = request.s3RoleArn?.trim() || undefined;
  if (s3RoleArn !== undefined && !ROLE_ARN.test(s3RoleArn)) fail(`s3 role arn ${JSON.stringify(s3RoleArn)} is not valid: expected arn:aws:iam::<account>:role/<name>`);
  if (s3RoleArn !== undefined && !destination.startsWith('s3://')) fail('an s3 role arn needs an s3:// destination');
  if (externalId !== undefined && roleArn === undefined && s3RoleArn === undefined) fail('an external id needs a role arn: pass --role-arn too');
  const glueDatabase = request.glueDatabase?.trim() || undefined;
  const glueTablePrefix = request.glueTablePrefix?.trim() || undefined;
  if (glueDatabase !== undefined) {
    const problem = glueNameError('database', glueDatabase) ?? (glueTablePrefix === undefined ? null : glueNameError('table prefix', glueTablePrefix));
    if (problem !== null) fail(problem);
    if (!destination.startsWith('s3://')) fail('a Glue database catalogs S3 data: --glue-database needs an s3:// destination');
  } else if (glueTablePrefix !== undefined) {
    fail('a Glue table prefix needs a Glue database: pass --glue-database too');
  }
  const fileMaxRecords = request.fileMaxRecords ?? config.fileMaxRecords;
  if (!Number.isInteger(fileMaxRecords) || fileMaxRecords < 1) {
    fail(`file max records must be an integer from 1, got ${JSON.stringify(fileMaxRecords)}`);
  }
  const keepLast = request.keepLast ?? null;
  if (keepLast !== null && (!Number.isInteger(keepLast) || keepLast < 1)) {
    fail(`keep last must be an integer from 1 (snapshots to keep), got ${JSON.stringify(keepLast)}`);
  }
  const name = request.name ?? null;
  if (name !== null && !RUN_NAME.test(name)) {
    fail(`name ${JSON.stringify(name)} is not valid: expected lowercase letters, digits and dashes, e.g. enabled-users`);
  }
  const format = request.format ?? 'ndjson';
  if (!(DATA_FORMATS as readonly string[]).includes(format)) {
    fail(`format ${JSON.stringify(format)} is not supported: expected ${DATA_FORMATS.join(' or ')}`);
  }
  if (request.rateLimitRps !== undefined && !(request.rateLimitRps > 0)) {
    fail(`rate limit must be a number of calls per second above 0, got ${JSON.stringify(request.rateLimitRps)}`);
  }
  return {
    userPoolId: request.userPoolId,
    region: region as string,
    destination,
    snapshotId: newSnapshotId(now),
    startedAt: now.toISOString(),
    shards,
    filter,
    attributes,
    ...(format === 'parquet' ? { format: 'parquet' as const } : {}),
    gzip: request.gzip ?? true,
    groups: request.groups ?? true,
    changes: request.changes ?? true,
    ...(excludeAttributes.length > 0 ? { excludeAttributes } : {}),
    ...(roleArn !== undefined ? { roleArn } : {}),
    ...(externalId !== undefined ? { externalId } : {}),
    ...(s3RoleArn !== undefined ? { s3RoleArn } : {}),
    ...(glueDatabase !== undefined ? { glueDatabase } : {}),
    ...(glueTablePrefix !== undefined ? { glueTablePrefix } : {}),
    ...(pseudonymize.length > 0 ? { pseudonymize } : {}),
    gzipLevel: config.gzipLevel,
    fileMaxRecords,
    trigger: request.trigger,
    keepLast,
    ...(request.rateLimitRps !== undefined ? { rateLimitRps: request.rateLimitRps } : {}),
    ...(request.inline ? { inline: true } : {}),
    ...(name !== null ? { name } : {}),
  };
}

function parseShardCountOrFail(value: number | string, fail: (message: string) => never) {
  try {
    return parseShardCount(value);
  } catch (error) {
    return fail((error as Error).message);
  }
}
