// Hot reload of the policy against real processes: SIGHUP, admin POST /reload, a bad file
// that keeps the running config (422 with every error's path, and a log line), `serve
// --watch`, an in-flight request that outlives a reload, and `--workers 2` where every
// worker must switch.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, writeConfig, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, issuerFor, waitReady } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let echoA: EchoUpstream;
let echoB: EchoUpstream;
let reader: string; // scope orders:read
let writer: string; // scope orders:write

beforeAll(async () => {
  [as, echoA, echoB] = await Promise.all([startAuthServer({ issuerPath: '/realms/reload' }), startEchoUpstream({ name: 'echo-a' }), startEchoUpstream({ name: 'echo-b' })]);
  [reader, writer] = await Promise.all([as.issueJwt({ scope: 'orders:read' }), as.issueJwt({ scope: 'orders:write' })]);
});

afterAll(async () => {
  await Promise.all([as?.close(), echoA?.close(), echoB?.close()]);
});

/** The config under test: /r/* needs `scope`; `extraRoutes` appended; upstream `target`. */
function config(scope: string, opts: { extraRoutes?: unknown[]; target?: string; identity?: unknown } = {}): Record<string, unknown> {
  return baseConfig(opts.target ?? echoA.url, {
    ...(opts.identity === undefined ? {} : { identity: opts.identity }),
    issuers: { demo: issuerFor(as) },
    routes: [
      { name: 'r', match: { path: '/r/*' }, upstream: 'app', auth: { scopes: { all: [scope] } } },
      { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
      ...(opts.extraRoutes ?? []),
    ],
    verifier: { pool_size: 1 },
  });
}

const ADDED = { name: 'added', match: { path: '/added/*' }, upstream: 'app', auth: 'none' };
const logged = (p: ProxyProcess, msg: string): number => p.logs().filter((l) => l.msg === msg).length;

describe('single process', () => {
  let proxy: ProxyProcess;
  let file: string;
  const status = async (path: string, token?: string): Promise<number> => (await call(`${proxy.url}${path}`, token === undefined ? {} : { token })).status;
  const rewrite = (cfg: unknown): void => writeFileSync(file, typeof cfg === 'string' ? cfg : stringify(cfg));

  beforeAll(async () => {
    file = writeConfig(config('orders:read'));
    proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file });
    await waitReady(proxy);
  });
  afterAll(async () => { await proxy?.stop(); });

  it('SIGHUP applies an edited file: a changed scope and an added route', async () => {
    expect(await status('/r/x', reader)).toBe(200);
    expect(await status('/r/x', writer)).toBe(403);
    expect(await status('/added/x')).toBe(404);
    rewrite(config('orders:write', { extraRoutes: [ADDED] }));
    proxy.proc.kill('SIGHUP');
    await waitFor('/r/x to answer 200', async () => (await status('/r/x', writer)) === 200);
    expect(await status('/r/x', reader)).toBe(403);
    expect(await status('/added/x')).toBe(200);
    await waitFor("logged(proxy, 'config reloaded') >= 1", () => logged(proxy, 'config reloaded') >= 1, 4_000); // written asynchronously (pino)
    expect(logged(proxy, 'config reloaded')).toBe(1);
  });

  it('admin POST /reload applies the file before it answers', async () => {
    rewrite(config('orders:read'));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ reloaded: true, version: 3 });
    expect(await status('/r/x', reader)).toBe(200);
    expect(await status('/r/x', writer)).toBe(403);
    expect(await status('/added/x')).toBe(404);
  });

  it('an invalid file is refused: 422 with every error and its path, a log line, and the running policy stays', async () => {
    const bad = config('orders:write', {
      extraRoutes: [{ name: 'broken', match: { path: '/broken/*' }, upstream: 'nope', auth: { scopes: { all: 'orders:write' } } }],
    });
    rewrite(bad);
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status).toBe(422);
    expect(r.json?.reloaded).toBe(false);
    const paths = (r.json?.errors as { path: string; message: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['routes[2].upstream', 'routes[2].auth.scopes.all']));
    await waitFor("logged(proxy, 'reload refused: config invalid, keeping the running config') === 1", () => logged(proxy, 'reload refused: config invalid, keeping the running config') === 1, 2_000);
    const line = proxy.logs().find((l) => l.msg === 'reload refused: config invalid, keeping the running config')!;
    expect(JSON.stringify(line.errors)).toContain('routes[2].upstream');
    expect(line.level).toBe(50); // error
    // the old policy is still in force
    expect(await status('/r/x', reader)).toBe(200);
    expect(await status('/r/x', writer)).toBe(403);

    // the same through SIGHUP, and a YAML syntax error
    rewrite('routes: [\n  - name: x\n    match: {path: /x\n');
    const syntax = await admin(proxy, 'POST', '/reload');
    expect(syntax.status).toBe(422);
    expect((syntax.json?.errors as { path: string }[])[0]!.path).toMatch(/^line \d+$/);
    proxy.proc.kill('SIGHUP');
    await waitFor("logged(proxy, 'reload refused: config invalid, keeping the running config') === 3", () => logged(proxy, 'reload refused: config invalid, keeping the running config') === 3, 2_000);
    expect(await status('/r/x', reader)).toBe(200);
    expect((await call(`${proxy.adminUrl}/readyz`, { token: ADMIN_TOKEN })).json).toMatchObject({ ready: true, config_version: 3 });
  });

  it('POST /reload needs the admin token', async () => {
    const r = await call(`${proxy.adminUrl}/reload`, { method: 'POST' });
    expect(r.status).toBe(401);
    const wrong = await call(`${proxy.adminUrl}/reload`, { method: 'POST', token: 'nope' });
    expect(wrong.status).toBe(401);
  });

  it('a request in flight during a reload completes on the old upstream; new requests see the new policy and upstream', async () => {
    rewrite(config('orders:read'));
    expect((await admin(proxy, 'POST', '/reload')).status).toBe(200);
    const before = echoA.requests;
    const inflight = call(`${proxy.url}/r/slow/700`, { token: reader });
    await waitFor("echoA.requests > before && echoA.lastRequest?.url === '/r/slow/700'", () => echoA.requests > before && echoA.lastRequest?.url === '/r/slow/700', 2_000);
    rewrite(config('orders:write', { target: echoB.url }));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status).toBe(200);
    expect(await status('/r/x', reader)).toBe(403);
    const fresh = await call(`${proxy.url}/r/x`, { token: writer });
    expect(fresh.json?.upstream).toBe('echo-b');
    const done = await inflight;
    expect(done.status).toBe(200);
    expect(done.json).toMatchObject({ upstream: 'echo-a', url: '/r/slow/700' });
    expect(echoA.aborted).toBe(0);
  });

  it('a reload that changes the identity mapping gives a cached token the new headers on its next request', async () => {
    rewrite(config('orders:read'));
    expect((await admin(proxy, 'POST', '/reload')).status).toBe(200);
    const seen = async (): Promise<Record<string, string>> => {
      const r = await call(`${proxy.url}/r/x`, { token: reader });
      expect(r.status, r.text).toBe(200);
      return (r.json as { headers: Record<string, string> }).headers;
    };
    let subject = '';
    for (let i = 0; i < 4; i++) { // a warm token: cached verdict, its identity headers remembered after the second request
      const h = await seen();
      subject = h['x-auth-subject']!;
      expect(subject).toBeTruthy();
      expect(h['x-user']).toBeUndefined();
    }
    rewrite(config('orders:read', { identity: { headers: { 'X-User': 'sub' } } }));
    expect((await admin(proxy, 'POST', '/reload')).status).toBe(200);
    const after = await seen();
    expect(after['x-user']).toBe(subject);
    expect(after['x-auth-subject']).toBeUndefined();
  });
});

