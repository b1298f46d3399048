// Decision endpoints called directly, as each edge's documentation says it calls them: nginx
// auth_request (X-Original-URI/-Method), Traefik/Caddy (X-Forwarded-*), Envoy HTTP ext_authz
// (original path appended to the check path, original Host and method). A real proxy process,
// the demo authorization server; the upstream must never be called by a decision.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { clientKey, proof, type ClientKey } from '../../unit/dpop/dpop-helpers.js';
import { DECISION, INTERNAL_ISS, INTROSPECTION_SECRET, decisionPolicy, jtiOf, payloadOf, send, waitReady } from './decision-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, PT_INTROSPECTION_SECRET: INTROSPECTION_SECRET };

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let untrusting: ProxyProcess;
let token: string;
let key: ClientKey;

function config(decision: Record<string, unknown>): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 }, decision },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    ...decisionPolicy(as, echo.url),
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  };
}

/** nginx auth_request: the call to the auth location carries the client's headers plus X-Original-*. */
const nginx = (uri: string, headers: Record<string, string> = {}, method = 'GET') =>
  send(`${proxy.url}/_portcullis/auth`, { 'x-original-uri': uri, 'x-original-method': method, host: 'api.example', ...headers });

const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

function expectChallenge(r: { status: number; headers: Record<string, unknown>; json: Record<string, unknown> | null; text: string }, status: number, error: string | null, code: string): void {
  expect(r.status, r.text).toBe(status);
  const ch = String(r.headers['www-authenticate']);
  if (error === null) expect(ch).toBe('Bearer realm="portcullis"');
  else expect(ch).toMatch(new RegExp(`^Bearer realm="portcullis", error="${error}"`));
  expect(r.json).toMatchObject({ code });
}

beforeAll(async () => {
  [as, echo, key] = await Promise.all([startAuthServer(), startEchoUpstream(), clientKey('ES256')]);
  [proxy, untrusting] = await Promise.all([
    startProxy(config(DECISION), { env: ENV }),
    startProxy(config({ ...DECISION, trusted_edges: ['10.255.0.0/16'] }), { env: ENV }),
  ]);
  await Promise.all([waitReady(proxy.adminUrl, ADMIN_TOKEN), waitReady(untrusting.adminUrl, ADMIN_TOKEN)]);
  token = await as.issueJwt({ sub: 'alice', scope: 'orders:read', email: 'alice@example.com' });
}, 60_000);

afterAll(async () => {
  await Promise.all([proxy?.stop(), untrusting?.stop()]);
  await Promise.all([as?.close(), echo?.close()]);
});

