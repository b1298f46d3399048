// Spellings an upstream reads as a protected path must not reach it through an open route:
// spaces at the edges of a segment (`/api/admin%20/x`, `/%20/api/admin/x`: Spring MVC before 4.3
// — AntPathMatcher trimTokens — trims them and drops emptied segments, IIS/Windows drops trailing
// ones), and letters a case-insensitive Java match takes for ASCII (`/api/adm%C4%B0n/x`). Behind
// `portcullis serve`, a node:http upstream that picks its handler as old Spring, or a Java
// case-insensitive mapping, does (test/helpers/path-families.ts); the main listener, the HTTP/2
// listener (h2c) and the nginx-style decision endpoint are asked. Also escaped compatibility
// forms of `.`, `/` and `\` (`．` `／` `＼` `‥`) that an upstream folding paths with NFKC reads as them.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ClientHttp2Session } from 'node:http2';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { JAVA_CI, NFKC, SPRING_TRIM, familyRoute, type RouteSpec } from '../../helpers/path-families.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { issuerFor, waitReady } from '../auth/policy-fixtures.js';

const MIRRORED: RouteSpec[] = [{ name: 'admin', path: '/api/admin/*' }, { name: 'open', path: '/*' }];
const SPELLINGS = [
  '/api/admin%20/x', '/api/%20admin/x', '/%20/api/admin/x', '/api/admin%20', '/api/admin%20%20/users', '/api%20/admin/x', '/api/admin.%20/x',
  '/api/adm%C4%B0n/x', '/api/ADM%C4%B1N/x', '/ap%C4%B0/admin/x',
  // fullwidth and other compatibility dots, slashes and backslashes: `/x/．．/api/admin/x` is `/api/admin/x` after NFKC
  '/x/%EF%BC%8E%EF%BC%8E/api/admin/x', '/x/%ef%bc%8e%ef%bc%8e/api/admin/x', '/api%EF%BC%8Fadmin/x', '/x%EF%BC%BC..%EF%BC%BCapi/admin/x',
  '/x/%E2%80%A5/api/admin/x', '/x/%EF%B9%92%EF%B9%92/api/admin/x', '/x/%EF%B8%B0/api/admin/x', '/x%EF%B9%A8..%EF%B9%A8api/admin/x',
  // letters NFKC maps to ASCII ones: fullwidth `ａ` (`/api/ａdmin/x`) and `Ａ`, the small roman numeral `ⅰ`, the circled `ⓐ`
  '/api/%EF%BD%81dmin/x', '/api/%EF%BC%A1DMIN/x', '/%EF%BD%81%EF%BD%90%EF%BD%89/admin/x', '/api/adm%E2%85%B0n/x', '/api/%E2%93%90dmin/x',
];

let as: AuthServer;
let up: ScriptedUpstream;
let proxy: ProxyProcess;
let session: ClientHttp2Session;
let adminToken = '';

beforeAll(async () => {
  as = await startAuthServer();
  // answers with the handler old Spring (or a Java case-insensitive mapping, or an NFKC reader) picks for the path it received
  up = await startScriptedUpstream((req, res) => {
    const raw = (req.url ?? '/').split('?')[0]!;
    const h = [SPRING_TRIM, JAVA_CI, NFKC].map((f) => familyRoute(f, MIRRORED, raw));
    res.end(h.includes('admin') ? 'admin' : h[0] ?? '-');
  });
  proxy = await startProxy(baseConfig(up.url, {
    server: {
      listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } },
      decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'nginx' }] },
    },
    issuers: { demo: issuerFor(as) },
    routes: [
      { name: 'admin', match: { path: '/api/admin/*' }, upstream: 'app', auth: { scopes: { all: ['admin'] } } },
      { name: 'city', match: { path: '/cities/:name' }, upstream: 'app', auth: 'none' },
      { name: 'open', match: { path: '/*' }, upstream: 'app', auth: 'none' },
    ],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  session = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
  adminToken = await as.issueJwt({ scope: 'admin' });
}, 60_000);

afterAll(async () => {
  session?.close();
  await proxy?.stop();
  await Promise.all([up?.close(), as?.close()]);
});

interface Outcome { status: number; code: string | null; handler: string | null }

