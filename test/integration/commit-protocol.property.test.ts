import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Job } from 'bullmq';
import fc from 'fast-check';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelRun, type CancelOutcome } from '../../jobs/cancel-run.js';
import { ExportRuntime } from '../../jobs/export-runtime.js';
import { processFinalizeJob } from '../../jobs/finalize-run-job.js';
import type { FinalizeJobData } from '../../jobs/queues.js';
import { requestExport, type RequestedRun } from '../../jobs/request-export.js';
import { repairPoolPointers } from '../../jobs/run-pointers.js';
import { finishPendingWithdrawals } from '../../jobs/run-withdrawal.js';
import { createLogger } from '../../src/ops/logger.js';
import { buildRunSpec } from '../../src/runs/export-request.js';
import { LATEST_POINTER, runLocation, type RunSpec } from '../../src/runs/run-spec.js';
import { isEnded, type RunStatus } from '../../src/runs/run-store.js';
import { commitSeqOf, parsePointer, type Manifest } from '../../src/storage/manifest.js';
import { dataFileKey, latestKey, manifestKey, poolManifestPrefix, runDataPrefix, runStagingPrefix, stagedFileKey, TABLES } from '../../src/storage/output-layout.js';
import { CheckpointStore } from '../../src/walk/checkpoint-store.js';
import type { SealedPart } from '../../src/walk/part-file.js';
import { startHarness, type ExportHarness } from '../support/export-harness.js';
import { MemoryStore, POINTER_KEY, type SchedulingPoint } from '../support/memory-sink.js';

/**
 * DESIGN.md, "The checkpoint rule and the commit" and "The end of a run is a transaction", as a
 * property over interleavings. Each history is a few concurrent actors on one pool and dataset
 * (`latest.json`, keep_last 1), all against real Redis and one in-memory destination:
 *
 * - run A's finalizer, and maybe a second one (a paused worker that comes back: it must be fenced);
 * - maybe a cancel of A; once A has ended, run B (registered then, its finalizer, maybe a second
 *   one, maybe a cancel of B);
 * - maybe a stale write of A's pointer (its text, with the version read before B moved it) that
 *   lands late; a few reconcile ticks (pending withdrawals, then `repairPoolPointers`).
 *
 * Every storage call and every Redis command of an actor awaits a fast-check scheduler task, and
 * the driver releases one task at a time, only once every live actor is waiting on one: one actor
 * runs between two scheduling points, so a seed replays the same history. Any actor may also stall
 * at one of its scheduling points (a GC pause, a partition) for a number of steps, or until
 * everything else is done (`late`).
 *
 * Checked after every history (drained, then one final reconcile):
 * (a) every `latest*.json` names a snapshot whose manifest and every listed file exist (bytes,
 *     sha256); on the store that honours conditions, after every step too;
 * (b) on that store the pointer writes never go back (commit_seq non-decreasing); on both, the
 *     final pointer names the newest completed run;
 * (c) what cancel said is true: `cancelled` ⇒ no data file of the run was ever published, no
 *     manifest of it ever written, no pointer write ever named it, it ends cancelled and withdrawn
 *     (nothing of it left, staged or published); `committing` ⇒ it ends completed;
 * (d) no run is both completed and withdrawn (or pending withdrawal);
 * (e) nothing fails: every run ends completed, or cancelled when a cancel said so;
 * (f) a completed run leaves no staged file behind, and no manifest anywhere lists a missing file
 *     (retention deletes a manifest before its files; a fenced finalizer cannot write one back).
 *
 * The second half of (f) is also checked by a directed history that reproduced the bug it found.
 *
 * `COMMIT_PROPERTY_RUNS=<n>` runs more histories (default 100 per store); `COMMIT_PROPERTY_SEED=<seed>`
 * (and `COMMIT_PROPERTY_PATH=<path>`) replays the one fast-check printed.
 */

const NUM_RUNS = Number(process.env.COMMIT_PROPERTY_RUNS ?? 100);
const REPLAY: fc.Parameters<unknown> = {
  ...(process.env.COMMIT_PROPERTY_SEED ? { seed: Number(process.env.COMMIT_PROPERTY_SEED) } : {}),
  ...(process.env.COMMIT_PROPERTY_PATH ? { path: process.env.COMMIT_PROPERTY_PATH } : {}),
};

/**
 * Found by this property, and fixed: a finalizer that passed its fence check for the manifest, then
 * stalled while another finalizer completed the run and a later run's retention removed the
 * snapshot, wrote the manifest back when it resumed. It now finds itself fenced right after the
 * write and removes a manifest whose files are gone (jobs/finalize-run-job.ts withdrawStaleManifest).
 */
