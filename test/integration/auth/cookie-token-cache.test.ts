// A shared cache in front of the proxy (a CDN, nginx proxy_cache) sees `Authorization` and, by RFC 9111
// §3.5, stores no answer to such a request unless the answer allows it — but a token in a cookie or in the
// route's token header is invisible to it: an upstream answer without Cache-Control (heuristically fresh
// by its Last-Modified) could be stored and handed to the next user. The proxy marks such answers
// `Cache-Control: private` unless the upstream allowed sharing as §3.5 reads it. Both front doors.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ClientHttp2Session } from 'node:http2';
import { directives } from '../../helpers/cache-control.js';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { asIssuer, bearer, call, startRecorder, waitReady, type Recorder } from './tokens-helpers.js';

let as: AuthServer;
let upstream: Recorder;
let proxy: ProxyProcess;
let session: ClientHttp2Session;

/** The upstream's Cache-Control per path tail: none (the usual app), an explicit share, a private one. */
const UPSTREAM_CC: Record<string, string | undefined> = {
  bare: undefined,
  public: 'public, max-age=600',
  shared: 's-maxage=60',
  revalidate: 'max-age=60, must-revalidate',
  maxage: 'max-age=600',
  hidden: 'public, max-age=600', // named in Connection below: hop-by-hop, so the client never gets it
};

beforeAll(async () => {
  as = await startAuthServer({ algorithms: ['RS256'] });
  upstream = await startRecorder((req, _body, res) => {
    const cc = UPSTREAM_CC[(req.url ?? '').split('/').pop()!.split('?')[0]!];
    const h: Record<string, string> = { 'content-type': 'text/plain', 'last-modified': 'Mon, 07 Dec 2026 08:00:00 GMT' };
    if (cc !== undefined) h['cache-control'] = cc;
    if (req.url?.endsWith('/hidden') === true) h.connection = 'cache-control';
    // the body a shared cache would hand the next user: this user's
    res.writeHead(200, h).end(`account of ${String(req.headers['x-auth-subject'])}`);
  });
  proxy = await startProxy(baseConfig(upstream.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
    routes: [
      { name: 'cookie', match: { path: '/c/*' }, upstream: 'app', auth: { token_sources: { cookie: 'session' } } },
      { name: 'keyed', match: { path: '/k/*' }, upstream: 'app', auth: { token_sources: { header: 'x-api-token' } } },
    ],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  session = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
});

afterAll(async () => {
  session?.close();
  await proxy?.stop();
  await Promise.all([as?.close(), upstream?.close()]);
});

describe('Cache-Control: private on answers to cookie and token-header requests (RFC 9111 §3.5 extended)', () => {
  it('HTTP/1.1: a cookie token, an upstream answer without Cache-Control → private to the client', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const r = await call(`${proxy.url}/c/bare`, { headers: { cookie: `session=${t}` } });
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('account of alice');
    expect(directives(r.headers)).toEqual(['private']);
  });

  it('HTTP/1.1: a token header, `max-age` alone (no share allowed by §3.5) → private beside it', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const r = await call(`${proxy.url}/k/maxage`, { headers: { 'x-api-token': t } });
    expect(r.status, r.text).toBe(200);
    expect(directives(r.headers)).toEqual(['max-age=600', 'private']);
  });

  it('HTTP/1.1: the upstream allows sharing (`public`, `s-maxage`, `must-revalidate`) → its Cache-Control unchanged', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    for (const [tail, want] of [['public', ['public', 'max-age=600']], ['shared', ['s-maxage=60']], ['revalidate', ['max-age=60', 'must-revalidate']]] as const) {
      const r = await call(`${proxy.url}/c/${tail}`, { headers: { cookie: `session=${t}` } });
      expect(r.status, r.text).toBe(200);
      expect(directives(r.headers), tail).toEqual(want);
    }
  });

  it('HTTP/1.1: a `public` the upstream names in Connection (so drops) does not count → private', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const r = await call(`${proxy.url}/c/hidden`, { headers: { cookie: `session=${t}` } });
    expect(r.status, r.text).toBe(200);
    expect(directives(r.headers)).toEqual(['private']);
  });

  it('HTTP/1.1: the same route with the token in Authorization → left to the cache (§3.5): unchanged', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const r = await call(`${proxy.url}/c/bare`, { headers: bearer(t) });
    expect(r.status, r.text).toBe(200);
    expect(directives(r.headers)).toEqual([]);
  });

  it('HTTP/2: a cookie or token-header token → private; Authorization → unchanged; a shared answer → unchanged', async () => {
    const t = await as.issueJwt({ sub: 'alice' });
    const c = await h2Request(session, { ':method': 'GET', ':path': '/c/bare', cookie: `session=${t}` });
    expect(c.status, c.text).toBe(200);
    expect(directives(c.headers)).toEqual(['private']);
    const k = await h2Request(session, { ':method': 'GET', ':path': '/k/maxage', 'x-api-token': t });
    expect(k.status, k.text).toBe(200);
    expect(directives(k.headers)).toEqual(['max-age=600', 'private']);
    const a = await h2Request(session, { ':method': 'GET', ':path': '/c/bare', authorization: `Bearer ${t}` });
    expect(a.status, a.text).toBe(200);
    expect(directives(a.headers)).toEqual([]);
    const p = await h2Request(session, { ':method': 'GET', ':path': '/k/public', 'x-api-token': t });
    expect(p.status, p.text).toBe(200);
    expect(directives(p.headers)).toEqual(['public', 'max-age=600']);
  });
});
