// Pipelined floods of requests the proxy answers inside uWS's handler (a 401 to a GET without a
// token, a decision verdict): uWS parses a whole read (up to 512 KiB, ~16 000 requests) in one
// native call, so without a bound one client's write held the event loop for seconds and, when
// that client did not read, every answer piled up in the process. Raw bytes over `net` here.
import { it, expect, beforeAll, afterAll } from 'vitest';
import { connect, type Socket } from 'node:net';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rssBytes, startFixtureJwks, startScriptedUpstream, type ScriptedUpstream, fixtureIssuer } from '../../helpers/upstreams.js';
import { waitReady } from '../auth/tokens-helpers.js';

let upstream: ScriptedUpstream;
let jwks: ScriptedUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  upstream = await startScriptedUpstream((req, res) => { req.resume(); req.on('end', () => res.end(`reached ${req.url}`)); });
  jwks = await startFixtureJwks();
  proxy = await startProxy(baseConfig(upstream.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'auto' }] } },
    issuers: { fx: fixtureIssuer(jwks.url) },
    routes: [
      { name: 'public', match: { path: '/pub/*' }, upstream: 'app', auth: 'none' },
      { name: 'private', match: { path: '/api/*' }, upstream: 'app', auth: {} },
    ],
    log: { level: 'info', access: false },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await jwks?.close();
});

const noToken = 'GET /api/a HTTP/1.1\r\nHost: x\r\n\r\n';
const decisionCall = 'GET /_portcullis/auth HTTP/1.1\r\nHost: x\r\nX-Original-URI: /api/a\r\nX-Original-Method: GET\r\n\r\n';

/** Write `count` copies of `request` in one go and read everything until the proxy closes (or 10 s pass). */
function flood(request: string, count: number): Promise<{ answers: number; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(proxy.port, '127.0.0.1');
    let text = '';
    const done = (closed: boolean): void => { clearTimeout(t); s.destroy(); resolve({ answers: text.split('HTTP/1.1 ').length - 1, closed }); };
    const t = setTimeout(() => done(false), 10_000);
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.on('close', () => done(true));
    s.on('error', () => { /* a reset is a close too */ });
    s.write(request.repeat(count));
  });
}

/** An honest request on its own connection: its status, or the error when none came within `ms`. */
async function honest(ms: number): Promise<string> {
  try {
    const r = await fetch(`${proxy.url}/pub/honest`, { signal: AbortSignal.timeout(ms) });
    await r.text();
    return String(r.status);
  } catch (err) {
    return `no answer within ${ms} ms (${(err as Error).name})`;
  }
}

it('1000 pipelined requests without a token in one write: answers stop well short of 1000 and the connection closes', async () => {
  const r = await flood(noToken, 1000);
  expect(r.closed, `${r.answers} answers, connection still open`).toBe(true);
  expect(r.answers).toBeGreaterThan(0);
  expect(r.answers).toBeLessThan(1000);
});

it('the same for pipelined calls of a decision endpoint', async () => {
  const r = await flood(decisionCall, 1000);
  expect(r.closed, `${r.answers} answers, connection still open`).toBe(true);
  expect(r.answers).toBeGreaterThan(0);
  expect(r.answers).toBeLessThan(1000);
});

it('a request behind a few refusals on the same connection is still served (ordinary pipelining keeps working)', async () => {
  const r = await flood(`${noToken.repeat(3)}GET /pub/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 1);
  expect(r.answers).toBe(4);
  expect(upstream.seen.map((s) => s.url)).toContain('/pub/b');
});

it('10 clients writing 100 000 refused requests each and never reading: another client is answered, the process memory stays bounded', async () => {
  const rssBefore = rssBytes(proxy.proc.pid!);
  const attackers: Socket[] = [];
  const bytes = noToken.repeat(100_000); // 3.2 MB per client
  for (let i = 0; i < 10; i++) {
    const s = connect(proxy.port, '127.0.0.1');
    s.on('error', () => { /* closed by the proxy */ });
    s.pause(); // never reads: every answer the proxy keeps for it stays in the proxy
    s.write(bytes);
    attackers.push(s);
  }
  try {
    await new Promise((r) => setTimeout(r, 500));
    expect(await honest(10_000)).toBe('200');
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await honest(10_000)).toBe('200');
    const grown = rssBytes(proxy.proc.pid!) - rssBefore;
    // unbounded, the answers alone are ~330 MB (10 × 100 000 × ~330 bytes)
    expect(grown, `RSS grew by ${Math.round(grown / 2 ** 20)} MiB`).toBeLessThan(64 * 2 ** 20);
  } finally {
    for (const s of attackers) s.destroy();
  }
});

it('a client that keeps sending refused requests a few at a time and never reads is closed once its answers back up (not kept in the process)', async () => {
  const s = connect(proxy.port, '127.0.0.1');
  s.on('error', () => { /* closed by the proxy */ });
  s.pause(); // never reads
  let closed = false;
  s.on('close', () => { closed = true; });
  const burst = noToken.repeat(20); // well under the per-turn budget: only the backlog can stop it
  const rssBefore = rssBytes(proxy.proc.pid!);
  const end = Date.now() + 45_000;
  while (!closed && Date.now() < end) {
    s.write(burst);
    await new Promise((r) => setTimeout(r, 20));
  }
  s.destroy();
  // unbounded, the proxy kept this connection and ~330 bytes per request in its memory for as long as it sent
  expect(closed, `still open after 45 s, RSS +${Math.round((rssBytes(proxy.proc.pid!) - rssBefore) / 2 ** 20)} MiB`).toBe(true);
  expect(await honest(10_000)).toBe('200');
}, 60_000);
