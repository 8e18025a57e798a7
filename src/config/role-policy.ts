/**
 * The roles the admin port may assume for a caller, from the server's own settings: what
 * ALLOWED_ROLE_ARNS lists and what the worker's config file names, with the external id each one
 * is assumed with. The caller names a role; the server decides whether, and with which id.
 */
import type { RolePolicy } from '../ops/admin-server.js';
import type { AppConfig } from './app-config.js';
import type { ScheduledPool } from './config-file.js';

/**
 * The role policy of `POST /exports`: ALLOWED_ROLE_ARNS plus every `role_arn` and `s3_role_arn`
 * of `pools` (the worker's config file). A role's external id is ROLE_EXTERNAL_IDS's entry for it,
 * else that of the first pool of the file naming it, else none.
 */
export function adminRolePolicy(config: Pick<AppConfig, 'allowedRoleArns' | 'roleExternalIds'>, pools: readonly ScheduledPool[] = []): RolePolicy {
  const fromFile = new Map<string, string | undefined>();
  for (const pool of pools) {
    for (const role of [pool.roleArn, pool.s3RoleArn]) {
      if (role !== undefined && !fromFile.has(role)) fromFile.set(role, pool.externalId);
    }
  }
  const allowed = Object.freeze([...new Set([...config.allowedRoleArns, ...fromFile.keys()])]);
  const ids = new Map(Object.entries(config.roleExternalIds));
  return Object.freeze({
    allowed,
    externalIdOf: (roleArn: string) => ids.get(roleArn) ?? fromFile.get(roleArn),
  });
}
