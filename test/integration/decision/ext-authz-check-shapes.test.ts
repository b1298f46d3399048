// Shapes of an Envoy ext_authz gRPC Check read like the HTTP decision endpoints. With
// `encode_raw_headers: true` Envoy reports the request's
// headers in `attributes.request.http.header_map` (field 13: key + raw_value bytes, repeated
// names not joined) instead of the `headers` map. The verdict must read them as it reads the map:
// the token from `authorization`, client-sent identity headers named in `headers_to_remove`.
// Before, header_map was skipped: a client's `x-auth-subject: root` on an `auth: none` route was
// not named for removal and reached the app through Envoy. A Check never calls the upstream.
// Also the reported target: a raw `#` in `path` is refused as at the HTTP decision endpoints, not
// cut off as a fragment (before: `/public/x#/../../admin/x` was judged as `/public/x`, OK).
import * as grpc from '@grpc/grpc-js';
import { extAuthzClient } from '../../helpers/ext-authz-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { ADMIN_ENV, ADMIN_TOKEN, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { INTROSPECTION_SECRET, decisionPolicy, waitReady } from './decision-fixtures.js';

interface HeaderOption { header: { key: string; value: string } }
interface CheckResponse {
  status: { code: number } | null;
  http_response?: 'ok_response' | 'denied_response';
  ok_response?: { headers: HeaderOption[]; headers_to_remove: string[] };
  denied_response?: { status: { code: number } | null; body: string };
}
type CheckFn = (req: unknown, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void) => void;

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let client: grpc.Client;
let token: string;

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  proxy = await startProxy({
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, decision: { grpc: true } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    ...decisionPolicy(as, echo.url),
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  }, { env: { ...ADMIN_ENV, PT_INTROSPECTION_SECRET: INTROSPECTION_SECRET } });
  await waitReady(proxy.adminUrl, ADMIN_TOKEN);
  client = extAuthzClient(`127.0.0.1:${http2PortOf(proxy.logs())}`);
  token = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
}, 90_000);

afterAll(async () => {
  client?.close();
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

/** A CheckRequest as Envoy builds it with encode_raw_headers: every header in header_map as raw bytes. */
function rawRequest(target: string, headers: Array<[string, string]>, map?: Record<string, string>): unknown {
  const all: Array<[string, string]> = [[':authority', 'api.example'], [':method', 'GET'], [':path', target], [':scheme', 'https'], ['x-request-id', 'r-1'], ...headers];
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.1.2.3', port_value: 51234 } } },
      request: {
        http: {
          method: 'GET', path: target, host: 'api.example', scheme: 'https', protocol: 'HTTP/1.1',
          header_map: { headers: all.map(([key, v]) => ({ key, raw_value: Buffer.from(v, 'latin1') })) },
          ...(map !== undefined ? { headers: map } : {}),
        },
      },
    },
  };
}

function check(req: unknown): Promise<CheckResponse> {
  return new Promise((resolve, reject) => (client as unknown as { Check: CheckFn }).Check(req, (err, res) => (err !== null ? reject(err) : resolve(res))));
}

const setHeader = (r: CheckResponse, name: string): string | undefined => r.ok_response?.headers.find((o) => o.header.key === name)?.header.value;

describe('ext_authz Check: the reported path', () => {
  it('a raw # in the path → INVALID_ARGUMENT 400, as the HTTP decision endpoints answer; never OK', async () => {
    for (const target of ['/public/x#/../../admin/x', '/public/x#frag']) {
      const r = await check(rawRequest(target, []));
      expect(r.http_response, `${target} ${JSON.stringify(r)}`).toBe('denied_response');
      expect(r.status?.code).toBe(3);
      expect(r.denied_response!.status?.code).toBe(400);
    }
  });
});

describe('ext_authz Check with encode_raw_headers (header_map)', () => {
  it('the token in header_map is read: OK with the identity headers, as with the headers map', async () => {
    const before = echo.requests;
    const r = await check(rawRequest('/orders/42', [['authorization', `Bearer ${token}`]]));
    expect(r.status?.code ?? 0, JSON.stringify(r)).toBe(0);
    expect(setHeader(r, 'x-auth-subject')).toBe('alice');
    expect(echo.requests, 'a Check never calls the upstream').toBe(before);
  });

  it('client-sent identity headers in header_map are named for removal on an auth: none route', async () => {
    const r = await check(rawRequest('/public/x', [['x-auth-subject', 'root'], ['x_auth_email', 'root@evil.example'], ['grpc-metadata-x-auth-scopes', 'admin'], ['x-other', 'kept']]));
    expect(r.http_response, JSON.stringify(r)).toBe('ok_response');
    // grpc-metadata-x-auth-*: grpc-gateway's spelling of metadata x-auth-* (grpc-metadata-prefix.test.ts)
    expect(r.ok_response!.headers_to_remove).toEqual(expect.arrayContaining(['x-auth-subject', 'x_auth_email', 'grpc-metadata-x-auth-scopes']));
    expect(r.ok_response!.headers_to_remove).not.toContain('x-other');
  });

  it('a name repeated in header_map (Envoy does not join them) is refused like a repeated field: 400, never OK', async () => {
    const r = await check(rawRequest('/orders/42', [['authorization', `Bearer ${token}`], ['authorization', 'Bearer other']]));
    expect(r.http_response, JSON.stringify(r)).toBe('denied_response');
    expect(r.denied_response!.status?.code).toBe(400);
  });

  it('raw bytes past ASCII in a header_map value are refused like on the listener: 400, never OK', async () => {
    const r = await check(rawRequest('/public/x', [['x-note', 'caf\u00e9']]));
    expect(r.http_response, JSON.stringify(r)).toBe('denied_response');
    expect(r.denied_response!.status?.code).toBe(400);
  });

  it('header_map and the headers map both present (Envoy sends one of them) → INVALID_ARGUMENT', async () => {
    const e = await check(rawRequest('/public/x', [['x-auth-subject', 'root']], { 'x-other': 'y' })).then(() => null, (err: grpc.ServiceError) => err);
    expect(e?.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});
