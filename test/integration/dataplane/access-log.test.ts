// The access log and /metrics tell what happened to every request: one `request` line each,
// also for requests refused before routing (404, 400, 414, 431, 503 while draining), with the
// status the client got, an `outcome` (complete / truncated / aborted) and a `reason` whenever
// the proxy did not relay a complete upstream response; incomplete responses are counted by
// outcome and reason in portcullis_responses_incomplete_total.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect } from 'node:net';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { waitFor } from '../../helpers/wait.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { attr, startOtlpCollector, type OtlpCollector, type OtlpSpan } from '../../helpers/otlp-collector.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;
/** Behind a trusted front proxy (server.trust_forwarded), both listeners: the logged client is the one it named. */
let trusted: ProxyProcess;
/** The trusted proxy's span receiver. */
let collector: OtlpCollector;
let n = 0;
/** A path no other request of this file uses, so its log line can be found. */
const unique = (prefix: string): string => `${prefix}/u${++n}-${process.pid}`;

beforeAll(async () => {
  echo = await startEchoUpstream();
  collector = await startOtlpCollector();
  const starting = startProxy(baseConfig(echo.url, {
    tracing: { enabled: true, endpoint: collector.url, batch: { max_spans: 64, interval_ms: 50 } },
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, trust_forwarded: true, limits: { max_header_bytes: 16_384 } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: 'none' }],
  }));
  proxy = await startProxy(baseConfig(echo.url, {
    server: {
      listen: { host: '127.0.0.1', port: 0 },
      limits: { max_url_bytes: 300, max_header_bytes: 2048 },
      timeouts: { drain_ms: 10_000 },
    },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: 'none' }],
  }), { env: ADMIN_ENV });
  trusted = await starting;
});

afterAll(async () => {
  await trusted?.stop();
  await collector?.close();
  await proxy?.stop();
  await echo?.close();
});

type Line = Record<string, unknown>;

/** The access log lines whose path starts with `path` (waits until `count` exist). */
async function accessLines(path: string, count = 1, of: () => ProxyProcess = () => proxy): Promise<Line[]> {
  const find = (): Line[] => of().logs().filter((l) => l.msg === 'request' && typeof l.path === 'string' && l.path.startsWith(path));
  await waitFor('find().length >= count', () => find().length >= count, 5_000);
  return find();
}

async function incomplete(route: string, outcome: string, reason: string): Promise<number> {
  const r = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const want = `portcullis_responses_incomplete_total{route="${route}",outcome="${outcome}",reason="${reason}"} `;
  const line = (await r.body.text()).split('\n').find((l) => l.startsWith(want));
  return line === undefined ? 0 : Number(line.slice(want.length));
}

// The slow reader waits ~10 s for uWS's timer on a connection and path of its own: it runs beside
// the other cases (describe.concurrent), which stay in order (it.sequential); the drain ends the file.
describe.concurrent('early rejections write one access log line each, with status and reason', () => {
  it.sequential.each([
    ['no route → 404', () => unique('/nowhere'), (p: string) => requestText('GET', p), 404, 'route_not_found'],
    ['ambiguous path → 400', () => unique('/api/%2F'), (p: string) => requestText('GET', p), 400, 'path_ambiguous'],
    ['URL over max_url_bytes → 414', () => unique(`/api/${'l'.repeat(400)}`), (p: string) => requestText('GET', p), 414, 'url_too_long'],
    ['headers over max_header_bytes → 431', () => unique('/api/big'), (p: string) => requestText('GET', p, [['X-Big', 'b'.repeat(3000)]]), 431, 'headers_too_large'],
    ['a header value with a non-ASCII byte → 400', () => unique('/api/bytes'), (p: string) => requestText('GET', p, [['X-Name', 'caf\u00c3\u00a9s']]), 400, 'request_malformed'],
    ['two different Content-Lengths → 400', () => unique('/api/cl'), (p: string) => requestText('POST', p, [['Content-Length', '1'], ['Content-Length', '2']], 'x'), 400, 'request_malformed'],
  ])('%s', async (_name, mkPath, mkRequest, status, reason) => {
    const path = mkPath();
    const r = await rawRequest(proxy.port, Buffer.from(mkRequest(path), 'latin1'));
    expect(r.status).toBe(status);
    const lines = await accessLines(path.slice(0, 200));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, route: '(none)', method: expect.any(String), status, outcome: 'complete', reason, client: '127.0.0.1', bytes_in: 0 });
    expect(typeof lines[0]!.ms).toBe('number');
  });
});

