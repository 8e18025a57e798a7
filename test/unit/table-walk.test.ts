import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FencedError } from '../../src/limits/export-errors.js';
import { FileSink, STAGING_FOLDER } from '../../src/storage/file-sink.js';
import type { StagedLocation } from '../../src/storage/object-sink.js';
import type { RunLocation } from '../../src/storage/output-layout.js';
import { INITIAL_CHECKPOINT, type ClaimedShard, type ShardCheckpoint, type ShardCheckpoints } from '../../src/walk/checkpoint-store.js';
import type { SealedPart } from '../../src/walk/part-file.js';
import type { TablePage, TableSource } from '../../src/walk/table-source.js';
import { walkShard, type ShardWalkContext } from '../../src/walk/table-walk.js';

/** A made-up table: colours, two pages of them, each mapped to a record with its hex code. */
interface Colour {
  readonly name: string;
  readonly hex: string;
}

const PAGES: Record<string, TablePage<Colour>> = {
  start: { items: [{ name: 'red', hex: 'f00' }, { name: 'green', hex: '0f0' }, { name: 'blue', hex: '00f' }], next: 'page-2' },
  'page-2': { items: [{ name: 'cyan', hex: '0ff' }, { name: 'black', hex: '000' }], next: undefined },
};

/** The colours source, remembering which cursors it was asked for. */
function coloursSource(asked: (string | undefined)[]): TableSource<Colour, { colour: string; hex: string; table: string }> {
  return {
    table: 'colours',
    async *pages(cursor) {
      let at: string | undefined = cursor ?? 'start';
      while (at !== undefined) {
        asked.push(at);
        // A page arrives later, as from a service.
        const page: TablePage<Colour> = await Promise.resolve(PAGES[at] ?? { items: [], next: undefined });
        yield page;
        at = page.next;
      }
    },
    toRecord: (item) => ({ colour: item.name, hex: `#${item.hex}`, table: 'colours' }),
  };
}

/** Checkpoints in memory, fenced like the Redis store, recording every commit. */
class MemoryCheckpoints implements ShardCheckpoints {
  epoch = 0;
  state: ShardCheckpoint = INITIAL_CHECKPOINT;
  readonly commits: { checkpoint: ShardCheckpoint; file: SealedPart | null; seq: number }[] = [];
  readonly staged: StagedLocation[] = [];

  claim(): Promise<ClaimedShard> {
    this.epoch += 1;
    return Promise.resolve({ epoch: this.epoch, checkpoint: this.state, stored: JSON.stringify(this.state) });
  }
  recordStaged(_shard: string, epoch: number, location: StagedLocation): Promise<void> {
    this.fence(epoch);
    this.staged.push(location);
    return Promise.resolve();
  }
  assertOwner(_shard: string, epoch: number): Promise<void> {
    this.fence(epoch);
    return Promise.resolve();
  }
  commit(_shard: string, epoch: number, stored: string, checkpoint: ShardCheckpoint, file: SealedPart | null, seq: number): Promise<string> {
    this.fence(epoch);
    if (stored !== JSON.stringify(this.state)) throw new Error('commit does not follow the stored state');
    this.state = checkpoint;
    this.commits.push({ checkpoint, file, seq });
    return Promise.resolve(JSON.stringify(checkpoint));
  }
  restart(_shard: string, epoch: number): Promise<{ checkpoint: ShardCheckpoint; stored: string }> {
    this.fence(epoch);
    this.state = { ...INITIAL_CHECKPOINT, walk: this.state.walk + 1 };
    return Promise.resolve({ checkpoint: this.state, stored: JSON.stringify(this.state) });
  }
  private fence(epoch: number): void {
    if (epoch !== this.epoch) throw new FencedError('another worker owns the shard');
  }
}

const run: RunLocation = { userPoolId: 'us-east-1_Test', snapshotId: '20261201T000000000Z-abcdef', startedAt: new Date('2026-12-01T00:00:00Z') };
const folder = 'colours/user_pool_id=us-east-1_Test/dt=2026-12-01/run=20261201T000000000Z-abcdef';
let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'ce-walk-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

function context(checkpoints: MemoryCheckpoints, asked: (string | undefined)[], stop = new AbortController().signal): ShardWalkContext<Colour, object> {
  return {
    source: coloursSource(asked),
    shard: 'all',
    run,
    files: { gzip: false, gzipLevel: 6, maxRecords: 3 },
    sink: new FileSink(directory),
    checkpoints,
    progress: { page: () => Promise.resolve(), fileDone: () => undefined },
    stop,
    log: pino({ level: 'silent' }),
  };
}