describe('serve --watch', () => {
  it('picks up an edited file and an atomically replaced file without a signal; a bad file keeps the policy', async () => {
    const file = writeConfig(config('orders:read'));
    const proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file, args: ['--watch'] });
    const status = async (path: string, token?: string): Promise<number> => (await call(`${proxy.url}${path}`, token === undefined ? {} : { token })).status;
    try {
      await waitReady(proxy);
      expect(await status('/added/x')).toBe(404);
      writeFileSync(file, stringify(config('orders:read', { extraRoutes: [ADDED] })));
      await waitFor('/added/x to answer 200', async () => (await status('/added/x')) === 200, 4_000);
      // the log line is written asynchronously (pino): it may land just after the new policy answers
      await waitFor("logged(proxy, 'config file changed: reloading') >= 1", () => logged(proxy, 'config file changed: reloading') >= 1, 4_000);

      // editors and ConfigMaps replace the file (write elsewhere, rename over it)
      const tmp = join(dirname(file), '.portcullis.yaml.tmp');
      writeFileSync(tmp, stringify(config('orders:write', { extraRoutes: [ADDED] })));
      renameSync(tmp, file);
      await waitFor('/r/x to answer 200', async () => (await status('/r/x', writer)) === 200, 4_000);
      expect(await status('/r/x', reader)).toBe(403);

      writeFileSync(file, stringify(config('orders:read', { extraRoutes: [{ ...ADDED, upstream: 'nope' }] })));
      await waitFor("logged(proxy, 'reload refused: config invalid, keeping the running config') >= 1", () => logged(proxy, 'reload refused: config invalid, keeping the running config') >= 1, 4_000);
      expect(await status('/r/x', writer)).toBe(200);
      expect(await status('/added/x')).toBe(200);
    } finally {
      await proxy.stop();
    }
  });
});

