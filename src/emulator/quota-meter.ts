import { AccountQuota } from './account-quota.js';

/** The request rates the meter enforces; everything is off while `userListRps` is null. */
export interface QuotaRates {
  /** UserList (ListUsers + ListUsersInGroup), per account, requests/s; null turns every quota off. */
  readonly userListRps: number | null;
  /** UserPoolResourceRead (ListGroups), per account, requests/s. */
  readonly resourceReadRps: number;
  /** UserPoolResourceRead, per pool and operation, requests/s. */
  readonly resourceReadPoolRps: number;
}

type Category = 'UserList' | 'UserPoolResourceRead';

// Cognito's quota categories, for the operations the emulator meters.
const CATEGORY: Readonly<Record<string, Category>> = {
  ListUsers: 'UserList',
  ListUsersInGroup: 'UserList',
  ListGroups: 'UserPoolResourceRead',
};

/**
 * Cognito's request-rate quotas as token buckets: one UserList and one UserPoolResourceRead bucket per
 * account (across all of its pools and its own apps), and a bucket per pool and operation for
 * UserPoolResourceRead. Buckets are created full on first use and refilled continuously.
 */
export class QuotaMeter {
  #rates: QuotaRates;
  readonly #buckets = new Map<string, AccountQuota>();
  readonly #now: () => number;

  /** @param now a monotonic clock in milliseconds (injectable for tests). */
  constructor(rates: QuotaRates, now: () => number = () => performance.now()) {
    this.#rates = rates;
    this.#now = now;
  }

  /** True when the operation draws on a quota the meter enforces. */
  static meters(operation: string): boolean {
    return Object.hasOwn(CATEGORY, operation);
  }

  /** The rates in force. */
  get rates(): QuotaRates {
    return this.#rates;
  }

  /** Changes the rates; every bucket starts again full. */
  setRates(rates: QuotaRates): void {
    this.#rates = rates;
    this.#buckets.clear();
  }

  /**
   * Takes one request's tokens for `operation` by `account` on `poolId` (null when unknown); false
   * means throttled, and then no bucket is charged. Unmetered operations always pass.
   */
  tryTake(operation: string, account: string, poolId: string | null): boolean {
    const category = CATEGORY[operation];
    if (category === undefined || this.#rates.userListRps === null) return true;
    if (category === 'UserList') return this.#bucket(`UserList\u0000${account}`, this.#rates.userListRps).tryTake();
    const perPool = poolId === null ? null : this.#bucket(`${operation}\u0000${account}\u0000${poolId}`, this.#rates.resourceReadPoolRps);
    if (perPool !== null && !perPool.tryTake()) return false;
    if (this.#bucket(`UserPoolResourceRead\u0000${account}`, this.#rates.resourceReadRps).tryTake()) return true;
    perPool?.refund();
    return false;
  }

  #bucket(key: string, rps: number): AccountQuota {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = new AccountQuota(rps, this.#now);
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }
}
