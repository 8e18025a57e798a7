import { once } from 'node:events';
import { createServer, request as forward, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { operationOf } from './s3-fault-proxy.js';

/** One request as it went through, with the size of its body. */
export interface LoggedRequest {
  /** As the fault proxy names it, e.g. `PUT part`, `POST complete`. */
  readonly operation: string;
  /** Path and query. */
  readonly url: string;
  /** Bytes of the request body. */
  readonly bytes: number;
  /** The region the request was signed for (SigV4's credential scope), if it was signed. */
  readonly region: string | undefined;
}

/** A proxy in front of the S3 test server that logs every request it forwards. */
export interface S3RequestLog {
  readonly endpoint: string;
  /** Every request so far, in the order they arrived. */
  requests(): LoggedRequest[];
  stop(): Promise<void>;
}

async function bodyOf(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Starts a logging proxy on a free port forwarding to `target` (the S3 test server's endpoint). */
export async function startS3RequestLog(target: string): Promise<S3RequestLog> {
  const upstream = new URL(target);
  const logged: LoggedRequest[] = [];
  const server = createServer((incoming, outgoing) => {
    void (async () => {
      const body = await bodyOf(incoming);
      const request = { method: incoming.method ?? 'GET', url: incoming.url ?? '/' };
      const region = /Credential=[^/]+\/\d{8}\/([^/]+)\/s3\//.exec(incoming.headers.authorization ?? '')?.[1];
      logged.push({ operation: operationOf(request), url: request.url, bytes: body.length, region });
      const answer = await new Promise<IncomingMessage>((resolve, reject) => {
        const sent = forward({ host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: incoming.headers }, resolve);
        sent.on('error', reject);
        sent.end(body);
      });
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
    })().catch(() => incoming.socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => [...logged],
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
