import { CognitoServiceError } from './cognito-error.js';
import { nameOf, upperBound } from './sorted-search.js';
import type { StoredGroup } from './stored-group.js';
import type { StoredUser } from './stored-user.js';

/** Cognito's hard limit on groups in one pool. */
export const MAX_GROUPS_PER_POOL = 10_000;
/** Cognito's hard limit on the groups one user belongs to. */
export const MAX_GROUPS_PER_USER = 100;


/**
 * The groups of one pool, kept sorted by name (a ListGroups token is "the last name returned").
 * There is no user → groups index: the groups of a user are found by a binary search in each
 * group's members, at most 10,000 searches, which keeps a million memberships at 8 bytes each.
 */
export class GroupDirectory {
  readonly #byName = new Map<string, StoredGroup>();
  readonly #sorted: StoredGroup[] = [];
  #memberships = 0;

  /** How many groups the pool has. */
  get size(): number {
    return this.#sorted.length;
  }

  /** How many (group, user) memberships there are in all. */
  get membershipCount(): number {
    return this.#memberships;
  }

  /** The groups in name order. Read-only: change them through the directory. */
  get groups(): readonly StoredGroup[] {
    return this.#sorted;
  }

  /** The group with exactly this name, if any. */
  get(name: string): StoredGroup | undefined {
    return this.#byName.get(name);
  }

  /** The group with this name; ResourceNotFoundException as Cognito words it when there is none. */
  require(name: string): StoredGroup {
    const group = this.#byName.get(name);
    if (group === undefined) throw CognitoServiceError.groupNotFound();
    return group;
  }

  /** Adds a group (with whatever members it holds); GroupExistsException or LimitExceededException as Cognito answers. */
  add(group: StoredGroup): void {
    if (this.#byName.has(group.name)) throw CognitoServiceError.groupExists();
    if (this.#sorted.length >= MAX_GROUPS_PER_POOL) {
      throw CognitoServiceError.limitExceeded(`The user pool already has the maximum number of groups (${MAX_GROUPS_PER_POOL}).`);
    }
    this.#byName.set(group.name, group);
    this.#sorted.splice(upperBound(this.#sorted, group.name, nameOf), 0, group);
    this.#memberships += group.members.length;
  }

  /** Removes a group and with it every membership in it; returns it, or undefined when there was none. */
  delete(name: string): StoredGroup | undefined {
    const group = this.#byName.get(name);
    if (group === undefined) return undefined;
    this.#byName.delete(name);
    this.#sorted.splice(upperBound(this.#sorted, name, nameOf) - 1, 1);
    this.#memberships -= group.members.length;
    return group;
  }

  /** Every group the user is a member of, in name order. */
  groupsOf(user: StoredUser): StoredGroup[] {
    return this.#sorted.filter((group) => group.has(user));
  }

  /**
   * Makes the user a member (nothing happens when it already is one); LimitExceededException past
   * 100 groups. True when the user was not a member before.
   */
  addMember(group: StoredGroup, user: StoredUser): boolean {
    if (group.has(user)) return false;
    let count = 0;
    for (const other of this.#sorted) {
      if (other.has(user) && ++count >= MAX_GROUPS_PER_USER) {
        throw CognitoServiceError.limitExceeded(`The user is already a member of the maximum number of groups (${MAX_GROUPS_PER_USER}).`);
      }
    }
    group.add(user);
    this.#memberships++;
    return true;
  }

  /** Ends one membership; false when there was none. */
  removeMember(group: StoredGroup, user: StoredUser): boolean {
    if (!group.remove(user)) return false;
    this.#memberships--;
    return true;
  }

  /** Ends every membership of a user (the user is being deleted). */
  removeUser(user: StoredUser): void {
    for (const group of this.#sorted) this.removeMember(group, user);
  }
}
