import { describe, expect, it } from 'vitest';
import { listUsers, parseListUsersRequest } from '../../src/emulator/list-users.js';
import type { ListUsersContext, ListUsersRequest, PageShape } from '../../src/emulator/list-users.js';
import { PaginationTokenCodec } from '../../src/emulator/pagination-token.js';
import { StoredUser } from '../../src/emulator/stored-user.js';
import { UserPool } from '../../src/emulator/user-pool.js';

const codec = new PaginationTokenCodec(Buffer.alloc(32, 7));

function sub(n: number): string {
  return `${n.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
}

function user(n: number, attributes: string[] = ['email', `user${n}@example.com`]): StoredUser {
  return new StoredUser(sub(n), `user${n}`, true, 'CONFIRMED', 1_700_000_000_001, 1_700_000_000_002, attributes, null);
}

function poolOf(...ns: number[]): UserPool {
  const pool = new UserPool('us-east-1_unittest1', 'unit', 0);
  pool.addMany(ns.map((n) => user(n)));
  return pool;
}

function context(overrides: Partial<ListUsersContext> = {}): ListUsersContext {
  return { codec, nowMs: 1_000_000, tokenTtlSeconds: null, requestId: 'req-1', shape: { kind: 'normal' }, ...overrides };
}

function request(overrides: Partial<ListUsersRequest> = {}): ListUsersRequest {
  return { userPoolId: 'us-east-1_unittest1', filter: null, attributesToGet: null, limit: 60, paginationToken: null, ...overrides };
}

/** Walks a pool to the end, letting `between` change it before each next page. */
function walk(pool: UserPool, limit: number, between: (page: number) => void = () => undefined): string[] {
  const seen: string[] = [];
  let token: string | null = null;
  for (let page = 0; page < 10_000; page++) {
    const response = listUsers(pool, request({ limit, paginationToken: token }), context());
    seen.push(...response.Users.map((u) => u.Username));
    if (response.PaginationToken === undefined) return seen;
    token = response.PaginationToken;
    between(page);
  }
  throw new Error('walk did not end');
}

describe('ListUsers pages', () => {
  it('walk a pool in sub order, each user once, and end without a token', () => {
    const pool = poolOf(5, 3, 9, 1, 7);
    expect(walk(pool, 2)).toEqual(['user1', 'user3', 'user5', 'user7', 'user9']);
  });

  it('put a pool of exactly one page in one page without a token', () => {
    const response = listUsers(poolOf(1, 2, 3), request({ limit: 3 }), context());
    expect(response.Users).toHaveLength(3);
    expect(response.PaginationToken).toBeUndefined();
  });

  it('answer Limit 0 with an empty page that keeps the position', () => {
    const pool = poolOf(1, 2);
    const empty = listUsers(pool, request({ limit: 0 }), context());
    expect(empty.Users).toEqual([]);
    const next = listUsers(pool, request({ paginationToken: empty.PaginationToken! }), context());
    expect(next.Users.map((u) => u.Username)).toEqual(['user1', 'user2']);
  });

  it('never repeat a user when users are added and deleted mid-walk', () => {
    const pool = poolOf(...Array.from({ length: 50 }, (_, i) => i * 10));
    const seen = walk(pool, 7, (page) => {
      pool.add(user(page * 10 + 5)); // lands behind or ahead of the walk
      pool.add(user(1000 + page));
      pool.remove(`user${(page + 3) * 10}`);
    });
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toContain('user1000');
  });

  it('resume after a deleted last user without restarting', () => {
    const pool = poolOf(1, 2, 3, 4);
    const first = listUsers(pool, request({ limit: 2 }), context());
    pool.remove('user2');
    const next = listUsers(pool, request({ limit: 2, paginationToken: first.PaginationToken! }), context());
    expect(next.Users.map((u) => u.Username)).toEqual(['user3', 'user4']);
  });

  it('find a sub prefix by range and stop at its end', () => {
    const pool = poolOf(0x10, 0x1000_0000, 0x1fff_ffff, 0x2000_0000);
    const response = listUsers(pool, request({ filter: 'sub ^= "1"' }), context());
    expect(response.Users.map((u) => u.Username)).toEqual([`user${0x1000_0000}`, `user${0x1fff_ffff}`]);
    expect(response.PaginationToken).toBeUndefined();
  });

  it('bend pages as the fault injector asks, always keeping a token', () => {
    const pool = poolOf(1, 2, 3, 4, 5);
    const shaped = (shape: PageShape) => listUsers(pool, request(), context({ shape }));
    expect(shaped({ kind: 'empty' }).Users).toEqual([]);
    expect(shaped({ kind: 'empty' }).PaginationToken).toBeDefined();
    const short = shaped({ kind: 'short', limit: 2 });
    expect(short.Users).toHaveLength(2);
    expect(short.PaginationToken).toBeDefined();
  });

  it('reject a token once it is older than the TTL', () => {
    const pool = poolOf(1, 2, 3);
    const first = listUsers(pool, request({ limit: 1 }), context({ nowMs: 0 }));
    const later = (nowMs: number) =>
      listUsers(pool, request({ limit: 1, paginationToken: first.PaginationToken! }), context({ nowMs, tokenTtlSeconds: 5 }));
    expect(later(5000).Users).toHaveLength(1);
    expect(() => later(5001)).toThrow(/Paging marker .* is invalid for request req-1/);
  });

  it('reject a token reused with another filter or attribute list', () => {
    const pool = poolOf(1, 2, 3);
    const first = listUsers(pool, request({ limit: 1 }), context());
    const token = first.PaginationToken!;
    expect(() => listUsers(pool, request({ paginationToken: token, filter: 'username ^= "u"' }), context())).toThrow(/Paging marker/);
    expect(() => listUsers(pool, request({ paginationToken: token, attributesToGet: ['email'] }), context())).toThrow(/Paging marker/);
    expect(listUsers(pool, request({ paginationToken: token, limit: 5 }), context()).Users).toHaveLength(2);
  });

  it('fail when a returned user lacks a requested attribute', () => {
    const pool = poolOf(1);
    pool.add(new StoredUser(sub(2), 'bare', true, 'CONFIRMED', 1, 1, [], null));
    expect(() => listUsers(pool, request({ attributesToGet: ['email'] }), context())).toThrow(/email/);
    const onlyFirst = listUsers(pool, request({ attributesToGet: ['email'], limit: 1 }), context());
    expect(onlyFirst.Users[0]?.Attributes).toEqual([{ Name: 'email', Value: 'user1@example.com' }]);
  });
});

describe('ListUsers request validation', () => {
  it('defaults Limit to 60 and treats an empty attribute list as all attributes', () => {
    expect(parseListUsersRequest({ UserPoolId: 'us-east-1_abc', AttributesToGet: [] })).toEqual(request({ userPoolId: 'us-east-1_abc' }));
  });

  it('reports every violation in one message, as AWS does', () => {
    expect(() => parseListUsersRequest({ UserPoolId: 'bad id', Limit: -1 })).toThrow(
      "2 validation errors detected: Value '-1' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 0; " +
        "Value 'bad id' at 'userPoolId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+_[0-9a-zA-Z]+",
    );
  });

  it('requires a pool id', () => {
    expect(() => parseListUsersRequest({})).toThrow(
      "1 validation error detected: Value null at 'userPoolId' failed to satisfy constraint: Member must not be null",
    );
  });

  it('answers a member of the wrong JSON type with SerializationException', () => {
    expect(() => parseListUsersRequest({ UserPoolId: 'us-east-1_abc', Limit: '5' })).toThrow(
      expect.objectContaining({ code: 'SerializationException' }),
    );
  });
});
