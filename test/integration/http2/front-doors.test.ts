// One pipeline, many front doors: the per-request rules fixed today (trusted X-Forwarded-Host
// selecting the same route, client host-override / grpc-metadata identity headers stripped,
// Grpc-Metadata-Authorization as a second credential, identity list elements left out) hold on
// uWS HTTP/1.1, h2c, h2 over TLS, HTTP/1.1 on the TLS port and WebSocket upgrades (both ports) alike.
import http, { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { issuerFor, waitReady } from '../auth/policy-fixtures.js';
import { handshake } from '../ws/ws-fixtures.js';

let as: AuthServer;
let server: Server;
let upstreamUrl: string;
const seen: Array<{ url: string; headers: IncomingHttpHeaders; upgrade: boolean }> = [];
let h2c: ProxyProcess;
let h2tls: ProxyProcess;
let token: string;
let plainRoles: string;

type Reply = { status: number; headers: IncomingHttpHeaders };
type Door = (path: string, headers: Record<string, string>) => Promise<Reply>;

function h1(origin: string, tls: boolean): Door {
  return (path, headers) => new Promise((resolve, reject) => {
    const u = new URL(origin);
    const req = (tls ? https.request : http.request)({ host: '127.0.0.1', port: u.port, path, method: 'GET', headers: { ...headers, connection: 'close' }, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] } as https.RequestOptions, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Raw bytes over a socket (uWS): exactly what the client sent, exactly what came back. */
function raw(port: number): Door {
  return async (path, headers) => {
    const lines = [`GET ${path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'connection: close'];
    const r = await rawRequest(port, `${lines.join('\r\n')}\r\n\r\n`);
    if (r.status === 0) throw new Error(`no answer: ${JSON.stringify(r.raw)}`);
    return { status: r.status, headers: r.headers };
  };
}

function h2(origin: string): Door {
  return async (path, headers) => {
    const r = await h2Fetch(origin, { ':method': 'GET', ':path': path, ':authority': headers.host ?? 'a.example', ...Object.fromEntries(Object.entries(headers).filter(([k]) => k !== 'host')) });
    return { status: r.status, headers: r.headers as IncomingHttpHeaders };
  };
}

function ws(origin: string): Door {
  return async (path, headers) => {
    const { host, ...rest } = headers;
    const h = await handshake(`${origin.replace('http', 'ws')}${path}`, [], rest, { headers: { ...rest, host: host ?? 'a.example' }, rejectUnauthorized: false });
    if (h.kind === 'open') { h.client.ws.close(); return { status: 101, headers: {} }; }
    if (h.kind === 'refused') return { status: h.status, headers: h.headers };
    throw new Error(h.message);
  };
}

const doors: Record<string, Door> = {};

beforeAll(async () => {
  as = await startAuthServer({ issuerPath: '/realms/doors' });
  server = createServer((req, res) => { seen.push({ url: req.url ?? '', headers: req.headers, upgrade: false }); res.end('ok'); });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, sock, head) => { seen.push({ url: req.url ?? '', headers: req.headers, upgrade: true }); wss.handleUpgrade(req, sock, head, (c) => c.close()); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const routes = [
    { name: 'a', match: { host: 'a.example', path: '/x/*' }, upstream: 'app', auth: 'none', websocket: true },
    { name: 'b', match: { host: 'b.example', path: '/x/*' }, upstream: 'app', auth: 'none', websocket: true },
    { name: 't', match: { path: '/t/*' }, upstream: 'app', auth: {}, websocket: true, forward: { identity_headers: { 'X-User': 'sub', 'X-Roles': 'roles' } } },
  ];
  const common = { issuers: { demo: issuerFor(as) }, routes, verifier: { pool_size: 1 } };
  const { cert, key } = selfSignedCert();
  [h2c, h2tls] = await Promise.all([
    startProxy(baseConfig(upstreamUrl, { server: { listen: { host: '127.0.0.1', port: 0 }, trust_forwarded: true, http2: { listen: { host: '127.0.0.1', port: 0 } } }, ...common }), { env: ADMIN_ENV }),
    startProxy(baseConfig(upstreamUrl, { server: { listen: { host: '127.0.0.1', port: 0 }, trust_forwarded: true, http2: { listen: { host: '127.0.0.1', port: 0 }, tls: { cert_file: cert, key_file: key } } }, ...common }), { env: ADMIN_ENV }),
  ]);
  await waitReady(h2c);
  await waitReady(h2tls);
  doors['uWS HTTP/1.1'] = raw(h2c.port);
  doors['h2c'] = h2(`http://127.0.0.1:${http2PortOf(h2c.logs())}`);
  doors['h2 TLS'] = h2(`https://127.0.0.1:${http2PortOf(h2tls.logs())}`);
  doors['HTTP/1.1 on the TLS port'] = h1(`https://127.0.0.1:${http2PortOf(h2tls.logs())}`, true);
  doors['WebSocket upgrade'] = ws(h2c.url);
  doors['WebSocket upgrade on the TLS port'] = ws(`https://127.0.0.1:${http2PortOf(h2tls.logs())}`);
  token = await as.issueJwt({ sub: 'alice', roles: ['reader', 'x admin', 'a,b'] });
  plainRoles = await as.issueJwt({ sub: 'bob', roles: ['reader', 'writer'] });
}, 60_000);

afterAll(async () => {
  await h2c?.stop();
  await h2tls?.stop();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await as?.close();
});

async function through(door: string, path: string, headers: Record<string, string>): Promise<{ r: Reply; up: IncomingHttpHeaders | null }> {
  const before = seen.length;
  const r = await doors[door]!(path, headers);
  const got = seen.slice(before).find((s) => s.url === path);
  return { r, up: got?.headers ?? null };
}

const DOORS = ['uWS HTTP/1.1', 'h2c', 'h2 TLS', 'HTTP/1.1 on the TLS port', 'WebSocket upgrade', 'WebSocket upgrade on the TLS port'];

describe('every front door applies the same per-request rules', () => {
  for (const door of DOORS) {
    it(`${door}: a trusted X-Forwarded-Host selecting another route is refused (400); the same route passes`, async () => {
      const bad = await through(door, '/x/1', { host: 'a.example', 'x-forwarded-host': 'b.example' });
      expect(bad.r.status).toBe(400);
      expect(bad.up).toBeNull();
      const good = await through(door, '/x/2', { host: 'a.example', 'x-forwarded-host': 'a.example' });
      expect([200, 101]).toContain(good.r.status);
      expect(good.up?.['x-forwarded-host']).toBe('a.example');
    });

    it(`${door}: client host overrides and grpc-metadata identity headers never reach the upstream`, async () => {
      const { r, up } = await through(door, '/x/3', {
        host: 'a.example', 'x-original-host': 'b.example', 'x-host': 'b.example', 'x-http-host-override': 'b.example',
        'grpc-metadata-x-auth-subject': 'mallory', 'x-auth-subject': 'mallory',
      });
      expect([200, 101]).toContain(r.status);
      expect(up).not.toBeNull();
      for (const k of ['x-original-host', 'x-host', 'x-http-host-override', 'grpc-metadata-x-auth-subject', 'x-auth-subject']) expect(up![k], k).toBeUndefined();
    });

    it(`${door}: Grpc-Metadata-Authorization beside the token is a second credential (400)`, async () => {
      const { r, up } = await through(door, '/t/1', { host: 'a.example', authorization: `Bearer ${token}`, 'grpc-metadata-authorization': 'Bearer forged' });
      expect(r.status).toBe(400);
      expect(up).toBeNull();
    });

    it(`${door}: identity list elements with a space or comma are left out`, async () => {
      const { r, up } = await through(door, '/t/2', { host: 'a.example', authorization: `Bearer ${token}` });
      expect([200, 101]).toContain(r.status);
      expect(up?.['x-user']).toBe('alice');
      expect(up?.['x-roles']).toBeUndefined();
      const fine = await through(door, '/t/3', { host: 'a.example', authorization: `Bearer ${plainRoles}` });
      expect(fine.up?.['x-roles']).toBe('reader writer');
    });
  }
});
