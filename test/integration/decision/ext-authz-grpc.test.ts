// Envoy ext_authz over gRPC (`envoy.service.auth.v3.Authorization/Check`, server.decision.grpc)
// on the HTTP/2 listener. A @grpc/grpc-js client stands in for Envoy, with the messages written
// from Envoy's documented API (test/fixtures/ext-authz/external_auth.proto) and the shape Envoy
// sends (path with query, :authority as host, pseudo-headers and x-request-id in the map). Two
// instances on a real nats-server: a revocation at B is refused by A on the next Check; B
// trusts no local edge. The upstream must never be called by a Check.
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { extAuthzConstructor } from '../../helpers/ext-authz-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { clientKey, proof, type ClientKey } from '../../unit/dpop/dpop-helpers.js';
import { INTERNAL_ISS, INTROSPECTION_SECRET, decisionPolicy, jtiOf, payloadOf, send, waitReady } from './decision-fixtures.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV, PT_INTROSPECTION_SECRET: INTROSPECTION_SECRET };

interface HeaderOption { header: { key: string; value: string }; append: { value: boolean } | null }
interface StructV { string_value?: string; list_value?: { values: StructV[] }; kind?: string }
interface CheckResponse {
  status: { code: number; message: string } | null;
  http_response?: 'ok_response' | 'denied_response';
  ok_response?: { headers: HeaderOption[]; headers_to_remove: string[]; response_headers_to_add: HeaderOption[] };
  denied_response?: { status: { code: number } | null; headers: HeaderOption[]; body: string };
  dynamic_metadata: { fields: Record<string, StructV> } | null;
}

let as: AuthServer;
let echo: EchoUpstream;
let nats: NatsServer & { stop(): Promise<void> };
let a: ProxyProcess;
let b: ProxyProcess;
let clientA: grpc.Client;
let clientB: grpc.Client;
let rawA: grpc.Client;
let token: string;
let key: ClientKey;
type CheckFn = (req: unknown, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void) => void;

function config(trusted: string[]): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 }, timeouts: { request_ms: 1_000 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, decision: { grpc: true, trusted_edges: trusted }, forwarded: { keep_headers: ['x-ssl-client-verify'] } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    ...decisionPolicy(as, echo.url),
    cluster: { nats: { servers: [nats.url] }, auth: BUS_AUTH },
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  };
}

beforeAll(async () => {
  [as, echo, nats, key] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer(), clientKey('ES256')]);
  [a, b] = await Promise.all([startProxy(config(['127.0.0.0/8', '::1/128']), { env: ENV }), startProxy(config(['10.255.0.0/16']), { env: ENV })]);
  await Promise.all([waitReady(a.adminUrl, ADMIN_TOKEN, 2), waitReady(b.adminUrl, ADMIN_TOKEN, 2)]);
  const Authorization = extAuthzConstructor();
  clientA = new Authorization(`127.0.0.1:${http2PortOf(a.logs())}`, grpc.credentials.createInsecure());
  clientB = new Authorization(`127.0.0.1:${http2PortOf(b.logs())}`, grpc.credentials.createInsecure());
  rawA = new grpc.Client(`127.0.0.1:${http2PortOf(a.logs())}`, grpc.credentials.createInsecure());
  token = await as.issueJwt({ sub: 'alice', scope: 'orders:read', client_id: 'shop-web' });
}, 90_000);

afterAll(async () => {
  for (const c of [clientA, clientB, rawA]) c?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await Promise.all([as?.close(), echo?.close(), nats?.stop()]);
});

/** A CheckRequest as Envoy builds it for `method target` on https://api.example. */
function envoyRequest(target: string, headers: Record<string, string> = {}, method = 'GET', scheme = 'https'): unknown {
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.1.2.3', port_value: 51234 } } },
      destination: { address: { socket_address: { address: '10.0.0.9', port_value: 8443 } } },
      request: {
        http: {
          id: '14598011345411312881', method, path: target, host: 'api.example', scheme, protocol: 'HTTP/1.1', size: '0',
          headers: {
            ':authority': 'api.example', ':method': method, ':path': target, ':scheme': scheme,
            'user-agent': 'curl/8.5.0', accept: '*/*', 'x-forwarded-proto': scheme, 'x-request-id': randomUUID(), ...headers,
          },
        },
      },
      context_extensions: { virtual_host: 'api' },
    },
  };
}

