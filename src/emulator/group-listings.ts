import { GROUP_NAME } from './group-operations.js';
import type { PageShape } from './list-users.js';
import { MAX_PAGE_SIZE } from './list-users.js';
import type { OperationContext, OperationHandler } from './operation-context.js';
import { bindingOf, resumeAfter } from './pagination-token.js';
import { readPool, resumeContext } from './pool-operations.js';
import { NON_BLANK_PATTERN, PRINTABLE_PATTERN, RequestValidator } from './request-validator.js';
import { nameOf, subOf, upperBound } from './sorted-search.js';
import type { StoredGroup } from './stored-group.js';
import { requireUser } from './user-operations.js';
import type { UserPool } from './user-pool.js';

/** One page of a sorted listing and the key the next page resumes after (null: this was the last). */
interface KeyedPage<T> {
  readonly items: readonly T[];
  readonly resumeAfter: string | null;
}

/**
 * Cuts one page out of `items` (sorted by `key`) starting after the key `after`. There is no filter,
 * so whether anything follows is known without looking ahead; an empty-page fault keeps the position.
 */
function pageOf<T>(items: readonly T[], after: string, limit: number, shape: PageShape, key: (item: T) => string, start: number): KeyedPage<T> {
  if (shape.kind === 'empty') return { items: [], resumeAfter: after };
  const size = shape.kind === 'short' ? Math.min(shape.limit, limit) : limit;
  const page = items.slice(start, start + size);
  if (start + size >= items.length) return { items: page, resumeAfter: null };
  const last = page.at(-1);
  return { items: page, resumeAfter: last === undefined ? after : key(last) };
}

interface ListRequest {
  readonly limit: number;
  readonly nextToken: string | null;
}

/** Reads Limit (0..60, default 60) and NextToken into `v`, as every group listing takes them. */
function readListParameters(v: RequestValidator): ListRequest {
  const limit = v.integer('Limit', { min: 0, max: MAX_PAGE_SIZE });
  const nextToken = v.string('NextToken', { min: 1, max: 131_072, pattern: NON_BLANK_PATTERN });
  return { limit: limit ?? MAX_PAGE_SIZE, nextToken: nextToken ?? null };
}

/** Checks the token against `binding`, pages, and issues the next token bound the same way. */
function respond<T>(
  context: OperationContext,
  request: ListRequest,
  binding: string,
  page: (after: string, limit: number, shape: PageShape) => KeyedPage<T>,
): { items: readonly T[]; NextToken?: string } {
  const after = resumeAfter(request.nextToken, binding, resumeContext(context));
  const result = page(after, request.limit, context.faults.pageShape(request.limit));
  if (result.resumeAfter === null) return { items: result.items };
  return { items: result.items, NextToken: context.codec.encode({ binding, after: result.resumeAfter, issuedAtMs: context.nowMs }) };
}

function groupsPage(pool: UserPool, groups: readonly StoredGroup[], context: OperationContext, request: ListRequest, binding: string): Record<string, unknown> {
  const { items, ...token } = respond(context, request, binding, (after, limit, shape) =>
    pageOf(groups, after, limit, shape, nameOf, upperBound(groups, after, nameOf)),
  );
  return { Groups: items.map((group) => group.toWire(pool.id)), ...token };
}

// Groups in name order; the token holds the last name returned.
const listGroups: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const request = readListParameters(v);
  const pool = readPool(v, context);
  return groupsPage(pool, pool.groups.groups, context, request, bindingOf(['ListGroups', pool.id]));
};

// Members in sub order, like ListUsers; the token holds the last sub, so a walk never repeats a
// member, unless the overlap fault has a page start that many members early.
const listUsersInGroup: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const request = readListParameters(v);
  const name = v.string('GroupName', GROUP_NAME) as string;
  const pool = readPool(v, context);
  const group = pool.groups.require(name);
  const members = group.members;
  const { items, ...token } = respond(context, request, bindingOf(['ListUsersInGroup', pool.id, name]), (after, limit, shape) => {
    const start = upperBound(members, after, subOf);
    const size = shape.kind === 'short' ? Math.min(shape.limit, limit) : limit;
    const overlap = request.nextToken === null ? 0 : Math.min(start, context.faults.memberPageOverlap(size));
    return pageOf(members, after, limit, shape, subOf, start - overlap);
  });
  return { Users: items.map((user) => user.toWire()), ...token };
};

const adminListGroupsForUser: OperationHandler = (body, context) => {
  const v = new RequestValidator(body);
  const request = readListParameters(v);
  const username = v.string('Username', { required: true, min: 1, max: 128, pattern: PRINTABLE_PATTERN }) as string;
  const pool = readPool(v, context);
  const user = requireUser({ pool, username });
  return groupsPage(pool, pool.groups.groupsOf(user), context, request, bindingOf(['AdminListGroupsForUser', pool.id, username]));
};

/** The paged group listings, by operation name. */
export const GROUP_LISTINGS: Readonly<Record<string, OperationHandler>> = {
  ListGroups: listGroups,
  ListUsersInGroup: listUsersInGroup,
  AdminListGroupsForUser: adminListGroupsForUser,
};
