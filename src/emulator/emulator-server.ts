import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GroupType, UserType } from '@aws-sdk/client-cognito-identity-provider';
import { AppLoad } from './app-load.js';
import { CognitoEndpoint } from './cognito-endpoint.js';
import { CredentialIssuer } from './credential-issuer.js';
import type { RoleDefinition, RoleSummary } from './credential-issuer.js';
import { CONTROL_PREFIX, handleControlRequest } from './control-endpoint.js';
import type { ControlTarget, PoolSummary } from './control-endpoint.js';
import { StatsRecorder } from './emulator-stats.js';
import type { EmulatorStats } from './emulator-stats.js';
import { FaultInjector } from './fault-injector.js';
import type { EmulatorFaults } from './fault-injector.js';
import { GlueEndpoint, isGlueRequest } from './glue-endpoint.js';
import { seedGroups } from './group-seeder.js';
import type { GroupSeedOptions } from './group-seeder.js';
import { PaginationTokenCodec } from './pagination-token.js';
import { QuotaMeter } from './quota-meter.js';
import { RandomSource, unpredictableSeed } from './random-source.js';
import { ResponseScheduler } from './response-scheduler.js';
import { StoredGroup } from './stored-group.js';
import type { NewGroup } from './stored-group.js';
import { StsEndpoint } from './sts-endpoint.js';
import { isQueryRequest } from './sts-protocol.js';
import { StoredUser, userTimestampNow } from './stored-user.js';
import type { NewUser } from './stored-user.js';
import { identitiesOf } from './identity-links.js';
import { ACCOUNT_ID, DEFAULT_ACCOUNT_ID } from './user-pool.js';
import type { AliasAttribute, UserPool } from './user-pool.js';
import { DEFAULT_PASSWORD_POLICY, UserPoolSchema } from './user-pool-schema.js';
import type { CustomAttribute, PasswordPolicy } from './user-pool-schema.js';
import { WriteRecorder } from './write-recorder.js';
import type { WriteStats } from './write-recorder.js';
import { UserPoolStore } from './user-pool-store.js';
import { randomSub, seedUsers } from './user-seeder.js';
import type { PoolSeedOptions, SeedOptions } from './user-seeder.js';

/** How to start an emulator. */
export interface EmulatorOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** Region in pool ids and ARNs. @default 'us-east-1' */
  region?: string;
  /** Initial faults (all off by default). */
  faults?: Partial<EmulatorFaults>;
  /** Seeds fault decisions, pool ids, token signing and issued credentials, for reproducible runs. @default random */
  randomSeed?: number;
  /** The account of static (long-term) access keys and of pools created without one. @default '000000000000' */
  accountId?: string;
  /** Roles that AssumeRole may assume, registered at start (see {@link CognitoEmulator.createRole}). @default [] */
  roles?: RoleDefinition[];
}

/** How to create a pool with the library (`createPool`, and `createPoolWithUsers` with the same names). */
export interface PoolOptions {
  /** The 12-digit account that owns the pool. @default the emulator's default account */
  account?: string;
  /**
   * Declares the pool's custom attributes (`tenant` or `custom:tenant`, or `{name, type, mutable}`):
   * AdminCreateUser and AdminUpdateUserAttributes then refuse any other, as AWS does. Without it the
   * pool learns custom attributes from its users (see docs/emulator.md). @default undeclared
   */
  customAttributes?: (string | CustomAttribute)[];
  /** What AdminCreateUser's `TemporaryPassword` must satisfy. @default AWS's default: 8 characters, upper, lower, digit, symbol */
  passwordPolicy?: Partial<PasswordPolicy>;
  /** Attributes users may sign in with (their verified values are unique; see ForceAliasCreation). @default [] */
  aliasAttributes?: AliasAttribute[];
}

