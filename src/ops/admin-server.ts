import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { RestoreRequestError } from '../restore/restore-records.js';
import type { RestoreStatus } from '../restore/restore-store.js';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ExportRequestError, type ExportRequest } from '../runs/export-request.js';
import { RunConflictError } from '../runs/run-conflict.js';
import type { RunStatus } from '../runs/run-store.js';
import { canonicalDestination, isDestinationAllowed } from '../storage/destination.js';
import { DASHBOARD_METHODS, isDashboardRead } from './admin-dashboard.js';
import type { ExportMetrics } from './metrics.js';

/** Where and how the admin port listens. */
export interface AdminListenOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Bearer token for POST /exports and GET /exports/:id (and the dashboard's password); without one they are off. */
  readonly token: string | undefined;
}

/**
 * What the admin port serves, passed in by whoever runs it (the worker wires these to its queues),
 * so this module knows HTTP and nothing of BullMQ.
 */
export interface AdminEndpoints {
  readonly log: Logger;
  readonly metrics: ExportMetrics;
  /** Resolves when Redis answers. */
  ping(): Promise<unknown>;
  /** Whether this process is taking jobs. */
  workerRunning(): boolean;
  /**
   * Starts (or joins) a run; throws ExportRequestError for a request that cannot become a run and
   * RunConflictError when the pool has a run with other options in flight (unless `queue`).
   */
  trigger(
    request: ExportRequest,
    queue: boolean,
  ): Promise<{
    readonly snapshotId: string;
    readonly created: boolean;
    readonly behind?: string | undefined;
    /** The pointer the run moves (null: none), and for a partial run the notice saying why. */
    readonly pointer: string | null;
    readonly partial?: string | undefined;
  }>;
  /** A run's status, or undefined if unknown. */
  status(snapshotId: string): Promise<RunStatus | undefined>;
  /** Cancels a run: `cancelled`, `ended` (it had already ended, with its status) or `unknown`. */
  cancel(snapshotId: string): Promise<{ readonly kind: 'cancelled' | 'ended' | 'committing'; readonly status: RunStatus } | { readonly kind: 'unknown' }>;
  /**
   * Forgets a pool's history (`DELETE /pools/<id>`): `forgotten`, or why not with a one-line
   * message: `scheduled` or `active` (refused), `unknown` (no history of it). Undefined: the route answers 404.
   */
  forget?(userPoolId: string): Promise<{ readonly kind: 'forgotten'; readonly kept: boolean } | { readonly kind: 'scheduled' | 'active' | 'unknown'; readonly error: string }>;
  /**
   * Where `POST /exports` may send data: URL prefixes (ALLOWED_DESTINATIONS, the worker's config
   * file's destinations), compared normalized. Empty: nowhere.
   */
  readonly allowedDestinations: readonly string[];
  /** Which roles `POST /exports` may name, and their external ids; undefined: no role at all. */
  readonly roles?: RolePolicy | undefined;
  /** Which user pools `POST /exports` may export; undefined: any. */
  readonly allowedPools?: readonly string[] | undefined;
  /** Queues a restore (`POST /restores`); undefined: the route answers 404. Throws a RestoreRequestError for a refused one. */
  restore?(request: { readonly from: string; readonly targetPoolId: string; readonly merge: boolean; readonly deleteMissing: boolean; readonly verify: boolean }): Promise<{ readonly restoreId: string; readonly joined: boolean }>;
  /** A restore's status (`GET /restores/<id>`), or undefined if unknown. */
  restoreStatus?(restoreId: string): Promise<RestoreStatus | undefined>;
  /** Cancels a restore (`DELETE /restores/<id>`): false when it had already ended or is unknown. */
  cancelRestore?(restoreId: string): Promise<boolean>;
  /** The bull-board dashboard, mounted at /dashboard behind the token; undefined when off. */
  readonly dashboard?: ((request: IncomingMessage, response: ServerResponse) => void) | undefined;
}

/**
 * The roles `POST /exports` may assume (as `role_arn` or `s3_role_arn`) and the ExternalId sent for
 * each: both are the server's (ALLOWED_ROLE_ARNS, ROLE_EXTERNAL_IDS, the worker's config file), so a
 * token holder cannot point the worker's principal at a role of their choosing, nor pick the id that
 * is the role owner's confused-deputy guard.
 */
