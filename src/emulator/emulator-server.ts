import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { UserType } from '@aws-sdk/client-cognito-identity-provider';
import { AccountQuota } from './account-quota.js';
import { operationFromTarget, parseJsonBody, readBody, sendError, sendJson } from './aws-json-protocol.js';
import { CognitoServiceError } from './cognito-error.js';
import { CONTROL_PREFIX, handleControlRequest } from './control-endpoint.js';
import type { ControlTarget, PoolSummary } from './control-endpoint.js';
import { StatsRecorder } from './emulator-stats.js';
import type { EmulatorStats } from './emulator-stats.js';
import { FaultInjector } from './fault-injector.js';
import type { EmulatorFaults } from './fault-injector.js';
import type { OperationHandler } from './operation-context.js';
import { PaginationTokenCodec } from './pagination-token.js';
import { POOL_OPERATIONS } from './pool-operations.js';
import { RandomSource, unpredictableSeed } from './random-source.js';
import { internAttributeName, StoredUser, userTimestampNow } from './stored-user.js';
import type { UserStatus } from './stored-user.js';
import { USER_OPERATIONS } from './user-operations.js';
import type { UserPool } from './user-pool.js';
import { UserPoolStore } from './user-pool-store.js';
import { randomSub, seedUsers } from './user-seeder.js';
import type { SeedOptions } from './user-seeder.js';

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
  /** Seeds fault decisions, pool ids and token signing, for reproducible runs. @default random */
  randomSeed?: number;
}

/** A user to add directly (library only), e.g. with a chosen sub to land mid-walk. */
export interface NewUser {
  username: string;
  /** @default a random v4 UUID */
  sub?: string;
  attributes?: Record<string, string>;
  /** @default true */
  enabled?: boolean;
  /** @default 'CONFIRMED' */
  status?: UserStatus;
  /** @default now */
  createdAt?: Date;
}

const OPERATIONS: Readonly<Record<string, OperationHandler>> = { ...POOL_OPERATIONS, ...USER_OPERATIONS };
// The UserList quota covers exactly these two calls, across every pool of the account.
const QUOTA_OPERATIONS: ReadonlySet<string> = new Set(['ListUsers', 'ListUsersInGroup']);

