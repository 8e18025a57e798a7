/** The media an invitation message goes out by (Cognito's DeliveryMediumType). */
export type DeliveryMedium = 'EMAIL' | 'SMS';

/** What the write operations did, by operation name. */
export interface WriteCounters {
  /** Successful calls that changed a user, group, membership or pool. */
  changed: Record<string, number>;
  /**
   * Successful calls that changed nothing: AdminAddUserToGroup of a member, AdminRemoveUserFromGroup
   * of a non-member, AdminUpdateUserAttributes with the values the user has, AdminDisableUser of a
   * disabled user, UpdateGroup with the group's properties, AdminCreateUser with RESEND.
   */
  unchanged: Record<string, number>;
}

/** One pool's writes, and the invitation messages AdminCreateUser would have sent to its users. */
export interface PoolWrites extends WriteCounters {
  /** Messages by medium (none while MessageAction is SUPPRESS). */
  messages: Record<DeliveryMedium, number>;
}

/** What `writes()` and `GET /__emulator/writes` answer: in all, and by pool id. */
export interface WriteStats extends WriteCounters {
  pools: Record<string, PoolWrites>;
}

/** What one operation handler reports (bound to its operation's name). */
export interface WriteLog {
  /** A successful write on `poolId`, and whether it changed anything. */
  wrote(poolId: string, changed: boolean): void;
  /** An invitation message that would have gone to a user of `poolId`. */
  message(poolId: string, medium: DeliveryMedium): void;
}

/** Mutable counters behind {@link WriteStats}. */
export class WriteRecorder {
  #stats: WriteStats = { changed: {}, unchanged: {}, pools: {} };

  /** The log one call of `operation` writes to. */
  forOperation(operation: string): WriteLog {
    return {
      wrote: (poolId, changed) => {
        const key = changed ? 'changed' : 'unchanged';
        increment(this.#stats[key], operation);
        increment(this.#pool(poolId)[key], operation);
      },
      message: (poolId, medium) => {
        this.#pool(poolId).messages[medium] += 1;
      },
    };
  }

  /** A copy of the counters. */
  snapshot(): WriteStats {
    const s = this.#stats;
    const pools = Object.fromEntries(
      Object.entries(s.pools).map(([id, p]) => [id, { changed: { ...p.changed }, unchanged: { ...p.unchanged }, messages: { ...p.messages } }]),
    );
    return { changed: { ...s.changed }, unchanged: { ...s.unchanged }, pools };
  }

  /** Zeroes every counter. */
  reset(): void {
    this.#stats = { changed: {}, unchanged: {}, pools: {} };
  }

  #pool(poolId: string): PoolWrites {
    this.#stats.pools[poolId] ??= { changed: {}, unchanged: {}, messages: { EMAIL: 0, SMS: 0 } };
    return this.#stats.pools[poolId];
  }
}

function increment(bucket: Record<string, number>, operation: string): void {
  bucket[operation] = (bucket[operation] ?? 0) + 1;
}