function check(client: grpc.Client, req: unknown): Promise<CheckResponse> {
  return new Promise((resolve, reject) => (client as unknown as { Check: CheckFn }).Check(req, (err, res) => (err !== null ? reject(err) : resolve(res))));
}

/** A gRPC call that must fail: its status. */
async function failing(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try { await p; } catch (e) { return e as grpc.ServiceError; }
  throw new Error('the call succeeded');
}

const header = (opts: HeaderOption[] | undefined, name: string): string | undefined => opts?.find((o) => o.header.key === name)?.header.value;
const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

function expectDenied(r: CheckResponse, code: number, status: number, challenge: RegExp | null, errCode: string, what = ''): Record<string, unknown> {
  expect(r.status?.code, `${what} ${JSON.stringify(r)}`).toBe(code);
  expect(r.http_response).toBe('denied_response');
  expect(r.denied_response!.status?.code).toBe(status);
  const ch = header(r.denied_response!.headers, 'www-authenticate');
  if (challenge === null) expect(ch).toBeUndefined(); else expect(ch).toMatch(challenge);
  expect(header(r.denied_response!.headers, 'content-type')).toBe('application/json');
  const body = JSON.parse(r.denied_response!.body) as Record<string, unknown>;
  expect(body).toMatchObject({ code: errCode });
  return body;
}