describe('serve --workers 2', () => {
  it('a reload switches every worker', async () => {
    const file = writeConfig(config('orders:read'));
    const proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file, args: ['--workers', '2'], timeoutMs: 40_000 });
    /** `n` requests on fresh connections (so SO_REUSEPORT spreads them); statuses and serving worker pids. */
    const spread = async (tag: string, token: string, n = 20): Promise<{ statuses: Set<number>; pids: Set<unknown> }> => {
      const statuses = new Set((await Promise.all(Array.from({ length: n }, (_, i) => call(`${proxy.url}/r/${tag}/${i}`, { token, fresh: true })))).map((r) => r.status));
      const lines = (): Record<string, unknown>[] => proxy.logs().filter((l) => l.msg === 'request' && String(l.path).startsWith(`/r/${tag}/`));
      await waitFor('lines().length === n', () => lines().length === n, 3_000);
      return { statuses, pids: new Set(lines().map((l) => l.pid)) };
    };
    try {
      const ready = await waitReady(proxy, 15_000);
      // the primary's /readyz reports the issuers as its workers see them
      expect(ready).toMatchObject({ workers: 2, workers_ready: 2, keys_loaded: true, issuers: { demo: { keys: true, introspection: null } } });
      const before = await spread('before', writer);
      expect([...before.statuses]).toEqual([403]);
      expect(before.pids.size).toBe(2);

      writeFileSync(file, stringify(config('orders:write')));
      const r = await admin(proxy, 'POST', '/reload');
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ reloaded: true, workers: 2, workers_ok: 2 });
      const after = await spread('after', writer);
      expect([...after.statuses]).toEqual([200]);
      expect(after.pids.size).toBe(2); // both workers answered, and both with the new policy

      // SIGHUP on the primary reaches every worker too (it answers no request, so poll)
      writeFileSync(file, stringify(config('orders:read')));
      proxy.proc.kill('SIGHUP');
      let hup = await spread('hup0', reader, 20);
      for (let i = 1; hup.statuses.has(403) && i < 40; i++) {
        await new Promise((res) => setTimeout(res, 100));
        hup = await spread(`hup${i}`, reader, 20);
      }
      expect([...hup.statuses]).toEqual([200]);
      expect(hup.pids.size).toBe(2);

      // a bad file is refused by the primary before any worker switches
      writeFileSync(file, stringify(config('orders:write', { extraRoutes: [{ ...ADDED, upstream: 'nope' }] })));
      const bad = await admin(proxy, 'POST', '/reload');
      expect(bad.status).toBe(422);
      expect(JSON.stringify(bad.json?.errors)).toContain('routes[2].upstream');
      expect([...(await spread('bad', reader, 10)).statuses]).toEqual([200]);
    } finally {
      await proxy.stop();
    }
  }, 60_000); // the start alone is bounded by 40 s: a loaded host takes ~21 s to start `--workers 2`
});
