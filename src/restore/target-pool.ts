import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminDeleteUserAttributesCommand,
  AdminDeleteUserCommand,
  AdminDisableUserCommand,
  AdminEnableUserCommand,
  AdminGetUserCommand,
  AdminUpdateUserAttributesCommand,
  CreateGroupCommand,
  DescribeUserPoolCommand,
  GetGroupCommand,
  ListGroupsCommand,
  ListUsersCommand,
  ListUsersInGroupCommand,
  UpdateGroupCommand,
  type AttributeType,
  type CognitoIdentityProviderClient,
  type GroupType,
  type SchemaAttributeType,
  type UserType,
} from '@aws-sdk/client-cognito-identity-provider';
import { errorCode } from '../limits/error-classification.js';
import type { CallLimiter } from '../limits/rate-limiter.js';
import { withRetries, type RetryPolicy } from '../limits/retry-policy.js';
import type { groupFields} from './restore-records.js';
import { attributesOf, type UserDifference } from './restore-records.js';

/**
 * The limiters of a restore's calls, one per Cognito quota category (per account and region): the
 * writes have their own quotas, apart from the reads an export shares with the pool's apps.
 */
export interface TargetLimiters {
  /** UserCreation: AdminCreateUser (AWS: 50/s). */
  readonly userCreation: readonly CallLimiter[];
  /** UserUpdate: AdminUpdateUserAttributes, AdminDeleteUserAttributes, AdminDisableUser, AdminEnableUser, AdminDeleteUser (AWS: 25/s). */
  readonly userUpdate: readonly CallLimiter[];
  /** UserResourceUpdate: AdminAddUserToGroup (AWS: 25/s). */
  readonly membershipUpdate: readonly CallLimiter[];
  /** UserPoolResourceUpdate: CreateGroup, UpdateGroup (AWS: 15/s). */
  readonly resourceWrite: readonly CallLimiter[];
  /** UserList and UserPoolResourceRead (ListUsers, ListUsersInGroup, ListGroups, AdminGetUser, GetGroup): the export's shared buckets. */
  readonly read: readonly CallLimiter[];
}

/** A user as the target holds it, for comparison with the snapshot's. */
export interface TargetUser {
  readonly username: string;
  readonly sub: string | null;
  readonly attributes: ReadonlyMap<string, string>;
  readonly enabled: boolean;
  readonly status: string | null;
}

/** An error Cognito answered that no retry mends (a bad attribute, a missing user): its code and one line. */
export class TargetRefusedError extends Error {
  override readonly name = 'TargetRefusedError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The pool a restore writes to: every call paced by its quota category's limiters and retried as
 * the export's calls are (throttles waited out and reported, transient errors a few times); an
 * answer that no retry mends is a TargetRefusedError. No call starts once `signal` aborts.
 */
export class TargetPool {
  constructor(
    private readonly client: CognitoIdentityProviderClient,
    readonly userPoolId: string,
    private readonly limiters: TargetLimiters,
    private readonly options: { readonly signal?: AbortSignal | undefined; readonly retryPolicy?: Partial<RetryPolicy> | undefined; readonly onCall?: (() => void) | undefined } = {},
  ) {}

  private async call<T>(limiters: readonly CallLimiter[], send: () => Promise<T>): Promise<T> {
    let slots: Awaited<ReturnType<CallLimiter['acquire']>>[] = [];
    try {
      return await withRetries(
        async () => {
          slots = [];
          for (const limiter of limiters) slots.push(await limiter.acquire(this.options.signal));
          this.options.onCall?.();
          return send();
        },
        {
          ...(this.options.signal ? { signal: this.options.signal } : {}),
          ...(this.options.retryPolicy ? { policy: this.options.retryPolicy } : {}),
          onRetry: async (event) => {
            if (event.errorClass !== 'throttled') return;
            await Promise.all(limiters.map((limiter, i) => limiter.reportThrottle(slots[i])));
          },
        },
      );
    } catch (error) {
      const code = errorCode(error);
      if (code !== '' && code !== 'AbortError' && error instanceof Error && (error as { $metadata?: unknown }).$metadata !== undefined) {
        throw new TargetRefusedError(code, `${code}: ${error.message.split('\n')[0] ?? ''}`);
      }
      throw error;
    }
  }

  /** The pool's schema (its custom attributes among it). */
  async schema(): Promise<SchemaAttributeType[]> {
    const answer = await this.call(this.limiters.read, () => this.client.send(new DescribeUserPoolCommand({ UserPoolId: this.userPoolId })));
    return answer.UserPool?.SchemaAttributes ?? [];
  }

  /** Whether the pool has any user (one ListUsers call of one user). */
  async hasUsers(): Promise<boolean> {
    const answer = await this.call(this.limiters.read, () => this.client.send(new ListUsersCommand({ UserPoolId: this.userPoolId, Limit: 1 })));
    return (answer.Users?.length ?? 0) > 0;
  }

  /** Every user of the pool, a page at a time. */
  async *users(): AsyncGenerator<TargetUser[], void, undefined> {
    let token: string | undefined;
    do {
      const answer = await this.call(this.limiters.read, () => this.client.send(new ListUsersCommand({ UserPoolId: this.userPoolId, Limit: 60, ...(token ? { PaginationToken: token } : {}) })));
      yield (answer.Users ?? []).map(targetUser);
      token = answer.PaginationToken;
    } while (token);
  }

