import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CognitoIdentityProviderClient, ListUsersInGroupCommandInput, UserType } from '@aws-sdk/client-cognito-identity-provider';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FencedError } from '../../src/limits/export-errors.js';
import type { CallLimiter } from '../../src/limits/rate-limiter.js';
import { FileSink, STAGING_FOLDER } from '../../src/storage/file-sink.js';
import type { StagedLocation } from '../../src/storage/object-sink.js';
import type { RunLocation } from '../../src/storage/output-layout.js';
import { groupMembershipsTable, memberKey } from '../../src/tables/group-memberships-table.js';
import type { MembershipRecord } from '../../src/tables/group-record.js';
import { keyTag } from '../../src/tables/seen-keys.js';
import { INITIAL_CHECKPOINT, type ClaimedShard, type ShardCheckpoint, type ShardCheckpoints } from '../../src/walk/checkpoint-store.js';
import type { SealedPart } from '../../src/walk/part-file.js';
import { tailKeys } from '../../src/walk/scope-tail.js';
import { walkShard } from '../../src/walk/table-walk.js';

/** Checkpoints in memory, fenced like the Redis store, keeping the durable files of the current walk. */
class MemoryCheckpoints implements ShardCheckpoints {
  epoch = 0;
  state: ShardCheckpoint = INITIAL_CHECKPOINT;
  readonly files: SealedPart[] = [];
  /** How many files `filesFromLast` handed out. */
  read = 0;

  claim(): Promise<ClaimedShard> {
    this.epoch += 1;
    return Promise.resolve({ epoch: this.epoch, checkpoint: this.state, stored: JSON.stringify(this.state) });
  }
  recordStaged(_shard: string, epoch: number, _location: StagedLocation): Promise<void> {
    return this.assertOwner('', epoch);
  }
  assertOwner(_shard: string, epoch: number): Promise<void> {
    if (epoch !== this.epoch) throw new FencedError('another worker owns the shard');
    return Promise.resolve();
  }
  async commit(_shard: string, epoch: number, _stored: string, checkpoint: ShardCheckpoint, file: SealedPart | null): Promise<string> {
    await this.assertOwner('', epoch);
    // Through JSON, as Redis keeps it.
    if (file) this.files.push(JSON.parse(JSON.stringify(file)) as SealedPart);
    this.state = checkpoint;
    return JSON.stringify(checkpoint);
  }
  restart(): Promise<{ checkpoint: ShardCheckpoint; stored: string }> {
    throw new Error('no restart here');
  }
  async *filesFromLast(): AsyncGenerator<SealedPart, void, undefined> {
    for (let i = this.files.length - 1; i >= 0; i--) {
      this.read += 1;
      yield await Promise.resolve(this.files[i] as SealedPart);
    }
  }
}

const member = (sub: string): UserType => ({ Username: `user-${sub}`, Attributes: [{ Name: 'sub', Value: sub }] });

/**
 * ListUsersInGroup over fixed groups, 4 members a page, each page after a group's first beginning
 * with the last member of the page before (Cognito promises no uniqueness): the token is the index
 * the next page starts at.
 */
function overlappingService(groups: Record<string, readonly string[]>): { client: CognitoIdentityProviderClient; calls: string[] } {
  const calls: string[] = [];
  const client = {
    send: (command: { input: ListUsersInGroupCommandInput }) => {
      const { GroupName = '', NextToken } = command.input;
      calls.push(`${GroupName}@${NextToken ?? 0}`);
      const subs = groups[GroupName] ?? [];
      const start = NextToken === undefined ? 0 : Number(NextToken);
      const end = Math.min(start + 4, subs.length);
      return Promise.resolve({ Users: subs.slice(start, end).map(member), ...(end < subs.length ? { NextToken: String(end - 1) } : {}) });
    },
  };
  return { client: client as unknown as CognitoIdentityProviderClient, calls };
}

const limiter: CallLimiter = { acquire: () => Promise.resolve({ grantedAt: 0, waitedMs: 0 }), reportThrottle: () => Promise.resolve() };
const run: RunLocation = { userPoolId: 'us-east-1_Test', snapshotId: '20261201T000000000Z-abcdef', startedAt: new Date('2026-12-01T00:00:00Z') };
const subs = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')}`);
const GROUPS = { alpha: subs('a', 6), beta: subs('b', 15), gamma: subs('c', 3) };

