import { once } from 'node:events';
import { createServer, request as forward, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An STS endpoint in front of the emulator's that remembers which access key it issued for which role. */
export interface StsRecorder {
  /** Point `AWS_ENDPOINT_URL_STS` here. */
  readonly endpoint: string;
  /** The access key ids AssumeRole answered for `roleArn`, in order. */
  issued(roleArn: string): string[];
  stop(): Promise<void>;
}

async function bodyOf(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Starts a proxy on a free port forwarding every STS request to `target` (the emulator's URL) and
 * recording each AssumeRole's RoleArn with the AccessKeyId of its answer, so a test can tell whose
 * temporary key signed a request: every role's key starts with `ASIA`.
 */
export async function startStsRecorder(target: string): Promise<StsRecorder> {
  const upstream = new URL(target);
  const keys = new Map<string, string[]>();
  const server = createServer((incoming, outgoing) => {
    void (async () => {
      const sent = await bodyOf(incoming);
      const form = new URLSearchParams(sent.toString('utf8'));
      const answer = await new Promise<IncomingMessage>((resolve, reject) => {
        const request = forward({ host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers: incoming.headers }, resolve);
        request.on('error', reject);
        request.end(sent);
      });
      const body = await bodyOf(answer);
      const accessKeyId = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(body.toString('utf8'))?.[1];
      const roleArn = form.get('RoleArn');
      if (form.get('Action') === 'AssumeRole' && roleArn !== null && accessKeyId !== undefined) keys.set(roleArn, [...(keys.get(roleArn) ?? []), accessKeyId]);
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers).end(body);
    })().catch(() => incoming.socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    issued: (roleArn) => [...(keys.get(roleArn) ?? [])],
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