export interface RolePolicy {
  /** Role ARNs, exactly as written. */
  readonly allowed: readonly string[];
  /** The external id to send for `roleArn`, or undefined for none. */
  externalIdOf(roleArn: string): string | undefined;
}

/** A listening admin server. */
export interface AdminServer {
  readonly url: string;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

/** A request the endpoint refuses, with its HTTP status. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * The worker's admin port: `/healthz` (Redis reachable, worker running), `/metrics` (Prometheus),
 * `POST /exports` to trigger a resync and `GET /exports/:id` to follow it, `DELETE /pools/:id` to
 * forget a pool's history (bearer token), and an
 * optional bull-board dashboard at `/dashboard`.
 */
export async function serveAdmin(endpoints: AdminEndpoints, options: AdminListenOptions): Promise<AdminServer> {
  const { dashboard } = endpoints;
  const routes = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://admin');
    if (request.method === 'GET' && url.pathname === '/healthz') return health(endpoints, response);
    if (request.method === 'GET' && url.pathname === '/metrics') {
      const { contentType, body } = await endpoints.metrics.render();
      response.writeHead(200, { 'content-type': contentType }).end(body);
      return;
    }
    if (url.pathname === '/exports' || url.pathname.startsWith('/exports/')) {
      await authorize(request, options.token, 'bearer');
      if (request.method === 'POST' && url.pathname === '/exports') return triggerExport(endpoints, request, response);
      const id = url.pathname.slice('/exports/'.length);
      if (request.method === 'GET' && id) return exportStatus(endpoints, id, response);
      if (request.method === 'DELETE' && id) return cancelExport(endpoints, id, response);
      throw new HttpError(405, `${request.method} ${url.pathname} is not supported: use POST /exports, GET or DELETE /exports/<snapshot_id>`);
    }
    if (url.pathname === '/restores' || url.pathname.startsWith('/restores/')) {
      await authorize(request, options.token, 'bearer');
      if (!endpoints.restore || !endpoints.restoreStatus || !endpoints.cancelRestore) throw new HttpError(404, 'restores are not served by this admin port');
      if (request.method === 'POST' && url.pathname === '/restores') return triggerRestore(endpoints, request, response);
      const id = url.pathname.slice('/restores/'.length);
      if (request.method === 'GET' && id) return restoreStatus(endpoints, id, response);
      if (request.method === 'DELETE' && id) return cancelRestore(endpoints, id, response);
      throw new HttpError(405, `${request.method} ${url.pathname} is not supported: use POST /restores, GET or DELETE /restores/<restore_id>`);
    }
    if (url.pathname.startsWith('/pools/')) {
      await authorize(request, options.token, 'bearer');
      const id = url.pathname.slice('/pools/'.length);
      if (request.method === 'DELETE' && id && !id.includes('/')) return forgetPool(endpoints, id, response);
      throw new HttpError(405, `${request.method} ${url.pathname} is not supported: use DELETE /pools/<user_pool_id>`);
    }
    if (url.pathname === '/dashboard' || url.pathname.startsWith('/dashboard/')) {
      if (!dashboard) throw new HttpError(404, 'the dashboard is off: set ADMIN_DASHBOARD=true and ADMIN_TOKEN on the worker');
      await authorize(request, options.token, 'basic');
      // Read-only: a write through bull-board's API would skip every check of POST /exports.
      if (!isDashboardRead(request.method)) {
        throw new HttpError(405, `the dashboard is read-only: ${request.method} ${url.pathname} is refused; start exports with POST /exports`, { allow: DASHBOARD_METHODS.join(', ') });
      }
      dashboard(request, response);
      return;
    }
    throw new HttpError(404, `no route ${request.method} ${url.pathname}: try /healthz, /metrics or POST /exports`);
  };
  const server: Server = createServer((request, response) => {
    routes(request, response).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      // An internal error's text stays in the log: it can name hosts, keys and paths.
      const message = status === 500 ? 'internal error: see the worker log' : error instanceof Error ? error.message : String(error);
      if (status === 500) endpoints.log.error({ err: error, path: request.url }, 'admin request failed');
      if (!response.headersSent) {
        json(response, status, { error: message }, error instanceof HttpError ? error.headers : {});
      } else response.end();
    });
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  return {
    url: `http://${host}:${port}`,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(`${JSON.stringify(body)}\n`);
}

async function health(endpoints: AdminEndpoints, response: ServerResponse): Promise<void> {
  let redis = 'ok';
  try {
    await Promise.race([endpoints.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000))]);
  } catch (error) {
    // Unauthenticated: the reason (hosts, addresses) goes to the log, not to whoever asks.
    redis = 'unreachable';
    endpoints.log.warn({ err: error }, 'health check: Redis does not answer');
  }
  const running = endpoints.workerRunning();
  const ok = redis === 'ok' && running;
  json(response, ok ? 200 : 503, { status: ok ? 'ok' : 'unhealthy', redis, worker: running ? 'running' : 'stopped' });
}

