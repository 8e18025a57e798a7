import { startCli, type MeasuredProcess } from './cli-process.js';

/** Counters the emulator's control endpoint returns. */
export interface EmulatorCounters {
  readonly calls: Record<string, number>;
  readonly throttled: Record<string, number>;
  /** The emulated app's ListUsers calls (not in `calls`). */
  readonly app?: { readonly calls: number; readonly throttled: number };
}

/** The emulator in a process of its own, so its memory and CPU are not counted as the workers'. */
export interface EmulatorProcess {
  readonly url: string;
  readonly poolId: string;
  readonly process: MeasuredProcess;
  /** Creates and seeds a pool (with `groups`, also groups and memberships: see the control endpoint). */
  createPool(users: number, seed: number, groups?: { groups: number; bigGroupShare?: number; tailShare?: number }): Promise<string>;
  setFaults(faults: Record<string, unknown>): Promise<void>;
  stats(): Promise<EmulatorCounters>;
  resetStats(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `cognito-export emulator` on a free port with a seeded pool. */
export async function startEmulatorProcess(users: number, flags: readonly string[] = []): Promise<EmulatorProcess> {
  const process = startCli(['emulator', '--port', '0', '--users', String(users), '--seed', '1', '--random-seed', '1', ...flags], {});
  const url = (await process.waitFor(/^url=(\S+)$/m, 'stdout', 300_000))[1] ?? '';
  const poolId = (await process.waitFor(/^user_pool_id=(\S+)$/m))[1] ?? '';
  const control = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${url}/__emulator/${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`emulator ${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  return {
    url,
    poolId,
    process,
    async createPool(count, seed, groups) {
      const created = (await control('POST', 'pools', { name: `bench-${count}`, users: count, seed, ...groups })) as { id: string };
      return created.id;
    },
    async setFaults(faults) {
      await control('PUT', 'config', faults);
    },
    async stats() {
      return (await control('GET', 'stats')) as EmulatorCounters;
    },
    async resetStats() {
      await control('POST', 'stats/reset');
    },
    stop: () => process.stop(),
  };
}
