// Bad input against a real proxy: path-normalisation bypass attempts, 413 (by
// content-length and counted while a chunked body streams), 431, 414, 408 (body not
// completed within server.timeouts.request_ms), smuggling-shaped framing. Each gets a
// clear status, nothing half-forwarded completes at the upstream, the proxy survives.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText, type RawResponse } from '../../helpers/raw-http.js';
import { waitFor } from '../../helpers/wait.js';

let app: EchoUpstream;
let secret: EchoUpstream;
let proxy: ProxyProcess;

const MAX_BODY = 1000;
const MAX_HEADERS = 2048;

beforeAll(async () => {
  app = await startEchoUpstream({ name: 'app' });
  secret = await startEchoUpstream({ name: 'secret' });
  proxy = await startProxy(baseConfig(app.url, {
    server: {
      listen: { host: '127.0.0.1', port: 0 },
      limits: { max_body_bytes: MAX_BODY, max_header_bytes: MAX_HEADERS, max_url_bytes: 1024 },
      timeouts: { request_ms: 500 },
    },
    upstreams: { app: { targets: [app.url] }, secret: { targets: [secret.url] } },
    routes: [
      { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
      { name: 'admin', match: { path: '/admin/*' }, upstream: 'secret', auth: 'none' },
      { name: 'rest', match: { path: '/*' }, upstream: 'app', auth: 'none' },
    ],
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([app?.close(), secret?.close()]);
});

const total = (): number => app.requests + secret.requests;

function json(r: RawResponse): Record<string, unknown> {
  return JSON.parse(r.body.toString()) as Record<string, unknown>;
}

async function expectAlive(): Promise<void> {
  const r = await rawRequest(proxy.port, requestText('GET', '/public/alive'));
  expect(r.status).toBe(200);
  expect(proxy.proc.exitCode).toBeNull();
}

describe('path normalisation cannot bypass a route', () => {
  it.each([
    ['/public/../admin/x', '/admin/x'],
    ['/public/%2e%2e/admin/x', '/admin/x'],
    ['/public/.%2E/admin/x', '/admin/x'],
    ['/public/%2E./admin/x', '/admin/x'],
    ['//admin/x', '/admin/x'],
    ['/./admin/x', '/admin/x'],
    ['/public/./../admin//x', '/admin/x'],
    ['/%61dmin/x', '/admin/x'],
    ['/admin/x?q=/public/../', '/admin/x?q=/public/../'],
  ])('%s reaches the admin route as %s', async (raw, forwarded) => {
    const before = secret.requests;
    const r = await rawRequest(proxy.port, requestText('GET', raw));
    expect(r.status).toBe(200);
    expect(json(r)).toMatchObject({ upstream: 'secret', url: forwarded });
    expect(secret.requests).toBe(before + 1);
  });

  it.each([
    '/public/..%2Fadmin/x',
    '/public/%2e%2e%2fadmin/x',
    '/admin%2Fx',
    '/public/..%5Cadmin/x',
    '/public\\..\\admin\\x',
    '/admin/x%00',
    '/admin/x%00.json',
    '/..',
    '/%2e%2e/admin/x',
    '/public/../../admin/x',
    '/admin/%252e%252e/x',
    '/admin/%zz',
  ])('%s → 400 PORTCULLIS_ERR_PATH_AMBIGUOUS, nothing forwarded', async (raw) => {
    const before = total();
    const r = await rawRequest(proxy.port, requestText('GET', raw));
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('application/json');
    expect(json(r)).toMatchObject({ error: 'invalid_request', code: 'PORTCULLIS_ERR_PATH_AMBIGUOUS' });
    expect(total()).toBe(before);
  });
});

describe('limits', () => {
  it('413 when content-length exceeds max_body_bytes; nothing forwarded', async () => {
    const before = total();
    const r = await rawRequest(proxy.port, requestText('POST', '/public/upload', [['Content-Length', String(MAX_BODY + 1)]]), { waitClose: true, timeoutMs: 2_000 });
    expect(r.status).toBe(413);
    expect(json(r)).toMatchObject({ code: 'PORTCULLIS_ERR_BODY_TOO_LARGE' });
    expect(r.closed).toBe(true); // the unread body makes the connection unusable
    expect(total()).toBe(before);
  });

  it('a body of exactly max_body_bytes passes, by content-length and chunked', async () => {
    const body = 'b'.repeat(MAX_BODY);
    const r1 = await rawRequest(proxy.port, requestText('POST', '/public/sink', [], body));
    expect(r1.status).toBe(200);
    expect(json(r1).bodyBytes).toBe(MAX_BODY);
    const chunked = `${(MAX_BODY / 2).toString(16)}\r\n${'c'.repeat(MAX_BODY / 2)}\r\n`.repeat(2) + '0\r\n\r\n';
    const r2 = await rawRequest(proxy.port, requestText('POST', '/public/sink', [['Transfer-Encoding', 'chunked']], chunked));
    expect(r2.status).toBe(200);
    expect(json(r2).bodyBytes).toBe(MAX_BODY);
  });

  it('413 for a chunked body counted as it streams; the upstream sees nothing or an aborted request', async () => {
    const before = app.requests;
    const abortedBefore = app.aborted;
    const chunk = `190\r\n${'a'.repeat(400)}\r\n`; // 400 bytes per chunk
    const r = await rawRequest(proxy.port, [requestText('POST', '/public/sink', [['Transfer-Encoding', 'chunked']]), chunk, chunk, chunk, chunk], { gapMs: 30, waitClose: true, timeoutMs: 3_000 });
    expect(r.status).toBe(413);
    expect(json(r)).toMatchObject({ code: 'PORTCULLIS_ERR_BODY_TOO_LARGE' });
    expect(r.closed).toBe(true);
    // Whatever reached the upstream was cut: no request completed there.
    await waitFor('app.requests - before === app.aborted - abortedBefore', () => app.requests - before === app.aborted - abortedBefore, 2_000);
    await expectAlive();
  });

  it('431 when headers exceed max_header_bytes; a header block just under it passes', async () => {
    const before = total();
    const r = await rawRequest(proxy.port, requestText('GET', '/public/x', [['X-Big', 'a'.repeat(MAX_HEADERS + 10)]]));
    expect(r.status).toBe(431);
    expect(json(r)).toMatchObject({ code: 'PORTCULLIS_ERR_HEADERS_TOO_LARGE' });
    const many = Array.from({ length: 40 }, (_, i) => [`X-H${i}`, 'v'.repeat(60)] as [string, string]); // ~40 × 72 bytes
    const r2 = await rawRequest(proxy.port, requestText('GET', '/public/x', many));
    expect(r2.status).toBe(431);
    expect(total()).toBe(before);
    const ok = await rawRequest(proxy.port, requestText('GET', '/public/x', [['X-Big', 'a'.repeat(MAX_HEADERS - 200)]]));
    expect(ok.status).toBe(200);
  });

  it('414 when the request target exceeds max_url_bytes', async () => {
    const before = total();
    const r = await rawRequest(proxy.port, requestText('GET', `/public/${'a'.repeat(1100)}`));
    expect(r.status).toBe(414);
    expect(json(r)).toMatchObject({ code: 'PORTCULLIS_ERR_URL_TOO_LONG' });
    expect(total()).toBe(before);
  });

  it('408 when the body is not completed within request_ms; the upstream request is cut', async () => {
    const before = app.requests;
    const abortedBefore = app.aborted;
    const t0 = Date.now();
    const r = await rawRequest(proxy.port, requestText('POST', '/public/sink', [['Content-Length', '100']], 'abc'), { waitClose: true, timeoutMs: 3_000 });
    const ms = Date.now() - t0;
    expect(r.status).toBe(408);
    expect(json(r)).toMatchObject({ code: 'PORTCULLIS_ERR_REQUEST_TIMEOUT' });
    expect(r.closed).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(450); // at request_ms, not before (a 408 at all: uWS's own cut sends none)
    await waitFor('app.requests - before === app.aborted - abortedBefore', () => app.requests - before === app.aborted - abortedBefore, 2_000);
  });

  it('a body completed in time, in slow pieces, is forwarded whole', async () => {
    const r = await rawRequest(proxy.port, [requestText('POST', '/public/sink', [['Content-Length', '9']]), 'abc', 'def', 'ghi'], { gapMs: 100, timeoutMs: 3_000 });
    expect(r.status).toBe(200);
    expect(json(r).bodyBytes).toBe(9);
  });
});

describe('framing and header tricks', () => {
  it.each([
    ['Content-Length and Transfer-Encoding together', 'POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two different Content-Lengths', 'POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
    ['Transfer-Encoding other than chunked', 'POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n'],
    ['chunked applied twice (two Transfer-Encoding lines)', 'POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['negative Content-Length', 'POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'],
    ['invalid chunk size', 'POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'],
    ['two Host headers', 'GET /admin/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
  ])('%s → 400 or closed, nothing completes upstream', async (_name, data) => {
    const before = total();
    const abortedBefore = app.aborted + secret.aborted;
    const r = await rawRequest(proxy.port, data, { waitClose: true, timeoutMs: 3_000 });
    if (r.status !== 0) {
      expect(r.status).toBe(400);
      expect(json(r)).toMatchObject({ code: 'PORTCULLIS_ERR_REQUEST_MALFORMED' });
    } else {
      expect(r.closed).toBe(true);
    }
    expect(total() - before).toBe(app.aborted + secret.aborted - abortedBefore);
    await expectAlive();
  });
});