/** How long a failed attempt waits for its 403: each guess of the token costs a caller this much. */
export const AUTH_FAILURE_DELAY_MS = 250;

/** The one user name HTTP Basic accepts (the password is the token). */
export const DASHBOARD_USER = 'admin';

/** Keys the digests compared below: random per process, so they mean nothing outside it. */
const COMPARE_KEY = randomBytes(32);

/** A fixed-size digest of a credential, so the compare never depends on its length. */
const digest = (text: string): Buffer => createHmac('sha256', COMPARE_KEY).update(text, 'utf8').digest();

/**
 * Checks the bearer token (or, for browsers, HTTP Basic as `admin` with the token as password):
 * the credential exactly as sent (no trimming), compared as HMAC-SHA256 digests in constant time,
 * so neither its content nor its length shows in the timing. A wrong one is answered after
 * {@link AUTH_FAILURE_DELAY_MS}.
 */
async function authorize(request: IncomingMessage, token: string | undefined, scheme: 'bearer' | 'basic'): Promise<void> {
  if (!token) throw new HttpError(404, 'this endpoint is off: set ADMIN_TOKEN on the worker to enable it');
  const header = request.headers.authorization ?? '';
  let given: string | undefined;
  let user = DASHBOARD_USER;
  if (scheme === 'bearer' && header.startsWith('Bearer ')) given = header.slice('Bearer '.length);
  if (scheme === 'basic' && header.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    user = colon < 0 ? '' : decoded.slice(0, colon);
    given = colon < 0 ? '' : decoded.slice(colon + 1);
  }
  const challenge = scheme === 'bearer' ? { 'www-authenticate': 'Bearer' } : { 'www-authenticate': 'Basic realm="cognito-export"' };
  if (given === undefined) throw new HttpError(401, `missing credentials: send Authorization: ${scheme === 'bearer' ? 'Bearer <ADMIN_TOKEN>' : 'Basic'}`, challenge);
  // Compare first, whatever the user name: every wrong attempt takes the same path.
  const tokenMatches = timingSafeEqual(digest(given), digest(token));
  if (tokenMatches && user === DASHBOARD_USER) return;
  await new Promise((resolve) => setTimeout(resolve, AUTH_FAILURE_DELAY_MS));
  throw new HttpError(403, scheme === 'basic' ? `wrong user or token: the user is ${DASHBOARD_USER}, the password ADMIN_TOKEN` : 'wrong token', challenge);
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  // Read to the end even past the limit (dropping the excess), so the 413 reaches the client
  // instead of a reset connection.
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    request.on('error', reject);
    request.on('end', () => (size > MAX_BODY ? reject(new HttpError(413, `request body over ${MAX_BODY} bytes`)) : resolve(Buffer.concat(chunks).toString('utf8'))));
  });
  try {
    const body: unknown = JSON.parse(text || '{}');
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object');
    return body as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'the body must be a JSON object such as {"user_pool_id":"eu-west-1_AbC","destination":"s3://bucket/prefix"}');
  }
}

