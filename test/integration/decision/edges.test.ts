// Portcullis deciding behind real edges, started from deploy/edge/ as operators run them:
// nginx (auth_request) and HAProxy 2.6 (Lua core.httpclient), both in front of a recording
// upstream and asking instance A of a two-instance cluster on a real nats-server. Allowed with
// identity headers upstream and client-sent copies stripped; each denial; a revocation made at
// instance B refused through the edge; DPoP through the edge; the authorization server down.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { freePort, startNatsServer, type NatsServer } from '../../helpers/nats.js';
import type { Nginx } from '../../helpers/nginx.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { deadPort, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { waitFor } from '../../helpers/wait.js';
import { clientKey, proof, type ClientKey } from '../../unit/dpop/dpop-helpers.js';
import { CLIENT_CERT_HEADERS, IDENTITY_ASSERTION_HEADERS } from '../../../node/config/untrusted-headers.js';
import { DEFAULT_IDENTITY } from '../../../node/pipeline/index.js';
import { DECISION, INTROSPECTION_SECRET, decisionPolicy, jtiOf, payloadOf, send, waitReady, type Answer } from './decision-fixtures.js';
import { rawHead, rawHeadOf, startHaproxyEdge, startNginxEdge, startRecordingUpstream, type Haproxy } from './edge-fixtures.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV, PT_INTROSPECTION_SECRET: INTROSPECTION_SECRET };

let as: AuthServer;
let app: ScriptedUpstream;
let nats: NatsServer & { stop(): Promise<void> };
let a: ProxyProcess;
let b: ProxyProcess;
let nginx: Nginx;
let haproxy: Haproxy;
const edgeUrl: Record<string, string> = {};
let token: string;
let key: ClientKey;
/** Directory of the instances' decision sockets. */
let sockets: string;

