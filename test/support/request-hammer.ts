/** What a hammering came to. */
export interface Tally {
  accepted: number;
  /** Answered `TooManyRequestsException: Rate exceeded`. */
  throttled: number;
  /** Any other failure, as `name: message`. */
  other: string[];
  /** Accepted calls per second over the run. */
  rate: number;
}

/**
 * Calls `send(i)` from `workers` concurrent loops for `ms` milliseconds (i counts up across the
 * loops), tallying accepted, throttled and other answers: the load a quota test measures.
 */
export async function hammer(ms: number, send: (i: number) => Promise<unknown>, workers = 6): Promise<Tally> {
  const tally = { accepted: 0, throttled: 0, other: [] as string[] };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = worker; performance.now() < started + ms; i += workers) {
        try {
          await send(i);
          tally.accepted++;
        } catch (error) {
          const e = error as Error;
          if (e.name === 'TooManyRequestsException' && e.message === 'Rate exceeded') tally.throttled++;
          else tally.other.push(`${e.name}: ${e.message}`);
        }
      }
    }),
  );
  return { ...tally, rate: tally.accepted / ((performance.now() - started) / 1000) };
}
