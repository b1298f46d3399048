// A route that strips credentials (`forward.authorization: strip`) with its token in a header of
// its own (`token_sources.header`): proxy mode drops that header too. Behind Envoy the app gets
// the request as sent unless the answer names the header for removal — before, Envoy's answers
// (HTTP `x-envoy-auth-headers-to-remove`, gRPC `headers_to_remove`) named only `authorization`
// and `dpop`, and the token the route strips reached the app.
import * as grpc from '@grpc/grpc-js';
import { extAuthzClient } from '../../helpers/ext-authz-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureKeys } from '../../fixtures/keys.js';
import { makeToken } from '../../fixtures/tokens.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startFixtureJwks, type ScriptedUpstream, fixtureIssuer } from '../../helpers/upstreams.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { waitReady } from '../auth/tokens-helpers.js';
import { send } from './decision-fixtures.js';

interface CheckResponse { status: { code: number } | null; ok_response?: { headers_to_remove: string[] } | null }
type CheckFn = (req: unknown, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void) => void;

let jwks: ScriptedUpstream;
let proxy: ProxyProcess;
let client: grpc.Client;
const token = makeToken(fixtureKeys().RS256);

beforeAll(async () => {
  jwks = await startFixtureJwks();
  proxy = await startProxy(baseConfig(jwks.url, {
    server: {
      listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } },
      decision: { grpc: true, endpoints: [{ path: '/_portcullis/ext_authz', dialect: 'envoy' }] },
    },
    issuers: { fx: fixtureIssuer(jwks.url) },
    routes: [
      { name: 'keyed', match: { path: '/keyed/*' }, upstream: 'app', auth: { token_sources: { header: 'x-api-token' } }, forward: { authorization: 'strip' } },
    ],
  }), { env: ADMIN_ENV });
  await waitReady(proxy, 30_000); // the machine may be loaded: readiness waits for the JWKS
  client = extAuthzClient(`127.0.0.1:${http2PortOf(proxy.logs())}`);
}, 60_000);

afterAll(async () => {
  client?.close();
  await proxy?.stop();
  await jwks?.close();
});

describe('a stripping route\'s own token header is named for removal at Envoy', () => {
  it('HTTP ext_authz: 200 with x-envoy-auth-headers-to-remove naming x-api-token', async () => {
    const r = await send(`${proxy.url}/_portcullis/ext_authz/keyed/1`, { host: 'app.example', 'x-api-token': token });
    expect(r.status, r.text).toBe(200);
    expect(String(r.headers['x-envoy-auth-headers-to-remove'] ?? '').split(',')).toContain('x-api-token');
  });

  it('gRPC Check: OK with headers_to_remove naming x-api-token', async () => {
    const r = await new Promise<CheckResponse>((resolve, reject) => {
      (client as unknown as { Check: CheckFn }).Check(
        { attributes: { request: { http: { method: 'GET', path: '/keyed/1', host: 'app.example', scheme: 'http', headers: { 'x-api-token': token } } } } },
        (err, res) => (err !== null ? reject(err) : resolve(res)),
      );
    });
    expect(r.status?.code ?? 0, JSON.stringify(r)).toBe(0);
    expect(r.ok_response?.headers_to_remove, JSON.stringify(r)).toContain('x-api-token');
  });
});