/** Instance config; nginx (on this host) calls its decision endpoints on the unix socket `socket`, HAProxy over TCP. */
function config(socket: string): Record<string, unknown> {
  return {
    // trust_forwarded: the decision lines name the client the edge appended to X-Forwarded-For
    server: { listen: { host: '127.0.0.1', port: 0 }, trust_forwarded: true, decision: { ...DECISION, unix_socket: { path: socket } } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    ...decisionPolicy(as, app.url),
    cluster: { nats: { servers: [nats.url] }, auth: BUS_AUTH },
    log: { level: 'info', access: true },
    verifier: { pool_size: 1 },
    // short nonce buckets: the refreshed-nonce case waits for one to turn (a nonce lives 2–4 s)
    dpop: { nonce: { lifetime_s: 2 } },
  };
}

beforeAll(async () => {
  [as, app, nats, key] = await Promise.all([startAuthServer(), startRecordingUpstream(), startNatsServer(), clientKey('ES256')]);
  sockets = tempDir('portcullis-edges-');
  [a, b] = await Promise.all([startProxy(config(join(sockets, 'a.sock')), { env: ENV }), startProxy(config(join(sockets, 'b.sock')), { env: ENV })]);
  await Promise.all([waitReady(a.adminUrl, ADMIN_TOKEN, 2), waitReady(b.adminUrl, ADMIN_TOKEN, 2)]);
  const [np, hp] = await Promise.all([freePort(), freePort()]);
  [nginx, haproxy] = await Promise.all([startNginxEdge(np, join(sockets, 'a.sock'), app.port), startHaproxyEdge(hp, a.port, app.port)]);
  edgeUrl.nginx = `http://127.0.0.1:${np}`;
  edgeUrl.haproxy = `http://127.0.0.1:${hp}`;
  token = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
}, 90_000);

afterAll(async () => {
  await Promise.all([nginx?.stop(), haproxy?.stop()]);
  await Promise.all([a?.stop(), b?.stop()]);
  await Promise.all([as?.close(), app?.close(), nats?.stop()]);
});

const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

describe.each(['nginx', 'haproxy'] as const)('%s in front, Portcullis deciding', (edge) => {
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> => send(`${edgeUrl[edge]}${path}`, headers, method);
  /** What the app saw for this answer (the app echoes its request headers). */
  const seen = (r: Answer): Record<string, string> => {
    expect(r.status, `${r.text}\n${edge === 'nginx' ? nginx.errors() : haproxy.errors()}`).toBe(200);
    return (r.json as { headers: Record<string, string> }).headers;
  };

  it('allowed: the app gets the identity headers of the verdict, never the client-sent copies', async () => {
    const h = seen(await get('/orders/1', { ...bearer(token), 'x-auth-subject': 'root', 'x-auth-issuer': 'https://evil.example' }));
    expect(h['x-auth-subject']).toBe('alice');
    expect(h['x-auth-scopes']).toBe('orders:read');
    expect(h['x-auth-issuer']).toBe(as.issuer);
    expect(h.authorization).toBe(`Bearer ${token}`);
    // a route without auth: identity headers the client sent are removed, none are added
    const pub = seen(await get('/public/x', { 'x-auth-subject': 'root', 'x-auth-client-id': 'admin' }));
    expect(pub['x-auth-subject']).toBeUndefined();
    expect(pub['x-auth-client-id']).toBeUndefined();
  });

  it('the decision line names the client the edge saw, never a client-sent X-Forwarded-For entry', async () => {
    // before: nginx's auth location and the HAProxy action passed the client's own X-Forwarded-For unchanged,
    // so its last entry — the client's word — would have been logged as the client
    const path = `/orders/xff-${edge}`;
    seen(await get(path, { ...bearer(token), 'x-forwarded-for': '198.51.100.9' }));
    const line = (): Record<string, unknown> | undefined => a.logs().find((l) => l.msg === 'decision' && l.path === path);
    await waitFor('the decision line', () => line() !== undefined);
    expect(line()).toMatchObject({ result: 'allowed', client: '127.0.0.1' });
  });

  it('an identity header spelt with `_` (CGI, WSGI and Rack read x_auth_subject as X-Auth-Subject) never reaches the app', async () => {
    // nginx drops such names (underscores_in_headers off); HAProxy refuses them with 400, as Portcullis's
    // own listeners do — not a 503 "authorization service unavailable" after a check that cannot answer
    const r = await get('/public/x', { x_auth_subject: 'root', 'x-auth_client-id': 'admin' });
    expect(r.status, r.text).toBe(edge === 'nginx' ? 200 : 400);
    const h = r.status === 200 ? (r.json as { headers: Record<string, string> }).headers : {};
    expect([h.x_auth_subject, h['x-auth_client-id']], `${r.status} ${r.text}`).toEqual([undefined, undefined]);
  });

  it('the app reads the host that was judged: client-sent X-Forwarded-Host, X-Original-Host, X-Host never reach it', async () => {
    // judged by Host; an app reading X-Forwarded-Host (Express trust proxy, Django, Rails, Spring) or
    // X-Original-Host (behind Azure Application Gateway) would otherwise serve the host the client named
    const r = await get('/public/x', { 'x-forwarded-host': 'evil.example', 'x-original-host': 'evil.example', 'x-host': 'evil.example', 'x-http-host-override': 'evil.example' });
    const h = seen(r);
    const host = new URL(edgeUrl[edge]!).host;
    expect(h.host).toBe(host);
    expect([undefined, host]).toContain(h['x-forwarded-host']);
    expect([h['x-original-host'], h['x-host'], h['x-http-host-override']]).toEqual([undefined, undefined, undefined]);
  });

  it('the app runs the method and path that were judged: method and URL overrides never reach it', async () => {
    // /public/* takes every method, so these overrides select the judged route and pass Portcullis;
    // an app obeying one (Express method-override, Rack, Symfony < 4, IIS) still gets none of them
    const overrides: Record<string, string> = {
      'x-http-method-override': 'DELETE', 'x-http-method': 'DELETE', 'x-method-override': 'DELETE', 'x-original-method': 'DELETE',
      'x-original-url': '/public/x', 'x-rewrite-url': '/public/x', 'x-forwarded-path': '/public/x', 'x-envoy-original-path': '/public/x',
      // the dialects' own reports: the edge sets them towards Portcullis, a client's copy went on to the app
      // (through nginx a client's X-Forwarded-Uri beside nginx's X-Original-URI is refused: auto dialect, both present)
      'x-original-uri': '/admin/x', ...(edge === 'haproxy' ? { 'x-forwarded-uri': '/admin/x' } : {}),
    };
    const h = seen(await get('/public/x', overrides, 'POST'));
    for (const name of Object.keys(overrides)) expect(h[name], name).toBeUndefined();
  });

  it('other proxies\' identity assertions and client-certificate headers (X-Forwarded-User, Client-Cert…) never reach the app', async () => {
    // an app moved from oauth2-proxy (or behind ALB, IAP, a TLS terminator) believes them; before, the edge passed them on
    const names = [...IDENTITY_ASSERTION_HEADERS, ...CLIENT_CERT_HEADERS];
    // 30 per request: the decision listener's header-line limit (uWS drops 49 or more) with the edge's own
    for (let at = 0; at < names.length; at += 30) {
      const sent = Object.fromEntries(names.slice(at, at + 30).map((n) => [n, 'root']));
      for (const path of ['/orders/1', '/public/x']) {
        const h = seen(await get(path, { ...bearer(token), ...sent }));
        expect(Object.keys(sent).filter((n) => h[n] !== undefined), path).toEqual([]);
      }
    }
  });

  it('grpc-gateway\'s spelling of each (Grpc-Metadata-X-Auth-Subject, Grpc-Metadata-X-Forwarded-User…) never reaches the app', async () => {
    // a grpc-gateway app hands Grpc-Metadata-<name> to its gRPC service as metadata <name>: a client's
    // Grpc-Metadata-X-Auth-Subject: root arrives as x-auth-subject: root. Before, both edges passed them on
    const names = [...Object.keys(DEFAULT_IDENTITY.headers), ...IDENTITY_ASSERTION_HEADERS, ...CLIENT_CERT_HEADERS].map((n) => `Grpc-Metadata-${n}`);
    // 30 per request: the decision listener's header-line limit (uWS drops 49 or more) with the edge's own
    for (let at = 0; at < names.length; at += 30) {
      const sent = Object.fromEntries(names.slice(at, at + 30).map((n) => [n, 'root']));
      for (const path of ['/orders/1', '/public/x']) {
        const h = seen(await get(path, { ...bearer(token), ...sent, 'Grpc-Metadata-Trace-Tag': 'kept' }));
        expect(Object.keys(sent).filter((n) => h[n.toLowerCase()] !== undefined), path).toEqual([]);
        expect(h['grpc-metadata-trace-tag'], 'other metadata passes').toBe('kept');
      }
    }
  });

  it('a method or URL override selecting another route → 400 through the edge; the app is not called', async () => {
    const before = app.seen.length;
    const url = await get('/public/x', { 'x-original-url': '/admin/x' });
    expect(url.status, url.text).toBe(400);
    const method = await get('/public/x', { 'x-http-method-override': 'DEL ETE' }, 'POST');
    expect(method.status, method.text).toBe(400);
    expect(app.seen.length).toBe(before);
  });

  it('no token → 401 with the Bearer challenge; the app is not called', async () => {
    const before = app.seen.length;
    const r = await get('/orders/1');
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="portcullis"');
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_MISSING' });
    expect(app.seen.length).toBe(before);
  });

  it('a WebSocket handshake on a route without websocket: true → 403 through the edge; the app is not called', async () => {
    const before = app.seen.length;
    for (const path of ['/public/x', '/orders/1']) {
      const head = await rawHead(edgeUrl[edge]!, path, { ...bearer(token), connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' });
      expect(head.split('\r\n')[0], `${path}: ${head}`).toMatch(/^HTTP\/1\.1 403/);
    }
    // the client (and the operator reading its error) is told why: nginx's auth_request keeps no body, so
    // nginx.conf answers from the code Portcullis names in X-Portcullis-Error. Before, through nginx the body
    // said PORTCULLIS_ERR_AUTH_FORBIDDEN "refused by the route policy".
    const r = await get('/orders/1', { ...bearer(token), 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' });
    expect([r.status, r.json?.code], r.text).toEqual([403, 'PORTCULLIS_ERR_DECISION_WEBSOCKET_ROUTE']);
    expect(app.seen.length).toBe(before);
  });

  it('an Upgrade to another protocol than WebSocket (h2c) never reaches the app, on an open route or a websocket one', async () => {
    // an h2c-capable app answers it 101 and the edge tunnels the connection: every later request on it
    // (GET /admin/…) reached the app unjudged. Before, HAProxy forwarded it on /public/* and /ws/*
    // (Portcullis answered 200); nginx.conf passes Upgrade to Portcullis (and websocket alone to the app)
    const before = app.seen.length;
    for (const path of ['/public/x', '/ws/x']) {
      const head = await rawHead(edgeUrl[edge]!, path, { ...bearer(token), connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA' });
      expect(head.split('\r\n')[0], `${path}: ${head}`).toMatch(/^HTTP\/1\.1 403/);
    }
    const upgraded = app.seen.slice(before).filter((r) => r.headers.upgrade !== undefined);
    expect(upgraded.map((r) => `${r.url} ${String(r.headers.upgrade)}`)).toEqual([]);
  });

  it('an HTTP/1.0 request without Host never reaches the app: its absolute-form target names a host nobody judged', async () => {
    // GET http://admin.example/… HTTP/1.0 and no Host: the check saw the path alone (judged with no host, the
    // open route), and HAProxy forwarded the target as sent — a Go app takes r.Host from it and serves the
    // admin host. Before, HAProxy answered 200 and the app got it; nginx called the check without Host (503)
    const before = app.seen.length;
    for (const target of ['http://admin.example/public/x', '/public/x']) {
      const head = await rawHeadOf(edgeUrl[edge]!, `GET ${target} HTTP/1.0\r\n\r\n`);
      expect(head.split('\r\n')[0], `${target}: ${head}`).toMatch(/^HTTP\/1\.[01] 400/);
    }
    expect(app.seen.slice(before).map((r) => r.url)).toEqual([]);
  });

  it('a bad or expired token → 401 invalid_token', async () => {
    const expired = await as.issueJwt({}, { ttlSeconds: -3600 });
    for (const t of ['not.a.jwt', expired]) {
      const r = await get('/orders/1', bearer(t));
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate'], 'exactly one challenge').toMatch(/^Bearer realm="portcullis", error="invalid_token"/);
      expect(r.json).toMatchObject({ error: 'invalid_token', code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' });
    }
  });

  it('insufficient scope on the route the original path selects → 403', async () => {
    const before = app.seen.length;
    const r = await get('/admin/users', bearer(token));
    expect(r.status).toBe(403);
    // nginx's auth_request keeps neither: deploy/edge/nginx.conf answers them from the verdict's challenge
    expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="portcullis", error="insufficient_scope", error_description="[^"]+", scope="admin"$/);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE' });
    // a dot segment does not reach /admin as /public
    expect((await get('/public/../admin/users')).status).not.toBe(200);
    expect((await get('/public/%2e%2e/admin/users')).status).not.toBe(200);
    expect(app.seen.length).toBe(before);
  });

  it('an original path Portcullis refuses keeps its status: ambiguous → 400, no route → 404; never forwarded', async () => {
    const before = app.seen.length;
    const amb = await get('/public/a%2fb', bearer(token));
    expect(amb.status, amb.text).toBe(400);
    expect(amb.headers['cache-control']).toBe('no-store');
    const none = await get('/nowhere', bearer(token));
    expect(none.status, none.text).toBe(404);
    expect(app.seen.length).toBe(before);
  });

  it('the internal token of a forward.token: internal route replaces the client token upstream', async () => {
    const h = seen(await get('/internal/x', bearer(token)));
    expect(h.authorization).toMatch(/^Bearer /);
    expect(h.authorization).not.toBe(`Bearer ${token}`);
    expect(payloadOf(h.authorization!.slice(7))).toMatchObject({ aud: 'ledger-api', sub: 'alice' });
    // a DPoP-bound token: its proof goes with it, as proxy mode drops it (before, the app got it beside the internal token)
    const bound = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const p = await proof(key, { htu: `${edgeUrl[edge]}/internal/x`, htm: 'GET', token: bound });
    const d = seen(await get('/internal/x', { authorization: `DPoP ${bound}`, dpop: p }));
    expect([d.authorization?.slice(0, 7), d.dpop]).toEqual(['Bearer ', undefined]);
  });

  it('authorization server down (opaque token) → 503, never forwarded', async () => {
    const opaque = as.issueOpaque({ sub: 'bob', scope: 'orders:read' });
    const before = app.seen.length;
    as.setIntrospection('down');
    try {
      const r = await get('/orders/1', bearer(opaque));
      expect(r.status).toBe(503);
    } finally {
      as.setIntrospection('normal');
    }
    expect(app.seen.length).toBe(before);
    expect(seen(await get('/orders/1', bearer(opaque)))['x-auth-subject']).toBe('bob');
  });

  it('a revocation made at the other instance is refused through the edge', async () => {
    const t = await as.issueJwt({ sub: `revoked-${edge}`, scope: 'orders:read' });
    seen(await get('/orders/1', bearer(t))); // warm: the verdict is cached at A
    const rv = await send(`${b.adminUrl}/revocations`, { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ kind: 'jti', value: jtiOf(t), reason: 'test' }));
    expect(rv.status, rv.text).toBe(201);
    let refusals = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 5_000) {
      const r = await get('/orders/1', bearer(t));
      if (r.status === 401) { refusals++; break; }
      expect(r.status).toBe(200);
    }
    expect(refusals, 'the revocation never reached A through the bus').toBe(1);
    // eslint-disable-next-line no-console
    console.log(`${edge}: revoked at B, first refusal through the edge at A after ${Date.now() - t0} ms`);
    const after = await get('/orders/1', bearer(t));
    expect(after.status).toBe(401);
    expect(String(after.headers['www-authenticate'])).toMatch(/error="invalid_token"/);
  });

  it('DPoP through the edge: the proof names the URL the client used; replayed or for another URL → 401', async () => {
    const bound = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const htu = `${edgeUrl[edge]}/dpop/orders`;
    const good = await proof(key, { htu, htm: 'POST', token: bound });
    const h = seen(await get('/dpop/orders', { authorization: `DPoP ${bound}`, dpop: good }, 'POST'));
    expect(h.authorization).toBe(`DPoP ${bound}`);
    expect(h.dpop).toBe(good);
    const replay = await get('/dpop/orders', { authorization: `DPoP ${bound}`, dpop: good }, 'POST');
    expect(replay.status).toBe(401);
    expect(replay.headers['www-authenticate']).toMatch(/^DPoP realm="portcullis", error="invalid_dpop_proof"/);
    expect(replay.json).toMatchObject({ code: 'PORTCULLIS_ERR_DPOP_INVALID_PROOF' });
    const other = await proof(key, { htu: `${a.url}/dpop/orders`, htm: 'POST', token: bound });
    expect((await get('/dpop/orders', { authorization: `DPoP ${bound}`, dpop: other }, 'POST')).status).toBe(401);
  });

  it('DPoP with a server nonce through the edge: the use_dpop_nonce refusal hands the client its DPoP-Nonce', async () => {
    // RFC 9449 §8: the client learns the nonce from this 401 alone. Before, HAProxy answered it without
    // DPoP-Nonce, so every request on a nonce route was refused for ever behind HAProxy
    const bound = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const htu = `${edgeUrl[edge]}/nonce/orders`;
    const first = await get('/nonce/orders', { authorization: `DPoP ${bound}`, dpop: await proof(key, { htu, htm: 'POST', token: bound }) }, 'POST');
    expect([first.status, first.json?.code], first.text).toEqual([401, 'PORTCULLIS_ERR_DPOP_NONCE_REQUIRED']);
    expect(first.headers['www-authenticate']).toMatch(/^DPoP realm="portcullis", error="use_dpop_nonce"/);
    const nonce = first.headers['dpop-nonce'];
    expect(typeof nonce, 'the 401 carries the nonce to use').toBe('string');
    const h = seen(await get('/nonce/orders', { authorization: `DPoP ${bound}`, dpop: await proof(key, { htu, htm: 'POST', token: bound, nonce: nonce as string }) }, 'POST'));
    expect(h.authorization).toBe(`DPoP ${bound}`);
  });

  it('a DPoP nonce refreshed on an allowed request reaches the client with the app\'s answer', async () => {
    // RFC 9449 §8.2: once the bucket turns, a proof with the previous nonce still passes and the answer
    // carries the current one, so the client switches before its nonce expires. Before, nginx and HAProxy
    // dropped it from the 200: the client found out by a 401 use_dpop_nonce and had to send its request again
    const bound = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const htu = `${edgeUrl[edge]}/nonce/orders`;
    const first = await get('/nonce/orders', { authorization: `DPoP ${bound}`, dpop: await proof(key, { htu, htm: 'POST', token: bound }) }, 'POST');
    const nonce = first.headers['dpop-nonce'] as string;
    expect([first.status, typeof nonce], first.text).toEqual([401, 'string']);
    let last: Answer | undefined;
    await waitFor('an allowed answer carrying a fresh DPoP-Nonce', async () => {
      last = await get('/nonce/orders', { authorization: `DPoP ${bound}`, dpop: await proof(key, { htu, htm: 'POST', token: bound, nonce }) }, 'POST');
      expect(last.status, last.text).toBe(200);
      return last.headers['dpop-nonce'] !== undefined;
    }, 10_000, { everyMs: 100 });
    expect(last!.headers['dpop-nonce']).not.toBe(nonce);
  });

  it('an RFC 6750 invalid_request (a token in two places) → 400 with its challenge, no Retry-After; the app is not called', async () => {
    // before: nginx answered a generic PORTCULLIS_ERR_REQUEST_MALFORMED with Retry-After: 1 and no
    // challenge, HAProxy Portcullis's body without the challenge
    const before = app.seen.length;
    const r = await get(`/orders/1?access_token=${token}`, bearer(token));
    expect([r.status, r.json?.error, r.json?.code], r.text).toEqual([400, 'invalid_request', 'PORTCULLIS_ERR_AUTH_INVALID_REQUEST']);
    expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="portcullis", error="invalid_request", error_description="[^"]+"$/);
    expect(r.headers['retry-after'], 'a malformed request is not to be retried').toBeUndefined();
    // a refused path: its status, no challenge, no Retry-After
    const amb = await get('/public/a%2fb');
    expect([amb.status, amb.headers['www-authenticate'], amb.headers['retry-after']], amb.text).toEqual([400, undefined, undefined]);
    expect(app.seen.length).toBe(before);
  });

  it('the host and scheme Portcullis judges are the edge\'s, not client-sent X-Original-Host/-Proto or X-Forwarded-Host', async () => {
    // the edge copies the client's headers to the call: a report header it does not set itself would
    // let a client name another host (host routes, DPoP htu) — a proof made for evil.example must not pass here
    const bound = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const elsewhere = await proof(key, { htu: 'https://evil.example/dpop/orders', htm: 'POST', token: bound });
    const spoof = { 'x-original-host': 'evil.example', 'x-forwarded-host': 'evil.example', 'x-original-proto': 'https' };
    const r = await get('/dpop/orders', { authorization: `DPoP ${bound}`, dpop: elsewhere, ...spoof }, 'POST');
    expect(r.status, r.text).toBe(401);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_DPOP_INVALID_PROOF' });
    // and the request as the client really sent it still passes with the spoofing headers present
    const real = await proof(key, { htu: `${edgeUrl[edge]}/dpop/orders`, htm: 'POST', token: bound });
    expect((await get('/dpop/orders', { authorization: `DPoP ${bound}`, dpop: real, ...spoof }, 'POST')).status).toBe(200);
  });
});

describe('Portcullis unreachable behind each edge', () => {
  it('nginx and HAProxy answer 503 and forward nothing', async () => {
    const [dead, np, hp] = await Promise.all([deadPort(), freePort(), freePort()]);
    const [n, h] = await Promise.all([startNginxEdge(np, join(sockets, 'nobody-listens.sock'), app.port), startHaproxyEdge(hp, dead, app.port)]);
    try {
      const before = app.seen.length;
      for (const port of [np, hp]) {
        const r = await send(`http://127.0.0.1:${port}/orders/1`, bearer(token));
        expect(r.status, `edge on ${port}: ${r.text}`).toBe(503);
        expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' });
      }
      expect(app.seen.length).toBe(before);
    } finally {
      await Promise.all([n.stop(), h.stop()]);
    }
  }, 30_000);
});