describe('nginx auth_request dialect', () => {
  it('allowed: 200 with the identity headers for the edge to copy, no body, not cacheable', async () => {
    const before = echo.requests;
    const r = await nginx('/orders/42?x=1', bearer(token));
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-auth-subject']).toBe('alice');
    expect(r.headers['x-auth-scopes']).toBe('orders:read');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.text).toBe('');
    expect(echo.requests, 'a decision never calls the upstream').toBe(before);
  });

  it('no token → 401 with the bare Bearer challenge and the JSON body', async () => {
    expectChallenge(await nginx('/orders/42'), 401, null, 'PORTCULLIS_ERR_AUTH_MISSING');
  });

  it('a bad token → 401 invalid_token; an expired one too', async () => {
    expectChallenge(await nginx('/orders/42', bearer('not.a.jwt')), 401, 'invalid_token', 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN');
    const expired = await as.issueJwt({}, { ttlSeconds: -3600 });
    expectChallenge(await nginx('/orders/42', bearer(expired)), 401, 'invalid_token', 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN');
  });

  it('the route is chosen from the original URI, not the call path: /admin needs the admin scope → 403 insufficient_scope', async () => {
    const r = await nginx('/admin/users', bearer(token));
    expectChallenge(r, 403, 'insufficient_scope', 'PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE');
    expect(String(r.headers['www-authenticate'])).toContain('scope="admin"');
  });

  it('the original method counts: a route limited to methods is chosen (or not) by X-Original-Method', async () => {
    // /public/* allows every method; a method token that is not one is refused
    expect((await nginx('/public/x', {}, 'DELETE')).status).toBe(200);
    const r = await nginx('/public/x', {}, 'GE T');
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING' });
  });

  it('no bypass by spelling: the original path is normalised and refused like a proxied one', async () => {
    // dot segments resolve before routing: /public/../admin is /admin (needs a token)
    expectChallenge(await nginx('/public/../admin/users'), 401, null, 'PORTCULLIS_ERR_AUTH_MISSING');
    expectChallenge(await nginx('/public/%2e%2e/admin/users'), 401, null, 'PORTCULLIS_ERR_AUTH_MISSING');
    // a raw `#` is refused as in proxy mode, not cut off as a fragment: nginx sends the whole request
    // line upstream, and an upstream that reads `#` as a path character resolves the dots after it
    for (const p of ['/public%2f..%2fadmin/users', '/public/..%5cadmin', '/../../etc/passwd', '/public/x%00', '/public/x#/../../admin/users', '/public/%c0%ae%c0%ae/admin/users']) {
      const r = await nginx(p);
      expect(r.status, p).toBe(400);
      expect(r.json, p).toMatchObject({ code: 'PORTCULLIS_ERR_PATH_AMBIGUOUS' });
    }
    // another case of a route's path selects that route for a case-insensitive upstream: refused
    expect((await nginx('/ADMIN/users')).json).toMatchObject({ code: 'PORTCULLIS_ERR_PATH_AMBIGUOUS' });
    // absolute-form or `*` would let the reported host differ from the routed one
    expect((await nginx('http://evil.example/public/x')).json).toMatchObject({ code: 'PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING' });
  });

  it('a path no route matches → 404 (the edge refuses), never 200', async () => {
    const r = await nginx('/nowhere', bearer(token));
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_ROUTE_NOT_FOUND' });
  });

  it('without the original request headers → 400 naming what is missing; a header sent twice → 400', async () => {
    const r = await send(`${proxy.url}/_portcullis/auth`, bearer(token));
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING' });
    expect(String(r.json!.message)).toContain('X-Original-URI');
    const twice = await send(`${proxy.url}/_portcullis/auth`, { 'x-original-uri': '/orders/1', 'x-original-method': 'GET' }, 'GET')
      .then(() => send(`${proxy.url}/_portcullis/auth`, { 'x-original-uri': ['/public/1', '/admin/1'] as unknown as string, 'x-original-method': 'GET' }));
    expect(twice.status).toBe(400);
  });

  it('a revoked token is refused on the next call', async () => {
    const t = await as.issueJwt({ sub: 'revoked-user', scope: 'orders:read' });
    expect((await nginx('/orders/1', bearer(t))).status).toBe(200);
    const rv = await send(`${proxy.adminUrl}/revocations`, { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ kind: 'jti', value: jtiOf(t), reason: 'test' }));
    expect(rv.status, rv.text).toBe(201);
    expectChallenge(await nginx('/orders/1', bearer(t)), 401, 'invalid_token', 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN');
  });

  it('authorization server down for an opaque token → 503 with Retry-After, never 200', async () => {
    const opaque = as.issueOpaque({ sub: 'bob', scope: 'orders:read' });
    as.setIntrospection('down');
    try {
      const r = await nginx('/orders/1', bearer(opaque));
      expect(r.status, r.text).toBe(503);
      expect(r.headers['retry-after']).toBeDefined();
      expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' });
    } finally {
      as.setIntrospection('normal');
    }
    const ok = await nginx('/orders/1', bearer(opaque));
    expect(ok.status, ok.text).toBe(200);
    expect(ok.headers['x-auth-subject']).toBe('bob');
  });

  it('a route with forward.token: internal answers with the internal token for the edge to send upstream', async () => {
    const r = await nginx('/internal/x', bearer(token));
    expect(r.status, r.text).toBe(200);
    const auth = String(r.headers.authorization);
    expect(auth).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(payloadOf(auth.slice(7))).toMatchObject({ iss: INTERNAL_ISS, aud: 'ledger-api', sub: 'alice' });
  });

  it('a client-sent identity header on the call never comes back as the verdict', async () => {
    const r = await nginx('/public/x', { 'x-auth-subject': 'root' });
    expect(r.status).toBe(200);
    expect(r.headers['x-auth-subject']).toBeUndefined();
  });
});

describe('Traefik ForwardAuth / Caddy forward_auth dialect', () => {
  const traefik = (uri: string, headers: Record<string, string> = {}, method = 'GET') =>
    send(`${proxy.url}/_portcullis/auth`, { 'x-forwarded-method': method, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example', 'x-forwarded-uri': uri, ...headers });

  it('allowed with identity headers; denied by route from X-Forwarded-Uri', async () => {
    const ok = await traefik('/orders/7', bearer(token));
    expect(ok.status, ok.text).toBe(200);
    expect(ok.headers['x-auth-subject']).toBe('alice');
    expectChallenge(await traefik('/admin/7', bearer(token)), 403, 'insufficient_scope', 'PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE');
    expectChallenge(await traefik('/orders/7'), 401, null, 'PORTCULLIS_ERR_AUTH_MISSING');
  });

  it('an X-Forwarded-Proto other than http/https → 400', async () => {
    const r = await traefik('/orders/7', { ...bearer(token), 'x-forwarded-proto': 'gopher' });
    expect(r.status).toBe(400);
  });

  it('a client-sent X-Original-URI does not switch auto to the nginx dialect: both URI headers → 400, never the verdict of the reported path', async () => {
    // Traefik (no authRequestHeaders) and Caddy copy every client header to the call: a client asking
    // for /admin/7 adds X-Original-URI: /public/x and would get the open route's 200 for /admin/7
    const spoof = { 'x-original-uri': '/public/x', 'x-original-method': 'GET' };
    const r = await traefik('/admin/7', spoof);
    expect(r.status, r.text).toBe(400);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING' });
    expect(r.json?.message).toMatch(/both X-Original-URI and X-Forwarded-Uri/);
    expect((await traefik('/admin/7', { ...bearer(token), ...spoof })).status).toBe(400);
    // the same pair on an nginx call (a client adding X-Forwarded-Uri) is refused alike
    expect((await nginx('/public/x', { 'x-forwarded-uri': '/public/x' })).status).toBe(400);
  });
});

describe('Envoy HTTP ext_authz dialect', () => {
  // Envoy sends the original method, path_prefix + original path (with query), the original Host,
  // Content-Length and the headers allowed by allowed_headers (Authorization, DPoP, X-Forwarded-Proto)
  const envoy = (path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) =>
    send(`${proxy.url}/_portcullis/ext_authz${path}`, { host: 'api.example', 'x-forwarded-proto': 'https', ...headers }, method, body);

  it('allowed: 200 + identity headers; route from the appended path and the original method', async () => {
    const r = await envoy('/orders/9?expand=1', bearer(token));
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-auth-subject']).toBe('alice');
    const post = await envoy('/orders/9', { ...bearer(token), 'content-length': '0' }, 'POST', '');
    expect(post.status, post.text).toBe(200);
  });

  it('a POST check carrying the body (with_request_body) is answered too', async () => {
    const r = await envoy('/orders/9', { ...bearer(token), 'content-type': 'application/json' }, 'POST', '{"a":1}');
    expect(r.status, r.text).toBe(200);
  });

  it('denials keep their status, challenge and body; a HEAD check gets headers only', async () => {
    expectChallenge(await envoy('/admin/9', bearer(token)), 403, 'insufficient_scope', 'PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE');
    const head = await envoy('/orders/9', {}, 'HEAD');
    expect(head.status).toBe(401);
    expect(head.text).toBe('');
  });

  it('a route that strips Authorization tells Envoy to remove it (x-envoy-auth-headers-to-remove)', async () => {
    const r = await envoy('/stripped/1', bearer(token));
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-envoy-auth-headers-to-remove']).toBe('authorization,dpop');
  });

  it('client-sent identity headers the verdict does not overwrite are named for removal', async () => {
    const r = await envoy('/orders/1', { ...bearer(token), 'x-auth-subject': 'root', 'x-auth-role': 'admin' });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-auth-subject']).toBe('alice');
    expect(r.headers['x-envoy-auth-headers-to-remove']).toBe('x-auth-role');
    const pub = await envoy('/public/1', { 'x-auth-subject': 'root' });
    expect(pub.headers['x-envoy-auth-headers-to-remove']).toBe('x-auth-subject');
    expect((await envoy('/orders/1', bearer(token))).headers['x-envoy-auth-headers-to-remove']).toBeUndefined();
  });

  it('the exact request Envoy sends (HTTP/1.1, lower-case names, Content-Length 0, x-envoy-* and x-request-id added)', async () => {
    // Envoy's ext_authz HTTP service: original method, path_prefix + original :path (query kept),
    // :authority as Host, Content-Length, the allowed_headers, and its own tracing/timeout headers
    const bytes = [
      'POST /_portcullis/ext_authz/orders/42?expand=items HTTP/1.1', 'host: api.example:8443', 'content-length: 0',
      `authorization: Bearer ${token}`, 'x-forwarded-proto: https', 'x-envoy-internal: true', 'x-forwarded-for: 10.1.2.3',
      'x-envoy-expected-rq-timeout-ms: 1000', 'x-request-id: 3e5d1c7a-5f0e-4c1b-9c56-2c1b0c1d2e3f', 'x-auth-subject: root', '', '',
    ].join('\r\n');
    const r = await rawRequest(proxy.port, bytes);
    expect(r.status, r.raw).toBe(200);
    expect(r.headers['x-auth-subject']).toBe('alice');
    expect(r.headers['cache-control']).toBe('no-store');
    const denied = await rawRequest(proxy.port, bytes.replace(`authorization: Bearer ${token}\r\n`, ''));
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toBe('Bearer realm="portcullis"');
    expect(JSON.parse(denied.body.toString())).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_MISSING' });
  });

  it('the prefix alone or a path merely starting like it is no decision call', async () => {
    expect((await send(`${proxy.url}/_portcullis/ext_authzX/orders/1`, bearer(token))).json).toMatchObject({ code: 'PORTCULLIS_ERR_ROUTE_NOT_FOUND' });
  });
});

describe('DPoP through a decision endpoint', () => {
  it('htu and htm are checked against the original request the edge reports', async () => {
    const bound = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const good = await proof(key, { htu: 'https://api.example/dpop/orders', htm: 'POST', token: bound });
    const h = { authorization: `DPoP ${bound}`, 'x-forwarded-proto': 'https' };
    const ok = await nginx('/dpop/orders', { ...h, dpop: good }, 'POST');
    expect(ok.status, ok.text).toBe(200);
    // the same proof again: replayed
    const replay = await nginx('/dpop/orders', { ...h, dpop: good }, 'POST');
    expect(replay.status).toBe(401);
    expect(String(replay.headers['www-authenticate'])).toMatch(/^DPoP realm="portcullis", error="invalid_dpop_proof"/);
    // a proof for the decision endpoint's own URL, or for another method or scheme, is not for this request
    for (const [htu, htm] of [[`${proxy.url}/_portcullis/auth`, 'POST'], ['https://api.example/dpop/orders', 'GET'], ['http://api.example/dpop/orders', 'POST']] as const) {
      const p = await proof(key, { htu, htm, token: bound });
      const r = await nginx('/dpop/orders', { ...h, dpop: p }, 'POST');
      expect(r.status, `${htm} ${htu}`).toBe(401);
      expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_DPOP_INVALID_PROOF' });
    }
  });

  it('Envoy, a forward.token: internal route: the client\'s DPoP proof goes with the Authorization it replaces (named for removal, as proxy mode drops it)', async () => {
    const bound = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const p = await proof(key, { htu: 'https://api.example/internal/1', htm: 'GET', token: bound });
    const r = await send(`${proxy.url}/_portcullis/ext_authz/internal/1`, { host: 'api.example', 'x-forwarded-proto': 'https', authorization: `DPoP ${bound}`, dpop: p });
    expect(r.status, r.text).toBe(200);
    expect(String(r.headers.authorization)).toMatch(/^Bearer /);
    expect(String(r.headers['x-envoy-auth-headers-to-remove'] ?? '').split(',')).toContain('dpop');
  });
});

describe('trusted edges and metrics', () => {
  it('a peer outside trusted_edges → 403 whatever it reports', async () => {
    const r = await send(`${untrusting.url}/_portcullis/auth`, { 'x-original-uri': '/public/x', 'x-original-method': 'GET' });
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_DECISION_UNTRUSTED_EDGE' });
    // proxy mode on the same listener is unaffected
    expect((await send(`${untrusting.url}/public/x`, {})).status).toBe(200);
  });

  it('counts decisions by dialect and result', async () => {
    const m = await send(`${proxy.adminUrl}/metrics`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    const value = (labels: string): number => Number(new RegExp(`^portcullis_decision_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(m.text)?.[1] ?? -1);
    expect(m.text).toMatch(/# HELP portcullis_decision_requests_total /);
    expect(value('dialect="nginx",result="allowed"')).toBeGreaterThanOrEqual(5);
    expect(value('dialect="nginx",result="denied"')).toBeGreaterThanOrEqual(5);
    expect(value('dialect="nginx",result="unavailable"')).toBeGreaterThanOrEqual(1);
    expect(value('dialect="envoy",result="allowed"')).toBeGreaterThanOrEqual(3);
    expect(value('dialect="traefik",result="refused"')).toBeGreaterThanOrEqual(1);
    expect(value('dialect="none",result="refused"')).toBeGreaterThanOrEqual(1);
  });
});

describe('shutdown', () => {
  it('a decision still waiting for the authorization server when SIGTERM arrives is answered, not cut; one asked during the drain on an open connection too', async () => {
    const p = await startProxy(config(DECISION), { env: ENV });
    // an edge's kept connection, opened before the stop (its token's introspection cached by then)
    const edge = new Client(p.url, { keepAliveTimeout: 60_000, pipelining: 1 });
    try {
      await waitReady(p.adminUrl, ADMIN_TOKEN);
      const known = as.issueOpaque({ sub: 'dave', scope: 'orders:read' });
      const ask = { 'x-original-uri': '/orders/2', 'x-original-method': 'GET', ...bearer(known) };
      const warm = await edge.request({ path: '/_portcullis/auth', method: 'GET', headers: ask });
      expect(warm.statusCode, await warm.body.text()).toBe(200);
      const opaque = as.issueOpaque({ sub: 'carol', scope: 'orders:read' });
      as.setIntrospection('slow', 1_000);
      const asked = as.counters.introspection;
      const pending = send(`${p.url}/_portcullis/auth`, { 'x-original-uri': '/orders/1', 'x-original-method': 'GET', ...bearer(opaque) });
      // still waiting for the authorization server when SIGTERM comes
      await waitFor('as.counters.introspection > asked', () => as.counters.introspection > asked, 10_000, { detail: () => 'the decision at introspection' });
      p.proc.kill('SIGTERM');
      // the drain has begun once the port refuses new connections; the edge's kept one is still answered
      // (before: 503 SHUTTING_DOWN, which nginx's auth_request turns into a 500 for its client), and told to close
      await waitFor('new connections refused', async () => (await send(`${p.url}/_portcullis/auth`, ask).then(() => false, () => true)), 10_000);
      const late = await edge.request({ path: '/_portcullis/auth', method: 'GET', headers: ask });
      expect(late.statusCode, await late.body.text()).toBe(200);
      expect(late.headers['x-auth-subject']).toBe('dave');
      expect(late.headers.connection).toBe('close');
      const r = await pending;
      expect(r.status, r.text).toBe(200);
      expect(r.headers['x-auth-subject']).toBe('carol');
      expect(await p.exited).toBe(0);
    } finally {
      as.setIntrospection('normal');
      await edge.destroy();
      await p.stop();
    }
  }, 30_000);

  it('a decision asked during the drain that outlasts the proxied request in flight is answered, not cut', async () => {
    const p = await startProxy(config(DECISION), { env: ENV });
    const edge = new Client(p.url, { keepAliveTimeout: 60_000, pipelining: 1 });
    try {
      await waitReady(p.adminUrl, ADMIN_TOKEN);
      const warm = await edge.request({ path: '/public/warm', method: 'GET' });
      expect(warm.statusCode, await warm.body.text()).toBe(200);
      // the drain waits for this request; the decision below is still at the authorization server when it ends
      const relayed = send(`${p.url}/public/slow/800`, {});
      await waitFor('the request at the upstream', () => echo.lastRequest?.url === '/public/slow/800', 10_000);
      as.setIntrospection('slow', 1_700); // under the fixture's 2 s introspection timeout
      p.proc.kill('SIGTERM');
      await waitFor('new connections refused', async () => (await send(`${p.url}/public/probe`, {}).then(() => false, () => true)), 10_000);
      const opaque = as.issueOpaque({ sub: 'erin', scope: 'orders:read' });
      const late = await edge.request({ path: '/_portcullis/auth', method: 'GET', headers: { 'x-original-uri': '/orders/3', 'x-original-method': 'GET', ...bearer(opaque) } })
        .then(async (r) => ({ status: r.statusCode, subject: r.headers['x-auth-subject'], body: await r.body.text() }), (err: Error) => ({ status: 0, subject: undefined, body: err.message }));
      expect((await relayed).status).toBe(200);
      // before: cut when the proxied request ended (the edge saw its connection close without an answer)
      expect(late.status, late.body).toBe(200);
      expect(late.subject).toBe('erin');
      expect(await p.exited).toBe(0);
    } finally {
      as.setIntrospection('normal');
      await edge.destroy();
      await p.stop();
    }
  }, 30_000);
});
