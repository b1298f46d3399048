// Path parameters, case, trailing slashes and trailing dots must not let a request reach a
// protected handler through an open route (issue 8, item 1). Behind the proxy: a real nginx,
// and node:http upstreams that read paths as Express and as a Servlet container (Tomcat) do
// (test/helpers/path-families.ts; neither package is installed here). Each proxy route has
// its own upstream, which reports the route the proxy picked ("via") next to the handler
// the upstream served: without a token only open handlers may answer, and whatever answers
// is the handler of the route the proxy authorized.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { freePort } from '../../helpers/nats.js';
import { NginxPortTaken, startNginx, type Nginx } from '../../helpers/nginx.js';
import { EXPRESS, SERVLET, familyRoute, type Family, type RouteSpec } from '../../helpers/path-families.js';
import { issuerFor, waitReady } from '../auth/policy-fixtures.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';

/** The proxy's routes, mirrored by every upstream family; `open` ones need no token. */
const ROUTES: ReadonlyArray<RouteSpec & { open: boolean }> = [
  { name: 'admin', path: '/admin/*', open: false },
  { name: 'v', path: '/v/*', open: false },
  { name: 'daily', path: '/reports/daily', open: false },
  { name: 'reports', path: '/reports/*', open: true },
  { name: 'public', path: '/public/*', open: true },
  { name: 'open', path: '/*', open: true },
];
const OPEN = new Set(ROUTES.filter((r) => r.open).map((r) => r.name));
const FAMILY_NAMES = ['nginx', 'express', 'servlet'] as const;
type FamilyName = typeof FAMILY_NAMES[number];

let as: AuthServer;
let proxy: ProxyProcess;
let nginx: Nginx;
const servers: Server[] = [];
let token = '';

/** nginx locations mirroring ROUTES: `location = /x` for an exact route, `/x/` and `= /x` for a prefix route. */
function nginxServer(port: number, via: string): string {
  const loc = (m: string, handler: string): string => `    location ${m} { return 200 "${via} ${handler} $uri\\n"; }`;
  const lines: string[] = [];
  for (const r of ROUTES) {
    if (r.path === '/*') { lines.push(loc('/', r.name)); continue; }
    if (r.path.endsWith('/*')) { const p = r.path.slice(0, -2); lines.push(loc(`= ${p}`, r.name), loc(`${p}/`, r.name)); } else lines.push(loc(`= ${r.path}`, r.name));
  }
  return [`  server {`, `    listen 127.0.0.1:${port};`, ...lines, `  }`].join('\n');
}

/** A node:http upstream that serves as family `f` would: the handler of the matching mirrored route, else 404. */
async function modelServer(f: Family, via: string): Promise<number> {
  const s = createServer((req, res) => {
    const raw = (req.url ?? '/').split('?')[0]!;
    const handler = familyRoute(f, ROUTES, raw);
    res.writeHead(handler === null ? 404 : 200, { 'content-type': 'text/plain' }).end(`${via} ${handler ?? '-'} ${f.read(raw) ?? '(refused)'}\n`);
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  servers.push(s);
  return (s.address() as AddressInfo).port;
}

beforeAll(async () => {
  as = await startAuthServer();
  const targets: Record<string, number> = {};
  for (const r of ROUTES) {
    targets[`express-${r.name}`] = await modelServer(EXPRESS, r.name);
    targets[`servlet-${r.name}`] = await modelServer(SERVLET, r.name);
  }
  // nginx listens on ports picked free beforehand: one another suite binds meanwhile means new ones
  for (let attempt = 1; ; attempt++) {
    const nginxPorts: number[] = [];
    for (const _r of ROUTES) nginxPorts.push(await freePort());
    try {
      nginx = await startNginx(ROUTES.map((r, i) => nginxServer(nginxPorts[i]!, r.name)).join('\n'), nginxPorts);
      ROUTES.forEach((r, i) => { targets[`nginx-${r.name}`] = nginxPorts[i]!; });
      break;
    } catch (err) {
      if (!(err instanceof NginxPortTaken) || attempt === 5) throw err;
    }
  }
  const upstreams = Object.fromEntries(Object.entries(targets).map(([k, port]) => [k, { targets: [`http://127.0.0.1:${port}`] }]));
  const routes = FAMILY_NAMES.flatMap((f) => ROUTES.map((r) => ({
    name: `${f}-${r.name}`, match: { path: r.path, host: `${f}.test` }, upstream: `${f}-${r.name}`, auth: r.open ? 'none' : {},
  })));
  proxy = await startProxy(baseConfig('http://127.0.0.1:9', { issuers: { demo: issuerFor(as) }, upstreams, routes, verifier: { pool_size: 1 } }), { env: ADMIN_ENV });
  await waitReady(proxy);
  token = await as.issueJwt();
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await nginx?.stop();
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => { s.close(() => resolve()); s.closeAllConnections(); })));
  await as?.close();
});

