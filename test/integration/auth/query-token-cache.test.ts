// RFC 6750 §2.3: a response to a request whose access token travelled in the URI query SHOULD carry
// `Cache-Control: private`, so that no shared cache on the way keeps an answer addressed by a URI that
// holds a credential. Checked on both front doors (uWS HTTP/1.1 and the HTTP/2 listener), against an
// upstream that marks its answers `public`; a header token leaves the upstream's Cache-Control alone.
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

beforeAll(async () => {
  as = await startAuthServer({ algorithms: ['RS256'] });
  // an upstream that lets every cache keep its answers
  upstream = await startRecorder((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=600' }).end('catalogue');
  });
  proxy = await startProxy(baseConfig(upstream.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
    routes: [{ name: 'query', match: { path: '/q/*' }, upstream: 'app', auth: { token_sources: { query: true } } }],
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

describe('Cache-Control: private on answers to query-token requests (RFC 6750 §2.3)', () => {
  it('HTTP/1.1: a query token → the answer is private to the client; the upstream\'s own directives still pass', async () => {
    const t = await as.issueJwt({ sub: 'quinn' });
    const r = await call(`${proxy.url}/q/items?access_token=${t}`);
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('catalogue');
    const d = directives(r.headers);
    expect(d).toContain('private');
    expect(d).toEqual(expect.arrayContaining(['public', 'max-age=600']));
  });

  it('HTTP/1.1: the same route with the token in the Authorization header → the upstream\'s Cache-Control unchanged', async () => {
    const t = await as.issueJwt({ sub: 'quinn' });
    const r = await call(`${proxy.url}/q/items`, { headers: bearer(t) });
    expect(r.status, r.text).toBe(200);
    expect(directives(r.headers)).toEqual(['public', 'max-age=600']);
  });

  it('HTTP/2: a query token → private; a header token → unchanged', async () => {
    const t = await as.issueJwt({ sub: 'quinn' });
    const q = await h2Request(session, { ':method': 'GET', ':path': `/q/items?access_token=${t}` });
    expect(q.status, q.text).toBe(200);
    expect(directives(q.headers)).toContain('private');
    const h = await h2Request(session, { ':method': 'GET', ':path': '/q/items', authorization: `Bearer ${t}` });
    expect(h.status, h.text).toBe(200);
    expect(directives(h.headers)).toEqual(['public', 'max-age=600']);
  });
});
