// The worker processes of a `serve --workers N` instance, as the suites that kill, pause or count them
// read them: the primary's children by `ps`, and the primary's /readyz counting N ready workers.
import { execFileSync } from 'node:child_process';
import { request } from 'undici';
import { ADMIN_TOKEN, type ProxyProcess } from './proxy-process.js';
import { waitFor } from './wait.js';

/** Pids of `primary`'s child processes (its workers); empty when it has none (ps exits 1 then). */
export function workerPids(primary: number): number[] {
  try {
    return execFileSync('ps', ['--ppid', String(primary), '-o', 'pid='], { encoding: 'utf8' }).split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
  } catch {
    return [];
  }
}

/** Wait until `p`'s /readyz answers 200 with `n` workers ready; throws past `ms` (default 20 s). */
export async function workersReady(p: ProxyProcess, n = 2, ms = 20_000): Promise<void> {
  await waitFor(`/readyz 200 with ${n} workers ready`, async () => {
    const r = await request(`${p.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = await r.body.json().catch(() => ({})) as { workers_ready?: number };
    return r.statusCode === 200 && body.workers_ready === n;
  }, ms, { detail: () => p.output().slice(-2000) });
}
