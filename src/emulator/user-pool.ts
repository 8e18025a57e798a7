import { GroupDirectory } from './group-directory.js';
import { lowerBound, subOf, upperBound } from './sorted-search.js';
import type { StoredUser } from './stored-user.js';
import { DEFAULT_PASSWORD_POLICY, UserPoolSchema } from './user-pool-schema.js';
import type { PasswordPolicy } from './user-pool-schema.js';

/** The attributes a pool can let users sign in with besides the username (Cognito's AliasAttributes). */
export type AliasAttribute = 'email' | 'phone_number' | 'preferred_username';

/** The account that owns a pool (and answers for static credentials) unless told otherwise. */
export const DEFAULT_ACCOUNT_ID = '000000000000';
/** An AWS account id: 12 digits. */
export const ACCOUNT_ID = /^\d{12}$/;

/** Orders users by `sub`, the store's only sort key (plain code-unit order, like a byte compare). */
export function compareBySub(a: StoredUser, b: StoredUser): number {
  return a.sub < b.sub ? -1 : a.sub > b.sub ? 1 : 0;
}

/**
 * One user pool: its users kept sorted by `sub`, plus a username index. The sort order is what makes
 * pagination exact (a token is "the last sub returned"; the next page starts after it, whatever was
 * added or deleted meanwhile) and makes `sub ^= "…"` a binary search.
 */
export class UserPool {
  readonly #users: StoredUser[] = [];
  readonly #byUsername = new Map<string, StoredUser>();
  /** The pool's groups and their members. */
  readonly groups = new GroupDirectory();
  /** Epoch milliseconds. */
  modifiedMs: number;
  /** The custom attributes the pool's schema has (see {@link UserPoolSchema}). */
  schema = new UserPoolSchema();
  /** What `TemporaryPassword` must satisfy. */
  passwordPolicy: PasswordPolicy = { ...DEFAULT_PASSWORD_POLICY };
  /** Attributes users may sign in with; a verified value is then unique in the pool. */
  aliasAttributes: readonly AliasAttribute[] = [];
  /** External identities linked to users (AdminLinkProviderForUser), by `provider\u0000userId`. */
  readonly #links = new Map<string, StoredUser>();

  constructor(
    readonly id: string,
    readonly name: string,
    /** Epoch milliseconds. */
    readonly createdMs: number,
    /** The 12-digit AWS account that owns the pool; requests from other accounts do not see it. */
    readonly account: string = DEFAULT_ACCOUNT_ID,
  ) {
    this.modifiedMs = createdMs;
  }

  /** How many users the pool holds. */
  get size(): number {
    return this.#users.length;
  }

  /** The users in `sub` order. Read-only: change the pool through its methods. */
  get users(): readonly StoredUser[] {
    return this.#users;
  }

  /** The user with this exact username, if any. */
  findByUsername(username: string): StoredUser | undefined {
    return this.#byUsername.get(username);
  }

  /** True when a user already has this sub. */
  hasSub(sub: string): boolean {
    const i = this.lowerBound(sub);
    return this.#users[i]?.sub === sub;
  }

  /** Index of the first user whose sub is ≥ `sub`. */
  lowerBound(sub: string): number {
    return lowerBound(this.#users, sub, subOf);
  }

  /** Index of the first user whose sub is > `sub` (where a page after `sub` starts). */
  upperBound(sub: string): number {
    return upperBound(this.#users, sub, subOf);
  }

  /** Adds one user. Throws when the username or sub is taken (callers check first). */
  add(user: StoredUser): void {
    if (this.#byUsername.has(user.username)) throw new Error(`username ${user.username} already exists`);
    const i = this.lowerBound(user.sub);
    if (this.#users[i]?.sub === user.sub) throw new Error(`sub ${user.sub} already exists`);
    this.#users.splice(i, 0, user);
    this.#byUsername.set(user.username, user);
    this.schema.usersAdded();
  }

  /** The user an external identity is linked to, if any. */
  linkedUser(providerName: string, userId: string): StoredUser | undefined {
    return this.#links.get(`${providerName}\u0000${userId}`);
  }

  /** Records that an external identity is linked to `user`. */
  link(providerName: string, userId: string, user: StoredUser): void {
    this.#links.set(`${providerName}\u0000${userId}`, user);
  }

  /**
   * Adds many users at once: one sort and one linear merge instead of N splices, which is what
   * keeps seeding a million users in seconds. Throws on a duplicate username or sub.
   */
  addMany(batch: StoredUser[]): void {
    const incoming = batch.slice().sort(compareBySub);
    let previous: StoredUser | undefined;
    for (const user of incoming) {
      if (previous?.sub === user.sub || this.hasSub(user.sub)) throw new Error(`sub ${user.sub} already exists`);
      previous = user;
    }
    // Index usernames before merging, undoing on a clash, so a bad batch leaves the pool as it was.
    for (let k = 0; k < incoming.length; k++) {
      const user = incoming[k] as StoredUser;
      if (this.#byUsername.has(user.username)) {
        for (let undo = 0; undo < k; undo++) this.#byUsername.delete((incoming[undo] as StoredUser).username);
        throw new Error(`username ${user.username} already exists`);
      }
      this.#byUsername.set(user.username, user);
    }
    this.schema.usersAdded();
    const existing = this.#users.splice(0, this.#users.length);
    const merged = this.#users;
    let i = 0;
    let j = 0;
    while (i < existing.length || j < incoming.length) {
      const a = existing[i];
      const b = incoming[j];
      if (b === undefined || (a !== undefined && a.sub < b.sub)) {
        merged.push(a as StoredUser);
        i++;
      } else {
        merged.push(b);
        j++;
      }
    }
  }

  /** Removes the user with this username and its memberships; returns it, or undefined when there was none. */
  remove(username: string): StoredUser | undefined {
    const user = this.#byUsername.get(username);
    if (user === undefined) return undefined;
    this.#byUsername.delete(username);
    this.groups.removeUser(user);
    for (const [key, linked] of this.#links) if (linked === user) this.#links.delete(key);
    const i = this.lowerBound(user.sub);
    if (this.#users[i] === user) this.#users.splice(i, 1);
    return user;
  }
}
