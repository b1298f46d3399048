// A reload that changes a field read only at start (log.access, verifier, server.websocket…) is
// applied except that field, and says so: `POST /reload` answers 200 with `restart_required`
// naming each such field, and the log warns with the same names — against the config the
// process started with, so a later reload keeps saying it until a restart. Before, these changes
// were dropped silently with `reloaded: true`. With `--workers 2` a worker restarted after such a
// reload keeps the start's values like the others (before, it alone took the file's).
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { baseConfig, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, waitReady } from './policy-fixtures.js';
import { workerPids } from '../../helpers/worker-processes.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

/** The start config plus a second route `/extra/*` (a reloadable change) and `changes` merged at the top. */
function edited(changes: Record<string, unknown>): Record<string, unknown> {
  const base = baseConfig(echo.url);
  return { ...base, routes: [{ name: 'extra', match: { path: '/extra/*' }, upstream: 'app', auth: 'none' }, ...(base.routes as unknown[])], ...changes };
}

const RESTART_ONLY = {
  log: { level: 'info', access: false },
  verifier: { cache_entries: 5 },
  server: { listen: { host: '127.0.0.1', port: 0 }, websocket: { max_message_bytes: 2048 } },
};

/** Access lines of requests whose path starts with `prefix`. */
const accessLines = (p: ProxyProcess, prefix: string): Array<Record<string, unknown>> => p.logs().filter((l) => l.msg === 'request' && String(l.path).startsWith(prefix));

describe('single process', () => {
  let p: ProxyProcess;
  beforeAll(async () => { p = await startProxy(baseConfig(echo.url)); await waitReady(p); });
  afterAll(async () => { await p?.stop(); });

  it('names every field that needs a restart in the answer and the log, applies the rest', async () => {
    writeFileSync(p.configPath, stringify(edited(RESTART_ONLY)));
    const r = await admin(p, 'POST', '/reload');
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ reloaded: true, version: 2 });
    expect([...(r.json?.restart_required ?? [])].sort()).toEqual(['log.access', 'server.websocket', 'verifier']);
    await waitFor('a warning naming verifier as restart-required', () => p.logs().some((l) => l.level === 40 && Array.isArray(l.restart_required) && (l.restart_required as string[]).includes('verifier')), 3_000, { detail: () => p.output().slice(-3000) });
    // what the answer says is true: access lines are still written, the new route is served
    expect((await call(`${p.url}/extra/a`)).status).toBe(200);
    await waitFor("accessLines(p, '/extra/a').length === 1", () => accessLines(p, '/extra/a').length === 1);
  });

  it('keeps naming them at the next reload, until the file matches the start again', async () => {
    writeFileSync(p.configPath, stringify(edited({ ...RESTART_ONLY, verifier: {} })));
    const r = await admin(p, 'POST', '/reload');
    expect(r.status, r.text).toBe(200);
    expect([...(r.json?.restart_required ?? [])].sort()).toEqual(['log.access', 'server.websocket']);
    writeFileSync(p.configPath, stringify(edited({})));
    const back = await admin(p, 'POST', '/reload');
    expect(back.status, back.text).toBe(200);
    expect(back.json).toMatchObject({ reloaded: true, version: 4, restart_required: [] });
  });
});

/** Worker pids of a `--workers` primary. */
describe('serve --workers 2', () => {
  let p: ProxyProcess;
  beforeAll(async () => {
    const file = writeConfig(baseConfig(echo.url));
    p = await startProxy(null, { configPath: file, args: ['--workers', '2'], timeoutMs: 40_000 });
    await waitReady(p, 20_000);
  }, 70_000); // the start's and readiness's own bounds (40 s, 20 s) report a slow start, not the hook's
  afterAll(async () => { await p?.stop(); });

  /** `n` requests on fresh connections (SO_REUSEPORT spreads them); the pids that wrote access lines for them. */
  async function loggingPids(tag: string, n = 16): Promise<Set<unknown>> {
    const statuses = await Promise.all(Array.from({ length: n }, async (_, i) => (await call(`${p.url}/${tag}/${i}`, { fresh: true })).status));
    expect(new Set(statuses)).toEqual(new Set([200]));
    await waitFor('accessLines(p, `/${tag}/`).length === n', () => accessLines(p, `/${tag}/`).length === n, 10_000);
    return new Set(accessLines(p, `/${tag}/`).map((l) => l.pid));
  }

  it('the primary answers with the fields, and a worker restarted afterwards keeps the start values', async () => {
    expect((await loggingPids('before')).size).toBe(2);
    writeFileSync(p.configPath, stringify(edited({ log: { level: 'info', access: false } })));
    const r = await admin(p, 'POST', '/reload');
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ reloaded: true, version: 2, workers: 2, restart_required: ['log.access'] });
    expect((await call(`${p.url}/extra/x`)).status).toBe(200);

    const before = workerPids(p.proc.pid!);
    expect(before).toHaveLength(2);
    process.kill(before[0]!, 'SIGKILL');
    await waitFor('the killed worker replaced and both ready', async () => {
      const now = workerPids(p.proc.pid!);
      return now.length === 2 && !now.includes(before[0]!) && (await admin(p, 'GET', '/readyz')).json?.workers_ready === 2;
    }, 45_000); // restart backoff plus a full worker boot on a loaded 2-core machine
    // both workers, the replacement included, still write access lines (log.access is read at start)
    expect((await loggingPids('after', 24)).size).toBe(2);
  }, 90_000);
});
