import { z } from 'zod';
import type { AppLoadSettings } from './app-load.js';
import { CognitoServiceError } from './cognito-error.js';
import type { PageShape } from './list-users.js';
import { AWS_WRITE_QUOTAS } from './quota-meter.js';
import type { QuotaRates, WriteQuotaRates } from './quota-meter.js';
import type { RandomSource } from './random-source.js';
import { ACCOUNT_ID } from './user-pool.js';

/** An error to answer for every call of one operation, for testing fatal paths. */
export interface ForcedError {
  /** The error code, e.g. `NotAuthorizedException`. */
  code: string;
  /** HTTP status. @default 400 (500 for InternalErrorException) */
  status?: number;
  /** @default the code */
  message?: string;
}

/** Load and fault shaping. Every rate is a probability per call, from 0 to 1. */
export interface EmulatorFaults {
  /** Fixed delay before each API answer, in ms. @default 0 */
  latencyMs: number;
  /** Extra uniform random delay [0, jitterMs) on top of latencyMs. @default 0 */
  jitterMs: number;
  /**
   * Per-account UserList (ListUsers + ListUsersInGroup) quota in requests/s (burst = 1 s worth);
   * null = off, and with it the UserPoolResourceRead quotas. @default null
   */
  quotaRps: number | null;
  /** Per-account UserPoolResourceRead (ListGroups) quota in requests/s, while `quotaRps` is set. @default 20 */
  resourceReadRps: number;
  /** UserPoolResourceRead quota per pool and operation in requests/s, while `quotaRps` is set. @default 5 */
  resourceReadPoolRps: number;
  /**
   * The write quotas, per account (see {@link WriteQuotaRates}); null = off. Set to an object to turn
   * them on: categories left out get AWS's rates ({@link AWS_WRITE_QUOTAS}: UserCreation 50,
   * UserUpdate 25, UserResourceUpdate 25, UserPoolUpdate 15, UserPoolResourceUpdate 15 and 5 per
   * pool), a category set to null is not metered. Independent of `quotaRps`; `throttleRate` never
   * applies to writes. Read back, every category is filled in. @default null
   */
  writeQuotas: Partial<WriteQuotaRates> | null;
  /**
   * Share of metered calls (ListUsers, ListUsersInGroup, ListGroups) answered TooManyRequestsException
   * at random, on top of the quotas (counted as throttled). @default 0
   */
  throttleRate: number;
  /** Share of calls answered InternalErrorException (HTTP 500). @default 0 */
  internalErrorRate: number;
  /** Share of calls whose connection is destroyed without an answer. @default 0 */
  dropConnectionRate: number;
  /** Share of list pages (users, groups, members) cut short (1..limit-1 items) while still carrying a token. @default 0 */
  shortPageRate: number;
  /** Share of list pages returned empty with a token. @default 0 */
  emptyPageRate: number;
  /**
   * ListUsersInGroup pages after the first begin with this many members of the page before (fewer
   * when the page is smaller, so a walk still moves on): Cognito promises no uniqueness there, and
   * this is how a member comes back on the next page. @default 0
   */
  memberPageOverlap: number;
  /** Pagination tokens older than this are rejected; null = never expire. @default null */
  tokenTtlSeconds: number | null;
  /**
   * A hostile Cognito: every list page (ListUsers, ListUsersInGroup, ListGroups) asked for with a
   * token answers with that same token, so a client that follows tokens blindly walks forever.
   * @default false
   */
  repeatPaginationToken: boolean;
  /**
   * A hostile Cognito: the last page of a list (ListUsers, ListUsersInGroup, ListGroups) carries a
   * fresh token back to the second page, so the same items come round again and again under tokens
   * never seen before (what a repeated-token check cannot catch; the walk's cap must). @default false
   */
  endlessPages: boolean;
  /**
   * A hostile Cognito: every list page's body is padded to this many bytes (streamed, never held in
   * the emulator's memory); null = off. @default null
   */
  oversizedPageBytes: number | null;
  /** Operation name → error answered for every call of it. @default {} */
  forcedErrors: Record<string, ForcedError>;
  /**
   * When set, only requests signed with one of these static access key ids (or with temporary
   * credentials the emulator's STS issued) are served. @default null
   */
  allowedAccessKeyIds: string[] | null;
  /** Caps the lifetime of credentials AssumeRole issues, in seconds (to test refreshing); null = as requested. @default null */
  sessionDurationSeconds: number | null;
  /** The account's own app: ListUsers calls per second drawn from `appAccount`'s UserList quota, without HTTP; null = none. @default null */
  appRps: number | null;
  /** `steady` (evenly spaced) or `burst` (`appRps` for the first `appBurstSeconds` of every `appPeriodSeconds`). @default 'steady' */
  appPattern: 'steady' | 'burst';
  /** @default 10 */
  appBurstSeconds: number;
  /** @default 30 */
  appPeriodSeconds: number;
  /** The account whose quota the app uses; null = the default account. @default null */
  appAccount: string | null;
}

