import type { ScheduledPool } from '../../src/config/config-file.js';

/**
 * A pool as a config file entry with only its id, destination and schedule gives it (the built-in
 * defaults), with `overrides` on top: for tests that apply schedules or queue start jobs.
 */
export function scheduledPool(userPoolId: string, destination: string, overrides: Partial<ScheduledPool> = {}): ScheduledPool {
  return {
    userPoolId,
    region: undefined,
    destination,
    schedule: '0 2 * * *',
    timezone: 'UTC',
    shards: 16,
    filter: null,
    attributes: null,
    format: 'ndjson',
    gzip: true,
    groups: true,
    changes: true,
    excludeAttributes: [],
    pseudonymize: [],
    roleArn: undefined,
    externalId: undefined,
    s3RoleArn: undefined,
    glueDatabase: undefined,
    glueTablePrefix: undefined,
    rateLimitRps: undefined,
    keepLast: null,
    ...overrides,
  };
}
