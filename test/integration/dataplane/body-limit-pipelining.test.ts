// A request body refused mid-stream for its size (413, `Connection: close`) must end the connection:
// the 413 is decided in uWS's body callback, inside its parse loop, where the pinned build resets the
// close when the same read holds another request and serves it (node/handler-scope.ts). Raw bytes in,
// the exact bytes a raw upstream received out.
import { it, expect, beforeAll, afterAll } from 'vitest';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startScriptedUpstream, type ScriptedUpstream, fixtureIssuer } from '../../helpers/upstreams.js';
import { fixtureKeys, jwksOf } from '../../fixtures/keys.js';
import { waitReady } from '../auth/tokens-helpers.js';

const LIMIT = 16;
const EVENT_LIMIT = 20 * 1024; // MAX_EVENT_BODY_BYTES (node/events)

let upstream: Server;
/** Every byte the upstream received, all connections. */
let received = '';
let jwks: ScriptedUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  // answers a body-less request at its head, a chunked one at its last chunk: enough for the proxy to serve
  upstream = createServer((s: Socket) => {
    let pending = '';
    s.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      pending += d.toString('latin1');
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const chunked = /\r\ntransfer-encoding: chunked\r\n/i.test(pending.slice(0, end + 2));
        const last = chunked ? pending.indexOf('\r\n0\r\n\r\n', end) : end;
        if (last < 0) return;
        pending = pending.slice(chunked ? last + 7 : end + 4);
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nreached');
      }
    });
    s.on('error', () => { /* the proxy drops connections whose request body did not complete */ });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const port = (upstream.address() as AddressInfo).port;
  jwks = await startScriptedUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([fixtureKeys().RS256])));
  });
  proxy = await startProxy(baseConfig(`http://127.0.0.1:${port}`, {
    server: { listen: { host: '127.0.0.1', port: 0 }, limits: { max_body_bytes: LIMIT } },
    issuers: {
      fx: fixtureIssuer(jwks.url, { backchannel_logout: { path: '/oidc/backchannel-logout', client_id: 'portcullis-web' } }),
    },
    routes: [
      { name: 'public', match: { path: '/pub/*' }, upstream: 'app', auth: 'none' },
    ],
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await new Promise<void>((r) => upstream.close(() => r()));
  await jwks?.close();
});

/** Write `parts` (each its own write, `gapMs` apart); everything the proxy answers until it closes (or 3 s pass). */
function exchange(parts: string[], gapMs = 0): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(proxy.port, '127.0.0.1');
    let text = '';
    const t = setTimeout(() => { s.destroy(); resolve({ text, closed: false }); }, 3_000);
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(t); resolve({ text, closed: true }); });
    s.on('error', () => { /* a reset is a close too */ });
    s.on('connect', async () => {
      for (const p of parts) {
        s.write(p);
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

const smuggled = 'GET /pub/smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
const chunkedHead = (path: string): string => `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`;
const chunk = (data: string): string => `${data.length.toString(16)}\r\n${data}\r\n`;
const over = 'x'.repeat(LIMIT + 4);

const cases: Array<[string, string[]]> = [
  ['one chunk over the limit, the last chunk and a request, in one write', [chunkedHead('/pub/a') + chunk(over) + '0\r\n\r\n' + smuggled]],
  ['the head first; then the body over the limit and a request', [chunkedHead('/pub/a'), chunk(over) + '0\r\n\r\n' + smuggled]],
  // the upstream already has the head and the first chunk when the limit is crossed
  ['a chunk under the limit forwarded; then one over it and a request', [chunkedHead('/pub/a') + chunk('12345678'), chunk(over) + '0\r\n\r\n' + smuggled]],
  ['the back-channel logout endpoint: a body over its limit and a request', [chunkedHead('/oidc/backchannel-logout') + chunk('x'.repeat(EVENT_LIMIT + 16)) + '0\r\n\r\n' + smuggled]],
];

for (const [name, parts] of cases) {
  it(`${name}: the request behind the 413 is never forwarded, the connection closes`, async () => {
    const before = received.length;
    const r = await exchange(parts, 150);
    expect(r.closed, r.text).toBe(true);
    expect(r.text, 'no second response').not.toContain('reached');
    // the 413 itself, or nothing when uWS closed on the request queued behind it (as for refusals)
    if (r.text !== '') expect(r.text).toMatch(/^HTTP\/1\.1 413 [^\r]*\r\n[\s\S]*Connection: close\r\n/i);
    await new Promise((res) => setTimeout(res, 200)); // a forward that was wrongly started would land here
    expect(received.slice(before)).not.toContain('/pub/smuggled');
  });
}

it('a body over the limit alone on its connection still gets its 413, then the close it announces', async () => {
  const r = await exchange([chunkedHead('/pub/a') + chunk(over) + '0\r\n\r\n']);
  expect(r.text).toMatch(/^HTTP\/1\.1 413 [^\r]*\r\n[\s\S]*Connection: close\r\n[\s\S]*PORTCULLIS_ERR_BODY_TOO_LARGE/i);
  expect(r.closed).toBe(true);
  const e = await exchange([chunkedHead('/oidc/backchannel-logout'), chunk('x'.repeat(EVENT_LIMIT + 16)) + '0\r\n\r\n'], 100);
  expect(e.text).toMatch(/^HTTP\/1\.1 413 [^\r]*\r\n[\s\S]*Connection: close\r\n/i);
  expect(e.closed).toBe(true);
});

it('a body within the limit is forwarded whole and the connection stays usable', async () => {
  const r = await exchange([chunkedHead('/pub/ok') + chunk('hello') + '0\r\n\r\n']);
  expect(r.closed).toBe(false);
  expect(r.text).toMatch(/^HTTP\/1\.1 200 [\s\S]*reached$/);
});
