// POST /reload while the process stops (SIGTERM, a request still draining): refused 503 with
// words that say the process is stopping — not "a worker is restarting" (which sends an operator
// looking for a crash and retrying), and never applied to a process on its way out.
// One process and --workers 2.
import { describe, it, expect, afterAll } from 'vitest';
import { request } from 'undici';
import { ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { waitFor } from '../../helpers/wait.js';

const started: Array<ProxyProcess | ScriptedUpstream> = [];
afterAll(async () => {
  for (const s of started.reverse()) await ('proc' in s ? s.stop('SIGKILL') : s.close());
});

/** The admin API answers through the drain: true once /readyz says `draining`. */
async function draining(proxy: ProxyProcess): Promise<boolean> {
  const r = await request(`${proxy.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const b = await r.body.json() as { draining?: boolean };
  return b.draining === true;
}

// The three cases share nothing (each its own held upstream and proxy) and each waits on a 3 s
// held request: they run side by side (describe.concurrent).
describe.concurrent.each([
  ['one process', [] as string[]],
  ['--workers 2', ['--workers', '2']],
])('POST /reload during a SIGTERM drain, %s', (_name, args) => {
  it('answers 503 saying the process is stopping; nothing applied', async () => {
    // an upstream that holds its answer: the request keeps the drain open
    const slow = await startScriptedUpstream((_req, res) => { setTimeout(() => res.end('late'), 3_000); });
    started.push(slow);
    const cfg = baseConfig(slow.url, { log: { level: 'info', access: false } });
    (cfg.server as Record<string, unknown>).timeouts = { drain_ms: 8_000 };
    const proxy = await startProxy(cfg, { args, timeoutMs: 30_000 });
    started.push(proxy);
    const inflight = request(`${proxy.url}/held`).then(async (r) => { await r.body.dump(); return r.statusCode; }, () => 0);
    await waitFor('slow.seen.length === 1', () => slow.seen.length === 1, 10_000, { detail: () => 'the held request reached the upstream' });
    proxy.proc.kill('SIGTERM');
    await waitFor('draining(proxy)', () => draining(proxy), 5_000, { detail: () => 'readyz never said draining' });
    const r = await request(`${proxy.adminUrl}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const text = await r.body.text();
    expect(r.statusCode, text).toBe(503);
    const body = JSON.parse(text) as { reloaded?: boolean; message?: string };
    expect(body.reloaded).toBe(false);
    expect(body.message).toMatch(/stopping/);
    expect(body.message).not.toMatch(/restart/);
    expect(proxy.output()).not.toMatch(/a worker is restarting/);
    expect(await inflight).toBe(200); // the drain itself is untouched
    expect(await proxy.exited).toBe(0);
  });
});

// The same through SIGHUP (and --watch, which takes the same path) in one process: before, a SIGHUP
// during the drain reloaded the draining instance ("config reloaded" after "draining").
describe.concurrent('SIGHUP during a SIGTERM drain, one process', () => {
  it('is not applied: the log says the process is stopping, no "config reloaded"', async () => {
    const slow = await startScriptedUpstream((_req, res) => { setTimeout(() => res.end('late'), 3_000); });
    started.push(slow);
    const cfg = baseConfig(slow.url, { log: { level: 'info', access: false } });
    (cfg.server as Record<string, unknown>).timeouts = { drain_ms: 8_000 };
    const proxy = await startProxy(cfg, { timeoutMs: 30_000 });
    started.push(proxy);
    const inflight = request(`${proxy.url}/held`).then(async (r) => { await r.body.dump(); return r.statusCode; }, () => 0);
    await waitFor('slow.seen.length === 1', () => slow.seen.length === 1, 10_000, { detail: () => 'the held request reached the upstream' });
    proxy.proc.kill('SIGTERM');
    await waitFor('draining(proxy)', () => draining(proxy), 5_000, { detail: () => 'readyz never said draining' });
    proxy.proc.kill('SIGHUP');
    await waitFor('/reload not applied: the process is stopping/.test(proxy.output())', () => /reload not applied: the process is stopping/.test(proxy.output()), 5_000, { detail: () => proxy.output() });
    expect(proxy.output()).not.toMatch(/config reloaded/);
    expect(await inflight).toBe(200);
    expect(await proxy.exited).toBe(0);
  });
});
