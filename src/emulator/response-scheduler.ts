import type { IncomingMessage } from 'node:http';

/**
 * Holds each API answer back for the configured latency, and drops every answer still waiting when
 * the emulator stops (their sockets are destroyed, as a server that went away would leave them).
 */
export class ResponseScheduler {
  readonly #pending = new Set<NodeJS.Timeout>();
  readonly #delayMs: () => number;
  #stopped = false;

  /** @param delayMs the delay before the next answer (drawn per answer: latency plus jitter). */
  constructor(delayMs: () => number) {
    this.#delayMs = delayMs;
  }

  /** Runs `deliver` after the delay; once stopped, destroys the request's socket instead. */
  later(request: IncomingMessage, deliver: () => void): void {
    if (this.#stopped) {
      request.socket.destroy();
      return;
    }
    const delay = this.#delayMs();
    if (delay <= 0) {
      deliver();
      return;
    }
    const timer = setTimeout(() => {
      this.#pending.delete(timer);
      deliver();
    }, delay);
    this.#pending.add(timer);
  }

  /** Cancels every answer still waiting; later calls only destroy sockets. */
  stop(): void {
    this.#stopped = true;
    for (const timer of this.#pending) clearTimeout(timer);
    this.#pending.clear();
  }
}