/**
 * A local Cognito user-pool service speaking AWS JSON 1.1 (`POST /`, `X-Amz-Target:
 * AWSCognitoIdentityProviderService.<Op>`), good enough for the unmodified AWS SDK and CLI, with
 * load and fault shaping for chaos tests and a control endpoint under `/__emulator/`.
 */
export class CognitoEmulator implements ControlTarget {
  /** Base URL to give the SDK as `endpoint`, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Region of every pool id, e.g. `us-east-1`. */
  readonly region: string;
  /** The Glue Data Catalog on the same port (`AWS_ENDPOINT_URL_GLUE`): its state, recorded calls and failNext faults. */
  readonly glue: GlueEndpoint;

  readonly #server: Server;
  readonly #store: UserPoolStore;
  readonly #faults: FaultInjector;
  readonly #quota: QuotaMeter;
  readonly #stats = new StatsRecorder();
  readonly #writes = new WriteRecorder();
  readonly #scheduler: ResponseScheduler;
  readonly #cognito: CognitoEndpoint;
  readonly #sts: StsEndpoint;
  readonly #issuer: CredentialIssuer;
  readonly #app: AppLoad;
  #stopped: Promise<void> | null = null;

  private constructor(server: Server, url: string, options: EmulatorOptions) {
    this.#server = server;
    this.url = url;
    this.region = options.region ?? 'us-east-1';
    const seed = options.randomSeed ?? unpredictableSeed();
    const root = new RandomSource(seed);
    this.#faults = new FaultInjector(options.faults ?? {}, root.fork());
    this.#store = new UserPoolStore(this.region, root.fork());
    this.#quota = new QuotaMeter(this.#faults.quotaRates);
    const key = options.randomSeed === undefined ? randomBytes(32) : createHash('sha256').update(`token-key:${seed}`).digest();
    this.#issuer = new CredentialIssuer(options.accountId ?? DEFAULT_ACCOUNT_ID, root.fork());
    for (const role of options.roles ?? []) this.#issuer.createRole(role);
    this.#scheduler = new ResponseScheduler(() => this.#faults.delayMs());
    const parts = { faults: this.#faults, stats: this.#stats, scheduler: this.#scheduler, issuer: this.#issuer };
    this.#cognito = new CognitoEndpoint({ ...parts, store: this.#store, codec: new PaginationTokenCodec(key), quota: this.#quota, writes: this.#writes });
    this.#sts = new StsEndpoint(parts);
    this.glue = new GlueEndpoint(parts);
    this.#app = new AppLoad(this.#quota);
    this.#app.configure(this.#faults.appSettings(this.defaultAccount));
  }

  /** Starts an emulator and resolves once it is listening. */
  static async start(options: EmulatorOptions = {}): Promise<CognitoEmulator> {
    const region = options.region ?? 'us-east-1';
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
      throw new RangeError(`Expected \`region\` to look like us-east-1, got \`${region}\``);
    }
    const host = options.host ?? '127.0.0.1';
    const server = createServer();
    // Longer than the SDK's idle sockets live, so the server never closes one the client is reusing.
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const emulator = new CognitoEmulator(server, `http://${urlHost(host)}:${port}`, { ...options, region });
    server.on('request', (request: IncomingMessage, response: ServerResponse) => emulator.#onRequest(request, response));
    return emulator;
  }

  /** The account of static access keys and of pools created without one. */
  get defaultAccount(): string {
    return this.#issuer.defaultAccount;
  }

  /**
   * Creates an empty pool (with `id` if given, else a fresh one) in `options.account` (default: the
   * default account), with the schema, password policy and aliases `options` declare; returns its id.
   */
  createPool(name: string, id?: string, options: PoolOptions = {}): string {
    const account = options.account ?? this.defaultAccount;
    if (!ACCOUNT_ID.test(account)) throw new RangeError(`Expected \`account\` to be 12 digits, got \`${account}\``);
    const schema = options.customAttributes === undefined ? null : new UserPoolSchema(options.customAttributes);
    const pool = this.#store.create(name, Date.now(), id, account);
    if (schema !== null) pool.schema = schema;
    pool.passwordPolicy = { ...DEFAULT_PASSWORD_POLICY, ...options.passwordPolicy };
    pool.aliasAttributes = [...(options.aliasAttributes ?? [])];
    return pool.id;
  }

  /**
   * Registers a role that AssumeRole may assume, e.g. `{ roleArn: 'arn:aws:iam::111111111111:role/exporter',
   * externalId: 'x' }`; its credentials belong to the account in the ARN. Registering it again replaces it.
   */
  createRole(role: RoleDefinition): RoleSummary {
    return this.#issuer.createRole(role);
  }

  /** Every registered role. */
  roles(): RoleSummary[] {
    return this.#issuer.roles();
  }

  /** Adds `options.users` deterministic users (see {@link SeedOptions}). */
  seedUsers(poolId: string, options: SeedOptions): void {
    seedUsers(this.#pool(poolId), options);
  }

  /** Creates a pool and seeds it: users, then (with `groups`) groups and memberships; returns its id. */
  createPoolWithUsers(options: PoolSeedOptions & Omit<PoolOptions, 'account'>): string {
    const { account, customAttributes, passwordPolicy, aliasAttributes } = options;
    const id = this.createPool(options.name ?? 'emulated-pool', options.id, {
      ...(account === undefined ? {} : { account }),
      ...(customAttributes === undefined ? {} : { customAttributes }),
      ...(passwordPolicy === undefined ? {} : { passwordPolicy }),
      ...(aliasAttributes === undefined ? {} : { aliasAttributes }),
    });
    this.seedUsers(id, options);
    const { groups = 0, seed, bigGroupShare, tailShare } = options;
    if (groups > 0) {
      this.seedGroups(id, {
        groups,
        ...(seed === undefined ? {} : { seed }),
        ...(bigGroupShare === undefined ? {} : { bigGroupShare }),
        ...(tailShare === undefined ? {} : { tailShare }),
      });
    }
    return id;
  }

  /** Adds `options.groups` deterministic groups with skewed memberships over the pool's users (see {@link GroupSeedOptions}). */
  seedGroups(poolId: string, options: GroupSeedOptions): void {
    seedGroups(this.#pool(poolId), options);
  }

  /** Creates one group directly, bypassing the API (and its faults); returns it as the SDK parses GetGroup. */
  createGroup(poolId: string, group: NewGroup): GroupType {
    const stored = StoredGroup.fromNew(group, userTimestampNow());
    this.#pool(poolId).groups.add(stored);
    return stored.toSdk(poolId);
  }

  /** Deletes one group and its memberships; false when there was none. */
  deleteGroup(poolId: string, name: string): boolean {
    return this.#pool(poolId).groups.delete(name) !== undefined;
  }

  /** Makes a user a member of a group (nothing changes when it already is one); throws past 100 groups. */
  addUserToGroup(poolId: string, groupName: string, username: string): void {
    const pool = this.#pool(poolId);
    pool.groups.addMember(pool.groups.require(groupName), this.#user(pool, username));
  }

  /** Ends one membership; false when there was none. */
  removeUserFromGroup(poolId: string, groupName: string, username: string): boolean {
    const pool = this.#pool(poolId);
    return pool.groups.removeMember(pool.groups.require(groupName), this.#user(pool, username));
  }

  /** Every group of the pool as the SDK's ListGroups returns it (dates as Date), sorted by name. */
  listAllGroups(poolId: string): GroupType[] {
    return this.#pool(poolId).groups.groups.map((group) => group.toSdk(poolId));
  }

  /** Every member of a group as the SDK's ListUsersInGroup returns it (dates as Date), sorted by sub. */
  listAllMembers(poolId: string, groupName: string): UserType[] {
    return this.#pool(poolId).groups.require(groupName).members.map((user) => user.toSdk());
  }

  /** Adds one user directly, bypassing the API (and its faults). */
  addUser(poolId: string, user: NewUser): UserType {
    const pool = this.#pool(poolId);
    if (pool.findByUsername(user.username) !== undefined) throw new Error(`username ${user.username} already exists in ${poolId}`);
    let sub = user.sub;
    if (sub === undefined) {
      do sub = randomSub(this.#store.random);
      while (pool.hasSub(sub));
    }
    const stored = StoredUser.fromNew(user, sub);
    pool.add(stored);
    // Identities linked to the user (not its own, primary one) are known to AdminLinkProviderForUser.
    for (const identity of identitiesOf(stored)) {
      if (identity.primary !== true && typeof identity.providerName === 'string') pool.link(identity.providerName, String(identity.userId), stored);
    }
    return stored.toSdk();
  }

  /** Deletes one user directly; false when there was none. */
  deleteUser(poolId: string, username: string): boolean {
    return this.#pool(poolId).remove(username) !== undefined;
  }

  /** Every user of the pool as the SDK's ListUsers returns it (dates as Date), sorted by sub. */
  listAllUsers(poolId: string): UserType[] {
    return this.#pool(poolId).users.map((user) => user.toSdk());
  }

  /** How many users the pool holds. */
  userCount(poolId: string): number {
    return this.#pool(poolId).size;
  }

  /** Every pool with its size. */
  pools(): PoolSummary[] {
    return this.#store.list().map((pool) => ({
      id: pool.id,
      name: pool.name,
      account: pool.account,
      users: pool.size,
      groups: pool.groups.size,
      memberships: pool.groups.membershipCount,
    }));
  }

  /** Changes some fault settings; throws FaultConfigError (changing nothing) when one is invalid. */
  setFaults(faults: Partial<EmulatorFaults>): void {
    const before = this.#faults.quotaRates;
    this.#faults.update(faults);
    const after = this.#faults.quotaRates;
    // Buckets start again full only when a rate changed, so unrelated changes never reset a quota.
    if (JSON.stringify(after) !== JSON.stringify(before)) this.#quota.setRates(after);
    this.#app.configure(this.#faults.appSettings(this.defaultAccount));
  }

  /** A copy of the current fault settings. */
  get faults(): EmulatorFaults {
    return this.#faults.faults;
  }

  /** A copy of the counters. */
  stats(): EmulatorStats {
    return { ...this.#stats.snapshot(), app: this.#app.counts };
  }

  /**
   * What the write operations did: calls that changed something and calls that changed nothing, by
   * operation, in all and by pool, with the invitation messages AdminCreateUser would have sent.
   */
  writes(): WriteStats {
    return this.#writes.snapshot();
  }

  /** Zeroes the counters (the app's and the writes' included). */
  resetStats(): void {
    this.#stats.reset();
    this.#writes.reset();
    this.#app.resetCounts();
  }

  /** Closes the server and every open connection; answers still waiting on latency are dropped. */
  stop(): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      this.#app.stop();
      this.#scheduler.stop();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#stopped;
  }

  #pool(poolId: string): UserPool {
    const pool = this.#store.get(poolId);
    if (pool === undefined) throw new Error(`User pool ${poolId} does not exist.`);
    return pool;
  }

  #user(pool: UserPool, username: string): StoredUser {
    const user = pool.findByUsername(username);
    if (user === undefined) throw new Error(`User ${username} does not exist in ${pool.id}.`);
    return user;
  }

  #onRequest(request: IncomingMessage, response: ServerResponse): void {
    if ((request.url ?? '').startsWith(CONTROL_PREFIX)) {
      void handleControlRequest(request, response, this);
      return;
    }
    if (isQueryRequest(request)) this.#sts.handle(request, response);
    else if (isGlueRequest(request)) this.glue.handle(request, response);
    else this.#cognito.handle(request, response);
  }
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