/** No faults: a fast, faithful Cognito. */
export const DEFAULT_FAULTS: Readonly<EmulatorFaults> = Object.freeze({
  latencyMs: 0,
  jitterMs: 0,
  quotaRps: null,
  resourceReadRps: 20,
  resourceReadPoolRps: 5,
  writeQuotas: null,
  throttleRate: 0,
  internalErrorRate: 0,
  dropConnectionRate: 0,
  shortPageRate: 0,
  emptyPageRate: 0,
  memberPageOverlap: 0,
  tokenTtlSeconds: null,
  repeatPaginationToken: false,
  endlessPages: false,
  oversizedPageBytes: null,
  forcedErrors: {},
  allowedAccessKeyIds: null,
  sessionDurationSeconds: null,
  appRps: null,
  appPattern: 'steady',
  appBurstSeconds: 10,
  appPeriodSeconds: 30,
  appAccount: null,
});

const rate = z.number().min(0).max(1);
const writeRps = z.number().positive().max(1_000_000).nullable();
const writeQuotasSchema = z
  .strictObject({
    UserCreation: writeRps,
    UserUpdate: writeRps,
    UserResourceUpdate: writeRps,
    UserPoolUpdate: writeRps,
    UserPoolResourceUpdate: writeRps,
    UserPoolResourceUpdatePerPool: writeRps,
  })
  .partial()
  .nullable();
const faultsPatchSchema = z
  .strictObject({
    latencyMs: z.number().min(0).max(600_000),
    jitterMs: z.number().min(0).max(600_000),
    quotaRps: z.number().positive().nullable(),
    resourceReadRps: z.number().positive(),
    resourceReadPoolRps: z.number().positive(),
    writeQuotas: writeQuotasSchema,
    throttleRate: rate,
    internalErrorRate: rate,
    dropConnectionRate: rate,
    shortPageRate: rate,
    emptyPageRate: rate,
    memberPageOverlap: z.number().int().min(0).max(59),
    tokenTtlSeconds: z.number().positive().nullable(),
    repeatPaginationToken: z.boolean(),
    endlessPages: z.boolean(),
    oversizedPageBytes: z.number().int().min(0).max(2 ** 30).nullable(),
    forcedErrors: z.record(
      z.string().min(1),
      z.strictObject({
        code: z.string().min(1),
        status: z.number().int().min(400).max(599).optional(),
        message: z.string().optional(),
      }),
    ),
    allowedAccessKeyIds: z.array(z.string().min(1)).nullable(),
    sessionDurationSeconds: z.number().int().min(1).max(43_200).nullable(),
    appRps: z.number().positive().max(100_000).nullable(),
    appPattern: z.enum(['steady', 'burst']),
    appBurstSeconds: z.number().positive().max(86_400),
    appPeriodSeconds: z.number().positive().max(86_400),
    appAccount: z.string().regex(ACCOUNT_ID, 'Expected 12 digits').nullable(),
  })
  .partial();

/** A fault setting that is out of range; the message names the setting and what was expected. */
export class FaultConfigError extends Error {
  override readonly name = 'FaultConfigError';
}