describe.concurrent('every response is logged and counted with its real outcome', () => {
  it.sequential('a complete response: outcome complete, no reason; the client is the socket\'s, not a sent X-Forwarded-For', async () => {
    const r = await rawRequest(proxy.port, requestText('GET', '/api/bytes/1000', [['X-Forwarded-For', '6.6.6.6']]));
    expect(r.status).toBe(200);
    const [line] = await accessLines('/api/bytes/1000');
    expect(line).toMatchObject({ route: 'api', status: 200, outcome: 'complete', client: '127.0.0.1' });
    expect(line).not.toHaveProperty('reason');
  });

  it.sequential('a burst over many connections: one whole line per response, none merged, cut or lost', async () => {
    // lines written while an earlier write(2) is in flight are queued and written together (node/log.ts)
    const paths = Array.from({ length: 400 }, (_, i) => unique(`/api/burst-${i}`));
    const statuses = await Promise.all(paths.map(async (p) => { const r = await request(`${proxy.url}${p}`); await r.body.text(); return r.statusCode; }));
    expect(statuses.every((s) => s === 200)).toBe(true);
    const lines = await accessLines('/api/burst-', paths.length);
    expect(lines.map((l) => l.path).sort()).toEqual([...paths].sort());
    expect(proxy.logs().filter((l) => Object.keys(l).length === 0)).toEqual([]); // a line that did not parse
  });

  it.sequential('upstream reset mid-body: status 200 as sent, outcome truncated, reason upstream_reset, counted', async () => {
    const before = await incomplete('api', 'truncated', 'upstream_reset');
    const r = await rawRequest(proxy.port, requestText('GET', '/api/reset-mid'), { waitClose: true });
    expect(r.status).toBe(200);
    expect(r.body.length).toBeLessThan(Number(r.headers['content-length']));
    const [line] = await accessLines('/api/reset-mid');
    expect(line).toMatchObject({ route: 'api', status: 200, outcome: 'truncated', reason: 'upstream_reset' });
    expect(await incomplete('api', 'truncated', 'upstream_reset')).toBe(before + 1);
  });

  it.sequential('client closes mid-download: outcome aborted, reason client_closed, counted', async () => {
    const before = await incomplete('api', 'aborted', 'client_closed');
    const path = `/api/bytes/${1 << 30}`;
    await new Promise<void>((resolve) => {
      const sock = connect(proxy.port, '127.0.0.1');
      let got = 0;
      sock.on('error', () => {});
      sock.on('data', (d: Buffer) => { got += d.length; if (got > 512 * 1024) { sock.destroy(); resolve(); } });
      sock.write(requestText('GET', path));
    });
    const [line] = await accessLines(path);
    expect(line).toMatchObject({ route: 'api', status: 200, outcome: 'aborted', reason: 'client_closed' });
    expect((line!.bytes_out as number)).toBeLessThan(1 << 30);
    expect(await incomplete('api', 'aborted', 'client_closed')).toBe(before + 1);
  });

  it.sequential('client leaves before any status was written: 499, outcome aborted', async () => {
    const sock = connect(proxy.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.write(requestText('GET', '/api/hang'));
    await waitFor("echo.lastRequest?.url === '/api/hang'", () => echo.lastRequest?.url === '/api/hang', 3_000);
    sock.destroy();
    const [line] = await accessLines('/api/hang');
    expect(line).toMatchObject({ status: 499, outcome: 'aborted', reason: 'client_closed' });
  });
});

describe.concurrent('a client that stops reading', () => {
  it('a client that stops reading is cut by uWS: outcome truncated, reason slow_reader', async () => {
    const path = `/api/slow-reader/bytes/${1 << 30}?slow`; // a path of its own: the cases beside it read theirs
    const sock = connect(proxy.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.write(requestText('GET', path));
    sock.pause(); // never read: the proxy's writes stall, uWS drops the connection after ~10 s
    try {
      await waitFor('an access line with reason slow_reader', () => proxy.logs().some((l) => l.msg === 'request' && l.path === `/api/slow-reader/bytes/${1 << 30}` && l.reason === 'slow_reader'), 25_000);
    } finally {
      sock.destroy();
    }
    const line = proxy.logs().find((l) => l.msg === 'request' && l.reason === 'slow_reader');
    expect(line).toMatchObject({ status: 200, outcome: 'truncated' });
    expect(await incomplete('api', 'truncated', 'slow_reader')).toBe(1);
  }, 40_000);
});

describe.concurrent('behind a trusted front proxy the logged client is the one it appended to X-Forwarded-For', () => {
  const lineOf = async (path: string): Promise<Line> => (await accessLines(path, 1, () => trusted))[0]!;
  it('HTTP/1.1: the rightmost entry is `client`, the socket is `peer`; upstream gets the chain with the peer appended', async () => {
    const path = unique('/api/xff');
    const r = await rawRequest(trusted.port, requestText('GET', path, [['X-Forwarded-For', '6.6.6.6, 203.0.113.7']]));
    expect(r.status).toBe(200);
    expect(await lineOf(path)).toMatchObject({ route: 'api', status: 200, client: '203.0.113.7', peer: '127.0.0.1' });
    expect(JSON.parse(r.body.toString()).headers['x-forwarded-for']).toBe('6.6.6.6, 203.0.113.7, 127.0.0.1');
    // the request span says the same: client.address the named client, network.peer.address the socket
    const span = (): OtlpSpan | undefined => collector.spans.find((sp) => sp.kind === 2 && attr(sp, 'url.path') === path);
    await waitFor('the request span is exported', () => span() !== undefined, 5_000);
    const sp = span()!;
    expect([attr(sp, 'client.address'), attr(sp, 'network.peer.address')]).toEqual(['203.0.113.7', '127.0.0.1']);
  });
  it('several X-Forwarded-For lines are one list: the last line\'s last entry (IPv6 as sent)', async () => {
    const path = unique('/api/xff2');
    const r = await rawRequest(trusted.port, requestText('GET', path, [['X-Forwarded-For', '6.6.6.6'], ['X-Forwarded-For', '10.0.0.1,  2001:db8::7 ']]));
    expect(r.status).toBe(200);
    expect(await lineOf(path)).toMatchObject({ client: '2001:db8::7', peer: '127.0.0.1' });
  });
  it('a refusal before routing (404) names the same client', async () => {
    const path = unique('/nowhere-xff');
    const r = await rawRequest(trusted.port, requestText('GET', path, [['X-Forwarded-For', '198.51.100.9']]));
    expect(r.status).toBe(404);
    expect(await lineOf(path)).toMatchObject({ route: '(none)', reason: 'route_not_found', client: '198.51.100.9', peer: '127.0.0.1' });
  });
  it.each([
    ['a port', '203.0.113.7:4711'], ['brackets', '[2001:db8::7]'], ['unknown', 'unknown'], ['a zone', 'fe80::1%eth0'],
    ['an empty last entry', '203.0.113.7, '], ['markup', '1.2.3.4, <script>"x"</script>'], ['10 KB', `1.2.3.4, ${'9'.repeat(10_000)}`],
  ])('an entry that is not an IP literal (%s) falls back to the socket peer', async (_name, xff) => {
    const path = unique('/api/hostile');
    const r = await rawRequest(trusted.port, requestText('GET', path, [['X-Forwarded-For', xff]]));
    expect(r.status).toBe(200);
    expect(await lineOf(path)).toMatchObject({ client: '127.0.0.1', peer: '127.0.0.1' });
  });
  it('HTTP/2 listener: the same rule, for a relayed request and a refused one', async () => {
    const origin = `http://127.0.0.1:${http2PortOf(trusted.logs())}`;
    const ok = unique('/api/h2xff');
    const miss = unique('/nowhere-h2xff');
    const bad = unique('/api/h2bad');
    expect((await h2Fetch(origin, { ':path': ok, 'x-forwarded-for': '6.6.6.6, 203.0.113.8' })).status).toBe(200);
    expect((await h2Fetch(origin, { ':path': miss, 'x-forwarded-for': '203.0.113.9' })).status).toBe(404);
    expect((await h2Fetch(origin, { ':path': bad, 'x-forwarded-for': '203.0.113.8:1' })).status).toBe(200);
    expect(await lineOf(ok)).toMatchObject({ listener: 'http2', client: '203.0.113.8', peer: '127.0.0.1' });
    expect(await lineOf(miss)).toMatchObject({ listener: 'http2', client: '203.0.113.9', peer: '127.0.0.1' });
    expect(await lineOf(bad)).toMatchObject({ listener: 'http2', client: '127.0.0.1', peer: '127.0.0.1' });
  });
});

describe('a request during the drain is logged too', () => {
  it('a request on a kept-alive connection after SIGTERM → served with Connection: close, one log line', async () => {
    // a slow request keeps the drain going; a second, idle keep-alive connection then asks again
    const slow = rawRequest(proxy.port, requestText('GET', '/api/slow/1500'), { timeoutMs: 10_000 });
    await waitFor("echo.lastRequest?.url === '/api/slow/1500'", () => echo.lastRequest?.url === '/api/slow/1500', 5_000);
    const sock = connect(proxy.port, '127.0.0.1');
    sock.on('error', () => {});
    let buf = '';
    sock.on('data', (d: Buffer) => { buf += d.toString('latin1'); });
    sock.write(requestText('GET', '/api/warm'));
    await waitFor('buf.includes(\'"url":"/api/warm"\')', () => buf.includes('"url":"/api/warm"'), 5_000);
    buf = '';
    proxy.proc.kill('SIGTERM');
    // draining once the listen socket is closed: new connections are refused
    const refused = (): Promise<boolean> => new Promise((resolve) => {
      const probe = connect(proxy.port, '127.0.0.1');
      probe.on('connect', () => { probe.destroy(); resolve(false); });
      probe.on('error', () => resolve(true));
    });
    await waitFor('refused', refused, 5_000);
    // the kept-alive connection still carries requests
    const path = unique('/api/after-sigterm');
    sock.write(requestText('GET', path));
    await waitFor(`buf.includes('"url":"${path}"')`, () => buf.includes(`"url":"${path}"`), 5_000);
    // served (before: 503 shutting_down), and the client is told not to reuse the connection
    expect(buf).toContain('HTTP/1.1 200');
    expect(buf.toLowerCase()).toContain('\r\nconnection: close\r\n');
    const lines = await accessLines(path);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ route: 'api', status: 200, outcome: 'complete' });
    expect((await slow).status).toBe(200); // in-flight requests still finish
    sock.destroy();
  });
});
