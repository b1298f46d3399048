// Admin endpoints of `serve --workers N` that only a worker can answer — GET /cache/stats and
// POST /explain: the caches and the verifier live in the workers — asked by the primary's admin
// listener of one ready worker over IPC (primary side WorkerAdmin, worker side answerWorkerAdmin).
import type { Worker } from 'node:cluster';
import type { IncomingMessage } from 'node:http';
import type { AdminHandler } from '../../node/admin/admin-server.js';

/** Admin routes a worker answers for the primary; their handlers read the body, never the request. */
export const WORKER_ADMIN_ROUTES = ['GET /cache/stats', 'POST /explain'] as const;
type WorkerAdminRoute = typeof WORKER_ADMIN_ROUTES[number];

/** Primary → worker: answer `route` for this body. */
export interface WorkerAdminAsk { type: 'worker.admin_ask'; id: number; route: WorkerAdminRoute; body: string }
/** Worker → primary: the worker's answer to ask `id`. */
export interface WorkerAdminAnswer { type: 'worker.admin_answer'; id: number; status: number; body: unknown }

/** How long the primary waits for a worker's answer (ms): explain with a token may wait for keys (10 s). */
export const WORKER_ADMIN_TIMEOUT_MS = 15_000;

type Answer = { status: number; body: unknown };
const UNAVAILABLE = (message: string): Answer => ({ status: 503, body: { error: 'unavailable', message } });

/** Primary side. `listen(worker)` for every forked worker; `routes(pick)` for the admin listener. */
export class WorkerAdmin {
  #next = 1;
  readonly #pending = new Map<number, { worker: number; done: (a: Answer) => void }>();

  /** Route a worker's answers (and its exit: 503) to the calls waiting for it. */
  listen(worker: Worker): void {
    worker.on('message', (m: unknown) => {
      if (m === null || typeof m !== 'object' || (m as { type?: unknown }).type !== 'worker.admin_answer') return;
      const a = m as WorkerAdminAnswer;
      const p = this.#pending.get(a.id);
      if (p !== undefined && p.worker === worker.id) p.done({ status: a.status, body: a.body });
    });
    worker.on('exit', () => {
      for (const p of [...this.#pending.values()]) if (p.worker === worker.id) p.done(UNAVAILABLE('the worker asked exited; retry'));
    });
  }

  /** Handlers for WORKER_ADMIN_ROUTES that ask the worker `pick()` returns (503 when none is ready or it does not answer). */
  routes(pick: () => Worker | null): Record<string, AdminHandler> {
    const ask = (route: WorkerAdminRoute): AdminHandler => async (_req, body) => {
      const w = pick();
      if (w === null || !w.isConnected()) return UNAVAILABLE('no worker is ready; retry');
      const id = this.#next++;
      return new Promise<Answer>((resolve) => {
        const timer = setTimeout(() => done(UNAVAILABLE('the worker did not answer in time; retry')), WORKER_ADMIN_TIMEOUT_MS);
        const done = (a: Answer): void => { if (this.#pending.delete(id)) { clearTimeout(timer); resolve(a); } };
        this.#pending.set(id, { worker: w.id, done });
        try { w.send({ type: 'worker.admin_ask', id, route, body } satisfies WorkerAdminAsk); } catch { done(UNAVAILABLE('the worker is exiting; retry')); }
      });
    };
    return Object.fromEntries(WORKER_ADMIN_ROUTES.map((r) => [r, ask(r)]));
  }
}

/** Worker side: when `m` is an ask, answer it with the instance's own handler and return true. */
export function answerWorkerAdmin(m: unknown, routes: () => Record<string, AdminHandler>, send: (a: WorkerAdminAnswer) => void): boolean {
  if (m === null || typeof m !== 'object' || (m as { type?: unknown }).type !== 'worker.admin_ask') return false;
  const { id, route, body } = m as WorkerAdminAsk;
  const handler = (WORKER_ADMIN_ROUTES as readonly string[]).includes(route) ? routes()[route] : undefined;
  const reply = (a: Answer): void => { try { send({ type: 'worker.admin_answer', id, status: a.status, body: a.body }); } catch { /* primary gone */ } };
  if (handler === undefined) { reply({ status: 404, body: { error: 'not_found', message: `no admin endpoint ${String(route)}` } }); return true; }
  // these handlers never read the request (WORKER_ADMIN_ROUTES): there is none over IPC
  handler(undefined as unknown as IncomingMessage, typeof body === 'string' ? body : '').then(reply, () => reply({ status: 500, body: { error: 'internal', message: 'the worker failed to answer' } }));
  return true;
}