/** Validates a partial fault update and applies it to `current`, returning a new object. */
export function mergeFaults(current: Readonly<EmulatorFaults>, patch: unknown): EmulatorFaults {
  const parsed = faultsPatchSchema.safeParse(patch);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'faults'}: ${issue.message}`);
    throw new FaultConfigError(`invalid emulator faults: ${problems.join('; ')}`);
  }
  const merged: EmulatorFaults = { ...copyFaults(current) };
  for (const [key, value] of Object.entries(parsed.data)) {
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  // A write-quota object replaces the one before; what it leaves out is AWS's rate.
  if (parsed.data.writeQuotas !== undefined) merged.writeQuotas = parsed.data.writeQuotas === null ? null : writeRates(parsed.data.writeQuotas);
  if (merged.appBurstSeconds > merged.appPeriodSeconds) {
    throw new FaultConfigError(
      `invalid emulator faults: appBurstSeconds: Expected at most appPeriodSeconds (${merged.appPeriodSeconds}), got ${merged.appBurstSeconds}`,
    );
  }
  return copyFaults(merged);
}

function writeRates(given: Partial<Record<keyof WriteQuotaRates, number | null | undefined>>): WriteQuotaRates {
  const rates: WriteQuotaRates = { ...AWS_WRITE_QUOTAS };
  for (const key of Object.keys(rates) as (keyof WriteQuotaRates)[]) {
    const value = given[key];
    if (value !== undefined) rates[key] = value;
  }
  return rates;
}

function copyFaults(faults: Readonly<EmulatorFaults>): EmulatorFaults {
  return {
    ...faults,
    writeQuotas: faults.writeQuotas === null ? null : { ...faults.writeQuotas },
    forcedErrors: Object.fromEntries(Object.entries(faults.forcedErrors).map(([op, e]) => [op, { ...e }])),
    allowedAccessKeyIds: faults.allowedAccessKeyIds === null ? null : [...faults.allowedAccessKeyIds],
  };
}

/**
 * Decides, call by call, which fault to inject. All randomness comes from one seedable source, so
 * a chaos test with a fixed seed sees the same sequence of faults for the same sequence of calls.
 */
export class FaultInjector {
  #faults: EmulatorFaults;
  readonly #random: RandomSource;

  constructor(faults: Partial<EmulatorFaults>, random: RandomSource) {
    this.#faults = mergeFaults(DEFAULT_FAULTS, faults);
    this.#random = random;
  }

  /** A copy of the current settings. */
  get faults(): EmulatorFaults {
    return copyFaults(this.#faults);
  }

  /** Applies a validated partial update; throws FaultConfigError and changes nothing when invalid. */
  update(patch: unknown): EmulatorFaults {
    this.#faults = mergeFaults(this.#faults, patch);
    return this.faults;
  }

  /** The quota rates the settings ask for. */
  get quotaRates(): QuotaRates {
    const f = this.#faults;
    return { userListRps: f.quotaRps, resourceReadRps: f.resourceReadRps, resourceReadPoolRps: f.resourceReadPoolRps, write: f.writeQuotas === null ? null : writeRates(f.writeQuotas) };
  }

  /** The app load the settings ask for; `defaultAccount` stands in for `appAccount: null`. */
  appSettings(defaultAccount: string): AppLoadSettings {
    const f = this.#faults;
    return { rps: f.appRps, pattern: f.appPattern, burstSeconds: f.appBurstSeconds, periodSeconds: f.appPeriodSeconds, account: f.appAccount ?? defaultAccount };
  }

  /** The delay before this answer: fixed latency plus uniform jitter. */
  delayMs(): number {
    const { latencyMs, jitterMs } = this.#faults;
    return latencyMs + (jitterMs > 0 ? this.#random.next() * jitterMs : 0);
  }

  /** The static access key ids that may call, or null for any. */
  get allowedAccessKeyIds(): readonly string[] | null {
    return this.#faults.allowedAccessKeyIds;
  }

  /** True when this metered call should be throttled at random (the quotas are checked separately). */
  shouldThrottle(): boolean {
    return this.#random.chance(this.#faults.throttleRate);
  }

  /** True when this call's connection should be destroyed without an answer. */
  shouldDrop(): boolean {
    return this.#random.chance(this.#faults.dropConnectionRate);
  }

  /** The error forced for this operation, or (when `random`) an injected internal error, or null. */
  injectedError(operation: string, random = true): CognitoServiceError | null {
    const forced = this.#faults.forcedErrors[operation];
    if (forced !== undefined) {
      const status = forced.status ?? (forced.code === 'InternalErrorException' ? 500 : 400);
      return new CognitoServiceError(forced.code, forced.message ?? forced.code, status);
    }
    return random && this.#random.chance(this.#faults.internalErrorRate) ? CognitoServiceError.internalError() : null;
  }

  /** True when list pages asked for with a token answer with that same token. */
  repeatsPaginationToken(): boolean {
    return this.#faults.repeatPaginationToken;
  }

  /** True when a list's last page carries a fresh token back to its second page. */
  endsNever(): boolean {
    return this.#faults.endlessPages;
  }

  /** The size list pages are padded to, or null. */
  oversizedPageBytes(): number | null {
    return this.#faults.oversizedPageBytes;
  }

  /** How many members of the page before a ListUsersInGroup page repeats (at most its size less one). */
  memberPageOverlap(pageSize: number): number {
    return Math.max(0, Math.min(this.#faults.memberPageOverlap, pageSize - 1));
  }

  /** How to bend this list page (empty wins over short when both fire). */
  pageShape(limit: number): PageShape {
    if (this.#random.chance(this.#faults.emptyPageRate)) return { kind: 'empty' };
    if (limit >= 2 && this.#random.chance(this.#faults.shortPageRate)) {
      return { kind: 'short', limit: 1 + this.#random.int(limit - 1) };
    }
    return { kind: 'normal' };
  }
}