/** The records of a committed (staged) file. */
async function lines(file: SealedPart | null | undefined): Promise<unknown[]> {
  if (file?.location.kind !== 'file') throw new Error(`not a staged file: ${JSON.stringify(file)}`);
  const text = await readFile(join(directory, STAGING_FOLDER, file.location.path), 'utf8');
  return text.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown);
}

/** Nothing the walk writes is where readers look: only the finalizer publishes. */
async function expectNothingPublished(): Promise<void> {
  expect(await readdir(directory)).toEqual([STAGING_FOLDER]);
}

describe('the table walk', () => {
  it('walks any table: a made-up two-page source becomes its own files, checkpoints and records', async () => {
    const checkpoints = new MemoryCheckpoints();
    const asked: (string | undefined)[] = [];
    const outcome = await walkShard(context(checkpoints, asked));

    expect(outcome).toEqual({ status: 'done', records: 5, files: 2 });
    expect(asked).toEqual(['start', 'page-2']);
    // Files are staged, sealed at maxRecords (3), one per page here, named for the source's table.
    const [first, second] = checkpoints.commits.map((c) => c.file);
    expect(first?.key).toBe(`${folder}/part-all-00000.ndjson`);
    expect(second?.key).toBe(`${folder}/part-all-00001.ndjson`);
    expect(first?.location.kind).toBe('file');
    expect(first?.location.kind === 'file' ? first.location.path : '').toMatch(/^user_pool_id=us-east-1_Test\/run=20261201T000000000Z-abcdef\/colours\/part-all-00000\.e1-[0-9a-f]{6}\.ndjson$/);
    expect(await lines(first)).toEqual([
      { colour: 'red', hex: '#f00', table: 'colours' },
      { colour: 'green', hex: '#0f0', table: 'colours' },
      { colour: 'blue', hex: '#00f', table: 'colours' },
    ]);
    expect(await lines(second)).toEqual([
      { colour: 'cyan', hex: '#0ff', table: 'colours' },
      { colour: 'black', hex: '#000', table: 'colours' },
    ]);
    // Each checkpoint moved only with a durable file, and holds the cursor of the first page not in one.
    expect(checkpoints.commits.map((c) => [c.checkpoint.nextToken, c.checkpoint.fileSeq, c.checkpoint.records, c.checkpoint.done, c.seq, c.file?.records])).toEqual([
      ['page-2', 1, 3, false, 0, 3],
      [null, 2, 5, true, 1, 2],
    ]);
    // Every staged file was recorded before its data landed.
    expect(checkpoints.staged).toEqual([first?.location, second?.location]);
    await expectNothingPublished();
  });

  it('resumes from the checkpointed cursor and writes only the files after it', async () => {
    const checkpoints = new MemoryCheckpoints();
    checkpoints.state = { ...INITIAL_CHECKPOINT, nextToken: 'page-2', fileSeq: 1, records: 3, bytes: 100 };
    const asked: (string | undefined)[] = [];
    const outcome = await walkShard(context(checkpoints, asked));

    expect(outcome).toEqual({ status: 'done', records: 5, files: 2 });
    expect(asked).toEqual(['page-2']);
    expect(checkpoints.commits).toHaveLength(1);
    expect(checkpoints.commits[0]?.file?.key).toBe(`${folder}/part-all-00001.ndjson`);
    expect(await lines(checkpoints.commits[0]?.file)).toHaveLength(2);
    expect(checkpoints.commits[0]?.checkpoint).toMatchObject({ nextToken: null, fileSeq: 2, records: 5, done: true });
  });

  it('on stop, seals the open file and checkpoints its cursor without finishing the shard', async () => {
    const checkpoints = new MemoryCheckpoints();
    const stop = new AbortController();
    const walk = context(checkpoints, []);
    // Stop as soon as the first page has been appended.
    const outcome = await walkShard({ ...walk, files: { ...walk.files, maxRecords: 100 }, stop: stop.signal, progress: { page: () => Promise.resolve(stop.abort()), fileDone: () => undefined } });

    expect(outcome).toEqual({ status: 'paused', records: 3 });
    expect(checkpoints.state).toMatchObject({ nextToken: 'page-2', fileSeq: 1, records: 3, done: false });
    expect(await lines(checkpoints.commits[0]?.file)).toHaveLength(3);
    await expectNothingPublished();
  });
});
