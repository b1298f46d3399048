// A client that half-closes (FIN) right after its request: uWS aborts an answer that is not written
// at once (README "Limitations"). The answers the proxy knows at once are written before uWS reads the
// FIN — its own JWKS, a 401 for a missing or unreadable token, a 403 for a cached token a route
// refuses — and HTTP/2 is not affected: END_STREAM ends a stream's request, not the client's sending side.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';

describe('a client that half-closes after its request', () => {
  let as: AuthServer;
  let up: ScriptedUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    as = await startAuthServer();
    // /slow: answered 300 ms later, as in uws-limits.test.ts
    up = await startScriptedUpstream((req, res) => { setTimeout(() => res.end(`done ${req.url}`), req.url === '/slow' ? 300 : 0); });
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
      upstreams: { app: { targets: [up.url] } },
      routes: [
        { name: 'admin', match: { path: '/admin/*' }, upstream: 'app', auth: { scopes: { all: ['admin'] } } },
        { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {}, forward: { token: 'internal' } },
        { name: 'open', match: { path: '/slow' }, upstream: 'app', auth: 'none' },
      ],
      internal_tokens: { issuer: 'https://portcullis.test' },
      log: { level: 'info', access: false },
      verifier: { pool_size: 1 },
    }, { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  const halfClosed = (path: string, auth?: string) =>
    rawRequest(proxy.port, `GET ${path} HTTP/1.1\r\nHost: x\r\n${auth !== undefined ? `Authorization: ${auth}\r\n` : ''}\r\n`, { halfClose: true, waitClose: true, timeoutMs: 5_000 });

  it('gets the proxy\'s own JWKS, every time (the README said it got no answer)', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await halfClosed('/.well-known/jwks.json');
      expect(r.status).toBe(200);
      expect(r.raw).toContain('"keys"');
    }
  });

  it('gets the 401 of a request without a token, or with one that is no JWT', async () => {
    const none = await halfClosed('/api/x');
    expect(none.status).toBe(401);
    expect(none.raw.toLowerCase()).toContain('www-authenticate: bearer');
    expect((await halfClosed('/api/x', 'Bearer not-a-jwt')).status).toBe(401);
  });

  it('gets the 403 of a cached token the route refuses', async () => {
    const tok = await as.issueJwt({ sub: 'alice', scope: 'read' });
    expect((await rawRequest(proxy.port, `GET /admin/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tok}\r\n\r\n`, { timeoutMs: 5_000 })).status).toBe(403);
    expect((await halfClosed('/admin/x', `Bearer ${tok}`)).status).toBe(403);
  });

  it('loses a forwarded answer on HTTP/1.1, while on HTTP/2 a request ending its stream (END_STREAM) gets it', async () => {
    const h1 = await halfClosed('/slow');
    expect(h1.raw).toBe('');
    // node:http2 sends a GET's HEADERS with END_STREAM: the stream is half-closed, the session is not
    const h2 = await h2Fetch(`http://127.0.0.1:${http2PortOf(proxy.logs())}`, { ':method': 'GET', ':path': '/slow' });
    expect(h2.status).toBe(200);
    expect(h2.body.toString()).toBe('done /slow');
  });
});