describe('Envoy ext_authz gRPC Check', () => {
  it('allowed: OK with the identity headers to set, client copies to remove and the principal as dynamic_metadata', async () => {
    const before = echo.requests;
    const r = await check(clientA, envoyRequest('/orders/42?x=1', { ...bearer(token), 'x-auth-email': 'root@evil.example' }));
    expect(r.status?.code ?? 0, JSON.stringify(r)).toBe(0);
    expect(r.http_response).toBe('ok_response');
    const ok = r.ok_response!;
    expect(header(ok.headers, 'x-auth-subject')).toBe('alice');
    expect(header(ok.headers, 'x-auth-scopes')).toBe('orders:read');
    // append false: Envoy overwrites a client-sent header of the same name
    expect(ok.headers.find((o) => o.header.key === 'x-auth-subject')!.append).toEqual({ value: false });
    expect(ok.headers_to_remove).toContain('x-auth-email');
    const md = r.dynamic_metadata!.fields;
    expect(md.sub!.string_value).toBe('alice');
    expect(md.client_id!.string_value).toBe('shop-web');
    expect(md.route!.string_value).toBe('orders');
    expect(md.scopes!.list_value!.values.map((v) => v.string_value)).toEqual(['orders:read']);
    expect(echo.requests, 'a Check never calls the upstream').toBe(before);
  });

  it('underscore spellings of identity headers (Envoy passes them by default; CGI/WSGI/Rack read them as dashes) are named for removal', async () => {
    const r = await check(clientA, envoyRequest('/orders/42', { ...bearer(token), x_auth_subject: 'root', x_auth_email: 'root@evil.example', x_other: 'kept' }));
    expect(r.http_response).toBe('ok_response');
    expect(r.ok_response!.headers_to_remove).toEqual(expect.arrayContaining(['x_auth_subject', 'x_auth_email']));
    expect(r.ok_response!.headers_to_remove).not.toContain('x_other');
  });

  it('other proxies\' identity assertions and client-certificate headers (X-Forwarded-User, Client-Cert…), any spelling, are named for removal', async () => {
    const sent = { 'x-forwarded-user': 'root', 'remote-user': 'root', x_forwarded_email: 'root@evil.example', 'client-cert': ':MIIB:', 'x-ms-client-principal-name': 'root' };
    const r = await check(clientA, envoyRequest('/orders/42', { ...bearer(token), ...sent }));
    expect(r.http_response, JSON.stringify(r)).toBe('ok_response');
    // before, Envoy forwarded each of them to the app, which an app moved from oauth2-proxy believes
    expect(r.ok_response!.headers_to_remove).toEqual(expect.arrayContaining(Object.keys(sent)));
  });

  it('server.forwarded.keep_headers keeps the dashed name a front proxy sets, never its underscore spelling (CGI/WSGI/Rack read both as one)', async () => {
    const r = await check(clientA, envoyRequest('/orders/42', { ...bearer(token), 'x-ssl-client-verify': 'SUCCESS', x_ssl_client_verify: 'SUCCESS' }));
    expect(r.http_response, JSON.stringify(r)).toBe('ok_response');
    expect(r.ok_response!.headers_to_remove).not.toContain('x-ssl-client-verify');
    // before, the kept name let the client's own underscore copy through to the app as well
    expect(r.ok_response!.headers_to_remove).toContain('x_ssl_client_verify');
  });

  it('grpc-gateway\'s spelling of an identity assertion or client-certificate header (kept or not) is named for removal', async () => {
    const sent = { 'grpc-metadata-x-forwarded-user': 'root', 'grpc-metadata-x-ssl-client-verify': 'SUCCESS', 'grpc-metadata-trace-tag': 'kept' };
    const r = await check(clientA, envoyRequest('/orders/42', { ...bearer(token), ...sent }));
    expect(r.http_response, JSON.stringify(r)).toBe('ok_response');
    // before, grpc-gateway handed them to the service as x-forwarded-user / x-ssl-client-verify metadata
    expect(r.ok_response!.headers_to_remove).toEqual(expect.arrayContaining(['grpc-metadata-x-forwarded-user', 'grpc-metadata-x-ssl-client-verify']));
    expect(r.ok_response!.headers_to_remove).not.toContain('grpc-metadata-trace-tag');
  });

  it('grpc-gateway\'s spelling of the forwarding fields a proxy writes (client certificate, address) is named for removal', async () => {
    const sent = { 'grpc-metadata-x-forwarded-client-cert': 'Hash=00;URI=spiffe://prod/ns/payments/sa/ledger', 'grpc-metadata-x-forwarded-for': '10.0.0.1' };
    const r = await check(clientA, envoyRequest('/orders/42', { ...bearer(token), ...sent }));
    expect(r.http_response, JSON.stringify(r)).toBe('ok_response');
    // before, the service behind a grpc-gateway app got them as x-forwarded-client-cert / x-forwarded-for metadata
    expect(r.ok_response!.headers_to_remove).toEqual(expect.arrayContaining(Object.keys(sent)));
  });

  it('no token → UNAUTHENTICATED with a 401 denied_response, the RFC 6750 challenge and the JSON body', async () => {
    expectDenied(await check(clientA, envoyRequest('/orders/1')), 16, 401, /^Bearer realm="portcullis"$/, 'PORTCULLIS_ERR_AUTH_MISSING');
  });

  it('a bad token → UNAUTHENTICATED 401 invalid_token; too few scopes → PERMISSION_DENIED 403 insufficient_scope', async () => {
    expectDenied(await check(clientA, envoyRequest('/orders/1', bearer(`${token}x`))), 16, 401, /^Bearer realm="portcullis", error="invalid_token"/, 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN');
    expectDenied(await check(clientA, envoyRequest('/admin/1', bearer(token))), 7, 403, /^Bearer realm="portcullis", error="insufficient_scope"/, 'PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE');
  });

  it('authorization server down for an opaque token → UNAVAILABLE with a 503 and Retry-After, never OK', async () => {
    const opaque = as.issueOpaque({ sub: 'bob', scope: 'orders:read' });
    as.setIntrospection('down');
    try {
      const r = await check(clientA, envoyRequest('/orders/1', bearer(opaque)));
      expectDenied(r, 14, 503, null, 'PORTCULLIS_ERR_AUTH_UNAVAILABLE');
      expect(header(r.denied_response!.headers, 'retry-after')).toMatch(/^\d+$/);
    } finally {
      as.setIntrospection('normal');
    }
    const ok = await check(clientA, envoyRequest('/orders/1', bearer(opaque)));
    expect(header(ok.ok_response?.headers, 'x-auth-subject')).toBe('bob');
  });

  it('the original request goes through proxy mode\'s normalisation and routing', async () => {
    // /public/../admin is judged as /admin, not as the public route
    expectDenied(await check(clientA, envoyRequest('/public/../admin/x')), 16, 401, /^Bearer/, 'PORTCULLIS_ERR_AUTH_MISSING');
    for (const p of ['/public%2f..%2fadmin/users', '/public/..%5cadmin', '/public/x%00']) {
      expectDenied(await check(clientA, envoyRequest(p)), 3, 400, null, 'PORTCULLIS_ERR_PATH_AMBIGUOUS', p);
    }
    expectDenied(await check(clientA, envoyRequest('/nowhere')), 5, 404, null, 'PORTCULLIS_ERR_ROUTE_NOT_FOUND');
    expectDenied(await check(clientA, envoyRequest('/public/x', { 'x-bad': 'a\u0001b' })), 3, 400, null, 'PORTCULLIS_ERR_REQUEST_MALFORMED', 'x-bad');
    const pub = await check(clientA, envoyRequest('/public/x?q=1'));
    expect(pub.http_response).toBe('ok_response');
  });

  it('an internal-token route sets Authorization to the minted token; a stripping route removes the credentials', async () => {
    const r = await check(clientA, envoyRequest('/internal/x', bearer(token)));
    const auth = header(r.ok_response?.headers, 'authorization') ?? '';
    expect(auth).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(payloadOf(auth.slice(7))).toMatchObject({ iss: INTERNAL_ISS, aud: 'ledger-api', sub: 'alice' });
    const s = await check(clientA, envoyRequest('/stripped/x', bearer(token)));
    expect(s.ok_response!.headers_to_remove).toEqual(expect.arrayContaining(['authorization', 'dpop']));
  });

  it('DPoP: htu/htm are the reported request\'s scheme, host, path and method', async () => {
    const bound = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const h = { authorization: `DPoP ${bound}` };
    const good = await proof(key, { htu: 'https://api.example/dpop/orders', htm: 'POST', token: bound });
    const ok = await check(clientA, envoyRequest('/dpop/orders?page=2', { ...h, dpop: good }, 'POST'));
    expect(ok.http_response, JSON.stringify(ok)).toBe('ok_response');
    expectDenied(await check(clientA, envoyRequest('/dpop/orders', { ...h, dpop: good }, 'POST')), 16, 401, /^DPoP realm="portcullis", error="invalid_dpop_proof"/, 'PORTCULLIS_ERR_DPOP_INVALID_PROOF');
    for (const [htu, htm] of [['https://api.example/dpop/orders', 'GET'], ['http://api.example/dpop/orders', 'POST']] as const) {
      const p = await proof(key, { htu, htm, token: bound });
      expectDenied(await check(clientA, envoyRequest('/dpop/orders', { ...h, dpop: p }, 'POST')), 16, 401, /^DPoP/, 'PORTCULLIS_ERR_DPOP_INVALID_PROOF');
    }
  });

  it('a malformed message → INVALID_ARGUMENT, and the instance keeps answering', async () => {
    const raw = (bytes: Buffer): Promise<unknown> => new Promise((resolve, reject) => rawA.makeUnaryRequest('/envoy.service.auth.v3.Authorization/Check', (x: Buffer) => x, (x: Buffer) => x, bytes, (e, v) => (e ? reject(e) : resolve(v))));
    for (const bytes of [
      Buffer.from([0x0a, 0x05, 0x22]), // attributes claims 5 bytes, 1 follows
      Buffer.from([0x08, 0x01]), // attributes as a varint
      Buffer.from([0x0a, 0x04, 0x22, 0x02, 0x12, 0x7f]), // request.http runs past its parent
      Buffer.from([0x0a, 0x06, 0x22, 0x04, 0x12, 0x02, 0x12, 0x00, 0xff]), // trailing garbage after a valid prefix
      Buffer.from([0x0a, 0x07, 0x22, 0x05, 0x12, 0x03, 0x12, 0x01, 0xc3]), // method is not UTF-8
    ]) {
      const e = await failing(raw(bytes));
      expect(e.code, bytes.toString('hex')).toBe(grpc.status.INVALID_ARGUMENT);
    }
    // an empty CheckRequest is well-formed protobuf but reports no request: a 400 verdict
    const empty = await check(clientA, {});
    expectDenied(empty, 3, 400, null, 'PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING');
    expect((await check(clientA, envoyRequest('/orders/1', bearer(token)))).http_response).toBe('ok_response');
  });

  it('framing: a compressed message → UNIMPLEMENTED, an oversized one → RESOURCE_EXHAUSTED, a silent edge → DEADLINE_EXCEEDED', async () => {
    /** One raw h2c call to the Check path: the grpc-status it ends with (headers or trailers). */
    const call = (body: Buffer | null): Promise<string> => new Promise((resolve, reject) => {
      const s = http2.connect(`http://127.0.0.1:${http2PortOf(a.logs())}`);
      s.on('error', reject);
      const st = s.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
      let status: string | undefined;
      st.on('response', (h) => { if (h['grpc-status'] !== undefined) status = String(h['grpc-status']); });
      st.on('trailers', (h) => { status = String(h['grpc-status']); });
      st.on('close', () => { s.close(); resolve(status ?? 'none'); });
      st.on('error', () => { /* reset after the answer: the status is what counts */ });
      st.resume();
      if (body !== null) st.end(body);
    });
    const framed = (flag: number, msg: Buffer): Buffer => {
      const head = Buffer.from([flag, 0, 0, 0, 0]);
      head.writeUInt32BE(msg.length, 1);
      return Buffer.concat([head, msg]);
    };
    expect(await call(framed(1, Buffer.from([0x0a, 0x00])))).toBe(String(grpc.status.UNIMPLEMENTED));
    expect(await call(framed(0, Buffer.alloc(200_000)))).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
    // a call that never sends its message is ended by the proxy's request timer, not left open
    expect(await call(null)).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    expect((await check(clientA, envoyRequest('/orders/1', bearer(token)))).http_response).toBe('ok_response');
  });

  it('a peer outside trusted_edges → PERMISSION_DENIED whatever it reports', async () => {
    const e = await failing(check(clientB, envoyRequest('/public/x')));
    expect(e.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(e.details).toMatch(/trusted_edges/);
  });

  it('a revocation made at the other instance is refused on the next Check', async () => {
    const t = await as.issueJwt({ sub: 'revoked-grpc', scope: 'orders:read' });
    expect((await check(clientA, envoyRequest('/orders/1', bearer(t)))).http_response).toBe('ok_response'); // cached at A
    const rv = await send(`${b.adminUrl}/revocations`, { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ kind: 'jti', value: jtiOf(t), reason: 'test' }));
    expect(rv.status, rv.text).toBe(201);
    const t0 = Date.now();
    let r = await check(clientA, envoyRequest('/orders/1', bearer(t)));
    while (r.http_response === 'ok_response' && Date.now() - t0 < 5_000) r = await check(clientA, envoyRequest('/orders/1', bearer(t)));
    expectDenied(r, 16, 401, /error="invalid_token"/, 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN');
    // eslint-disable-next-line no-console
    console.log(`envoy_grpc: revoked at B, first refusal at A after ${Date.now() - t0} ms`);
  });

  it('counts Checks in portcullis_decision_requests_total with dialect envoy_grpc', async () => {
    const m = await send(`${a.adminUrl}/metrics`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    const value = (result: string): number => Number(new RegExp(`^portcullis_decision_requests_total\\{dialect="envoy_grpc",result="${result}"\\} (\\d+)$`, 'm').exec(m.text)?.[1] ?? -1);
    expect(value('allowed')).toBeGreaterThanOrEqual(5);
    expect(value('denied')).toBeGreaterThanOrEqual(5);
    expect(value('unavailable')).toBeGreaterThanOrEqual(1);
    expect(value('refused')).toBeGreaterThanOrEqual(5);
  });
});
