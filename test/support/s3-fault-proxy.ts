import { once } from 'node:events';
import { createServer, request as forward, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the proxy sees it, for choosing what to do with it. */
export interface ProxiedRequest {
  readonly method: string;
  /** Path and query, e.g. `/exports/users/…?uploadId=…`. */
  readonly url: string;
}

/** What to inject; every rate is a probability per matching request. */
export interface S3Faults {
  /** Share of writes (PUT, POST, DELETE) answered 503 SlowDown without reaching the server. @default 0 */
  slowDownRate?: number;
  /** Share of writes answered 500 InternalError without reaching the server. @default 0 */
  internalErrorRate?: number;
  /**
   * How many CompleteMultipartUpload requests to forward and then drop the answer of (the upload
   * completes on the server; the client sees a reset connection). @default 0
   */
  dropCompleteResponses?: number;
  /** Requests answered 403 AccessDenied without reaching the server, e.g. every PUT of latest.json. @default none */
  deny?: ((request: ProxiedRequest) => boolean) | null;
  /**
   * Requests answered with an S3 error of the test's choosing without reaching the server (e.g. 404
   * NoSuchUpload for an upload a lifecycle rule aborted); undefined lets a request through. @default none
   */
  respond?: ((request: ProxiedRequest) => { status: number; code: string; message: string } | undefined) | null;
  /**
   * Share of reads (GET, HEAD: objects, listings, the bucket) answered 503 SlowDown without reaching
   * the server (a HEAD's answer without a body, as S3's). @default 0
   */
  readSlowDownRate?: number;
  /** Share of reads whose connection is reset before any answer, without reaching the server. @default 0 */
  readResetRate?: number;
  /**
   * How many GetObject answers (status 200, a body of 2 bytes or more) to cut mid-body: the status,
   * the headers (with the whole Content-Length) and the first half of the body go out, then the
   * connection is reset. @default 0
   */
  readBodyResets?: number;
  /** Which reads SlowDown and resets may hit. @default every read */
  readFaultsOn?: ((request: ProxiedRequest) => boolean) | null;
  /** Which GetObjects may be cut mid-body. @default every GetObject */
  readBodyResetsOn?: ((request: ProxiedRequest) => boolean) | null;
}

/** A held set of requests: they wait until `open()`. */
export interface Gate {
  /** Resolves when the first matching request is being held. */
  readonly reached: Promise<void>;
  open(): void;
}

/** Counters of what went through. */
export interface ProxyStats {
  /** Requests by `METHOD kind`, e.g. `PUT part`, `POST complete`, `GET object`. */
  readonly requests: Record<string, number>;
  readonly slowDowns: number;
  readonly internalErrors: number;
  readonly droppedCompletes: number;
  /** Reads answered SlowDown, reset before an answer, and cut mid-body, by `METHOD kind`. */
  readonly readSlowDowns: Record<string, number>;
  readonly readResets: Record<string, number>;
  readonly readBodyResets: Record<string, number>;
  /** GETs with a Range header (a reader resuming a body that was cut). */
  readonly rangedGets: number;
}

/** A small HTTP proxy in front of the S3 test server that can hold, fail or drop requests. */
export interface S3FaultProxy {
  readonly endpoint: string;
  setFaults(faults: S3Faults): void;
  /** Holds every request `matches` accepts from now on until the gate opens. */
  hold(matches: (request: ProxiedRequest) => boolean): Gate;
  stats(): ProxyStats;
  stop(): Promise<void>;
}

const XML = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>proxy</RequestId></Error>`;

/** Names a request by what S3 operation it is, for the counters. */
export function operationOf(request: ProxiedRequest): string {
  const url = new URL(request.url, 'http://proxy');
  const q = url.searchParams;
  if (q.has('uploads')) return `${request.method} ${request.method === 'POST' ? 'create-upload' : 'list-uploads'}`;
  if (q.has('uploadId') && q.has('partNumber')) return `${request.method} part`;
  if (q.has('uploadId')) return `${request.method} ${request.method === 'POST' ? 'complete' : request.method === 'DELETE' ? 'abort' : 'list-parts'}`;
  if (q.has('delete')) return `${request.method} delete-objects`;
  if (q.has('list-type')) return `${request.method} list`;
  if (url.pathname.split('/').filter(Boolean).length <= 1) return `${request.method} bucket`;
  return `${request.method} object`;
}

/** Starts a proxy on a free port forwarding to `target` (e.g. `http://127.0.0.1:4568`). */
/** Every fault off: what a proxy starts with, and what `setFaults(NO_FAULTS)` goes back to. */
export const NO_FAULTS: Readonly<Required<S3Faults>> = Object.freeze({
  slowDownRate: 0,
  internalErrorRate: 0,
  dropCompleteResponses: 0,
  deny: null,
  respond: null,
  readSlowDownRate: 0,
  readResetRate: 0,
  readBodyResets: 0,
  readFaultsOn: null,
  readBodyResetsOn: null,
});

export async function startS3FaultProxy(target: string, random: () => number = Math.random): Promise<S3FaultProxy> {
  const upstream = new URL(target);
  let faults: Required<S3Faults> = { ...NO_FAULTS };
  const gates: { matches: (request: ProxiedRequest) => boolean; held: Promise<void>; reach: () => void }[] = [];
  const counts: Record<string, number> = {};
  const totals = { slowDowns: 0, internalErrors: 0, droppedCompletes: 0 };
  const ranged = { count: 0 };
  const reads = { readSlowDowns: {} as Record<string, number>, readResets: {} as Record<string, number>, readBodyResets: {} as Record<string, number> };
  const tally = (counter: Record<string, number>, operation: string) => (counter[operation] = (counter[operation] ?? 0) + 1);

  const handle = async (incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> => {
    const request = { method: incoming.method ?? 'GET', url: incoming.url ?? '/' };
    const operation = operationOf(request);
    counts[operation] = (counts[operation] ?? 0) + 1;
    for (const gate of gates) {
      if (!gate.matches(request)) continue;
      gate.reach();
      await gate.held;
    }
    if (faults.deny?.(request)) {
      incoming.resume();
      outgoing.writeHead(403, { 'content-type': 'application/xml' }).end(XML('AccessDenied', 'Access Denied'));
      return;
    }
    const answer = faults.respond?.(request);
    if (answer) {
      incoming.resume();
      outgoing.writeHead(answer.status, { 'content-type': 'application/xml' }).end(XML(answer.code, answer.message));
      return;
    }
    const write = request.method !== 'GET' && request.method !== 'HEAD';
    const readFaults = !write && (faults.readFaultsOn?.(request) ?? true);
    if (readFaults && faults.readSlowDownRate > 0 && random() < faults.readSlowDownRate) {
      tally(reads.readSlowDowns, operation);
      incoming.resume();
      outgoing.writeHead(503, { 'content-type': 'application/xml' }).end(XML('SlowDown', 'Please reduce your request rate.'));
      return;
    }
    if (readFaults && faults.readResetRate > 0 && random() < faults.readResetRate) {
      tally(reads.readResets, operation);
      incoming.resume();
      outgoing.socket?.destroy();
      return;
    }
    if (operation === 'GET object' && incoming.headers.range !== undefined) ranged.count++;
    const cutBody = operation === 'GET object' && faults.readBodyResets > 0 && (faults.readBodyResetsOn?.(request) ?? true);
    if (write && random() < faults.slowDownRate) {
      totals.slowDowns++;
      incoming.resume();
      outgoing.writeHead(503, { 'content-type': 'application/xml' }).end(XML('SlowDown', 'Please reduce your request rate.'));
      return;
    }
    if (write && random() < faults.internalErrorRate) {
      totals.internalErrors++;
      incoming.resume();
      outgoing.writeHead(500, { 'content-type': 'application/xml' }).end(XML('InternalError', 'We encountered an internal error. Please try again.'));
      return;
    }
    const dropAnswer = operation === 'POST complete' && faults.dropCompleteResponses > 0;
    if (dropAnswer) faults = { ...faults, dropCompleteResponses: faults.dropCompleteResponses - 1 };
    const proxied = forward(
      { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: incoming.headers },
      (answer) => {
        if (dropAnswer) {
          totals.droppedCompletes++;
          answer.resume();
          answer.on('end', () => outgoing.socket?.destroy());
          return;
        }
        const length = Number(answer.headers['content-length'] ?? 0);
        if (cutBody && answer.statusCode === 200 && length >= 2 && faults.readBodyResets > 0) {
          faults = { ...faults, readBodyResets: faults.readBodyResets - 1 };
          tally(reads.readBodyResets, operation);
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('end', () => {
            outgoing.writeHead(200, answer.headers);
            outgoing.write(Buffer.concat(chunks).subarray(0, Math.floor(length / 2)), () => outgoing.socket?.destroy());
          });
          return;
        }
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    proxied.on('error', () => outgoing.socket?.destroy());
    incoming.pipe(proxied);
  };

  const server: Server = createServer((incoming, outgoing) => {
    handle(incoming, outgoing).catch(() => outgoing.socket?.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    setFaults(next) {
      faults = { ...faults, ...next };
    },
    hold(matches) {
      let release: () => void = () => undefined;
      let reach: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      const reached = new Promise<void>((resolve) => (reach = resolve));
      const gate = { matches, held, reach };
      gates.push(gate);
      return {
        reached,
        open() {
          gates.splice(gates.indexOf(gate), 1);
          release();
        },
      };
    },
    stats: () => ({
      requests: { ...counts },
      ...totals,
      readSlowDowns: { ...reads.readSlowDowns },
      readResets: { ...reads.readResets },
      readBodyResets: { ...reads.readBodyResets },
      rangedGets: ranged.count,
    }),
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