let directory: string;
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'ce-membership-resume-'));
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

interface WalkOptions {
  /** Stop (as on SIGTERM) after this many pages. */
  readonly stopAfter?: number;
  /** Give the source the durable files' tails on resume. @default true */
  readonly resumeFromTails?: boolean;
}

/** Walks the batch alpha, beta, gamma into files of 5 records, with `checkpoints` as its state. */
async function walk(checkpoints: MemoryCheckpoints, options: WalkOptions = {}): Promise<{ status: string; calls: string[] }> {
  const service = overlappingService(GROUPS);
  const source = groupMembershipsTable({
    client: service.client,
    userPoolId: run.userPoolId,
    groups: Object.keys(GROUPS),
    limiter,
    onGroupSkipped: () => Promise.resolve(),
    records: { userPoolId: run.userPoolId, snapshotId: run.snapshotId },
    ...(options.resumeFromTails === false ? {} : { writtenKeys: (group: string) => tailKeys(checkpoints.filesFromLast(), group) }),
  });
  const stop = new AbortController();
  let pages = 0;
  const outcome = await walkShard({
    source,
    shard: '0',
    run,
    files: { gzip: false, gzipLevel: 6, maxRecords: 5 },
    sink: new FileSink(directory),
    checkpoints,
    progress: {
      page: () => {
        if (++pages === options.stopAfter) stop.abort();
        return Promise.resolve();
      },
      fileDone: () => undefined,
    },
    stop: stop.signal,
    log: pino({ level: 'silent' }),
  });
  return { status: outcome.status, calls: service.calls };
}

/** Every record of the durable files, in order. */
async function records(checkpoints: MemoryCheckpoints): Promise<MembershipRecord[]> {
  const all: MembershipRecord[] = [];
  for (const file of checkpoints.files) {
    if (file.location.kind !== 'file') throw new Error('not a staged file');
    const text = await readFile(join(directory, STAGING_FOLDER, file.location.path), 'utf8');
    all.push(...text.trimEnd().split('\n').map((line) => JSON.parse(line) as MembershipRecord));
  }
  return all;
}

const pairs = (list: readonly MembershipRecord[]): string[] => list.map((m) => `${m.group_name}/${m.sub ?? ''}`);
const expected = Object.entries(GROUPS).flatMap(([group, members]) => members.map((sub) => `${group}/${sub}`));

describe('a membership walk resumed mid-group', () => {
  it('without a resume, meets the repeated members and writes each once', async () => {
    const checkpoints = new MemoryCheckpoints();
    expect((await walk(checkpoints)).status).toBe('done');
    expect(pairs(await records(checkpoints))).toEqual(expected);
  });

  it('records in each file the keys of its last group only', async () => {
    const checkpoints = new MemoryCheckpoints();
    await walk(checkpoints);
    // Sealed at 5 records or more (a page is appended whole): alpha; beta's 7; beta's 6; beta's last 2 and gamma.
    expect(checkpoints.files.map((file) => [file.records, file.tail?.scope, file.tail?.keys.length])).toEqual([
      [6, 'alpha', 6],
      [7, 'beta', 7],
      [6, 'beta', 6],
      [5, 'gamma', 3],
    ]);
    const beta = checkpoints.files.filter((file) => file.tail?.scope === 'beta').flatMap((file) => file.tail?.keys ?? []);
    expect(beta).toEqual(GROUPS.beta.slice(0, 13).map((sub) => memberKey({ sub, username: `user-${sub}` })));
  });

  it('after a stop mid-group, rebuilds the group’s seen members from the files’ tails and writes none twice', async () => {
    const checkpoints = new MemoryCheckpoints();
    // alpha takes 2 pages; stop after beta's second.
    expect((await walk(checkpoints, { stopAfter: 4 })).status).toBe('paused');
    expect(JSON.parse(checkpoints.state.nextToken ?? '')).toEqual({ g: 1, t: '6' });
    const before = checkpoints.files.length;
    const resumed = await walk(checkpoints);
    expect(resumed.status).toBe('done');
    // The resumed walk's first page repeats beta's member b006, already in a durable file.
    expect(resumed.calls[0]).toBe('beta@6');
    expect(pairs(await records(checkpoints))).toEqual(expected);
    // It read back beta's file, then alpha's, where beta's members end.
    expect(before).toBe(2);
    expect(checkpoints.read).toBe(2);
  });

  it('would write the member on both sides of the checkpoint twice without the tails', async () => {
    const checkpoints = new MemoryCheckpoints();
    await walk(checkpoints, { stopAfter: 4 });
    await walk(checkpoints, { resumeFromTails: false });
    const written = pairs(await records(checkpoints));
    expect(written.filter((pair) => pair === 'beta/b006')).toHaveLength(2);
  });

  it('does not read the files back when it resumes at the start of a group', async () => {
    const checkpoints = new MemoryCheckpoints();
    await walk(checkpoints, { stopAfter: 7 });
    // beta's last page was the 7th: the checkpoint is at gamma's start, in a file that ends in beta.
    expect(JSON.parse(checkpoints.state.nextToken ?? '')).toEqual({ g: 2, t: null });
    checkpoints.read = 0;
    await walk(checkpoints);
    expect(checkpoints.read).toBe(0);
    expect(pairs(await records(checkpoints))).toEqual(expected);
  });
});