const FENCED_MANIFEST_WRITE_FIXED = true;

let h: ExportHarness;
let histories = 0;

beforeAll(async () => {
  h = await startHarness({ cognitoEndpoint: 'http://127.0.0.1:9', worker: false, env: { LOG_LEVEL: 'silent' } });
});

afterAll(async () => {
  await h?.close();
});

// ---------------------------------------------------------------------------------------------
// The interleaver: fast-check's scheduler, released one task at a time once every actor waits.

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * Where an actor stops for a while (a GC pause, a partition): at its `at`-th scheduling point, right
 * before its `at`-th storage call (e.g. between reading a committed head and reading the pointer),
 * or right before its `at`-th write to the store (after whatever fence check precedes it); for
 * `steps` steps or until nothing else can run (`late`).
 */
interface Stall {
  readonly on: 'any' | 'storage' | 'write';
  readonly at: number;
  readonly late: boolean;
  readonly steps: number;
}

interface ActorState {
  readonly name: string;
  pending: number;
  done: boolean;
  points: number;
  storage: number;
  writes: number;
  gate: { readonly resumeAt: number | 'late'; readonly open: () => void } | undefined;
}

class Interleaver {
  private readonly actors: ActorState[] = [];
  private wake: (() => void) | undefined;
  /** Released tasks so far. */
  steps = 0;
  readonly trace: string[] = [];

  constructor(
    private readonly s: fc.Scheduler,
    private readonly rename: (label: string) => string,
  ) {}

  /** Starts an actor: `work` gets the scheduling point its storage and Redis calls await. */
  spawn<T>(name: string, stall: Stall | null, work: (point: SchedulingPoint) => Promise<T>): Promise<Outcome<T>> {
    const state: ActorState = { name, pending: 0, done: false, points: 0, storage: 0, writes: 0, gate: undefined };
    this.actors.push(state);
    const point: SchedulingPoint = async (label) => {
      state.points++;
      const storage = !label.startsWith('redis ') && label !== 'wait';
      const write = WRITES.test(label);
      if (storage) state.storage++;
      if (write) state.writes++;
      const count = { any: state.points, storage: storage ? state.storage : 0, write: write ? state.writes : 0 };
      if (stall && count[stall.on] === stall.at) {
        await new Promise<void>((open) => {
          state.gate = { resumeAt: stall.late ? 'late' : this.steps + stall.steps, open };
          this.trace.push(`${name}: stalls before ${this.rename(label)} (${stall.late ? 'until the rest is done' : `${stall.steps} steps`})`);
          this.notify();
        });
      }
      state.pending++;
      const released = this.s.schedule(Promise.resolve(), `${name}: ${this.rename(label)}`, undefined, async (trigger) => {
        // Counted as running from the instant it is released, before its continuation runs.
        state.pending--;
        this.trace.push(`${name}: ${this.rename(label)}`);
        await trigger();
      });
      this.notify();
      return released;
    };
    const run = async (): Promise<Outcome<T>> => {
      try {
        return { ok: true, value: await work(point) };
      } catch (error) {
        return { ok: false, error };
      } finally {
        state.done = true;
        this.notify();
      }
    };
    return run();
  }

  /** Lets time pass for an actor: `count` scheduling points that do nothing. */
  static async idle(point: SchedulingPoint, count: number): Promise<void> {
    for (let i = 0; i < count; i++) await point('wait');
  }

  get idleNow(): boolean {
    return this.actors.every((actor) => actor.done);
  }

  /**
   * Releases the next task: waits until every live actor waits (on a task or at a stall), reopens
   * stalls that are due (or, when nothing else can run, the next one), then lets the scheduler pick
   * one pending task. False when every actor is done.
   */
  async step(): Promise<boolean> {
    for (;;) {
      await this.settle();
      const due = this.actors.filter((actor) => actor.gate !== undefined && actor.gate.resumeAt !== 'late' && actor.gate.resumeAt <= this.steps);
      if (due.length > 0) {
        for (const actor of due) this.reopen(actor);
        continue;
      }
      if (this.s.count() > 0) {
        await this.s.waitNext(1);
        this.steps++;
        return true;
      }
      // Nothing can run: time jumps to the next stall's end, then to the late ones, in order.
      const gated = this.actors.filter((actor) => actor.gate !== undefined);
      if (gated.length === 0) return false;
      const timed = gated.filter((actor) => actor.gate?.resumeAt !== 'late').sort((a, b) => Number(a.gate?.resumeAt) - Number(b.gate?.resumeAt));
      this.reopen(timed[0] ?? gated[0]!);
    }
  }

