// Two request shapes proxy mode answers itself, before any token check, that a decision endpoint
// judges like any other request (README Limitations "Requests proxy mode answers itself"): OPTIONS
// with `Max-Forwards: 0` (proxy mode 501) and a WebSocket handshake that is not RFC 6455's — version
// 8 or none, a key that is not 16 bytes (proxy mode 426/400). Neither opens a door: the verdict still
// wants the token and the scope the route wants, in every dialect and the gRPC Check. Nothing here is forwarded.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { extAuthzClient } from '../../helpers/ext-authz-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureKeys } from '../../fixtures/keys.js';
import { makeToken } from '../../fixtures/tokens.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { startFixtureJwks, startScriptedUpstream, type ScriptedUpstream, fixtureIssuer } from '../../helpers/upstreams.js';
import { waitReady } from '../auth/tokens-helpers.js';

interface CheckResponse { status: { code: number } | null; denied_response?: { status?: { code: number } } | null }
type CheckFn = (req: unknown, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void) => void;

let jwks: ScriptedUpstream;
let app: ScriptedUpstream;
let proxy: ProxyProcess;
let client: grpc.Client;

beforeAll(async () => {
  jwks = await startFixtureJwks();
  app = await startScriptedUpstream((_req, res) => { res.end('app'); });
  proxy = await startProxy(baseConfig(app.url, {
    server: {
      listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } },
      decision: { grpc: true, endpoints: [{ path: '/_portcullis/auth', dialect: 'auto' }, { path: '/_portcullis/ext_authz', dialect: 'envoy' }] },
    },
    issuers: { fx: fixtureIssuer(jwks.url) },
    routes: [
      { name: 'chat', match: { path: '/chat/*' }, upstream: 'app', auth: { scopes: { all: ['chat'] } }, websocket: true },
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
    ],
  }), { env: ADMIN_ENV });
  await waitReady(proxy, 30_000); // a loaded machine: readiness waits for the JWKS
  client = extAuthzClient(`127.0.0.1:${http2PortOf(proxy.logs())}`);
}, 60_000);

afterAll(async () => {
  client?.close();
  await proxy?.stop();
  await app?.close();
  await jwks?.close();
});

type Lines = Array<[string, string]>;
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ws = (version: string | null, key = KEY): Lines => [
  ['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', key],
  ...(version === null ? [] : [['Sec-WebSocket-Version', version] as [string, string]]),
];

function text(method: string, target: string, lines: Lines): string {
  return `${method} ${target} HTTP/1.1\r\n${lines.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
}

/** The decision on `method target` with `lines`, as each HTTP dialect and the gRPC Check report it: their statuses. */
async function decide(method: string, target: string, lines: Lines): Promise<number[]> {
  const calls = [
    text('GET', '/_portcullis/auth', [['Host', 'auth.local'], ['X-Original-Method', method], ['X-Original-URI', target], ['X-Original-Host', 'app.example'], ...lines]),
    text('GET', '/_portcullis/auth', [['Host', 'auth.local'], ['X-Forwarded-Method', method], ['X-Forwarded-Uri', target], ['X-Forwarded-Host', 'app.example'], ...lines]),
    text(method, `/_portcullis/ext_authz${target}`, [['Host', 'app.example'], ...lines]),
  ];
  const out: number[] = [];
  for (const c of calls) out.push((await rawRequest(proxy.port, c)).status);
  // the gRPC Check: OK is 200, a denial carries its HTTP status
  const headers = Object.fromEntries(lines.map(([k, v]) => [k.toLowerCase(), v]));
  const r = await new Promise<CheckResponse>((resolve, reject) => {
    (client as unknown as { Check: CheckFn }).Check(
      { attributes: { request: { http: { method, path: target, host: 'app.example', scheme: 'http', headers } } } },
      (err, res) => (err !== null ? reject(err) : resolve(res)),
    );
  });
  out.push((r.status?.code ?? 0) === 0 ? 200 : r.denied_response?.status?.code ?? -1);
  return out;
}

const token = (scope: string): Lines => [['Authorization', `Bearer ${makeToken(fixtureKeys().RS256, { claims: { scope } })}`]];

describe('requests proxy mode answers itself, at a decision endpoint', () => {
  it('proxy mode: 426 for a version-8 handshake, 400 for a short key, 501 for OPTIONS with Max-Forwards: 0, nothing forwarded', async () => {
    const before = app.seen.length;
    expect((await rawRequest(proxy.port, text('GET', '/chat/x', [['Host', 'app.example'], ...ws('8'), ...token('chat')]))).status).toBe(426);
    expect((await rawRequest(proxy.port, text('GET', '/chat/x', [['Host', 'app.example'], ...ws('13', 'c2hvcnQ='), ...token('chat')]))).status).toBe(400);
    expect((await rawRequest(proxy.port, text('OPTIONS', '/orders/x', [['Host', 'app.example'], ['Max-Forwards', '0'], ...token('orders:read')]))).status).toBe(501);
    expect(app.seen.length).toBe(before);
  });

  it.each([
    ['version 8', ws('8')],
    ['no version', ws(null)],
    ['a key of 5 bytes', ws('13', 'c2hvcnQ=')],
  ])('a WebSocket handshake with %s still needs the route\'s token and scope', async (_what, lines) => {
    expect(await decide('GET', '/chat/x', lines)).toEqual([401, 401, 401, 401]);
    expect(await decide('GET', '/chat/x', [...lines, ...token('orders:read')])).toEqual([403, 403, 403, 403]);
    expect(await decide('GET', '/chat/x', [...lines, ...token('chat')])).toEqual([200, 200, 200, 200]);
  });

  it('OPTIONS with Max-Forwards: 0 still needs the route\'s token and scope (the edge forwards it, its count is the edge\'s)', async () => {
    const mf: Lines = [['Max-Forwards', '0']];
    expect(await decide('OPTIONS', '/orders/x', mf)).toEqual([401, 401, 401, 401]);
    expect(await decide('OPTIONS', '/orders/x', [...mf, ...token('chat')])).toEqual([403, 403, 403, 403]);
    expect(await decide('OPTIONS', '/orders/x', [...mf, ...token('orders:read')])).toEqual([200, 200, 200, 200]);
  });
});
