// `serve --watch`, a process holding the config file open for writing, and a POST /reload applied inside the watch's
// settle window (after the change, before the watch first looked for a writer): the operator's reload applied what
// changed, so the watch has nothing left to wait for. Before (669eb87b), the watch still began a wait: one false
// "waiting for the process writing it" warning, the wait gauge above 0 until its next look.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, writeConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, issuerFor, waitReady } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let echo: EchoUpstream;

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/settle' }), startEchoUpstream({ name: 'echo' })]);
});
afterAll(async () => { await Promise.all([as?.close(), echo?.close()]); });

function configText(route: string | null): string {
  return stringify({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    log: { level: 'info' },
    verifier: { pool_size: 1 },
    issuers: { demo: issuerFor(as) },
    upstreams: { app: { targets: [echo.url] } },
    routes: [
      ...(route !== null ? [{ name: route, match: { path: `/${route}/*` }, upstream: 'app', auth: 'none' }] : []),
      { name: 'r', match: { path: '/r/*' }, upstream: 'app', auth: {} },
    ],
  });
}

const WAITING = 'config file changed: waiting for the process writing it to close it';
const warnings = (p: ProxyProcess): number => p.logs().filter((l) => l.msg === WAITING).length;

/** portcullis_config_reload_waiting_seconds, or NaN when /metrics has no such series. */
async function waitingSeconds(p: ProxyProcess): Promise<number> {
  const m = await call(`${p.adminUrl}/metrics`, { token: ADMIN_TOKEN });
  const v = /^portcullis_config_reload_waiting_seconds (\S+)$/m.exec(m.text);
  return v === null ? NaN : Number(v[1]);
}

describe('serve --watch and a POST /reload inside the settle window', () => {
  it('the applied reload ends the wait before it begins: no waiting warning for the change it applied', async () => {
    const file = writeConfig(configText(null));
    const proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file, args: ['--watch'], timeoutMs: 40_000 });
    let fd: number | null = null;
    try {
      await waitReady(proxy, 30_000);
      fd = openSync(file, 'r+'); // held open for writing from here on (a stuck editor)
      const write = (text: string): void => { ftruncateSync(fd!, 0); writeSync(fd!, text, 0); };

      // the whole new file, then — inside the 200 ms settle window, after the change event — the operator's reload
      write(configText('first'));
      await sleep(50);
      const applied = await admin(proxy, 'POST', '/reload');
      expect(applied.status).toBe(200);
      expect(applied.json?.note).toMatch(/^applied the file as it was read now, although process \d+ has .* open for writing$/); // no wait under way yet
      expect((await call(`${proxy.url}/first/x`, { fresh: true })).status).toBe(200);

      // long past the window (a settle and a writer look, several times over): then a change nobody applied, which
      // the watch must wait for (the gauge shows it) — the one warning expected; before, the false one came first (2)
      await sleep(1500);
      write(configText('second'));
      await waitFor('the watch to wait for the unapplied change', async () => (await waitingSeconds(proxy)) > 0, 10_000);
      expect(warnings(proxy)).toBe(1);
      expect((await call(`${proxy.url}/second/x`, { fresh: true })).status).toBe(404); // held back while written
    } finally {
      if (fd !== null) closeSync(fd);
      await proxy.stop();
    }
  });
});
