// `serve --watch` and a process that keeps the config file open for writing for good (a stuck editor, a
// handle opened read-write and never closed): the watch keeps waiting — a possibly partial file is never
// applied — but the wait shows (portcullis_config_reload_waiting_seconds) and POST /reload, the operator's
// explicit act, says who holds the file and whether it applied: a half-written file is refused, naming the
// writer; a whole one is applied and the watch stops waiting for it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, writeConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, issuerFor, waitReady } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { workersReady } from '../../helpers/worker-processes.js';

let as: AuthServer;
let echo: EchoUpstream;

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/stuck' }), startEchoUpstream({ name: 'echo' })]);
});
afterAll(async () => { await Promise.all([as?.close(), echo?.close()]); });

function configText(extraRoute: boolean): string {
  return stringify({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    log: { level: 'info' },
    verifier: { pool_size: 1 },
    issuers: { demo: issuerFor(as) },
    upstreams: { app: { targets: [echo.url] } },
    routes: [
      ...(extraRoute ? [{ name: 'added', match: { path: '/added/*' }, upstream: 'app', auth: 'none' }] : []),
      { name: 'r', match: { path: '/r/*' }, upstream: 'app', auth: {} },
    ],
  });
}

const logged = (p: ProxyProcess, msg: string): number => p.logs().filter((l) => l.msg === msg).length;

/** portcullis_config_reload_waiting_seconds, or NaN when /metrics has no such series. */
async function waitingSeconds(p: ProxyProcess): Promise<number> {
  const m = await call(`${p.adminUrl}/metrics`, { token: ADMIN_TOKEN });
  const v = /^portcullis_config_reload_waiting_seconds (\S+)$/m.exec(m.text);
  return v === null ? NaN : Number(v[1]);
}

describe.each([{ mode: 'single process', args: [] as string[] }, { mode: '--workers 2', args: ['--workers', '2'] }])('serve --watch ($mode) and a writer that never closes the file', ({ args }) => {
  it('the wait is shown; POST /reload refuses a half-written file naming the writer, applies a whole one and ends the wait', async () => {
    const full = configText(true);
    const file = writeConfig(configText(false));
    const proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file, args: ['--watch', ...args], timeoutMs: 40_000 });
    let fd: number | null = null;
    try {
      if (args.length > 0) await workersReady(proxy, 2, 30_000);
      await waitReady(proxy, 30_000);
      expect(await waitingSeconds(proxy)).toBe(0); // before: no such series
      // opened read-write and kept: half of the new file written in place, then nothing more
      fd = openSync(file, 'r+');
      ftruncateSync(fd, 0);
      writeSync(fd, full.slice(0, full.indexOf('routes:') + 'routes:\n  - name: add'.length), 0);
      await waitFor('the watch to wait for the writer', () => logged(proxy, 'config file changed: waiting for the process writing it to close it') >= 1, 10_000);
      await waitFor('the wait shown in /metrics', async () => (await waitingSeconds(proxy)) > 0, 10_000);

      const refused = await admin(proxy, 'POST', '/reload');
      expect(refused.status).toBe(422);
      expect(refused.json?.open_for_writing).toEqual({ file, pid: process.pid });
      expect(refused.json?.watch_waited_s).toBeGreaterThan(0);
      expect(refused.json?.note).toMatch(new RegExp(`^not applied; process ${process.pid} has .* open for writing: it may be half-written; serve --watch waits`));
      expect((await call(`${proxy.url}/added/x`, { fresh: true })).status).toBe(404);
      expect(await waitingSeconds(proxy)).toBeGreaterThan(0); // still waiting

      // the rest written; the handle is still held (a stuck editor): --watch still does not apply it on its own
      writeSync(fd, full, 0);
      const applied = await admin(proxy, 'POST', '/reload');
      expect(applied.status).toBe(200);
      expect(applied.json?.reloaded).toBe(true);
      expect(applied.json?.open_for_writing).toEqual({ file, pid: process.pid });
      expect(applied.json?.note).toMatch(/^applied the file as it was read now, although process \d+ has .* open for writing; serve --watch no longer waits for it/);
      for (let i = 0; i < 4; i++) expect((await call(`${proxy.url}/added/x`, { fresh: true })).status).toBe(200);
      await waitFor('the wait ended', async () => (await waitingSeconds(proxy)) === 0, 10_000);
    } finally {
      if (fd !== null) closeSync(fd);
      await proxy.stop();
    }
  });
});
