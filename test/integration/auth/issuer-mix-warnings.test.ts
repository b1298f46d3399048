// One proxy, several issuers (tenants, realms): a config where one issuer's subjects can be taken for another's is
// valid, and now said. An SSF transmitter without token_issuer revokes `sub alice` at every issuer (tenant a's IdP
// logs out tenant b's alice); a route taking both issuers that forwards `sub` but not `iss` hands the upstream one
// "alice" for two people. check-config prints each warning with its path, serve logs it; before, both were silent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { baseConfig, runCli, startProxy, writeConfig } from '../../helpers/proxy-process.js';

let echo: EchoUpstream;
beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

const issuers = {
  tenant_a: { issuer: 'https://idp.example/realms/a', jwks_uri: 'http://127.0.0.1:9/a/jwks', audiences: ['orders'] },
  tenant_b: { issuer: 'https://idp.example/realms/ab', jwks_uri: 'http://127.0.0.1:9/ab/jwks', audiences: ['orders'] },
};
const source = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  issuer: 'https://idp.example', jwks_uri: 'http://127.0.0.1:9/ssf/jwks', audiences: ['https://proxy.example/ssf'],
  push: { path: '/ssf/a', authorization_env: 'PT_SSF_AUTH' }, subjects: { email: 'sub' }, ...extra,
});
const config = (url: string, o: { source?: Record<string, unknown>; identity?: Record<string, string>; routeIdentity?: Record<string, string> } = {}): Record<string, unknown> => baseConfig(url, {
  issuers,
  ...(o.source === undefined ? {} : { event_sources: { idp_a: o.source } }),
  ...(o.identity === undefined ? {} : { identity: { headers: o.identity } }),
  routes: [
    { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { issuers: ['tenant_a', 'tenant_b'] }, ...(o.routeIdentity === undefined ? {} : { forward: { identity_headers: o.routeIdentity } }) },
    { name: 'a-only', match: { path: '/a/*' }, upstream: 'app', auth: { issuers: ['tenant_a'] }, forward: { identity_headers: { 'X-User': 'sub' } } },
  ],
});
const SOURCE = /event source "idp_a" sets no token_issuer, so its events revoke subjects of every configured issuer \("tenant_a", "tenant_b"\).*a transmitter speaking for one issuer can revoke another issuer's users/;
const IDENTITY = /route "orders" accepts tokens of 2 issuers \("tenant_a", "tenant_b"\) and forwards "sub" in identity headers but not iss: the upstream cannot tell one issuer's "alice" from another's/;

async function check(cfg: Record<string, unknown>): Promise<string> {
  const r = await runCli(['check-config', '--no-env', writeConfig(cfg)]);
  expect(r.code, r.stderr).toBe(0);
  return r.stderr;
}

describe('an SSF transmitter without token_issuer beside two issuers', () => {
  it('check-config warns at event_sources.<name>.token_issuer, naming the issuers it reaches', async () => {
    expect(await check(config(echo.url, { source: source() }))).toMatch(new RegExp(`^warning: event_sources\\.idp_a\\.token_issuer: ${SOURCE.source}`, 'm'));
  });

  it('with token_issuer set, nothing is said', async () => {
    expect(await check(config(echo.url, { source: source({ token_issuer: 'https://idp.example/realms/a' }) }))).not.toMatch(/token_issuer/);
  });

  it('serve logs it at start, at warn level with its path', async () => {
    const p = await startProxy(config(echo.url, { source: source() }), { env: { PT_SSF_AUTH: 'Bearer 0123456789abcdef0123456789abcdef' } });
    try {
      const line = p.logs().find((l) => l.path === 'event_sources.idp_a.token_issuer');
      expect(line?.level, p.output()).toBe(40);
      expect(String(line?.msg)).toMatch(SOURCE);
    } finally { await p.stop(); }
  });
});

describe('a route taking two issuers that forwards sub without iss', () => {
  it('check-config warns at the route\'s identity_headers; the one-issuer route is not named', async () => {
    const out = await check(config(echo.url, { routeIdentity: { 'X-User': 'sub', 'X-Scopes': 'scope' } }));
    expect(out).toMatch(new RegExp(`^warning: routes\\[0\\]\\.forward\\.identity_headers: ${IDENTITY.source}`, 'm'));
    expect(out).not.toMatch(/routes\[1\]/);
  });

  it('through identity.headers, the warning names identity.headers', async () => {
    expect(await check(config(echo.url, { identity: { 'X-User': 'sub' } }))).toMatch(new RegExp(`^warning: identity\\.headers: ${IDENTITY.source}`, 'm'));
  });

  it('the default headers forward X-Auth-Issuer: nothing is said; neither when the route forwards iss', async () => {
    expect(await check(config(echo.url))).not.toMatch(/identity/);
    expect(await check(config(echo.url, { routeIdentity: { 'X-User': 'sub', 'X-Tenant': 'iss' } }))).not.toMatch(/identity/);
  });
});
