import type { IncomingMessage, ServerResponse } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';

/** The bull-board dashboard over `queues`, as a plain Node request handler mounted at `basePath`. */
export function createDashboard(queues: readonly Queue[], basePath: string): (request: IncomingMessage, response: ServerResponse) => void {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(basePath);
  createBullBoard({ queues: queues.map((queue) => new BullMQAdapter(queue)), serverAdapter: adapter });
  const router = adapter.getRouter() as (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void;
  return (request, response) => {
    // The router expects the mount path stripped, as express.use(basePath, router) would do.
    request.url = request.url?.slice(basePath.length) || '/';
    router(request, response, (error) => {
      response.writeHead(error ? 500 : 404).end();
    });
  };
}
