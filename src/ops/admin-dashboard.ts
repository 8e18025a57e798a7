import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Queue } from 'bullmq';

/**
 * The only methods the dashboard answers. Every bull-board route that changes something (add a job,
 * retry, clean, empty, obliterate, pause, edit a scheduler) is a POST, PUT, PATCH or DELETE: a job
 * added there would bypass the checks of `POST /exports` (allow-list, roles), so none get through.
 */
export const DASHBOARD_METHODS: readonly string[] = ['GET', 'HEAD'];

/** Whether the dashboard serves `method` (it is read-only). */
export function isDashboardRead(method: string | undefined): boolean {
  return DASHBOARD_METHODS.includes(method ?? '');
}

/**
 * The bull-board dashboard over `queues`, read-only, as a plain Node request handler mounted at
 * `basePath`: bull-board's own `readOnlyMode` hides and refuses its write actions, and this handler
 * answers 405 to any method but GET and HEAD before bull-board sees the request. bull-board (and
 * express under it) is loaded here, only when the dashboard is on.
 */
export async function createDashboard(queues: readonly Queue[], basePath: string): Promise<(request: IncomingMessage, response: ServerResponse) => void> {
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/express'),
  ]);
  const adapter = new ExpressAdapter();
  adapter.setBasePath(basePath);
  createBullBoard({ queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true, allowRetries: false })), serverAdapter: adapter });
  const router = adapter.getRouter() as (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void;
  return (request, response) => {
    if (!isDashboardRead(request.method)) {
      response
        .writeHead(405, { 'content-type': 'application/json', allow: DASHBOARD_METHODS.join(', ') })
        .end(`${JSON.stringify({ error: `the dashboard is read-only: ${request.method ?? 'this method'} is refused; start exports with POST /exports` })}\n`);
      return;
    }
    // The router expects the mount path stripped, as express.use(basePath, router) would do.
    request.url = request.url?.slice(basePath.length) || '/';
    router(request, response, (error) => {
      response.writeHead(error ? 500 : 404).end();
    });
  };
}