interface Outcome {
  status: number;
  /** The proxy's own refusal code (PORTCULLIS_ERR_…), null when an upstream answered. */
  code: string | null;
  /** Upstream answer: the route the proxy picked, the handler the upstream served, its reading of the path. */
  via: string | null; handler: string | null; reading: string | null;
}

async function send(family: FamilyName, target: string, withToken: boolean): Promise<Outcome> {
  const auth = withToken ? `Authorization: Bearer ${token}\r\n` : '';
  const r = await rawRequest(proxy.port, `GET ${target} HTTP/1.1\r\nHost: ${family}.test\r\n${auth}\r\n`);
  const body = r.body.toString();
  if (r.headers['content-type']?.startsWith('application/json')) {
    return { status: r.status, code: (JSON.parse(body) as { code: string }).code, via: null, handler: null, reading: null };
  }
  const [via, handler, reading] = body.trim().split(' ');
  return { status: r.status, code: null, via: via ?? null, handler: handler === '-' ? null : handler ?? null, reading: reading ?? null };
}

/** The spellings from the issue, plus their relatives. */
const ATTACKS = [
  '/public/..;/admin/x', '/public/%2e%2e;/admin/x', '/public/%2E%2E;/admin/x', '/public/..;x=1/admin/x', '/v;a/x', '/x/..;/v/x',
  '/v;/x', '/admin;jsessionid=1/x', '/V/x', '/Admin/x', '/ADMIN', '/v./x', '/v../x', '/admin./x', '/V./x/', '/reports/daily/',
  '/Reports/Daily', '/reports/daily.', '/reports/Daily/', '/public/../admin/x', '/public/%2e%2e/admin/x', '//admin/x', '/%61dmin/x',
  '/admin%2fx', '/admin%3B/x', '/public/.;/admin',
];
const BENIGN = ['/public/a', '/reports/weekly', '/Other/Thing', '/v/x', '/admin/x/y', '/reports/daily', '/public/a.b', '/files/report.pdf', '/'];

describe.each(FAMILY_NAMES)('behind %s', (family) => {
  it('without a token, no spelling reaches a protected handler; what answers is the handler of the route the proxy chose', async () => {
    for (const path of [...ATTACKS, ...BENIGN]) {
      const o = await send(family, path, false);
      if (o.code !== null) {
        expect([400, 401, 404], `${path}: ${o.code}`).toContain(o.status);
        continue;
      }
      expect(OPEN.has(o.via!), `${path} forwarded through the protected route ${o.via}`).toBe(true);
      if (o.handler !== null) expect(o.handler, `${path}: ${family} read "${o.reading}"`).toBe(o.via);
    }
  });

  it('with a token, every forwarded path is served by the handler of the route the proxy authorized', async () => {
    for (const path of [...ATTACKS, ...BENIGN]) {
      const o = await send(family, path, true);
      if (o.code !== null) continue;
      if (o.handler !== null) expect(o.handler, `${path}: proxy route ${o.via}, ${family} read "${o.reading}"`).toBe(o.via);
    }
  });

  it.each([
    ['/public/..;/admin/x'], ['/public/%2e%2e;/admin/x'], ['/v;a/x'], ['/x/..;/v/x'], ['/V/x'], ['/v./x'], ['/reports/daily/'], ['/Admin/x'],
  ])('%s → 400 PORTCULLIS_ERR_PATH_AMBIGUOUS, nothing forwarded', async (path) => {
    const o = await send(family, path, true);
    expect([o.status, o.code]).toEqual([400, 'PORTCULLIS_ERR_PATH_AMBIGUOUS']);
  });

  it('ordinary paths still work: open ones without a token, protected ones with', async () => {
    expect(await send(family, '/public/a', false)).toMatchObject({ status: 200, via: 'public', handler: 'public' });
    expect(await send(family, '/Other/Thing', false)).toMatchObject({ status: 200, via: 'open', handler: 'open' });
    expect(await send(family, '/v/x', false)).toMatchObject({ status: 401, code: 'PORTCULLIS_ERR_AUTH_MISSING' });
    expect(await send(family, '/v/x', true)).toMatchObject({ status: 200, via: 'v', handler: 'v' });
    expect(await send(family, '/reports/daily', true)).toMatchObject({ status: 200, via: 'daily', handler: 'daily' });
    expect(await send(family, '/reports/weekly', false)).toMatchObject({ status: 200, via: 'reports', handler: 'reports' });
  });
});

