// A refused request answered `Connection: close` must end the connection: bytes behind it (pipelined,
// or the "body" of a request refused for its framing) must never be read as a request and forwarded.
// The pinned uWS build parsed them and reset its close (node/handler-scope.ts); raw bytes here.
import { it, expect, beforeAll, afterAll } from 'vitest';
import { connect } from 'node:net';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startFixtureJwks, startScriptedUpstream, type ScriptedUpstream, fixtureIssuer } from '../../helpers/upstreams.js';
import { waitReady } from '../auth/tokens-helpers.js';

let upstream: ScriptedUpstream;
let jwks: ScriptedUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  upstream = await startScriptedUpstream((req, res) => { req.resume(); req.on('end', () => res.end(`reached ${req.url}`)); });
  jwks = await startFixtureJwks();
  proxy = await startProxy(baseConfig(upstream.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'auto' }] } },
    issuers: {
      fx: fixtureIssuer(jwks.url, { backchannel_logout: { path: '/oidc/backchannel-logout', client_id: 'portcullis-web' } }),
    },
    routes: [
      { name: 'public', match: { path: '/pub/*' }, upstream: 'app', auth: 'none' },
      { name: 'private', match: { path: '/api/*' }, upstream: 'app', auth: {} },
    ],
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await jwks?.close();
});

/** Write `bytes` in one segment; everything the proxy answers until it closes (or 3 s pass). */
function exchange(bytes: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(proxy.port, '127.0.0.1');
    let text = '';
    const t = setTimeout(() => { s.destroy(); resolve({ text, closed: false }); }, 3_000);
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(t); resolve({ text, closed: true }); });
    s.on('error', () => { /* a reset is a close too */ });
    s.write(bytes);
  });
}

const smuggled = 'GET /pub/smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
const post = (path: string, framing: string, body: string): string => `POST ${path} HTTP/1.1\r\nHost: x\r\n${framing}\r\n${body}`;

const cases: Array<[string, string, number]> = [
  // uWS frames by the first Content-Length (0): the rest would be a request of its own
  ['two different Content-Lengths, the bytes after the head a request', post('/pub/a', `Content-Length: 0\r\nContent-Length: ${smuggled.length}\r\n`, smuggled), 400],
  // uWS reads the body as chunked; the proxy refuses a coding it does not apply
  ['Transfer-Encoding: chunked, gzip, an empty body, then a request', post('/pub/a', 'Transfer-Encoding: chunked, gzip\r\n', `0\r\n\r\n${smuggled}`), 400],
  ['Transfer-Encoding twice (chunked, identity), then a request', post('/pub/a', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', `0\r\n\r\n${smuggled}`), 400],
  ['no route, with a body, then a request', post('/nowhere', 'Content-Length: 5\r\n', `hello${smuggled}`), 404],
  ['a header byte refused, then a request', `GET /pub/a HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n${smuggled}`, 400],
  // refused by the pipeline (no token) before its body was read: the relay's closing answer
  ['no token on a private route, with a body, then a request', post('/api/a', 'Content-Length: 5\r\n', `hello${smuggled}`), 401],
  // the back-channel logout endpoint refusing a method (405, body unread)
  ['a GET with a body at the back-channel logout endpoint, then a request', `GET /oidc/backchannel-logout HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello${smuggled}`, 405],
  // a decision endpoint refusing a call whose body it does not read
  ['a decision call without a token, with a body, then a request',
    post('/_portcullis/auth', 'X-Original-URI: /api/a\r\nX-Original-Method: GET\r\nContent-Length: 5\r\n', `hello${smuggled}`), 401],
];

for (const [name, bytes, status] of cases) {
  it(`${name}: nothing behind the refusal is forwarded, the connection closes`, async () => {
    const before = upstream.seen.length;
    const r = await exchange(bytes);
    expect(r.closed, r.text).toBe(true);
    expect(r.text, 'no second response').not.toContain('reached');
    // the refused request itself, or nothing when uWS closed on the request queued behind it
    if (r.text !== '') expect(r.text).toMatch(new RegExp(`^HTTP/1\\.1 ${status} [^\\r]*\\r\\n[\\s\\S]*Connection: close\\r\\n`, 'i'));
    await new Promise((res) => setTimeout(res, 200)); // a forward that was wrongly started would land here
    expect(upstream.seen.slice(before).map((s) => s.url)).toEqual([]);
  });
}

it('a refusal alone on its connection still gets its answer, then the close it announces', async () => {
  const r = await exchange(post('/pub/a', 'Content-Length: 0\r\nContent-Length: 4\r\n', 'abcd'));
  expect(r.text).toMatch(/^HTTP\/1\.1 400 [^\r]*\r\n[\s\S]*Connection: close\r\n[\s\S]*PORTCULLIS_ERR_REQUEST_MALFORMED/i);
  expect(r.closed).toBe(true);
  const r2 = await exchange(post('/api/a', 'Content-Length: 5\r\n', 'hello'));
  expect(r2.text).toMatch(/^HTTP\/1\.1 401 [^\r]*\r\n[\s\S]*Connection: close\r\n/i);
  expect(r2.closed).toBe(true);
});

it('a HEAD refusal, written one turn later, still gets its head, and the proxy keeps serving', async () => {
  // the deferred answer ends with a bare endWithoutBody() outside the handler (node/http/respond.ts)
  const r = await exchange('HEAD /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  expect(r.text).toMatch(/^HTTP\/1\.1 404 [^\r]*\r\n[\s\S]*content-length: \d+\r\n[\s\S]*\r\n\r\n$/i);
  const ok = await exchange('GET /pub/alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  expect(ok.text).toContain('reached /pub/alive');
});

it('a request behind a refusal that keeps the connection open (no body, no close) is still served', async () => {
  const before = upstream.seen.length;
  const r = await exchange(`GET /api/a HTTP/1.1\r\nHost: x\r\n\r\nGET /pub/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  expect(r.text).toMatch(/^HTTP\/1\.1 401 /);
  expect(r.text).toContain('reached /pub/b');
  expect(upstream.seen.slice(before).map((s) => s.url)).toEqual(['/pub/b']);
});