/** Maps the endpoint's snake_case body to an export request; unknown keys are refused. */
function exportRequest(body: Record<string, unknown>): ExportRequest {
  const known = ['user_pool_id', 'destination', 'region', 'shards', 'filter', 'attributes', 'format', 'gzip', 'groups', 'changes', 'exclude_attributes', 'pseudonymize', 'role_arn', 'external_id', 's3_role_arn', 'glue_database', 'glue_table_prefix', 'keep_last', 'name', 'queue'];
  const unknown = Object.keys(body).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new HttpError(400, `unknown field ${unknown[0]}: expected ${known.join(', ')}`);
  // The external id guards the role's owner against a confused deputy: only the server may choose it.
  if (Object.hasOwn(body, 'external_id')) {
    throw new HttpError(400, "external_id is not accepted over HTTP: the worker sends the role's external id from ROLE_EXTERNAL_IDS or its --config file; remove external_id");
  }
  const text = (key: string): string | undefined => {
    const value = body[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw new HttpError(400, `${key} must be a string`);
    return value;
  };
  const pool = text('user_pool_id');
  const destination = text('destination');
  if (!pool || !destination) throw new HttpError(400, 'user_pool_id and destination are required');
  const attributes = body.attributes;
  if (attributes !== undefined && attributes !== null && typeof attributes !== 'string' && !(Array.isArray(attributes) && attributes.every((a) => typeof a === 'string'))) {
    throw new HttpError(400, 'attributes must be a list of names or a comma-separated string');
  }
  for (const key of ['exclude_attributes', 'pseudonymize']) {
    const value = body[key];
    if (value !== undefined && value !== null && typeof value !== 'string' && !(Array.isArray(value) && value.every((a) => typeof a === 'string'))) {
      throw new HttpError(400, `${key} must be a list of names or a comma-separated string`);
    }
  }
  if (body.gzip !== undefined && typeof body.gzip !== 'boolean') throw new HttpError(400, 'gzip must be true or false');
  if (body.groups !== undefined && typeof body.groups !== 'boolean') throw new HttpError(400, 'groups must be true or false');
  if (body.changes !== undefined && typeof body.changes !== 'boolean') throw new HttpError(400, 'changes must be true or false');
  if (body.shards !== undefined && typeof body.shards !== 'number') throw new HttpError(400, 'shards must be 1, 16 or 256');
  if (body.keep_last !== undefined && body.keep_last !== null && typeof body.keep_last !== 'number') throw new HttpError(400, 'keep_last must be a number');
  return {
    userPoolId: pool,
    destination,
    region: text('region'),
    shards: body.shards,
    filter: text('filter'),
    attributes: attributes,
    format: text('format'),
    gzip: body.gzip,
    groups: body.groups,
    changes: body.changes,
    excludeAttributes: body.exclude_attributes as string | string[] | undefined,
    pseudonymize: body.pseudonymize as string | string[] | undefined,
    roleArn: text('role_arn'),
    s3RoleArn: text('s3_role_arn'),
    glueDatabase: text('glue_database'),
    glueTablePrefix: text('glue_table_prefix'),
    keepLast: body.keep_last,
    name: text('name'),
    trigger: 'http',
  };
}

async function triggerExport(endpoints: AdminEndpoints, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const raw = await readJson(request);
  if (raw.queue !== undefined && typeof raw.queue !== 'boolean') throw new HttpError(400, 'queue must be true or false');
  const asked = withServerRoles(exportRequest(raw), endpoints.roles);
  // One parser for every entry: a destination it refuses (dot segments, escapes) is a 400 naming it;
  // the canonical string it gives is what the allow-list checks and what the run writes to.
  let destination: string;
  try {
    destination = canonicalDestination(asked.destination);
  } catch (error) {
    throw new HttpError(400, (error as Error).message);
  }
  const body: ExportRequest = { ...asked, destination };
  const pool = body.userPoolId.trim();
  if (endpoints.allowedPools !== undefined && !endpoints.allowedPools.includes(pool)) {
    throw new HttpError(
      403,
      `user pool ${JSON.stringify(pool)} is not allowed: POST /exports exports only the pools in ALLOWED_POOLS (set on the worker, comma-separated pool ids) or of the worker's --config file`,
    );
  }
  if (!isDestinationAllowed(destination, endpoints.allowedDestinations)) {
    throw new HttpError(
      403,
      `destination ${destination} is not allowed: POST /exports sends data only under ALLOWED_DESTINATIONS (set on the worker, comma-separated URL prefixes) or to a destination of the worker's --config file`,
    );
  }
  let requested;
  try {
    requested = await endpoints.trigger(body, raw.queue === true);
  } catch (error) {
    if (error instanceof ExportRequestError) throw new HttpError(400, error.message);
    if (error instanceof RunConflictError) {
      json(response, 409, { error: error.message, running: runView(error.running) });
      return;
    }
    throw error;
  }
  json(response, requested.created ? 202 : 200, {
    snapshot_id: requested.snapshotId,
    created: requested.created,
    ...(requested.behind ? { queued_behind: requested.behind } : {}),
    pointer: requested.pointer,
    ...(requested.partial ? { partial: requested.partial } : {}),
    status_url: `/exports/${requested.snapshotId}`,
  });
}

/**
 * Checks the roles a request names (`role_arn`, `s3_role_arn`) against the server's policy, 403
 * naming the role and the setting, and sets the external id the server holds for them.
 */
function withServerRoles(request: ExportRequest, policy: RolePolicy | undefined): ExportRequest {
  const roles = [request.roleArn, request.s3RoleArn].map((role) => role?.trim() || undefined);
  const named = roles.filter((role): role is string => role !== undefined);
  for (const role of named) {
    if (!policy?.allowed.includes(role)) {
      throw new HttpError(
        403,
        `role ${role} is not allowed: POST /exports assumes only roles in ALLOWED_ROLE_ARNS (set on the worker, comma-separated role ARNs) or named in the worker's --config file`,
      );
    }
  }
  const ids = [...new Set(named.map((role) => policy?.externalIdOf(role)).filter((id): id is string => id !== undefined))];
  if (ids.length > 1) throw new HttpError(400, 'role_arn and s3_role_arn have different external ids on the worker, and a run sends one: use roles that share it');
  return { ...request, roleArn: roles[0], s3RoleArn: roles[1], externalId: ids[0] };
}

async function cancelExport(endpoints: AdminEndpoints, snapshotId: string, response: ServerResponse): Promise<void> {
  const outcome = await endpoints.cancel(decodeId(snapshotId));
  if (outcome.kind === 'unknown') throw new HttpError(404, `no export ${snapshotId}`);
  if (outcome.kind === 'ended' || outcome.kind === 'committing') {
    json(response, 409, { ...runView(outcome.status), error: cancelRefusal(snapshotId, outcome.kind, outcome.status.state) });
    return;
  }
  json(response, 200, runView(outcome.status));
}

/**
 * `POST /restores` `{"from": "<manifest or latest.json URL>", "user_pool_id": "<target>", "merge": false,
 * "delete_missing": false}`: the target must be in ALLOWED_POOLS (when set) and the snapshot under
 * ALLOWED_DESTINATIONS (the restore reads it there and writes its tables and report beside it).
 */
async function triggerRestore(endpoints: AdminEndpoints, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = await readJson(request);
  const known = ['from', 'user_pool_id', 'merge', 'delete_missing', 'verify'];
  const unknown = Object.keys(body).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new HttpError(400, `unknown field ${unknown[0]}: expected ${known.join(', ')}`);
  const { from, user_pool_id: pool } = body;
  if (typeof from !== 'string' || typeof pool !== 'string') throw new HttpError(400, 'from and user_pool_id are required strings');
  for (const key of ['merge', 'delete_missing', 'verify']) if (body[key] !== undefined && typeof body[key] !== 'boolean') throw new HttpError(400, `${key} must be true or false`);
  if (endpoints.allowedPools !== undefined && !endpoints.allowedPools.includes(pool)) {
    throw new HttpError(403, `user pool ${JSON.stringify(pool)} is not allowed: POST /restores writes only to the pools in ALLOWED_POOLS (set on the worker, comma-separated pool ids) or of the worker's --config file`);
  }
  const destination = from.replace(/\/manifests\/.*$/, '');
  let canonical: string;
  try {
    canonical = canonicalDestination(destination);
  } catch (error) {
    throw new HttpError(400, (error as Error).message);
  }
  if (!isDestinationAllowed(canonical, endpoints.allowedDestinations)) {
    throw new HttpError(403, `${from} is not allowed: POST /restores reads snapshots only under ALLOWED_DESTINATIONS (set on the worker, comma-separated URL prefixes) or a destination of the worker's --config file`);
  }
  let queued;
  try {
    queued = await endpoints.restore?.({ from, targetPoolId: pool, merge: body.merge === true, deleteMissing: body.delete_missing === true, verify: body.verify === true });
  } catch (error) {
    if (error instanceof RestoreRequestError) throw new HttpError(400, error.message);
    throw error;
  }
  if (!queued) throw new HttpError(404, 'restores are not served by this admin port');
  json(response, queued.joined ? 200 : 202, { restore_id: queued.restoreId, created: !queued.joined, status_url: `/restores/${queued.restoreId}` });
}

function restoreView(status: RestoreStatus) {
  return {
    restore_id: status.spec.restoreId,
    user_pool_id: status.spec.targetPoolId,
    snapshot_id: status.spec.snapshotId,
    state: status.state,
    records: status.durable,
    report_url: status.reportUrl ?? null,
    error: status.error ?? null,
  };
}

async function restoreStatus(endpoints: AdminEndpoints, id: string, response: ServerResponse): Promise<void> {
  const status = await endpoints.restoreStatus?.(decodeId(id));
  if (!status) throw new HttpError(404, `no restore ${id}`);
  json(response, 200, restoreView(status));
}

async function cancelRestore(endpoints: AdminEndpoints, id: string, response: ServerResponse): Promise<void> {
  const restoreId = decodeId(id);
  const status = await endpoints.restoreStatus?.(restoreId);
  if (!status) throw new HttpError(404, `no restore ${id}`);
  if (!(await endpoints.cancelRestore?.(restoreId))) {
    json(response, 409, { ...restoreView(status), error: `restore ${restoreId} already ${status.state}` });
    return;
  }
  json(response, 200, restoreView((await endpoints.restoreStatus?.(restoreId)) ?? status));
}

async function forgetPool(endpoints: AdminEndpoints, id: string, response: ServerResponse): Promise<void> {
  const userPoolId = decodeId(id);
  if (!endpoints.forget) throw new HttpError(404, 'DELETE /pools/<id> is not served by this admin port');
  // The same pools POST /exports may touch: a token scoped by ALLOWED_POOLS erases no other pool's history.
  if (endpoints.allowedPools !== undefined && !endpoints.allowedPools.includes(userPoolId)) {
    throw new HttpError(403, `user pool ${JSON.stringify(userPoolId)} is not allowed: DELETE /pools forgets only the pools in ALLOWED_POOLS (set on the worker, comma-separated pool ids) or of the worker's --config file`);
  }
  const outcome = await endpoints.forget(userPoolId);
  if (outcome.kind === 'unknown') throw new HttpError(404, outcome.error);
  if (outcome.kind !== 'forgotten') throw new HttpError(409, outcome.error);
  json(response, 200, { user_pool_id: userPoolId, forgotten: true });
}

/** Why a cancel was refused, in one line (the CLI says the same). */
export function cancelRefusal(snapshotId: string, kind: 'ended' | 'committing', state: string): string {
  if (kind === 'committing') return `export ${snapshotId} is already committing: it is past its commit point and will complete; nothing to cancel`;
  return `export ${snapshotId} already ${state}: nothing to cancel`;
}

function decodeId(snapshotId: string): string {
  try {
    return decodeURIComponent(snapshotId);
  } catch {
    throw new HttpError(400, `${snapshotId} is not a snapshot id`);
  }
}

async function exportStatus(endpoints: AdminEndpoints, snapshotId: string, response: ServerResponse): Promise<void> {
  const status = await endpoints.status(decodeId(snapshotId));
  if (!status) throw new HttpError(404, `no export ${snapshotId}`);
  json(response, 200, runView(status));
}

/** A run as the admin port shows it (snake_case, as every file and body of the product). */
function runView(status: RunStatus) {
  return {
    snapshot_id: status.spec.snapshotId,
    user_pool_id: status.spec.userPoolId,
    state: status.state,
    users: status.users,
    estimated_users: status.estimatedUsers ?? null,
    files: status.files,
    throttles: status.throttles,
    shards_done: status.shardsDone,
    shards: status.spec.shards,
    pointer: status.spec.pointer ?? null,
    queued_behind: status.behind ?? null,
    manifest_url: status.manifestUrl ?? null,
    error: status.error ?? null,
  };
}