describe('server.paths.allow_params: true (for upstreams that strip ;parameters)', () => {
  let p2: ProxyProcess;
  let servlet: ScriptedUpstream;
  const mirrored: RouteSpec[] = [{ name: 'cars', path: '/cars/:id' }, { name: 'admin', path: '/admin/*' }, { name: 'api', path: '/api/*' }, { name: 'public', path: '/public/*' }];

  beforeAll(async () => {
    // answers with the handler a Servlet container picks for what it received
    servlet = await startScriptedUpstream((req, res) => { res.end(`${familyRoute(SERVLET, mirrored, (req.url ?? '/').split('?')[0]!) ?? '-'}`); });
    p2 = await startProxy(baseConfig(servlet.url, {
      server: { listen: { host: '127.0.0.1', port: 0 }, paths: { allow_params: true } },
      issuers: { demo: issuerFor(as) },
      routes: [
        { name: 'cars', match: { path: '/cars/:id' }, upstream: 'app', auth: 'none' },
        { name: 'admin', match: { path: '/admin/*' }, upstream: 'app', auth: {} },
        { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: 'none', strip_prefix: '/api' },
        { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
      ],
      verifier: { pool_size: 1 },
    }), { env: ADMIN_ENV });
    await waitReady(p2);
  }, 60_000);

  afterAll(async () => {
    await p2?.stop();
    await servlet?.close();
  });

  const get = async (target: string, withToken = false): Promise<{ status: number; body: string; url: string | undefined }> => {
    const before = servlet.seen.length;
    const r = await rawRequest(p2.port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${withToken ? `Authorization: Bearer ${token}\r\n` : ''}\r\n`);
    return { status: r.status, body: r.body.toString(), url: servlet.seen.length > before ? servlet.seen[servlet.seen.length - 1]!.url : undefined };
  };

  it('routes on segments without their parameters and forwards them as sent', async () => {
    expect(await get('/cars;color=red/42;v=1')).toEqual({ status: 200, body: 'cars', url: '/cars;color=red/42;v=1' });
    expect(await get('/public;jsessionid=ABC/a')).toEqual({ status: 200, body: 'public', url: '/public;jsessionid=ABC/a' });
  });

  it('a protected route keeps its policy whatever parameters are added; dot segments resolve after removal', async () => {
    expect((await get('/admin;jsessionid=1/x')).status).toBe(401);
    expect(await get('/public;x/../admin/x')).toMatchObject({ status: 401, url: undefined });
    expect(await get('/admin;jsessionid=1/x', true)).toEqual({ status: 200, body: 'admin', url: '/admin;jsessionid=1/x' });
  });

  it('still refuses a dot or empty segment that carries parameters', async () => {
    for (const path of ['/public/..;/admin/x', '/public/%2e%2e;/admin/x', '/public/.;x/a', '/public/;x/a']) {
      const r = await get(path);
      expect([r.status, r.url], path).toEqual([400, undefined]);
      expect(JSON.parse(r.body), path).toMatchObject({ code: 'PORTCULLIS_ERR_PATH_AMBIGUOUS' });
    }
  });

  it('strip_prefix removes the prefix segments with their parameters', async () => {
    expect((await get('/api;v=2/orders/7')).url).toBe('/orders/7');
    expect((await get('/api/orders;x=1/7')).url).toBe('/orders;x=1/7');
  });
});