describe('tailKeys', () => {
  const file = (seq: number, tail?: { scope: string; keys: string[] }): SealedPart => ({
    key: `part-0-${seq}`,
    url: `file:///part-0-${seq}`,
    records: 1,
    bytes: 1,
    sha256: '',
    location: { kind: 'file', path: `p${seq}` },
    ...(tail ? { tail } : {}),
  });
  async function* lastFirst(files: SealedPart[], read: string[]): AsyncGenerator<SealedPart> {
    for (const f of [...files].reverse()) {
      read.push(f.key);
      yield await Promise.resolve(f);
    }
  }
  async function collect(files: SealedPart[], scope: string): Promise<{ keys: string[]; read: string[] }> {
    const read: string[] = [];
    const keys: string[] = [];
    for await (const key of tailKeys(lastFirst(files, read), scope)) keys.push(key);
    return { keys, read };
  }

  it('takes the tails of the last files while they end in the scope, and reads no further', async () => {
    const files = [file(0, { scope: 'g1', keys: ['x'] }), file(1, { scope: 'g2', keys: ['a'] }), file(2, { scope: 'g2', keys: ['b', 'c'] })];
    expect(await collect(files, 'g2')).toEqual({ keys: ['b', 'c', 'a'], read: ['part-0-2', 'part-0-1', 'part-0-0'] });
  });

  it('finds nothing when the last file ends in another scope (the checkpoint came before any member of it)', async () => {
    const files = [file(0, { scope: 'g1', keys: ['x'] }), file(1, { scope: 'g1', keys: ['y'] })];
    expect(await collect(files, 'g2')).toEqual({ keys: [], read: ['part-0-1'] });
  });

  it('stops at a file without a tail (one written before tails existed)', async () => {
    const files = [file(0, { scope: 'g2', keys: ['x'] }), file(1), file(2, { scope: 'g2', keys: ['y'] })];
    expect(await collect(files, 'g2')).toEqual({ keys: ['y'], read: ['part-0-2', 'part-0-1'] });
  });
});

describe('keyTag', () => {
  it('is a stable 11-character stand-in, different for different keys', () => {
    const tag = keyTag('2fff3f82-a56a-44f5-938b-35761c799c07');
    expect(tag).toMatch(/^[A-Za-z0-9_-]{11}$/);
    expect(keyTag('2fff3f82-a56a-44f5-938b-35761c799c07')).toBe(tag);
    const many = new Set(Array.from({ length: 100_000 }, (_, i) => keyTag(`sub-${i}`)));
    expect(many.size).toBe(100_000);
  });

  it('keys a member by sub, or by its username as written when it has none', () => {
    expect(memberKey({ sub: 's-1', username: 'ignored' })).toBe(keyTag('s-1'));
    expect(memberKey({ sub: null, username: 'alice' })).toBe(keyTag('\u0000alice'));
    expect(memberKey({ sub: null, username: 's-1' })).not.toBe(memberKey({ sub: 's-1', username: 'x' }));
  });
});
