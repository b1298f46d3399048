// `Forwarded: host=…` (RFC 7239) at a decision endpoint. Proxy mode drops a client's `Forwarded`;
// behind an edge the app gets it as sent, and Spring's ForwardedHeaderFilter (and others that
// honour RFC 7239) take its `host` as the request's host — a tenant-by-host app then serves
// another host than the judged one, as with `X-Forwarded-Host`. Real nginx and HAProxy in front
// (deploy/edge/), a raw app recording what reaches it.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { freePort } from '../../helpers/nats.js';
import type { Nginx } from '../../helpers/nginx.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { startFixtureJwks, type ScriptedUpstream, fixtureIssuer } from '../../helpers/upstreams.js';
import { waitReady } from '../auth/tokens-helpers.js';
import { startHaproxyEdge, startNginxEdge, startRawApp, type Haproxy, type RawApp } from './edge-fixtures.js';

let jwks: ScriptedUpstream;
let proxy: ProxyProcess;
let haproxy: Haproxy;
let nginx: Nginx;
const edgePort: Record<string, number> = {};
/** The app behind the edges; `app.heads`: each request head it received. */
let app: RawApp;

beforeAll(async () => {
  jwks = await startFixtureJwks();
  app = await startRawApp();
  const appPort = app.port;
  const dir = tempDir('portcullis-forwarded-');
  proxy = await startProxy(baseConfig(`http://127.0.0.1:${appPort}`, {
    server: { listen: { host: '127.0.0.1', port: 0 }, decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'auto' }], unix_socket: { path: join(dir, 'a.sock') } } },
    issuers: { fx: fixtureIssuer(jwks.url) },
    routes: [
      { name: 'admin-host', match: { host: 'admin.example', path: '/*' }, upstream: 'app', auth: {} },
      { name: 'open', match: { path: '/*' }, upstream: 'app', auth: 'none' },
    ],
  }), { env: ADMIN_ENV });
  await waitReady(proxy, 30_000); // the machine may be loaded: readiness waits for the JWKS
  [edgePort.nginx, edgePort.haproxy] = await Promise.all([freePort(), freePort()]);
  [nginx, haproxy] = await Promise.all([startNginxEdge(edgePort.nginx!, join(dir, 'a.sock'), appPort), startHaproxyEdge(edgePort.haproxy!, proxy.port, appPort)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([nginx?.stop(), haproxy?.stop()]);
  await proxy?.stop();
  await jwks?.close();
  await app?.close();
});

describe.each(['nginx', 'haproxy'] as const)('%s in front: a client\'s Forwarded host', (edge) => {
  const get = (forwarded: string) => rawRequest(edgePort[edge]!, `GET /x HTTP/1.1\r\nHost: app.example\r\nForwarded: ${forwarded}\r\nConnection: close\r\n\r\n`);

  it.each([
    ['host=admin.example'],
    ['host="admin.example"'],
    ['for=192.0.2.1;proto=https;HOST=Admin.Example'],
    ['for=192.0.2.1, for=198.51.100.2;host=admin.example'],
    ['host=app.example, host=admin.example'],
    ['host="a.example,b"'],
  ])('%s on a request judged by Host app.example (an open route) → 400, the app never sees it', async (forwarded) => {
    const before = app.heads.length;
    const r = await get(forwarded);
    // before: 200, and the app got `Forwarded: host=admin.example` — the guarded host
    expect(app.heads.slice(before), 'requests the app received').toEqual([]);
    expect(r.status, `${r.raw}\n${edge === 'nginx' ? nginx.errors() : haproxy.errors()}`).toBe(400);
  });

  it('a Forwarded naming the judged host (or none) passes: the app gets it', async () => {
    const before = app.heads.length;
    const r = await get('for=192.0.2.1;proto=http;host=app.example');
    expect(r.status, r.raw).toBe(200);
    expect(app.heads.slice(before).join('\n')).toMatch(/forwarded: for=192\.0\.2\.1;proto=http;host=app\.example/i);
    expect((await get('for=192.0.2.1')).status).toBe(200);
  });
});

describe('at the endpoint itself (Traefik, Caddy: every client header is copied to the call)', () => {
  it('Forwarded: host=admin.example → 400 PORTCULLIS_ERR_FORWARDED_HOST', async () => {
    const r = await rawRequest(proxy.port, 'GET /_portcullis/auth HTTP/1.1\r\nHost: auth\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: /x\r\nX-Forwarded-Host: app.example\r\nForwarded: host=admin.example\r\nConnection: close\r\n\r\n');
    expect(r.status, r.raw).toBe(400);
    expect(r.body.toString()).toContain('PORTCULLIS_ERR_FORWARDED_HOST');
  });
});