type Outcome =
  | { readonly kind: 'answer'; readonly body: unknown }
  | { readonly kind: 'error'; readonly error: CognitoServiceError; readonly counter: 'errors' | 'throttled' }
  | { readonly kind: 'drop' };

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

  readonly #server: Server;
  readonly #store: UserPoolStore;
  readonly #faults: FaultInjector;
  readonly #quota: AccountQuota;
  readonly #stats = new StatsRecorder();
  readonly #codec: PaginationTokenCodec;
  readonly #pending = new Set<NodeJS.Timeout>();
  #stopped: Promise<void> | null = null;

  private constructor(server: Server, url: string, options: EmulatorOptions) {
    this.#server = server;
    this.url = url;
    this.region = options.region ?? 'us-east-1';
    const seed = options.randomSeed ?? unpredictableSeed();
    const root = new RandomSource(seed);
    this.#faults = new FaultInjector(options.faults ?? {}, root.fork());
    this.#store = new UserPoolStore(this.region, root.fork());
    this.#quota = new AccountQuota(this.#faults.faults.quotaRps);
    const key = options.randomSeed === undefined ? randomBytes(32) : createHash('sha256').update(`token-key:${seed}`).digest();
    this.#codec = new PaginationTokenCodec(key);
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

  /** Creates an empty pool (with `id` if given, else a fresh one); returns its id. */
  createPool(name: string, id?: string): string {
    return this.#store.create(name, Date.now(), id).id;
  }

  /** Adds `options.users` deterministic users (see {@link SeedOptions}). */
  seedUsers(poolId: string, options: SeedOptions): void {
    seedUsers(this.#pool(poolId), options);
  }

  /** Creates a pool and seeds it; returns its id. */
  createPoolWithUsers(options: SeedOptions & { name?: string; id?: string }): string {
    const id = this.createPool(options.name ?? 'emulated-pool', options.id);
    this.seedUsers(id, options);
    return id;
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
    const createdMs = user.createdAt?.getTime() ?? userTimestampNow();
    const attributes = Object.entries(user.attributes ?? {})
      .filter(([name]) => name !== 'sub')
      .flatMap(([name, value]) => [internAttributeName(name), value]);
    const stored = new StoredUser(sub, user.username, user.enabled ?? true, user.status ?? 'CONFIRMED', createdMs, createdMs, attributes, null);
    pool.add(stored);
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
    return this.#store.list().map((pool) => ({ id: pool.id, name: pool.name, users: pool.size }));
  }

  /** Changes some fault settings; throws FaultConfigError (changing nothing) when one is invalid. */
  setFaults(faults: Partial<EmulatorFaults>): void {
    const before = this.#faults.faults.quotaRps;
    const after = this.#faults.update(faults).quotaRps;
    if (after !== before) this.#quota.setRate(after);
  }

  /** A copy of the current fault settings. */
  get faults(): EmulatorFaults {
    return this.#faults.faults;
  }

  /** A copy of the counters. */
  stats(): EmulatorStats {
    return this.#stats.snapshot();
  }

  /** Zeroes the counters. */
  resetStats(): void {
    this.#stats.reset();
  }

  /** Closes the server and every open connection; answers still waiting on latency are dropped. */
  stop(): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      for (const timer of this.#pending) clearTimeout(timer);
      this.#pending.clear();
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

  #onRequest(request: IncomingMessage, response: ServerResponse): void {
    if ((request.url ?? '').startsWith(CONTROL_PREFIX)) {
      void handleControlRequest(request, response, this);
      return;
    }
    const requestId = randomUUID();
    const arrivedMs = userTimestampNow();
    const target = request.headers['x-amz-target'];
    const operation = operationFromTarget(target);
    const name = operation ?? (typeof target === 'string' && target !== '' ? target : '(no target)');
    this.#stats.count('calls', name);

    // Decided on arrival, before the body and before any latency, as AWS meters requests.
    let early = this.#faults.credentialError(request.headers.authorization);
    if (early === null && (request.method !== 'POST' || operation === null || !Object.hasOwn(OPERATIONS, operation))) {
      early = CognitoServiceError.unknownOperation();
    }
    const throttled = early === null && QUOTA_OPERATIONS.has(name) && (!this.#quota.tryTake() || this.#faults.shouldThrottle());
    if (throttled) early = CognitoServiceError.tooManyRequests();

    readBody(request).then(
      (raw) => {
        const outcome: Outcome =
          early !== null
            ? { kind: 'error', error: early, counter: throttled ? 'throttled' : 'errors' }
            : this.#execute(name, raw, requestId, arrivedMs);
        this.#respondLater(name, outcome, request, response, requestId);
      },
      (error: unknown) => {
        const failure = error instanceof CognitoServiceError ? error : CognitoServiceError.serialization();
        this.#respondLater(name, { kind: 'error', error: failure, counter: 'errors' }, request, response, requestId);
      },
    );
  }

  #execute(operation: string, raw: Buffer, requestId: string, nowMs: number): Outcome {
    if (this.#faults.shouldDrop()) return { kind: 'drop' };
    try {
      const injected = this.#faults.injectedError(operation);
      if (injected !== null) throw injected;
      const handler = OPERATIONS[operation] as OperationHandler;
      const context = { store: this.#store, codec: this.#codec, faults: this.#faults, requestId, nowMs };
      return { kind: 'answer', body: handler(parseJsonBody(raw), context) };
    } catch (error) {
      if (error instanceof CognitoServiceError) return { kind: 'error', error, counter: 'errors' };
      // A bug in the emulator: answer as AWS would for its own failure, and say so on stderr.
      console.error(`cognito emulator: ${operation} failed:`, error);
      return { kind: 'error', error: CognitoServiceError.internalError(), counter: 'errors' };
    }
  }

  #respondLater(operation: string, outcome: Outcome, request: IncomingMessage, response: ServerResponse, requestId: string): void {
    if (this.#stopped !== null) {
      request.socket.destroy();
      return;
    }
    const deliver = (): void => {
      if (outcome.kind === 'drop') {
        this.#stats.count('dropped', operation);
        request.socket.destroy();
        return;
      }
      if (outcome.kind === 'error') {
        this.#stats.count(outcome.counter, operation);
        sendError(response, outcome.error, requestId);
        return;
      }
      sendJson(response, 200, outcome.body, requestId);
    };
    const delay = this.#faults.delayMs();
    if (delay <= 0) {
      deliver();
      return;
    }
    const timer = setTimeout(() => {
      this.#pending.delete(timer);
      deliver();
    }, delay);
    this.#pending.add(timer);
  }
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
