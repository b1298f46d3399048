// The admin listener (health, readiness, bearer-protected Prometheus metrics), the
// access log (one JSON line per request, never credentials) and graceful shutdown.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request } from 'undici';
import { connect } from 'node:net';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startProxy, baseConfig, writeConfig, ADMIN_ENV, ADMIN_TOKEN, ROOT, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    routes: [
      { name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' },
      { name: 'orders', match: { path: '/orders/:id' }, upstream: 'app', auth: 'none' },
    ],
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

async function admin(path: string, token?: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const r = await request(`${proxy.adminUrl}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
}

// The suites up to graceful shutdown run side by side (describe.concurrent): reload and graceful shutdown
// start proxies of their own (each shutdown case with an upstream of its own too, whose last request it
// waits for). This suite's cases read one shared proxy in turn (it.sequential).
describe.concurrent('admin endpoints', () => {
  it.sequential('/healthz and /readyz answer without a token; /readyz says only ready or not', async () => {
    const h = await admin('/healthz');
    expect(h.status).toBe(200);
    expect(JSON.parse(h.text)).toEqual({ status: 'ok' });
    const r = await admin('/readyz');
    expect(r.status).toBe(200);
    // issuer names, member ids, config version… are for the operator only
    expect(JSON.parse(r.text)).toEqual({ ready: true });
    expect(JSON.parse((await admin('/readyz', 'wrong-token')).text)).toEqual({ ready: true });
  });

  it.sequential('/readyz with the admin token carries the details', async () => {
    const r = await admin('/readyz', ADMIN_TOKEN);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ ready: true, listener: true, draining: false, config_version: 1, issuers: {} });
  });

  it.sequential('/metrics needs the admin bearer token', async () => {
    const none = await admin('/metrics');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer realm=/);
    expect(JSON.parse(none.text)).toMatchObject({ code: 'PORTCULLIS_ERR_ADMIN_UNAUTHORIZED', message: 'admin bearer token required' });
    expect(none.headers['www-authenticate']).not.toMatch(/error=/);
    // a token that is not the admin token is told apart from none (before: "admin bearer token required" for both,
    // and `portcullis revoke` with a variable holding another value printed it as if no token had been sent)
    const wrong = await admin('/metrics', 'wrong-token');
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Bearer realm="portcullis-admin", error="invalid_token"');
    expect(JSON.parse(wrong.text)).toMatchObject({ code: 'PORTCULLIS_ERR_ADMIN_UNAUTHORIZED', message: "the bearer token sent is not this instance's admin token (the value of its admin.token_env variable)" });
    expect(wrong.text).not.toContain('wrong-token');
    expect((await admin('/metrics', `${ADMIN_TOKEN}x`)).status).toBe(401);
    const ok = await admin('/metrics', ADMIN_TOKEN);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/plain/);
  });

  it.sequential('a call refused before its body was read (401 without the token, 404, 405) closes the connection instead of reading a trickled body on and on', async () => {
    const adminPort = Number(new URL(proxy.adminUrl).port);
    const trickle = (head: string): Promise<{ text: string; closed: boolean }> => new Promise((resolve) => {
      let text = '';
      const s = connect(adminPort, '127.0.0.1', () => s.write(head));
      const iv = setInterval(() => { if (!s.destroyed) s.write('0123456789'); }, 1_000);
      const t = setTimeout(() => { clearInterval(iv); s.destroy(); resolve({ text, closed: false }); }, 8_000);
      s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
      s.on('close', () => { clearInterval(iv); clearTimeout(t); resolve({ text, closed: true }); });
      s.on('error', () => { /* a reset is a close too */ });
    });
    const [unauth, chunked, missing] = await Promise.all([
      trickle('POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n'),
      trickle('POST /revocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\na\r\n'),
      trickle('POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n'),
    ]);
    expect(unauth.text).toMatch(/^HTTP\/1\.1 401 [^\r]*\r\n[\s\S]*connection: close\r\n/i);
    expect(unauth.closed, 'still reading the body 8 s after the 401').toBe(true);
    expect(chunked.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(chunked.closed, 'still reading the chunked body 8 s after the 401').toBe(true);
    expect(missing.text).toMatch(/^HTTP\/1\.1 404 /);
    expect(missing.closed, 'still reading the body 8 s after the 404').toBe(true);
  });

  // node:http closes an idle keep-alive connection and times a request head once it began, but a
  // connection that never sent a byte stayed open for good: one client held thousands, each a
  // descriptor of the process serving the proxy port too
  it.sequential('a connection that sends no request is closed (5 s, as an idle keep-alive one); a request on a fresh connection still answers', async () => {
    const adminPort = Number(new URL(proxy.adminUrl).port);
    const started = Date.now();
    const silent = connect(adminPort, '127.0.0.1');
    silent.on('error', () => { /* a reset is a close too */ });
    const closed = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => { silent.destroy(); resolve(false); }, 20_000); // a failure bound, not a speed check
      silent.on('close', () => { clearTimeout(t); resolve(true); });
    });
    expect(closed, 'a silent connection still open after 20 s').toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_000); // not closed at once: a client has its time to send
    expect((await admin('/healthz')).status).toBe(200);
  });

  // a client gone mid-body was logged at level error with the stack of node's "aborted": noise that pages
  it.sequential('a client that disconnects before its body ended is an info line, not an error with a stack', async () => {
    const adminPort = Number(new URL(proxy.adminUrl).port);
    const s = connect(adminPort, '127.0.0.1', () => s.write(`POST /revocations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nContent-Length: 1000\r\n\r\n{"kind":`));
    s.on('error', () => { /* we close it */ });
    await new Promise((r) => setTimeout(r, 200));
    s.destroy();
    await waitFor("proxy.logs().some((l) => l.msg === 'admin request aborted by the client before its body ended')", () => proxy.logs().some((l) => l.msg === 'admin request aborted by the client before its body ended'), 10_000);
    expect(proxy.logs().filter((l) => l.msg === 'admin request failed')).toEqual([]);
    expect((await admin('/healthz')).status).toBe(200);
  });

  it.sequential('a method an endpoint does not take is 405 with the Allow header naming the ones it does (RFC 9110 §15.5.6)', async () => {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const m = await request(`${proxy.adminUrl}/metrics`, { method: 'POST', headers: auth, body: '' });
    expect(m.statusCode).toBe(405);
    expect(m.headers.allow).toBe('GET');
    expect((await m.body.json() as { error: string }).error).toBe('method_not_allowed');
    const r = await request(`${proxy.adminUrl}/reload`, { headers: auth });
    expect(r.statusCode).toBe(405);
    expect(r.headers.allow).toBe('POST');
    await r.body.dump();
    const v = await request(`${proxy.adminUrl}/revocations`, { method: 'DELETE', headers: auth });
    expect(v.statusCode).toBe(405);
    expect(String(v.headers.allow).split(', ').sort()).toEqual(['GET', 'POST']);
    await v.body.dump();
  });

  it.sequential('serves every endpoint of the README Admin API table with exactly the methods the table gives it (no NATS: GET/POST /policy are local)', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const at = readme.indexOf('\n## Admin API\n');
    const section = readme.slice(at, readme.indexOf('\n## ', at + 1));
    const documented = new Map<string, string[]>();
    for (const m of section.matchAll(/^\| `([A-Z]+) (\/[a-z/]*)` \|/gm)) documented.set(m[2]!, [...(documented.get(m[2]!) ?? []), m[1]!].sort());
    expect(documented.size).toBeGreaterThanOrEqual(8);
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const problems: string[] = [];
    for (const [path, methods] of documented) {
      const r = await request(`${proxy.adminUrl}${path}`, { method: 'PATCH', headers: auth, body: '' });
      await r.body.dump();
      if (path === '/healthz' || path === '/readyz') {
        // probes answer whatever method a load balancer checks with (HAProxy's `option httpchk URI` sends OPTIONS)
        if (r.statusCode !== 200) problems.push(`PATCH ${path}: ${r.statusCode}, want 200 as for GET`);
        continue;
      }
      const allow = String(r.headers.allow ?? '').split(', ').filter((x) => x !== '').sort();
      if (r.statusCode !== 405 || allow.join() !== methods.join()) problems.push(`${path}: README ${methods.join()}, served ${r.statusCode} Allow ${allow.join()}`);
    }
    expect(problems).toEqual([]);
  });

  it.sequential('GET /revocations takes ?kind= and ?limit= once each and nothing else: a misspelt or repeated filter is 400, not every entry', async () => {
    for (const [kind, value] of [['jti', 'query-j'], ['sid', 'query-s']]) {
      const r = await request(`${proxy.adminUrl}/revocations`, { method: 'POST', body: JSON.stringify({ kind, value }), headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(r.statusCode).toBe(201);
      await r.body.dump();
    }
    const sids = JSON.parse((await admin('/revocations?kind=sid&limit=1', ADMIN_TOKEN)).text) as { entries: Array<{ value: string }> };
    expect(sids.entries.map((e) => e.value)).toEqual(['query-s']);
    // before: 200 with every kind (the filter ignored), or the first of two kinds
    const misspelt = await admin('/revocations?knd=sid', ADMIN_TOKEN);
    expect(misspelt.status).toBe(400);
    expect(JSON.parse(misspelt.text).message).toBe('knd: unknown parameter (expected kind, limit)');
    const twice = await admin('/revocations?kind=sid&kind=jti', ADMIN_TOKEN);
    expect(twice.status).toBe(400);
    expect(JSON.parse(twice.text).message).toBe('kind: given more than once');
    expect((await admin('/revocations?limit=1e2', ADMIN_TOKEN)).status).toBe(400);
    // a name that may be a pasted token is not echoed
    const pasted = await admin('/revocations?eyJhbGciOiJSUzI1NiJ9=1', ADMIN_TOKEN);
    expect(pasted.status).toBe(400);
    expect(pasted.text).not.toContain('eyJhbGciOiJSUzI1NiJ9');
  });

  it.sequential('unknown admin paths are 404', async () => {
    expect((await admin('/nope', ADMIN_TOKEN)).status).toBe(404);
  });

  it.sequential('a body over 1 MiB to POST /revocations or /explain gets 413 (not a dropped connection); the admin keeps serving', async () => {
    const big = JSON.stringify({ kind: 'jti', value: 'x'.repeat(2 * 1024 * 1024) });
    for (const path of ['/revocations', '/explain']) {
      const r = await request(`${proxy.adminUrl}${path}`, { method: 'POST', body: big, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } });
      expect(r.statusCode, path).toBe(413);
      expect(JSON.parse(await r.body.text()), path).toMatchObject({ message: 'admin request body too large' });
    }
    expect((await admin('/healthz')).status).toBe(200);
  });

  it.sequential('a body that is not valid UTF-8 gets 400 and changes nothing (it was decoded lossily and stored with U+FFFD)', async () => {
    const bad = Buffer.concat([Buffer.from('{"kind":"jti","value":"utf8-'), Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), Buffer.from('"}')]);
    for (const path of ['/revocations', '/explain', '/policy']) {
      const r = await request(`${proxy.adminUrl}${path}`, { method: 'POST', body: bad, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } });
      const text = await r.body.text();
      expect(r.statusCode, `${path}: ${text}`).toBe(400);
      expect(text, path).toMatch(/UTF-8/);
    }
    const list = await request(`${proxy.adminUrl}/revocations`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(await list.body.text()).not.toContain('utf8-');
  });

  it.sequential('a JSON body nested past 64 levels to POST /revocations or /explain gets 400 saying so, unparsed (1 MiB of [[[[ held the event loop 1-2.6 s)', async () => {
    const deep = (inner: string): string => `{"kind":"jti","method":"GET","path":"/x","value":${'['.repeat(400_000)}${inner}${']'.repeat(400_000)}}`;
    for (const path of ['/revocations', '/explain']) {
      const r = await request(`${proxy.adminUrl}${path}`, { method: 'POST', body: deep('"deep-jti"'), headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(r.statusCode, path).toBe(400);
      expect(JSON.parse(await r.body.text()), path).toEqual({ error: 'invalid_request', message: 'body: nested deeper than 64 levels' });
    }
    // brackets inside a string are text, not nesting: this revocation is taken
    const ok = await request(`${proxy.adminUrl}/revocations`, { method: 'POST', body: JSON.stringify({ kind: 'jti', value: `x${'[{'.repeat(100)}\\"` }), headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(ok.statusCode, await ok.body.text()).toBe(201);
    expect((await admin('/healthz')).status).toBe(200);
  });

  it.sequential('metrics count requests by route and status, with a latency histogram and upstream errors', async () => {
    for (let i = 0; i < 3; i++) await request(`${proxy.url}/orders/${i}`).then((r) => r.body.text());
    await request(`${proxy.url}/status/503`).then((r) => r.body.text());
    for (let i = 0; i < 2; i++) await rawRequest(proxy.port, requestText('GET', '/a%2Fb'));
    await request(`${proxy.url}/reset`).then((r) => r.body.text());
    const m = (await admin('/metrics', ADMIN_TOKEN)).text;
    expect(m).toContain('portcullis_requests_total{route="orders",status="200"} 3');
    expect(m).toContain('portcullis_requests_total{route="all",status="503"} 1');
    expect(m).toContain('portcullis_requests_total{route="(none)",status="400"} 2');
    expect(m).toContain('portcullis_requests_total{route="all",status="502"} 1');
    expect(m).toContain('portcullis_request_duration_seconds_count{route="orders"} 3');
    expect(m).toMatch(/portcullis_request_duration_seconds_bucket\{le="\+Inf",route="orders"\} 3/);
    expect(m).toContain('portcullis_upstream_errors_total{upstream="app",kind="reset"} 1');
    expect(m).toMatch(/^portcullis_inflight_requests 0$/m);
    // the process's own memory, read at scrape time
    for (const name of ['resident_memory_bytes', 'heap_used_bytes', 'heap_total_bytes', 'external_bytes']) {
      const line = m.split('\n').find((l) => l.startsWith(`portcullis_process_${name} `));
      expect(Number(line?.split(' ').pop()), name).toBeGreaterThan(name === 'external_bytes' ? 0 : 1024 * 1024);
    }
    expect(m).toMatch(/^portcullis_upstream_connections\{upstream="app"\} \d+$/m);
  });
});

