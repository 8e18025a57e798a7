import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { readBody } from './aws-json-protocol.js';
import type { RoleDefinition, RoleSummary } from './credential-issuer.js';
import type { EmulatorStats } from './emulator-stats.js';
import type { EmulatorFaults } from './fault-injector.js';
import { FaultConfigError } from './fault-injector.js';
import { ACCOUNT_ID } from './user-pool.js';
import type { PoolSeedOptions } from './user-seeder.js';
import type { WriteStats } from './write-recorder.js';

/** Every control path starts with this; nothing in Cognito's API does. */
export const CONTROL_PREFIX = '/__emulator/';

/** A pool as the control endpoint lists it. */
export interface PoolSummary {
  id: string;
  name: string;
  /** The 12-digit account that owns it. */
  account: string;
  users: number;
  groups: number;
  /** (group, user) pairs in all of the pool's groups. */
  memberships: number;
}

/** What the control endpoint can see and change (the emulator, seen through a narrow window). */
export interface ControlTarget {
  readonly faults: EmulatorFaults;
  /** Validates and applies a partial update (the JSON comes straight from the client). */
  setFaults(patch: Partial<EmulatorFaults>): void;
  stats(): EmulatorStats;
  writes(): WriteStats;
  resetStats(): void;
  pools(): PoolSummary[];
  createPoolWithUsers(options: PoolSeedOptions & { customAttributes?: string[] }): string;
  createRole(role: RoleDefinition): RoleSummary;
  roles(): RoleSummary[];
}

const createPoolSchema = z.strictObject({
  name: z.string().min(1).max(128).optional(),
  users: z.number().int().min(0),
  seed: z.number().optional(),
  subSkew: z.number().min(0).max(1).optional(),
  groups: z.number().int().min(0).max(10_000).optional(),
  bigGroupShare: z.number().min(0).max(1).optional(),
  tailShare: z.number().min(0).max(50).optional(),
  account: z.string().regex(ACCOUNT_ID, 'Expected 12 digits').optional(),
  federatedShare: z.number().min(0).max(1).optional(),
  unconfirmedShare: z.number().min(0).max(1).optional(),
  customAttributes: z.array(z.string().min(1).max(27)).optional(),
});

const createRoleSchema = z.strictObject({
  roleArn: z.string().min(1),
  externalId: z.string().optional(),
});

function parsed<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new ControlError(400, result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return result.data;
}

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function jsonBody(request: IncomingMessage): Promise<unknown> {
  const raw = (await readBody(request)).toString('utf8').trim();
  if (raw === '') return {};
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new ControlError(400, 'body is not valid JSON');
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const payload = body === undefined ? '' : JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)) });
  response.end(payload);
}

/**
 * The emulator's own small JSON API, on the same port as Cognito's:
 * `GET|PUT /__emulator/config` (faults; PUT takes a partial update), `GET /__emulator/stats`,
 * `POST /__emulator/stats/reset`, `GET /__emulator/writes`, `GET|POST /__emulator/pools` (list; create and seed),
 * `GET|POST /__emulator/roles` (list; register a role for AssumeRole),
 * `GET /__emulator/health`. Not rate-limited, not delayed, never faulted.
 */
export async function handleControlRequest(request: IncomingMessage, response: ServerResponse, target: ControlTarget): Promise<void> {
  const path = (request.url ?? '').split('?')[0] ?? '';
  const route = `${request.method ?? 'GET'} ${path.slice(CONTROL_PREFIX.length - 1)}`;
  try {
    switch (route) {
      case 'GET /health':
        return send(response, 200, { ok: true });
      case 'GET /config':
        return send(response, 200, target.faults);
      case 'PUT /config':
      case 'PATCH /config':
        target.setFaults((await jsonBody(request)) as Partial<EmulatorFaults>);
        return send(response, 200, target.faults);
      case 'GET /stats':
        return send(response, 200, target.stats());
      case 'POST /stats/reset':
        target.resetStats();
        return send(response, 200, target.stats());
      case 'GET /writes':
        return send(response, 200, target.writes());
      case 'GET /pools':
        return send(response, 200, { pools: target.pools() });
      case 'POST /pools': {
        const options = parsed(createPoolSchema, await jsonBody(request));
        const id = target.createPoolWithUsers(options);
        return send(response, 201, { id, users: options.users, groups: options.groups ?? 0 });
      }
      case 'GET /roles':
        return send(response, 200, { roles: target.roles() });
      case 'POST /roles':
        return send(response, 201, target.createRole(parsed(createRoleSchema, await jsonBody(request))));
      default:
        throw new ControlError(404, `no control route ${route}; see "The Cognito emulator" in README.md`);
    }
  } catch (error) {
    if (error instanceof ControlError) return send(response, error.status, { message: error.message });
    if (error instanceof FaultConfigError || error instanceof RangeError) return send(response, 400, { message: error.message });
    return send(response, 500, { message: error instanceof Error ? error.message : String(error) });
  }
}
