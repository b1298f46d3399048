// A second SIGTERM/SIGINT during server.timeouts.shutdown_delay_ms starts the drain at once (the
// port closes, what is in flight is still answered): before, it waited for the same delay, so a
// developer's second Ctrl-C (or an operator's second SIGTERM) still sat out up to 5 minutes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { workersReady } from '../../helpers/worker-processes.js';
import { waitFor } from '../../helpers/wait.js';

let up: ScriptedUpstream;
const started: ProxyProcess[] = [];

beforeAll(async () => {
  up = await startScriptedUpstream((_req, res) => { res.end('ok'); });
});

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  await up?.close();
});

/** A GET on a new connection: its status, or the error code when it cannot connect. */
async function fresh(proxy: ProxyProcess): Promise<number | string> {
  try {
    const r = await request(`${proxy.url}/x`, { reset: true });
    await r.body.text();
    return r.statusCode;
  } catch (err) { return (err as { code?: string }).code ?? String(err); }
}

/** A proxy whose delay (5 min, the schema's most) outlasts the test: only the second signal can end it. */
async function start(args: string[]): Promise<ProxyProcess> {
  const p = await startProxy(baseConfig(up.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, timeouts: { drain_ms: 5_000, shutdown_delay_ms: 300_000 } },
  }), { env: ADMIN_ENV, args, timeoutMs: 40_000 });
  started.push(p);
  return p;
}

async function secondSignalEndsDelay(p: ProxyProcess, first: NodeJS.Signals, second: NodeJS.Signals): Promise<void> {
  p.proc.kill(first);
  await waitFor('/readyz 503', async () => (await request(`${p.adminUrl}/readyz`)).statusCode === 503, 5_000);
  expect(await fresh(p)).toBe(200); // the delay: still served
  p.proc.kill(second);
  await waitFor('the port closed (the drain began)', async () => (await fresh(p)) === 'ECONNREFUSED', 10_000);
  expect(await p.exited).toBe(0);
}

describe('a second signal during shutdown_delay_ms', () => {
  it('single process, SIGINT then SIGINT (Ctrl-C twice): the drain begins, exit 0', async () => {
    await secondSignalEndsDelay(await start([]), 'SIGINT', 'SIGINT');
  });

  it('--workers 2, SIGTERM then SIGTERM to the primary: the workers drain at once, exit 0', async () => {
    const p = await start(['--workers', '2']);
    await workersReady(p);
    await secondSignalEndsDelay(p, 'SIGTERM', 'SIGTERM');
  }, 60_000); // the start alone is bounded by 40 s: a loaded host takes ~21 s to start `--workers 2`
});
