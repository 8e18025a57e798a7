import { CognitoServiceError } from './cognito-error.js';
import { listUsersBinding, resumeAfter } from './pagination-token.js';
import type { ResumeContext } from './pagination-token.js';
import { NON_BLANK_PATTERN, POOL_ID_PATTERN, PRINTABLE_PATTERN, RequestValidator } from './request-validator.js';
import type { StoredUser, WireUser } from './stored-user.js';
import { compileUserFilter } from './user-filter.js';
import type { CompiledUserFilter } from './user-filter.js';
import type { UserPool } from './user-pool.js';

/** Cognito's largest (and default) ListUsers page. */
export const MAX_PAGE_SIZE = 60;

/** A validated ListUsers request. */
export interface ListUsersRequest {
  readonly userPoolId: string;
  readonly filter: string | null;
  readonly attributesToGet: readonly string[] | null;
  readonly limit: number;
  readonly paginationToken: string | null;
}

/** The ListUsers response body. */
export interface ListUsersResponse {
  Users: WireUser[];
  PaginationToken?: string;
}

/** How the fault injector bends one page: a smaller page, or an empty one that still has a token. */
export type PageShape = { readonly kind: 'normal' } | { readonly kind: 'short'; readonly limit: number } | { readonly kind: 'empty' };

/** What the operation needs besides the request. */
export interface ListUsersContext extends ResumeContext {
  readonly shape: PageShape;
}

/** Validates a ListUsers body with AWS's constraints and messages. */
export function parseListUsersRequest(body: Record<string, unknown>): ListUsersRequest {
  const v = new RequestValidator(body);
  const attributesToGet = v.stringList('AttributesToGet', { min: 1, max: 32, pattern: PRINTABLE_PATTERN });
  const filter = v.string('Filter', { max: 256 });
  const limit = v.integer('Limit', { min: 0, max: MAX_PAGE_SIZE });
  const paginationToken = v.string('PaginationToken', { min: 1, pattern: NON_BLANK_PATTERN });
  const userPoolId = v.string('UserPoolId', { required: true, min: 1, max: 55, pattern: POOL_ID_PATTERN });
  v.done();
  return {
    userPoolId: userPoolId as string,
    filter: filter ?? null,
    // An empty list means "all attributes", as for an absent one.
    attributesToGet: attributesToGet === undefined || attributesToGet.length === 0 ? null : attributesToGet,
    limit: limit ?? MAX_PAGE_SIZE,
    paginationToken: paginationToken ?? null,
  };
}

/**
 * One ListUsers page. Users come in `sub` order; the token records the last sub examined, so the
 * next page starts strictly after it: users added or deleted mid-walk never cause a duplicate, and
 * the last page has no token. A `sub` filter jumps straight to its range.
 */
export function listUsers(pool: UserPool, request: ListUsersRequest, context: ListUsersContext): ListUsersResponse {
  const filter = compileUserFilter(request.filter);
  const binding = listUsersBinding(pool.id, request.filter, request.attributesToGet);
  const after = resumeAfter(request.paginationToken, binding, context);

  if (context.shape.kind === 'empty') {
    // An empty page that still carries a token, as AWS sends when a filtered scan finds nothing.
    return { Users: [], PaginationToken: context.codec.encode({ binding, after, issuedAtMs: context.nowMs }) };
  }
  const limit = context.shape.kind === 'short' ? Math.min(context.shape.limit, request.limit) : request.limit;
  const page = scan(pool, filter, after, limit);

  const users = page.users;
  if (request.attributesToGet !== null) assertAttributesPresent(users, request.attributesToGet);
  const response: ListUsersResponse = { Users: users.map((user) => user.toWire(request.attributesToGet)) };
  if (page.resumeAfter !== null) {
    response.PaginationToken = context.codec.encode({ binding, after: page.resumeAfter, issuedAtMs: context.nowMs });
  }
  return response;
}

interface ScannedPage {
  readonly users: StoredUser[];
  /** Where the next page resumes, or null when no matching user is left. */
  readonly resumeAfter: string | null;
}

function scan(pool: UserPool, filter: CompiledUserFilter, after: string, limit: number): ScannedPage {
  const all = pool.users;
  const prefix = filter.subPrefix;
  let i = after === '' ? 0 : pool.upperBound(after);
  if (prefix !== null) i = Math.max(i, pool.lowerBound(prefix));
  const inRange = (user: StoredUser): boolean => prefix === null || user.sub.startsWith(prefix);

  const users: StoredUser[] = [];
  let lastExamined = after;
  for (; i < all.length && users.length < limit; i++) {
    const user = all[i] as StoredUser;
    if (!inRange(user)) {
      i = all.length;
      break;
    }
    if (filter.matches(user)) users.push(user);
    lastExamined = user.sub;
  }
  // Look ahead so the last page carries no token (a pool of exactly 60 users is one page).
  for (; i < all.length; i++) {
    const user = all[i] as StoredUser;
    if (!inRange(user)) break;
    if (filter.matches(user)) return { users, resumeAfter: lastExamined };
  }
  return { users, resumeAfter: null };
}

function assertAttributesPresent(users: readonly StoredUser[], names: readonly string[]): void {
  for (const user of users) {
    for (const name of names) {
      if (user.attribute(name) === undefined) {
        throw CognitoServiceError.invalidParameter(
          `One or more requested attributes do not exist for user ${user.username}: ${name}`,
        );
      }
    }
  }
}
