import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { describe, expect, it } from 'vitest';
import { cognitoPages, walkCapOf, type PagedCall } from '../../src/cognito/cognito-pages.js';
import { listGroupPages, listMemberPages } from '../../src/cognito/list-groups.js';
import { listUserPages } from '../../src/cognito/list-users.js';
import { FatalExportError } from '../../src/limits/export-errors.js';
import type { CallLimiter } from '../../src/limits/rate-limiter.js';

const POOL = 'eu-west-1_Hostile';
const free: CallLimiter = { acquire: () => Promise.resolve({ grantedAt: 0, waitedMs: 0 }), reportThrottle: () => Promise.resolve() };

interface Answer {
  readonly items: readonly number[];
  readonly next: string | undefined;
}

/** A paged call answering from a script: the answer for each token sent (undefined: the first page). */
function scripted(answers: ReadonlyMap<string | undefined, Answer>): PagedCall<Answer, number> & { calls: number } {
  const call = {
    calls: 0,
    what: `ListUsers on user pool ${POOL}`,
    send: (_client: CognitoIdentityProviderClient, token: string | undefined) => {
      call.calls++;
      const answer = answers.get(token);
      if (answer === undefined) throw new Error(`unexpected token ${String(token)}`);
      return Promise.resolve(answer);
    },
    items: (output: Answer) => output.items,
    next: (output: Answer) => output.next,
  };
  return call;
}

const client = {} as CognitoIdentityProviderClient;

async function walk(call: PagedCall<Answer, number>, options: { startToken?: string; maxItems?: number } = {}): Promise<number[]> {
  const seen: number[] = [];
  for await (const page of cognitoPages(call, { client, limiters: [free], ...options })) seen.push(...page.items);
  return seen;
}

describe('a hostile Cognito page source', () => {
  it('fails the walk with one line naming the pool and the operation when a token comes back again', async () => {
    const call = scripted(new Map([
      [undefined, { items: [1], next: 'A' }],
      ['A', { items: [2], next: 'A' }],
    ]));
    const error: unknown = await walk(call).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FatalExportError);
    const message = (error as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toContain(`ListUsers on user pool ${POOL}`);
    expect(message).toMatch(/repeated a pagination token/);
    // The token itself is a position in the pool: never in a message.
    expect(message).not.toMatch(/\bA\b/);
    expect(call.calls).toBe(2);
  });

  it('sees a cycle of several tokens, not only the same token twice in a row', async () => {
    const call = scripted(new Map([
      [undefined, { items: [1], next: 'A' }],
      ['A', { items: [2], next: 'B' }],
      ['B', { items: [3], next: 'C' }],
      ['C', { items: [4], next: 'A' }],
    ]));
    await expect(walk(call)).rejects.toThrow(FatalExportError);
    expect(call.calls).toBe(4);
  });

  it('counts the token a walk resumed from as already seen', async () => {
    const call = scripted(new Map([
      ['R', { items: [1], next: 'S' }],
      ['S', { items: [2], next: 'R' }],
    ]));
    await expect(walk(call, { startToken: 'R' })).rejects.toThrow(/repeated a pagination token/);
  });

  it('walks an honest chain of distinct tokens to its end', async () => {
    const call = scripted(new Map([
      [undefined, { items: [1], next: 'A' }],
      ['A', { items: [], next: 'B' }],
      ['B', { items: [2, 3], next: undefined }],
    ]));
    expect(await walk(call)).toEqual([1, 2, 3]);
  });

  it('stops a walk that returns more items than its cap, with one line naming the pool, the operation and the cap', async () => {
    let n = 0;
    const endless: PagedCall<Answer, number> = {
      what: `ListUsers on user pool ${POOL}`,
      send: () => Promise.resolve({ items: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], next: `token-${++n}` }),
      items: (output) => output.items,
      next: (output) => output.next,
    };
    const error: unknown = await walk(endless, { maxItems: 95 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FatalExportError);
    expect((error as Error).message.split('\n')).toHaveLength(1);
    expect((error as Error).message).toContain(`ListUsers on user pool ${POOL}`);
    expect((error as Error).message).toMatch(/more than 95/);
    expect(n).toBe(10);
  });

  it('caps a walk at ten times the pool estimate plus a margin (a million by default), and not at all without an estimate', () => {
    expect(walkCapOf(0)).toBe(1_000_000);
    expect(walkCapOf(0, 500)).toBe(500);
    expect(walkCapOf(1_000)).toBe(1_010_000);
    expect(walkCapOf(2_000_000)).toBe(21_000_000);
    expect(walkCapOf(undefined)).toBeUndefined();
    expect(walkCapOf(Number.NaN)).toBeUndefined();
  });

  it('guards every listing: ListUsers, ListGroups and ListUsersInGroup', async () => {
    const repeating = (field: string) =>
      ({
        send: () => Promise.resolve({ Users: [], Groups: [], [field]: 'the-same-token' }),
      }) as unknown as CognitoIdentityProviderClient;
    const drain = async (pages: AsyncGenerator<unknown>) => {
      for await (const page of pages) void page;
    };
    await expect(drain(listUserPages({ client: repeating('PaginationToken'), limiters: [free], userPoolId: POOL, filter: null }))).rejects.toThrow(
      new RegExp(`^ListUsers on user pool ${POOL} repeated a pagination token`),
    );
    await expect(drain(listGroupPages({ client: repeating('NextToken'), limiters: [free], userPoolId: POOL }))).rejects.toThrow(
      new RegExp(`^ListGroups on user pool ${POOL} repeated a pagination token`),
    );
    await expect(drain(listMemberPages({ client: repeating('NextToken'), limiters: [free], userPoolId: POOL, groupName: 'admins' }))).rejects.toThrow(
      new RegExp(`^ListUsersInGroup of group "admins" on user pool ${POOL} repeated a pagination token`),
    );
  });
});