  private reopen(actor: ActorState): void {
    const gate = actor.gate;
    actor.gate = undefined;
    this.trace.push(`${actor.name}: resumes`);
    gate?.open();
  }

  /** Waits until every live actor waits on a task or at a stall (its Redis replies have come back). */
  async settle(): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!this.quiescent()) {
      if (Date.now() > deadline) {
        throw new Error(`stuck: ${this.actors.filter((actor) => !actor.done && actor.pending === 0 && !actor.gate).map((actor) => actor.name).join(', ')} neither ended nor reached a scheduling point in 20 s`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private quiescent(): boolean {
    return this.actors.every((actor) => actor.done || actor.pending > 0 || actor.gate !== undefined);
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** The storage calls that change what the store holds. */
const WRITES = /^(publish|putText|putIfVersion|deleteObjects|sweepStaged|discardStaged) /;

/** Redis commands the product's run, commit and checkpoint stores use: each awaits a scheduling point first. */
const POINTED_COMMANDS = new Set(['eval', 'del', 'hdel', 'hget', 'hgetall', 'hincrby', 'hkeys', 'hset', 'hsetnx', 'smembers']);

/** The shared connection, seen by one actor: its commands wait for the scheduler. */
function pointedRedis<R extends Redis | Cluster>(redis: R, point: SchedulingPoint): R {
  return new Proxy(redis, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const command = value as (...args: unknown[]) => unknown;
      if (typeof property === 'string' && POINTED_COMMANDS.has(property)) {
        return async (...args: unknown[]) => {
          await point(`redis ${property} ${describeCommand(property, args)}`);
          return command.apply(target, args);
        };
      }
      return command.bind(target);
    },
  });
}

/** A short label for a Redis command: the keys and the first arguments (an eval's script is named by what it does). */
function describeCommand(command: string, args: readonly unknown[]): string {
  if (command !== 'eval') return args.map(String).join(' ').slice(0, 120);
  const script = String(args[0]);
  const keys = Number(args[1]);
  const rest = args.slice(2 + keys, 6 + keys).map(String);
  const name = SCRIPT_NAMES.find(([marker]) => script.includes(marker))?.[1] ?? 'script';
  return `${name}(${args.slice(2, 2 + keys).map(String).join(' ')}; ${rest.join(' ')})`.slice(0, 160);
}

const SCRIPT_NAMES: readonly (readonly [string, string])[] = [
  ["HINCRBY', KEYS[2], ARGV[2], 1", 'commitPoint'],
  ["'published_at', ARGV[2]", 'markPublished'],
  ['head.commit_seq', 'advanceHead'],
  ['local mode = ARGV[4]', 'finish'],
  ["'withdrawn_at'", 'markWithdrawn'],
  ["'staged:' .. ARGV[2]", 'recordStaged'],
  ["if current == ARGV[3] then return 1 end", 'checkpointCommit'],
  ["'fin_epoch') ~= ARGV[1] then return 0", 'assertFinalizer'],
];

// ---------------------------------------------------------------------------------------------
// Histories.

interface ActorPlan {
  /** Scheduling points it waits before it starts. */
  readonly delay: number;
  readonly stall: Stall | null;
}

interface History {
  readonly finalizeA: ActorPlan;
  readonly secondFinalizeA: ActorPlan | null;
  readonly cancelA: ActorPlan | null;
  readonly finalizeB: ActorPlan;
  readonly secondFinalizeB: ActorPlan | null;
  readonly cancelB: ActorPlan | null;
  /** Steps after B's registration at which A's stale pointer write lands (null: none). */
  readonly staleWrite: number | null;
  readonly reconciles: readonly { readonly phase: 1 | 2; readonly actor: ActorPlan }[];
}

/** A stall of kind `on` at one of its first `max` such points. */
const stallAt = (on: Stall['on'], max: number): fc.Arbitrary<Stall> =>
  fc.record({ on: fc.constant(on), at: fc.integer({ min: 1, max }), late: fc.boolean(), steps: fc.integer({ min: 1, max: 150 }) });
/** A finalizer or cancel: ~45 scheduling points, ~25 storage calls, ~6 writes. */
const stallArb: fc.Arbitrary<Stall | null> = fc.option(fc.oneof(stallAt('any', 70), stallAt('storage', 30), stallAt('write', 7)), { nil: null, freq: 3 });
/** A reconcile: its storage calls are the pointer's read and its write (the window of a stale repair). */
const reconcileStallArb: fc.Arbitrary<Stall | null> = fc.option(fc.oneof(stallAt('any', 20), stallAt('storage', 2)), { nil: null, freq: 3 });
const actorArb: fc.Arbitrary<ActorPlan> = fc.record({ delay: fc.integer({ min: 0, max: 40 }), stall: stallArb });
const reconcileArb: fc.Arbitrary<ActorPlan> = fc.record({ delay: fc.integer({ min: 0, max: 40 }), stall: reconcileStallArb });
const historyArb: fc.Arbitrary<History> = fc.record({
  finalizeA: actorArb,
  secondFinalizeA: fc.option(actorArb, { nil: null, freq: 3 }),
  cancelA: fc.option(actorArb, { nil: null, freq: 2 }),
  finalizeB: actorArb,
  secondFinalizeB: fc.option(actorArb, { nil: null, freq: 2 }),
  cancelB: fc.option(actorArb, { nil: null, freq: 2 }),
  staleWrite: fc.option(fc.integer({ min: 0, max: 80 }), { nil: null, freq: 3 }),
  reconciles: fc.array(fc.record({ phase: fc.constantFrom<1 | 2>(1, 2), actor: reconcileArb }), { maxLength: 3 }),
});

/** A finalize job as BullMQ hands it over (no change tables: nothing else of the Job is used). */
function finalizeJob(snapshotId: string, attempt: string): Job<FinalizeJobData> {
  return { id: `run-${snapshotId}#${attempt}`, data: { snapshotId }, attemptsMade: 0, opts: { attempts: 1 } } as unknown as Job<FinalizeJobData>;
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Registers a run of the pool's own dataset (`latest.json`), users only, one shard, keep_last 1. */
async function requestRun(pool: string, destination: string, at: Date): Promise<RequestedRun> {
  const spec = buildRunSpec({ trigger: 'cli', userPoolId: pool, destination, shards: 1, groups: false, changes: false, gzip: false, keepLast: 1 }, h.config, at);
  return requestExport(h.runtime, h.queues, spec);
}

/**
 * What the run's shard did before the finalizer: two files staged and checkpointed (the last one
 * `done`), a zombie's copy of a third file recorded but never committed, and a staged file nobody
 * recorded (a writer killed before it could): the finalizer must publish exactly the two.
 */
async function walkRun(store: MemoryStore, spec: RunSpec): Promise<void> {
  await h.runtime.runs.markRunning(spec.snapshotId, 4);
  const checkpoints = new CheckpointStore(h.runtime.redis, h.runtime.keys, spec.snapshotId);
  const claimed = await checkpoints.claim('all');
  const run = runLocation(spec);
  let stored = claimed.stored;
  let records = 0;
  let bytes = 0;
  const files = 2;
  for (let seq = 0; seq < files; seq++) {
    const data = Buffer.from(`{"sub":"${spec.snapshotId}-${seq}-0"}\n{"sub":"${spec.snapshotId}-${seq}-1"}\n`, 'utf8');
    const location = { kind: 'file', path: stagedFileKey(run, 'users', 'all', seq, 'ndjson', `e${claimed.epoch}-${seq}`) } as const;
    await checkpoints.recordStaged('all', claimed.epoch, location);
    store.stage(location.path, data);
    const key = dataFileKey(run, 'all', seq, 'ndjson');
    const part: SealedPart = { key, url: `${store.rootUrl}/${key}`, records: 2, bytes: data.length, sha256: sha256(data), location };
    records += 2;
    bytes += data.length;
    const last = seq === files - 1;
    stored = await checkpoints.commit('all', claimed.epoch, stored, { nextToken: last ? null : `token-${seq}`, fileSeq: seq + 1, records, bytes, walk: 0, done: last }, part, seq);
  }
  const zombie = { kind: 'file', path: stagedFileKey(run, 'users', 'all', files, 'ndjson', 'zombie') } as const;
  await checkpoints.recordStaged('all', claimed.epoch, zombie);
  store.stage(zombie.path, Buffer.from('{"sub":"zombie"}\n'));
  store.stage(stagedFileKey(run, 'users', 'all', 0, 'ndjson', 'unrecorded'), Buffer.from('{"sub":"unrecorded"}\n'));
}

/** What is wrong with the store's pointers of `pool` now (DESIGN.md's invariant), one line each. */
function pointerProblems(store: MemoryStore, pool: string): string[] {
  const problems: string[] = [];
  for (const key of store.keys(poolManifestPrefix(pool)).filter((key) => POINTER_KEY.test(key))) {
    const pointer = parsePointer(store.text(key));
    if (!pointer) {
      problems.push(`${key} does not name a snapshot`);
      continue;
    }
    const issues = manifestProblems(store, pointer.manifest_url, pointer.snapshot_id);
    problems.push(...issues.map((issue) => `${key} names ${pointer.snapshot_id}: ${issue}`));
  }
  return problems;
}

/** What is wrong with a manifest (it exists, names the snapshot, every file it lists exists with its bytes and sha256). */
function manifestProblems(store: MemoryStore, url: string, snapshotId: string): string[] {
  const bytes = store.bytesOfUrl(url);
  if (bytes === undefined) return [`its manifest ${url} does not exist`];
  const manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
  if (manifest.snapshot_id !== snapshotId) return [`its manifest names ${manifest.snapshot_id}`];
  const problems: string[] = [];
  const files = [...manifest.files, ...Object.values(manifest.tables).flatMap((table) => table.files)];
  for (const file of files) {
    const stored = store.bytesOfUrl(file.url);
    if (stored === undefined) problems.push(`${file.url} is missing`);
    else if (stored.length !== file.bytes || sha256(stored) !== file.sha256) problems.push(`${file.url} is not the file the manifest lists`);
  }
  return [...new Set(problems)];
}

const describeOutcome = (outcome: Outcome<unknown> | undefined): string => {
  if (outcome === undefined) return 'not run';
  if (outcome.ok) return typeof outcome.value === 'string' ? outcome.value : (JSON.stringify(outcome.value) ?? 'undefined');
  const error = outcome.error instanceof Error ? outcome.error : new Error(JSON.stringify(outcome.error));
  return `${error.name}: ${error.message}`;
};

/** Counts over a property's histories, printed at the end (how often each branch was reached). */
type Tally = Map<string, number>;
const count = (tally: Tally, key: string): void => {
  tally.set(key, (tally.get(key) ?? 0) + 1);
};

/** Runs one history; throws an Error naming every broken property. */
async function runHistory(s: fc.Scheduler, history: History, conditional: boolean, tally: Tally, checks: { readonly danglingManifests: boolean }): Promise<void> {
  const n = ++histories;
  const pool = `us-east-1_${conditional ? 'C' : 'U'}${n}`;
  const destination = `file:///memory/${pool}`;
  const store = new MemoryStore({ conditional, rootUrl: destination });
  const logLines: string[] = [];
  const log = createLogger('warn', {
    pretty: false,
    destination: new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logLines.push(chunk.toString('utf8').trim());
        callback();
      },
    }),
  });
  const names = new Map<string, string>([[h.prefix, '']]);
  const rename = (label: string): string => {
    let text = label;
    for (const [from, to] of names) text = text.split(from).join(to);
    return text;
  };
  const il = new Interleaver(s, rename);
  const runtimeOf = (name: string, point: SchedulingPoint): ExportRuntime => {
    const runtime = new ExportRuntime(h.config, pointedRedis(h.runtime.redis, point), log);
    runtime.sink = () => store.sink(name, point);
    return runtime;
  };

  await h.runtime.runs.setPoolDatasets(new Map([[pool, { attributes: null, groups: false }]]));
  const base = Date.now();
  const a = await requestRun(pool, destination, new Date(base));
  if (!a.created || a.spec.pointer !== LATEST_POINTER) throw new Error(`run A was not registered as the pool's own dataset: ${JSON.stringify(a)}`);
  names.set(a.snapshotId, 'A');
  await walkRun(store, a.spec);

  const outcomes = new Map<string, Promise<Outcome<unknown>>>();
  const finalize = (name: string, spec: RunSpec, plan: ActorPlan): void => {
    outcomes.set(name, il.spawn(name, plan.stall, async (point) => {
      await Interleaver.idle(point, plan.delay);
      return processFinalizeJob(runtimeOf(name, point), h.queues, finalizeJob(spec.snapshotId, name), undefined);
    }));
  };
  const cancel = (name: string, spec: RunSpec, plan: ActorPlan): void => {
    outcomes.set(name, il.spawn(name, plan.stall, async (point) => {
      await Interleaver.idle(point, plan.delay);
      return cancelRun(runtimeOf(name, point), spec.snapshotId);
    }));
  };
  const reconcile = (name: string, plan: ActorPlan): void => {
    outcomes.set(name, il.spawn(name, plan.stall, async (point) => {
      await Interleaver.idle(point, plan.delay);
      const runtime = runtimeOf(name, point);
      await finishPendingWithdrawals(runtime, pool);
      await repairPoolPointers(runtime, pool);
      return 'reconciled';
    }));
  };

  finalize('finalize A#1', a.spec, history.finalizeA);
  if (history.secondFinalizeA) finalize('finalize A#2', a.spec, history.secondFinalizeA);
  if (history.cancelA) cancel('cancel A', a.spec, history.cancelA);
  history.reconciles.forEach((entry, i) => entry.phase === 1 && reconcile(`reconcile #${i + 1}`, entry.actor));

  const violations: string[] = [];
  let b: RequestedRun | undefined;
  const pointer = latestKey(pool);
  for (;;) {
    await il.settle();
    if (conditional) {
      // (a) on a store that honours conditions the invariant holds at every instant, not only at the end.
      const problems = pointerProblems(store, pool);
      if (problems.length > 0) {
        violations.push(`(a) after step ${il.steps}: ${problems.join('; ')}`);
        break;
      }
    }
    if (b === undefined && isEnded(await h.runtime.runs.state(a.snapshotId))) {
      // Phase 2: A has ended; B is registered (same pool and dataset) with its actors.
      b = await requestRun(pool, destination, new Date(base + 1000));
      if (!b.created || b.snapshotId === a.snapshotId) {
        violations.push(`run B could not be registered once A had ended: ${JSON.stringify({ created: b.created, active: b.snapshotId })}`);
        break;
      }
      names.set(b.snapshotId, 'B');
      await walkRun(store, b.spec);
      finalize('finalize B#1', b.spec, history.finalizeB);
      if (history.secondFinalizeB) finalize('finalize B#2', b.spec, history.secondFinalizeB);
      if (history.cancelB) cancel('cancel B', b.spec, history.cancelB);
      history.reconciles.forEach((entry, i) => entry.phase === 2 && reconcile(`reconcile #${i + 1}`, entry.actor));
      // A's pointer as a writer read it before B moved it (its text and version), written late.
      const read = store.objects.get(pointer);
      const text = read?.bytes.toString('utf8');
      if (history.staleWrite !== null && read !== undefined && parsePointer(text)?.snapshot_id === a.snapshotId) {
        const delay = history.staleWrite;
        outcomes.set('stale write', il.spawn('stale write', null, async (point) => {
          await Interleaver.idle(point, delay);
          return store.sink('stale write', point).putIfVersion(pointer, text ?? '', 'application/json', read.version);
        }));
      }
      continue;
    }
    if (!(await il.step())) {
      if (b !== undefined) break;
      if (!isEnded(await h.runtime.runs.state(a.snapshotId))) {
        violations.push('(e) run A neither completed nor ended once every actor had stopped');
        break;
      }
    }
    if (il.steps > 20_000) {
      violations.push('the history did not end within 20000 steps');
      break;
    }
  }
  // Anything still stalled (a violation cut the history short) is let go, unscheduled.
  while (!il.idleNow && (await il.step().catch(() => false)));

  // One final reconcile by a worker on its own (no scheduler).
  const final = new ExportRuntime(h.config, h.runtime.redis, log);
  final.sink = () => store.sink('final reconcile');
  await finishPendingWithdrawals(final, pool);
  await repairPoolPointers(final, pool);

  const results = new Map<string, Outcome<unknown>>();
  for (const [name, outcome] of outcomes) results.set(name, await outcome);
  const runs = [a, ...(b ? [b] : [])].map((run) => ({ name: names.get(run.snapshotId) ?? run.snapshotId, spec: run.spec }));
  const statuses = new Map<string, RunStatus | undefined>();
  for (const run of runs) statuses.set(run.name, await h.runtime.runs.status(run.spec.snapshotId));

  // (a) at the end, on both stores.
  for (const problem of pointerProblems(store, pool)) violations.push(`(a) at the end: ${problem}`);

  // (b) pointer writes never go back (conditional store); the final pointer is the newest completed run.
  const writes = store.pointerWrites().filter((write) => write.key === pointer);
  if (conditional) {
    for (let i = 1; i < writes.length; i++) {
      const before = commitSeqOf(parsePointer(writes[i - 1]?.text) ?? {});
      const after = commitSeqOf(parsePointer(writes[i]?.text) ?? {});
      if (after < before) violations.push(`(b) pointer write #${writes[i]?.n} by ${writes[i]?.by} went back from commit_seq ${before} to ${after}`);
    }
  }
  const completed = runs
    .map((run) => ({ ...run, status: statuses.get(run.name) }))
    .filter((run) => run.status?.state === 'completed')
    .sort((x, y) => (y.status?.commitSeq ?? 0) - (x.status?.commitSeq ?? 0));
  const finalPointer = parsePointer(store.text(pointer));
  const newest = completed[0];
  if ((finalPointer?.snapshot_id ?? null) !== (newest?.spec.snapshotId ?? null)) {
    violations.push(`(b) the final pointer names ${finalPointer ? rename(finalPointer.snapshot_id) : 'nothing'}, the newest completed run is ${newest?.name ?? 'none'}`);
  }

  // (c) what cancel said is true; (d) nothing completed is withdrawn; (e) nothing failed.
  for (const run of runs) {
    const status = statuses.get(run.name);
    const said = results.get(`cancel ${run.name}`);
    const answer = said?.ok ? (said.value as CancelOutcome).kind : said ? 'threw' : 'none';
    count(tally, `cancel ${run.name}: ${answer}`);
    const id = run.spec.snapshotId;
    const location = runLocation(run.spec);
    if (answer === 'threw' || answer === 'unknown') violations.push(`(c) cancel ${run.name}: ${describeOutcome(said)}`);
    if (answer === 'cancelled') {
      if (store.log.some((write) => write.key === manifestKey(location) && write.op !== 'delete')) violations.push(`(c) ${run.name} was cancelled, yet its manifest was written`);
      const published = store.log.filter((write) => write.op === 'publish' && TABLES.some((table) => write.key.startsWith(runDataPrefix(location, table))));
      if (published.length > 0) violations.push(`(c) ${run.name} was cancelled, yet ${published.map((write) => `${write.by} published ${write.key}`).join(', ')}`);
      if (writes.some((write) => parsePointer(write.text)?.snapshot_id === id)) violations.push(`(c) ${run.name} was cancelled, yet a pointer write named it`);
      if (status?.state !== 'cancelled') violations.push(`(c) cancel said ${run.name} was cancelled; it is ${status?.state}`);
      if (!status?.withdrawn || status.withdrawalPending) violations.push(`(c) ${run.name} was cancelled; after a reconcile its withdrawal is not done`);
      const left = [...TABLES.flatMap((table) => store.keys(runDataPrefix(location, table))), ...store.keys(manifestKey(location))];
      const staged = [...store.staged.keys()].filter((path) => path.startsWith(runStagingPrefix(location)));
      if (left.length + staged.length > 0) violations.push(`(c) ${run.name} was cancelled, yet the store holds ${[...left, ...staged].join(', ')}`);
    }
    if (answer === 'committing' && status?.state !== 'completed') violations.push(`(c) cancel said ${run.name} was committing; it ended ${status?.state}`);
    if (answer === 'ended' && !isEnded(status?.state)) violations.push(`(c) cancel said ${run.name} had ended; it is ${status?.state}`);
    if (status?.state === 'completed' && (status.withdrawn || status.withdrawalPending)) violations.push(`(d) ${run.name} is completed and ${status.withdrawn ? 'withdrawn' : 'pending withdrawal'}`);
    const expected = answer === 'cancelled' ? 'cancelled' : 'completed';
    if (status?.state !== expected) violations.push(`(e) ${run.name} ended ${status?.state} (${status?.error ?? 'no error'}), expected ${expected}`);
    count(tally, `${run.name} ${status?.state}`);
    // (f) a completed run leaves no staged file.
    if (status?.state === 'completed') {
      const staged = [...store.staged.keys()].filter((path) => path.startsWith(runStagingPrefix(location)));
      if (staged.length > 0) violations.push(`(f) ${run.name} completed, yet staged files are left: ${staged.join(', ')}`);
    }
  }
  // (f) no manifest lists a missing file.
  for (const key of checks.danglingManifests ? store.keys(poolManifestPrefix(pool)).filter((key) => !POINTER_KEY.test(key)) : []) {
    const snapshotId = /run=([^/]+)\.json$/.exec(key)?.[1] ?? '';
    for (const problem of manifestProblems(store, `${store.rootUrl}/${key}`, snapshotId)) {
      const by = store.log.filter((write) => write.key === key && write.op === 'put').map((write) => `#${write.n} by ${write.by}`);
      violations.push(`(f) the manifest of ${rename(snapshotId)} (written ${by.join(', ')}): ${problem}`);
    }
  }
  if (store.pointerWrites().some((write) => write.by === 'stale write')) count(tally, 'stale write landed');
  if (writes.some((write, i) => i > 0 && commitSeqOf(parsePointer(write.text) ?? {}) < commitSeqOf(parsePointer(writes[i - 1]?.text) ?? {}))) count(tally, 'the pointer went back (then was repaired)');
  for (const [name, outcome] of results) {
    if (!name.startsWith('finalize')) continue;
    const error = outcome.ok ? undefined : outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error));
    const value: unknown = outcome.ok ? outcome.value : undefined;
    const said = typeof value === 'string' ? `said: ${value.replace(/run \S+/g, 'run X').slice(0, 40)}` : 'completed the run';
    count(tally, `finalizer ${error ? `${error.name}: ${error.message.replace(/run \S+/g, 'run X').slice(0, 60)}` : said}`);
  }

  if (violations.length > 0) {
    const report = [
      `history ${n} (${conditional ? 'conditional' : 'unconditional'} store), pool ${pool}:`,
      ...violations.map((violation) => `  ✗ ${rename(violation)}`),
      'outcomes:',
      ...[...results].map(([name, outcome]) => `  ${name}: ${rename(describeOutcome(outcome))}`),
      'states:',
      ...runs.map((run) => `  ${run.name}: ${statuses.get(run.name)?.state} seq=${statuses.get(run.name)?.commitSeq}`),
      'pointer writes:',
      ...writes.map((write) => `  #${write.n} ${write.by}: ${rename(parsePointer(write.text)?.snapshot_id ?? '?')} seq=${commitSeqOf(parsePointer(write.text) ?? {})}`),
      `last steps (${il.steps} in all):`,
      ...il.trace.slice(-60).map((line) => `  ${line}`),
      'log:',
      ...logLines.slice(-15).map((line) => `  ${rename(line).slice(0, 300)}`),
    ];
    throw new Error(report.join('\n'));
  }
}

