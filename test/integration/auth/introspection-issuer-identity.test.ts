// Two tenants on one route: tenant a's tokens are opaque, judged by its authorization server, which leaves `iss` out of
// its answers (RFC 7662 makes it optional; the proxy then takes the answer as the issuer's own); tenant b's are JWTs.
// Both have a user "alice". The upstream must be able to tell them apart: X-Auth-Issuer names each one's issuer.
// Before, the introspected alice reached the upstream with no X-Auth-Issuer at all (and a route rule on `iss` refused
// her), while the revocation check already counted her as tenant a's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { baseConfig, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { fixtureIssuer, startFixtureJwks, startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { fixtureKeys } from '../../fixtures/keys.js';
import { makeToken, TEST_ISSUER } from '../../fixtures/tokens.js';

const TENANT_A = 'https://as.tenant-a.test/realms/a';
let echo: EchoUpstream, jwks: ScriptedUpstream, as: ScriptedUpstream, proxy: ProxyProcess;

beforeAll(async () => {
  [echo, jwks] = await Promise.all([startEchoUpstream(), startFixtureJwks()]);
  as = await startScriptedUpstream((req, res) => {
    if (req.url === '/jwks') { res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}'); return; }
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const token = new URLSearchParams(body).get('token');
      const answer = token === 'opaque-alice-of-a'
        ? { active: true, sub: 'alice', scope: 'orders:read', exp: Math.floor(Date.now() / 1000) + 300, token_type: 'Bearer' } // no iss
        : { active: false };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      tenant_a: { issuer: TENANT_A, audiences: ['orders'], discovery: false, jwks_uri: `${as.url}/jwks`, introspection: { endpoint: `${as.url}/introspect`, client_id: 'proxy', client_secret_env: 'PT_AS_SECRET' } },
      tenant_b: fixtureIssuer(jwks.url),
    },
    routes: [
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { issuers: ['tenant_a', 'tenant_b'] } },
      { name: 'a-admin', match: { path: '/a-admin/*' }, upstream: 'app', auth: { issuers: ['tenant_a', 'tenant_b'], claims: [{ claim: 'iss', equals: TENANT_A }] } },
    ],
  }), { env: { PT_AS_SECRET: 'as-secret' } });
  await waitReady(proxy);
}, 60_000);
afterAll(async () => { await proxy?.stop(); await Promise.all([echo?.close(), jwks?.close(), as?.close()]); });

async function seen(path: string, token: string): Promise<{ status: number; headers: Record<string, string> }> {
  const r = await fetch(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await r.text();
  return { status: r.status, headers: r.status === 200 ? (JSON.parse(text) as { headers: Record<string, string> }).headers : {} };
}

describe('an introspection answer without iss, beside another tenant\'s JWTs', () => {
  it('reaches the upstream with X-Auth-Issuer naming its issuer, so the two tenants\' alice differ', async () => {
    const a = await seen('/orders/1', 'opaque-alice-of-a');
    const b = await seen('/orders/1', makeToken(fixtureKeys().RS256, { claims: { sub: 'alice' } }));
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(a.headers['x-auth-subject']).toBe('alice');
    expect(b.headers['x-auth-subject']).toBe('alice');
    expect(a.headers['x-auth-issuer']).toBe(TENANT_A);
    expect(b.headers['x-auth-issuer']).toBe(TEST_ISSUER);
  });

  it('a route rule on iss reads the same issuer: tenant a\'s token passes it, tenant b\'s does not', async () => {
    expect((await seen('/a-admin/1', 'opaque-alice-of-a')).status).toBe(200);
    expect((await seen('/a-admin/1', makeToken(fixtureKeys().RS256, { claims: { sub: 'alice' } }))).status).toBe(403);
  });
});