function outcome(status: number, contentType: string | undefined, body: string): Outcome {
  if (contentType?.startsWith('application/json') === true) return { status, code: (JSON.parse(body) as { code: string }).code, handler: null };
  return { status, code: null, handler: body };
}

async function h1(path: string, token?: string): Promise<Outcome> {
  const auth = token === undefined ? '' : `Authorization: Bearer ${token}\r\n`;
  const r = await rawRequest(proxy.port, `GET ${path} HTTP/1.1\r\nHost: api.test\r\n${auth}\r\n`);
  return outcome(r.status, r.headers['content-type'], r.body.toString());
}

async function h2(path: string): Promise<Outcome> {
  const r = await h2Request(session, { ':method': 'GET', ':path': path, ':authority': 'api.test' });
  return outcome(r.status, r.headers['content-type'] as string | undefined, r.text);
}

async function decision(path: string): Promise<Outcome> {
  const r = await rawRequest(proxy.port, `GET /_portcullis/auth HTTP/1.1\r\nHost: api.test\r\nX-Original-URI: ${path}\r\nX-Original-Method: GET\r\n\r\n`);
  return outcome(r.status, r.headers['content-type'], r.body.toString());
}

describe('a space at the edge of a segment, or an ASCII lookalike letter, does not open a protected route', () => {
  it.each(SPELLINGS)('%s → 400 PORTCULLIS_ERR_PATH_AMBIGUOUS on HTTP/1.1, nothing forwarded', async (path) => {
    const before = up.seen.length;
    expect(await h1(path)).toEqual({ status: 400, code: 'PORTCULLIS_ERR_PATH_AMBIGUOUS', handler: null });
    expect(await h1(path, adminToken)).toMatchObject({ status: 400, code: 'PORTCULLIS_ERR_PATH_AMBIGUOUS' });
    expect(up.seen.slice(before).map((s) => s.url)).toEqual([]);
  });

  it.each(SPELLINGS)('%s → 400 on the HTTP/2 listener, nothing forwarded', async (path) => {
    const before = up.seen.length;
    expect(await h2(path)).toEqual({ status: 400, code: 'PORTCULLIS_ERR_PATH_AMBIGUOUS', handler: null });
    expect(up.seen.length).toBe(before);
  });

  it.each(SPELLINGS)('%s → the decision endpoint does not allow it', async (path) => {
    expect(await decision(path)).toMatchObject({ status: 400, code: 'PORTCULLIS_ERR_PATH_AMBIGUOUS' });
  });

  it('spaces inside a segment, or in a segment no reading moves to another route, and other letters still pass', async () => {
    expect(await h1('/docs/my%20file.txt')).toEqual({ status: 200, code: null, handler: 'open' });
    expect(await h1('/caf%C3%A9/%C4%B0stanbul')).toEqual({ status: 200, code: null, handler: 'open' });
    expect(await h1('/%E6%97%A5%E6%9C%AC/%E2%82%AC')).toEqual({ status: 200, code: null, handler: 'open' }); // other non-ASCII: forwarded
    expect(await h1('/docs%20/x')).toEqual({ status: 200, code: null, handler: 'open' });
    expect(await h2('/docs/my%20file.txt')).toEqual({ status: 200, code: null, handler: 'open' });
    expect(up.seen.at(-1)?.url).toBe('/docs/my%20file.txt');
    expect(await h1('/api/admin/x%20y', adminToken)).toEqual({ status: 200, code: null, handler: 'admin' });
    expect(await h1('/api/admin/x')).toMatchObject({ status: 401, code: 'PORTCULLIS_ERR_AUTH_MISSING' });
  });

  it('a route parameter holding İ or ı (İzmir, Diyarbakır) is forwarded; one an NFKC reader changes (Ｔokyo) is refused', async () => {
    for (const path of ['/cities/%C4%B0zmir', '/cities/Diyarbak%C4%B1r']) {
      expect(await h1(path), path).toEqual({ status: 200, code: null, handler: 'open' });
      expect(up.seen.at(-1)?.url).toBe(path);
      expect(await h2(path), path).toEqual({ status: 200, code: null, handler: 'open' });
      expect((await decision(path)).status, path).toBe(200);
    }
    expect(await h1('/cities/%EF%BC%B4okyo')).toEqual({ status: 400, code: 'PORTCULLIS_ERR_PATH_AMBIGUOUS', handler: null });
  });
});