  /** Every group of the pool. */
  async groups(): Promise<GroupType[]> {
    const all: GroupType[] = [];
    let token: string | undefined;
    do {
      const answer = await this.call(this.limiters.read, () => this.client.send(new ListGroupsCommand({ UserPoolId: this.userPoolId, Limit: 60, ...(token ? { NextToken: token } : {}) })));
      all.push(...(answer.Groups ?? []));
      token = answer.NextToken;
    } while (token);
    return all;
  }

  /** The usernames of a group's members. */
  async members(group: string): Promise<Set<string>> {
    const members = new Set<string>();
    let token: string | undefined;
    do {
      const answer = await this.call(this.limiters.read, () =>
        this.client.send(new ListUsersInGroupCommand({ UserPoolId: this.userPoolId, GroupName: group, Limit: 60, ...(token ? { NextToken: token } : {}) })),
      );
      for (const user of answer.Users ?? []) if (user.Username) members.add(user.Username);
      token = answer.NextToken;
    } while (token);
    return members;
  }

  /** The user, or undefined when there is none. */
  async user(username: string): Promise<TargetUser | undefined> {
    try {
      const answer = await this.call(this.limiters.read, () => this.client.send(new AdminGetUserCommand({ UserPoolId: this.userPoolId, Username: username })));
      return { username, sub: attributesOf(answer).get('sub') ?? null, attributes: withoutSub(attributesOf(answer)), enabled: answer.Enabled ?? true, status: answer.UserStatus ?? null };
    } catch (error) {
      if (error instanceof TargetRefusedError && error.code === 'UserNotFoundException') return undefined;
      throw error;
    }
  }

  /**
   * Creates a user with no message sent (MessageAction SUPPRESS: no invitation, no email or SMS
   * quota spent), in FORCE_CHANGE_PASSWORD; its new sub, or undefined when the username exists.
   */
  async createUser(username: string, attributes: readonly AttributeType[]): Promise<string | undefined> {
    try {
      const answer = await this.call(this.limiters.userCreation, () =>
        this.client.send(new AdminCreateUserCommand({ UserPoolId: this.userPoolId, Username: username, UserAttributes: [...attributes], MessageAction: 'SUPPRESS' })),
      );
      return attributesOf(answer.User ?? {}).get('sub') ?? '';
    } catch (error) {
      if (error instanceof TargetRefusedError && error.code === 'UsernameExistsException') return undefined;
      throw error;
    }
  }

  /** Writes a difference (see userDifference): only the calls it needs, none for no difference. */
  async applyDifference(username: string, difference: UserDifference): Promise<void> {
    const target = { UserPoolId: this.userPoolId, Username: username };
    if (difference.set.length > 0) await this.call(this.limiters.userUpdate, () => this.client.send(new AdminUpdateUserAttributesCommand({ ...target, UserAttributes: [...difference.set] })));
    if (difference.remove.length > 0) await this.call(this.limiters.userUpdate, () => this.client.send(new AdminDeleteUserAttributesCommand({ ...target, UserAttributeNames: [...difference.remove] })));
    if (difference.enabled === false) await this.call(this.limiters.userUpdate, () => this.client.send(new AdminDisableUserCommand(target)));
    if (difference.enabled === true) await this.call(this.limiters.userUpdate, () => this.client.send(new AdminEnableUserCommand(target)));
  }

  async deleteUser(username: string): Promise<void> {
    try {
      await this.call(this.limiters.userUpdate, () => this.client.send(new AdminDeleteUserCommand({ UserPoolId: this.userPoolId, Username: username })));
    } catch (error) {
      if (!(error instanceof TargetRefusedError && error.code === 'UserNotFoundException')) throw error;
    }
  }

  /** The group, or undefined when there is none. */
  async group(name: string): Promise<GroupType | undefined> {
    try {
      return (await this.call(this.limiters.read, () => this.client.send(new GetGroupCommand({ UserPoolId: this.userPoolId, GroupName: name })))).Group;
    } catch (error) {
      if (error instanceof TargetRefusedError && error.code === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  }

  /** Creates a group; false when it exists. */
  async createGroup(name: string, fields: ReturnType<typeof groupFields>): Promise<boolean> {
    try {
      await this.call(this.limiters.resourceWrite, () => this.client.send(new CreateGroupCommand({ UserPoolId: this.userPoolId, GroupName: name, ...fields })));
      return true;
    } catch (error) {
      if (error instanceof TargetRefusedError && error.code === 'GroupExistsException') return false;
      throw error;
    }
  }

  async updateGroup(name: string, fields: ReturnType<typeof groupFields>): Promise<void> {
    await this.call(this.limiters.resourceWrite, () => this.client.send(new UpdateGroupCommand({ UserPoolId: this.userPoolId, GroupName: name, ...fields })));
  }

  async addToGroup(group: string, username: string): Promise<void> {
    await this.call(this.limiters.membershipUpdate, () => this.client.send(new AdminAddUserToGroupCommand({ UserPoolId: this.userPoolId, GroupName: group, Username: username })));
  }
}

function withoutSub(attributes: Map<string, string>): Map<string, string> {
  attributes.delete('sub');
  return attributes;
}

function targetUser(user: UserType): TargetUser {
  const attributes = attributesOf(user);
  const sub = attributes.get('sub') ?? null;
  return { username: user.Username ?? '', sub, attributes: withoutSub(attributes), enabled: user.Enabled ?? true, status: user.UserStatus ?? null };
}
