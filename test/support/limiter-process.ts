import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The built limiter (`npm test` builds it first). */
const LIMITER = fileURLToPath(new URL('../../dist/src/limits/rate-limiter.js', import.meta.url));

/** What one process does with the shared bucket. */
export interface LimiterProcessPlan {
  readonly redisUrl: string;
  readonly key: string;
  readonly flow: string;
  readonly ratePerSecond: number;
  /** Callers acquiring in a loop, as shards do. */
  readonly callers: number;
  /** When all processes start (Date.now() on this machine), and for how long they acquire. */
  readonly startAt: number;
  readonly durationMs: number;
  /** Reports a throttle this long after the start. */
  readonly throttleAtMs?: number;
}

// The child: acquires with `callers` loops from `startAt` for `durationMs`, then prints the grant
// times (ms after `startAt`) as JSON.
const CHILD = `
const { Redis } = await import('ioredis');
const { RedisRateLimiter } = await import(process.env.LIMITER_MODULE);
const plan = JSON.parse(process.env.LIMITER_PLAN);
const redis = new Redis(plan.redisUrl);
const limiter = new RedisRateLimiter(redis, plan.key, { ratePerSecond: plan.ratePerSecond }).forFlow(plan.flow);
await new Promise((resolve) => setTimeout(resolve, Math.max(0, plan.startAt - Date.now())));
const grants = [];
if (plan.throttleAtMs !== undefined) setTimeout(() => void limiter.reportThrottle(), plan.throttleAtMs);
await Promise.all(Array.from({ length: plan.callers }, async () => {
  for (;;) {
    await limiter.acquire();
    const t = Date.now() - plan.startAt;
    if (t >= plan.durationMs) return;
    grants.push(t);
  }
}));
redis.disconnect();
process.stdout.write(JSON.stringify(grants));
`;

/** Runs one plan in a Node process of its own; resolves with its grant times (ms after the start). */
export async function runLimiterProcess(plan: LimiterProcessPlan): Promise<number[]> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    // Resolve ioredis from the project, as the built module does.
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: { PATH: process.env.PATH ?? '', LIMITER_MODULE: LIMITER, LIMITER_PLAN: JSON.stringify(plan) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`limiter process exited with ${code}: ${err.slice(-500)}`);
  return JSON.parse(out) as number[];
}