describe('the end of a run is a transaction, over interleavings (fast-check scheduler)', () => {
  for (const conditional of [true, false]) {
    const store = conditional ? 'a store that honours conditional writes' : 'a store that ignores conditions (like s3rver)';
    it(`finalize, a fenced second finalizer, cancel, a later run, a stale pointer write and reconciles, on ${store}`, async () => {
      const tally: Tally = new Map();
      await fc.assert(
        fc.asyncProperty(historyArb, fc.scheduler(), async (history, s) => {
          await runHistory(s, history, conditional, tally, { danglingManifests: FENCED_MANIFEST_WRITE_FIXED });
        }),
        { numRuns: NUM_RUNS, ...REPLAY },
      );
      console.log(`${store}: ${[...tally].sort().map(([key, value]) => `${key}: ${value}`).join(', ')}`);
      expect(tally.size).toBeGreaterThan(0);
    }, 300_000);
  }

  // The counterexample the property finds with the check on (with FENCED_MANIFEST_WRITE_FIXED = true,
  // COMMIT_PROPERTY_RUNS=1000 COMMIT_PROPERTY_SEED=1268442256 fails at the 805th history on the
  // conditional store, seed 1637417682 at the 563rd on the other), as a history that needs no luck:
  // A#1 waits until A#2 stalls right before its manifest write (its 4th write, after its fence
  // check); A#1 then takes the run over and completes it; B completes and its retention
  // (keep_last 1) removes A; A#2 comes back, writes the manifest, and only then is fenced.
  it('a finalizer that lost its run does not write its manifest back after retention removed the snapshot (found by the property, fixed)', async () => {
    const history: History = {
      finalizeA: { delay: 0, stall: { on: 'any', at: 1, late: true, steps: 1 } },
      secondFinalizeA: { delay: 0, stall: { on: 'write', at: 4, late: true, steps: 1 } },
      cancelA: null,
      finalizeB: { delay: 0, stall: null },
      secondFinalizeB: null,
      cancelB: null,
      staleWrite: null,
      reconciles: [],
    };
    for (const conditional of [true, false]) {
      const [s] = fc.sample(fc.scheduler(), { numRuns: 1, seed: 1 });
      if (!s) throw new Error('no scheduler');
      const replay = runHistory(s, history, conditional, new Map(), { danglingManifests: true });
      if (FENCED_MANIFEST_WRITE_FIXED) await replay;
      else await expect(replay).rejects.toThrow(/\(f\) the manifest of A \(written #\d+ by finalize A#1, #\d+ by finalize A#2\): .* is missing/);
    }
  }, 60_000);
});
