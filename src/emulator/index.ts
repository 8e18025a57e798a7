/**
 * The local Cognito user-pool emulator: the public entry for tests, the demo and the benchmarks.
 * See "The Cognito emulator" in README.md.
 */
export { CognitoEmulator } from './emulator-server.js';
export type { EmulatorOptions } from './emulator-server.js';
export type { NewUser } from './stored-user.js';
export type { NewGroup } from './stored-group.js';
export type { EmulatorFaults, ForcedError } from './fault-injector.js';
export { DEFAULT_FAULTS, FaultConfigError } from './fault-injector.js';
export type { EmulatorStats } from './emulator-stats.js';
export type { PoolSeedOptions, SeedOptions } from './user-seeder.js';
export type { GroupSeedOptions } from './group-seeder.js';
export { MAX_GROUPS_PER_POOL, MAX_GROUPS_PER_USER } from './group-directory.js';
export { MAX_SEED_USERS } from './user-seeder.js';
export type { UserStatus } from './stored-user.js';
export { CONTROL_PREFIX } from './control-endpoint.js';
export type { PoolSummary } from './control-endpoint.js';
export { registerEmulatorCommand } from './emulator-command.js';
export type { RoleDefinition, RoleSummary } from './credential-issuer.js';
export type { OperationCounters } from './emulator-stats.js';
export type { AppLoadCounts } from './app-load.js';
export type { PoolOptions } from './emulator-server.js';
export type { AttributeDataType, CustomAttribute, PasswordPolicy } from './user-pool-schema.js';
export { DEFAULT_PASSWORD_POLICY } from './user-pool-schema.js';
export type { AliasAttribute } from './user-pool.js';
export type { DeliveryMedium, PoolWrites, WriteCounters, WriteStats } from './write-recorder.js';
export type { WriteQuotaRates } from './quota-meter.js';
export { AWS_WRITE_QUOTAS } from './quota-meter.js';
export type { LinkedIdentity } from './identity-links.js';
export { MAX_LINKED_IDENTITIES } from './identity-links.js';
