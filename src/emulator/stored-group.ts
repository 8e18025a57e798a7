import type { GroupType } from '@aws-sdk/client-cognito-identity-provider';
import { PRINTABLE_PATTERN } from './request-validator.js';
import { lowerBound, subOf } from './sorted-search.js';
import type { StoredUser } from './stored-user.js';

/** A group to create directly (library only). */
export interface NewGroup {
  /** 1–128 letters, marks, symbols, digits or punctuation, as Cognito allows (no spaces). */
  name: string;
  description?: string;
  roleArn?: string;
  /** A non-negative integer; lower wins. */
  precedence?: number;
}

const GROUP_NAME = new RegExp(`^${PRINTABLE_PATTERN}$`, 'u');

/** A group exactly as Cognito puts it on the wire (GroupType): dates are epoch seconds with a fraction. */
export interface WireGroup {
  GroupName: string;
  UserPoolId: string;
  Description?: string;
  RoleArn?: string;
  Precedence?: number;
  LastModifiedDate: number;
  CreationDate: number;
}

/** The settable properties of a group; null means the group has none. */
export interface GroupProperties {
  description: string | null;
  roleArn: string | null;
  precedence: number | null;
}

/**
 * One group of a pool and its members. Members are references to the pool's own users, kept sorted
 * by sub: a membership costs one array slot (8 bytes), a ListUsersInGroup page is a binary search
 * plus a slice, and the token ("the last sub returned") stays exact while members come and go.
 */
export class StoredGroup implements GroupProperties {
  readonly #members: StoredUser[];

  constructor(
    readonly name: string,
    public description: string | null,
    public roleArn: string | null,
    public precedence: number | null,
    /** Epoch milliseconds. */
    readonly createdMs: number,
    /** Epoch milliseconds. */
    public modifiedMs: number,
    /** Already sorted by sub and free of duplicates (the seeder builds them so); adopted, not copied. */
    members: StoredUser[] = [],
  ) {
    this.#members = members;
  }

  /** A group from the library's description, created at `nowMs`; a RangeError for a name Cognito would refuse. */
  static fromNew(group: NewGroup, nowMs: number): StoredGroup {
    if (group.name.length > 128 || !GROUP_NAME.test(group.name)) {
      throw new RangeError(`Expected a group name of 1-128 letters, marks, symbols, digits or punctuation, got \`${group.name}\``);
    }
    return new StoredGroup(group.name, group.description ?? null, group.roleArn ?? null, group.precedence ?? null, nowMs, nowMs);
  }

  /** The members in sub order. Read-only: change them through {@link add} and {@link remove}. */
  get members(): readonly StoredUser[] {
    return this.#members;
  }

  /** True when the user is a member. */
  has(user: StoredUser): boolean {
    return this.#members[lowerBound(this.#members, user.sub, subOf)] === user;
  }

  /** Adds a member; false when it already was one. */
  add(user: StoredUser): boolean {
    const i = lowerBound(this.#members, user.sub, subOf);
    if (this.#members[i] === user) return false;
    this.#members.splice(i, 0, user);
    return true;
  }

  /** Removes a member; false when it was none. */
  remove(user: StoredUser): boolean {
    const i = lowerBound(this.#members, user.sub, subOf);
    if (this.#members[i] !== user) return false;
    this.#members.splice(i, 1);
    return true;
  }

  /** The GroupType wire shape; absent properties are left out, as Cognito does. */
  toWire(poolId: string): WireGroup {
    const wire: WireGroup = { GroupName: this.name, UserPoolId: poolId, LastModifiedDate: this.modifiedMs / 1000, CreationDate: this.createdMs / 1000 };
    if (this.description !== null) wire.Description = this.description;
    if (this.roleArn !== null) wire.RoleArn = this.roleArn;
    if (this.precedence !== null) wire.Precedence = this.precedence;
    return wire;
  }

  /** The shape the SDK returns after parsing (dates as `Date`), for comparing exports. */
  toSdk(poolId: string): GroupType {
    const wire = this.toWire(poolId);
    return { ...wire, LastModifiedDate: new Date(this.modifiedMs), CreationDate: new Date(this.createdMs) };
  }
}
