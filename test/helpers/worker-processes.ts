// The worker processes of a `serve --workers N` instance, as the suites that kill, pause or count them
// read them: the primary's children by `ps`, and the primary's /readyz counting N ready workers.
import { execFileSync } from 'node:child_process';
import { request } from 'undici';
import { ADMIN_TOKEN, type ProxyProcess } from './proxy-process.js';
import { eventually } from './upstreams.js';

/** Pids of `primary`'s child processes (its workers); empty when it has none (ps exits 1 then). */
export function workerPids(primary: number): number[] {
  try {
    return execFileSync('ps', ['--ppid', String(primary), '-o', 'pid='], { encoding: 'utf8' }).split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
  } catch {
    return [];
  }
}

/** `p`'s /readyz answers 200 with `n` workers ready within `ms` (default 20 s); false when it never did. */
export function workersReady(p: ProxyProcess, n = 2, ms = 20_000): Promise<boolean> {
  return eventually(async () => {
    const r = await request(`${p.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = await r.body.json().catch(() => ({})) as { workers_ready?: number };
    return r.statusCode === 200 && body.workers_ready === n;
  }, ms);
}
