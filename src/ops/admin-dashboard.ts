import type { IncomingMessage, ServerResponse } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { ExportQueues } from '../../jobs/queues.js';

/** The bull-board dashboard over the export queues, as a plain Node request handler mounted at `basePath`. */
export function createDashboard(queues: ExportQueues, basePath: string): (request: IncomingMessage, response: ServerResponse) => void {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(basePath);
  createBullBoard({ queues: [new BullMQAdapter(queues.runs), new BullMQAdapter(queues.shards)], serverAdapter: adapter });
  const router = adapter.getRouter() as (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void;
  return (request, response) => {
    // The router expects the mount path stripped, as express.use(basePath, router) would do.
    request.url = request.url?.slice(basePath.length) || '/';
    router(request, response, (error) => {
      response.writeHead(error ? 500 : 404).end();
    });
  };
}