describe.concurrent('reload', () => {
  it('POST /reload swaps routes atomically; a bad file keeps the running config (422 with the errors)', async () => {
    const other = await startEchoUpstream({ name: 'other' });
    const cfg = baseConfig(echo.url);
    const file = writeConfig(cfg);
    const p = await startProxy(null, { env: ADMIN_ENV, configPath: file });
    const who = async (): Promise<string> => (await request(`${p.url}/who`).then((r) => r.body.json()) as { upstream: string }).upstream;
    const reload = async (): Promise<{ status: number; body: Record<string, unknown> }> => {
      const r = await request(`${p.adminUrl}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return { status: r.statusCode, body: await r.body.json() as Record<string, unknown> };
    };
    try {
      expect(await who()).toBe('echo');
      writeFileSync(file, stringify({ ...cfg, upstreams: { app: { targets: [other.url] } } }));
      expect(await reload()).toMatchObject({ status: 200, body: { reloaded: true } });
      expect(await who()).toBe('other');
      writeFileSync(file, stringify({ ...cfg, routes: [{ name: 'x', match: { path: '/*' }, upstream: 'nope', auth: 'none' }] }));
      const bad = await reload();
      expect(bad.status).toBe(422);
      expect(JSON.stringify(bad.body.errors)).toContain('unknown upstream \\"nope\\"');
      expect(await who()).toBe('other');
      expect((await request(`${p.adminUrl}/reload`, { method: 'POST' })).statusCode).toBe(401);
    } finally {
      await p.stop();
      await other.close();
    }
  });
});

describe.concurrent('graceful shutdown', () => {
  it('SIGTERM lets an in-flight request finish, refuses new connections, exits 0', async () => {
    const up = await startEchoUpstream();
    const p = await startProxy(baseConfig(up.url), { env: ADMIN_ENV });
    try {
      const inflight = request(`${p.url}/slow/3000`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
      let answered = false;
      void inflight.then(() => { answered = true; }, () => { answered = true; });
      await waitFor("up.lastRequest?.url === '/slow/3000'", () => up.lastRequest?.url === '/slow/3000', 10_000, { detail: () => 'the request at the upstream' });
      await new Promise((r) => setTimeout(r, 100));
      p.proc.kill('SIGTERM');
      // The listen socket is closed while draining (the process closes it after the signal reached it).
      const refused = (): Promise<boolean> => new Promise<boolean>((resolve) => {
        const s = connect(p.port, '127.0.0.1');
        s.on('connect', () => { s.destroy(); resolve(false); });
        s.on('error', () => resolve(true));
      });
      await waitFor('refused', refused, 10_000, { detail: () => 'new connections refused' });
      expect(answered, 'refused while the request was still in flight').toBe(false);
      const res = await inflight;
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ url: '/slow/3000' });
      expect(await p.exited).toBe(0);
    } finally {
      await p.stop();
      await up.close();
    }
  });

  it('a request that outlives drain_ms is cut and the process still exits 0', async () => {
    const up = await startEchoUpstream();
    const p = await startProxy(baseConfig(up.url, { server: { listen: { host: '127.0.0.1', port: 0 }, timeouts: { drain_ms: 300 } } }), { env: ADMIN_ENV });
    try {
      const sock = connect(p.port, '127.0.0.1');
      const closed = new Promise<void>((resolve) => { sock.on('close', () => resolve()); sock.on('error', () => {}); });
      sock.write(requestText('GET', '/hang'));
      await waitFor("up.lastRequest?.url === '/hang'", () => up.lastRequest?.url === '/hang', 10_000, { detail: () => 'the request at the upstream' });
      p.proc.kill('SIGTERM');
      // /hang never answers: only drain_ms ending the wait lets the process exit
      expect(await p.exited).toBe(0);
      await closed;
    } finally {
      await p.stop();
      await up.close();
    }
  });
});

// after the suites above: the shared proxy's request counts are read exactly by the metrics case
describe('access log', () => {
  it('one JSON line per request with route, status, timing and bytes; never credentials', async () => {
    const marker = `/orders/log-${Date.now()}`;
    const r = await request(`${proxy.url}${marker}?q=1`, {
      method: 'POST', body: 'twelve bytes',
      headers: { authorization: 'Bearer super-secret-token-value', cookie: 'session=super-secret-cookie' },
    });
    const body = await r.body.text();
    expect(r.statusCode).toBe(200);
    let line: Record<string, unknown> | undefined;
    await waitFor("(line = proxy.logs().find((l) => l.msg === 'request' && l.path === marker)) !== undefined", () => (line = proxy.logs().find((l) => l.msg === 'request' && l.path === marker)) !== undefined, 3_000);
    expect(line).toMatchObject({ route: 'orders', method: 'POST', status: 200, bytes_in: 12, bytes_out: Buffer.byteLength(body), client: '127.0.0.1' });
    expect(typeof line!.ms).toBe('number');
    expect(typeof line!.upstream_ms).toBe('number');
    expect(proxy.logs().filter((l) => l.msg === 'request' && l.path === marker)).toHaveLength(1);
    expect(proxy.output()).not.toContain('super-secret');
  });
});
