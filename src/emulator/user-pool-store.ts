import { CognitoServiceError } from './cognito-error.js';
import type { RandomSource } from './random-source.js';
import { UserPool } from './user-pool.js';

const ALPHANUMERIC = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Every user pool of one emulated account and region. */
export class UserPoolStore {
  readonly #pools = new Map<string, UserPool>();
  readonly #random: RandomSource;

  constructor(
    /** The region in every pool id, e.g. `us-east-1`. */
    readonly region: string,
    /** Draws pool ids and new users' subs; seed it for reproducible ids. */
    random: RandomSource,
  ) {
    this.#random = random;
  }

  /** The source of randomness for ids (shared with user creation so one seed fixes both). */
  get random(): RandomSource {
    return this.#random;
  }

  /**
   * Creates an empty pool with a fresh id of AWS's shape, `<region>_<9 alphanumerics>`, or with `fixedId`
   * (for scripts and containers that must know the id in advance).
   */
  create(name: string, nowMs: number = Date.now(), fixedId?: string, account?: string): UserPool {
    let id: string;
    if (fixedId !== undefined) {
      if (!fixedId.startsWith(`${this.region}_`) || !/^[\w-]+_[0-9a-zA-Z]+$/.test(fixedId)) {
        throw new RangeError(`pool id ${fixedId} must look like ${this.region}_<alphanumerics>`);
      }
      if (this.#pools.has(fixedId)) throw new RangeError(`pool ${fixedId} already exists`);
      id = fixedId;
    } else {
      do {
        let suffix = '';
        for (let i = 0; i < 9; i++) suffix += ALPHANUMERIC[this.#random.int(ALPHANUMERIC.length)];
        id = `${this.region}_${suffix}`;
      } while (this.#pools.has(id));
    }
    const pool = new UserPool(id, name, nowMs, account);
    this.#pools.set(id, pool);
    return pool;
  }

  /** The pool with this id, if any. */
  get(id: string): UserPool | undefined {
    return this.#pools.get(id);
  }

  /**
   * The pool with this id as `account` sees it; ResourceNotFoundException as AWS words it when there
   * is none, or when it belongs to another account (AWS answers the same for a pool you cannot see).
   */
  require(id: string, account: string): UserPool {
    const pool = this.#pools.get(id);
    if (pool === undefined || pool.account !== account) throw CognitoServiceError.poolNotFound(id);
    return pool;
  }

  /** All pools (of one account when given), ordered by id (the order ListUserPools pages through). */
  list(account?: string): UserPool[] {
    const pools = [...this.#pools.values()].filter((pool) => account === undefined || pool.account === account);
    return pools.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
