import { AccountQuota } from './account-quota.js';

/**
 * The write quotas, per account in requests/s (burst one second's worth); a category set to null is
 * not metered. Cognito's names and defaults are {@link AWS_WRITE_QUOTAS}.
 */
export interface WriteQuotaRates {
  /** AdminCreateUser (SignUp, ConfirmSignUp and AdminConfirmSignUp on AWS, which the emulator does not answer). */
  UserCreation: number | null;
  /** AdminUpdateUserAttributes, AdminDeleteUserAttributes, AdminDeleteUser, AdminDisableUser, AdminEnableUser, AdminLinkProviderForUser. */
  UserUpdate: number | null;
  /** AdminAddUserToGroup, AdminRemoveUserFromGroup (a user's group memberships). */
  UserResourceUpdate: number | null;
  /** CreateUserPool, AddCustomAttributes. */
  UserPoolUpdate: number | null;
  /** CreateGroup, UpdateGroup, DeleteGroup, per account. */
  UserPoolResourceUpdate: number | null;
  /** CreateGroup, UpdateGroup, DeleteGroup, per pool and operation (AWS: 5). */
  UserPoolResourceUpdatePerPool: number | null;
}

/** Cognito's documented defaults for the write categories ("Quotas in Amazon Cognito"). */
export const AWS_WRITE_QUOTAS: Readonly<WriteQuotaRates> = Object.freeze({
  UserCreation: 50,
  UserUpdate: 25,
  UserResourceUpdate: 25,
  UserPoolUpdate: 15,
  UserPoolResourceUpdate: 15,
  UserPoolResourceUpdatePerPool: 5,
});

/** The request rates the meter enforces; the read quotas are off while `userListRps` is null. */
export interface QuotaRates {
  /** UserList (ListUsers + ListUsersInGroup), per account, requests/s; null turns the read quotas off. */
  readonly userListRps: number | null;
  /** UserPoolResourceRead (ListGroups), per account, requests/s. */
  readonly resourceReadRps: number;
  /** UserPoolResourceRead, per pool and operation, requests/s. */
  readonly resourceReadPoolRps: number;
  /** The write quotas; null or absent turns them all off (independently of `userListRps`). */
  readonly write?: Readonly<WriteQuotaRates> | null;
}

type ReadCategory = 'UserList' | 'UserPoolResourceRead';
type WriteCategory = 'UserCreation' | 'UserUpdate' | 'UserResourceUpdate' | 'UserPoolUpdate' | 'UserPoolResourceUpdate';

// Cognito's quota categories, for the operations the emulator meters.
const READ_CATEGORY: Readonly<Record<string, ReadCategory>> = {
  ListUsers: 'UserList',
  ListUsersInGroup: 'UserList',
  ListGroups: 'UserPoolResourceRead',
};

const WRITE_CATEGORY: Readonly<Record<string, WriteCategory>> = {
  AdminCreateUser: 'UserCreation',
  AdminUpdateUserAttributes: 'UserUpdate',
  AdminDeleteUserAttributes: 'UserUpdate',
  AdminDeleteUser: 'UserUpdate',
  AdminDisableUser: 'UserUpdate',
  AdminEnableUser: 'UserUpdate',
  AdminLinkProviderForUser: 'UserUpdate',
  AdminAddUserToGroup: 'UserResourceUpdate',
  AdminRemoveUserFromGroup: 'UserResourceUpdate',
  CreateUserPool: 'UserPoolUpdate',
  AddCustomAttributes: 'UserPoolUpdate',
  CreateGroup: 'UserPoolResourceUpdate',
  UpdateGroup: 'UserPoolResourceUpdate',
  DeleteGroup: 'UserPoolResourceUpdate',
};

/**
 * Cognito's request-rate quotas as token buckets: one UserList and one UserPoolResourceRead bucket per
 * account (across all of its pools and its own apps), and a bucket per pool and operation for
 * UserPoolResourceRead; and, when the write quotas are on, one bucket per account for each write
 * category, plus one per pool and operation for UserPoolResourceUpdate. Buckets are created full on
 * first use and refilled continuously.
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

  /** True when the operation draws on a read quota the meter enforces (the calls `throttleRate` applies to). */
  static meters(operation: string): boolean {
    return Object.hasOwn(READ_CATEGORY, operation);
  }

  /** Cognito's quota category of an operation the meter knows (read or write), or undefined. */
  static category(operation: string): string | undefined {
    return Object.hasOwn(READ_CATEGORY, operation) ? READ_CATEGORY[operation] : Object.hasOwn(WRITE_CATEGORY, operation) ? WRITE_CATEGORY[operation] : undefined;
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
    if (Object.hasOwn(WRITE_CATEGORY, operation)) return this.#takeWrite(WRITE_CATEGORY[operation] as WriteCategory, operation, account, poolId);
    const category = READ_CATEGORY[operation];
    if (category === undefined || this.#rates.userListRps === null) return true;
    if (category === 'UserList') return this.#bucket(`UserList\u0000${account}`, this.#rates.userListRps).tryTake();
    const perPool = poolId === null ? null : this.#bucket(`${operation}\u0000${account}\u0000${poolId}`, this.#rates.resourceReadPoolRps);
    return this.#takeBoth(perPool, this.#bucket(`UserPoolResourceRead\u0000${account}`, this.#rates.resourceReadRps));
  }

  #takeWrite(category: WriteCategory, operation: string, account: string, poolId: string | null): boolean {
    const rates = this.#rates.write;
    if (rates === undefined || rates === null) return true;
    const rps = rates[category];
    const perPoolRps = category === 'UserPoolResourceUpdate' ? rates.UserPoolResourceUpdatePerPool : null;
    const perPool = poolId === null || perPoolRps === null ? null : this.#bucket(`${operation}\u0000${account}\u0000${poolId}`, perPoolRps);
    return this.#takeBoth(perPool, rps === null ? null : this.#bucket(`${category}\u0000${account}`, rps));
  }

  /** Takes a token from the pool's bucket and the account's (either may be absent); refunds the pool's when the account's is empty. */
  #takeBoth(perPool: AccountQuota | null, perAccount: AccountQuota | null): boolean {
    if (perPool !== null && !perPool.tryTake()) return false;
    if (perAccount === null || perAccount.tryTake()) return true;
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
