import { describe, expect, it } from 'vitest';
import { withRetries, type RetryEvent } from '../../src/limits/retry-policy.js';

const aws = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
const noDelay = { random: () => 0 };

/** A call that fails with the given errors in order, then returns 'ok'. */
function failing(...errors: Error[]) {
  let calls = 0;
  const call = () => {
    const error = errors[calls++];
    return error ? Promise.reject(error) : Promise.resolve('ok');
  };
  return { call, calls: () => calls };
}

describe('withRetries', () => {
  it('waits out any number of throttles without using up transient retries', async () => {
    const f = failing(...Array.from({ length: 25 }, () => aws('TooManyRequestsException', 400)));
    const events: RetryEvent[] = [];
    await expect(withRetries(f.call, { policy: { ...noDelay, transientRetries: 2 }, onRetry: (e) => void events.push(e) })).resolves.toBe('ok');
    expect(f.calls()).toBe(26);
    expect(events.every((e) => e.errorClass === 'throttled')).toBe(true);
    expect(events.at(-1)?.attempt).toBe(25);
  });

  it('gives up on transient errors after the bound and passes the last error up', async () => {
    const f = failing(aws('InternalErrorException', 500), aws('InternalErrorException', 500), aws('InternalErrorException', 500));
    await expect(withRetries(f.call, { policy: { ...noDelay, transientRetries: 2 } })).rejects.toThrow('InternalErrorException');
    expect(f.calls()).toBe(3);
  });

  it('still waits out throttles after the transient budget is spent', async () => {
    const f = failing(aws('InternalErrorException', 500), aws('InternalErrorException', 500), ...Array.from({ length: 10 }, () => aws('TooManyRequestsException', 400)));
    await expect(withRetries(f.call, { policy: { ...noDelay, transientRetries: 2 } })).resolves.toBe('ok');
    expect(f.calls()).toBe(13);
  });

  it('does not retry a fatal error', async () => {
    const f = failing(aws('ResourceNotFoundException', 400));
    await expect(withRetries(f.call, { policy: noDelay })).rejects.toThrow('ResourceNotFoundException');
    expect(f.calls()).toBe(1);
  });

  it('backs off with the throttle curve, growing with each consecutive throttle', async () => {
    const f = failing(aws('TooManyRequestsException', 400), aws('TooManyRequestsException', 400), aws('TooManyRequestsException', 400));
    const delays: number[] = [];
    const policy = { random: () => 0.5, throttleBackoff: { baseMs: 2, capMs: 6 } };
    await withRetries(f.call, { policy, onRetry: (e) => void delays.push(e.delayMs) });
    expect(delays).toEqual([1, 2, 3]);
  });

  it('stops waiting when the signal aborts', async () => {
    const controller = new AbortController();
    const f = failing(aws('TooManyRequestsException', 400));
    const policy = { random: () => 0.999, throttleBackoff: { baseMs: 60_000, capMs: 60_000 } };
    const pending = withRetries(f.call, { policy, signal: controller.signal, onRetry: () => controller.abort(new Error('shutdown')) });
    await expect(pending).rejects.toThrow('shutdown');
    expect(f.calls()).toBe(1);
  });
});

describe('withRetries and a call in flight when the signal aborts', () => {
  it('returns the result that arrived instead of throwing it away', async () => {
    const controller = new AbortController();
    const call = async () => {
      controller.abort(new Error('shutdown'));
      await Promise.resolve();
      return 'page';
    };
    await expect(withRetries(call, { signal: controller.signal })).resolves.toBe('page');
  });

  it('does not retry a call that failed after the abort', async () => {
    const controller = new AbortController();
    let calls = 0;
    const call = () => {
      calls++;
      controller.abort(new Error('shutdown'));
      return Promise.reject(aws('InternalErrorException', 500));
    };
    await expect(withRetries(call, { signal: controller.signal, policy: noDelay })).rejects.toThrow('shutdown');
    expect(calls).toBe(1);
  });
});
