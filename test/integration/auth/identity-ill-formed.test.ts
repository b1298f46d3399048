// Claims that are not well-formed Unicode (a lone UTF-16 surrogate, which a JWT's JSON may write as
// `\ud800`) and look-alike letters, through a real proxy process: an ill-formed value is left out of the
// identity headers (its UTF-8 form would be U+FFFD, the same bytes as another user's `alice\ufffd`), a
// token whose sub, client or jti holds one is refused (401) as one with a control character is,
// and no fullwidth, zero-width or confusable spelling of a scope or role passes for the real one.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, issuerFor, waitReady, type Answer } from './policy-fixtures.js';
import { SECRET_ENV, introspection } from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;

const ROUTES = [
  { name: 'app', match: { path: '/app/*' }, upstream: 'app', auth: {}, forward: { identity_headers: { 'X-User': 'sub', 'X-Name': 'name' } } },
  { name: 'scoped', match: { path: '/scoped' }, upstream: 'app', auth: { scopes: { any: ['admin'] } } },
  { name: 'roled', match: { path: '/roled' }, upstream: 'app', auth: { roles: { claim: 'roles', any: ['admin'] } } },
  { name: 'claimed', match: { path: '/claimed' }, upstream: 'app', auth: { claims: [{ claim: 'group', equals: 'admin' }] } },
];

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/ill-formed' }), startEchoUpstream()]);
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'traefik' }] } },
    issuers: { demo: issuerFor(as, { introspection: introspection() }) },
    routes: ROUTES,
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

function upstreamSaw(r: Answer): Record<string, string | string[]> {
  expect(r.status, r.text).toBe(200);
  expect(r.json?.upstream).toBe('echo');
  return (r.json as { headers: Record<string, string | string[]> }).headers;
}

const DECISION = { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/app/x', 'X-Forwarded-Host': '127.0.0.1', 'X-Forwarded-Proto': 'http' };
/** `s` as the latin1 string a Node server reads from its UTF-8 bytes. */
const wire = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
const echoed = (r: Answer): boolean => r.json?.upstream === 'echo';

describe('a lone surrogate in a forwarded claim', () => {
  for (const name of ['alice\ud800', 'alice\udfff', '\udc00alice', 'ali\ud83dce']) {
    it(`name ${JSON.stringify(name)} is left out, never forwarded as U+FFFD (another user's name)`, async () => {
      const token = await as.issueJwt({ sub: 'mallory', name });
      const seen = upstreamSaw(await call(`${proxy.url}/app/x`, { token }));
      expect(seen['x-name']).toBeUndefined();
      expect(seen['x-user']).toBe('mallory');
      const d = await call(`${proxy.url}/_portcullis/auth`, { token, headers: DECISION });
      expect(d.status, d.text).toBe(200);
      expect(d.headers['x-name']).toBeUndefined();
      expect(d.headers['x-user']).toBe('mallory');
    });
  }

  for (const claims of [{ sub: 'alice\ud800' }, { sub: '\udc00' }, { client_id: 'app\udbff' }, { azp: 'app\ud800', client_id: undefined }, { jti: 'j\udfff' }, { sid: 's\ud800' }]) {
    it(`a token with ${JSON.stringify(claims)} (an identity claim with no header to show it) → 401, in a JWT and an introspection answer`, async () => {
      for (const token of [await as.issueJwt(claims), as.issueOpaque({ sub: 'alice', client_id: 'demo-client', ...claims })]) {
        const r = await call(`${proxy.url}/app/x`, { token });
        expect(r.status, r.text).toBe(401);
        expect(r.json?.error).toBe('invalid_token');
        expect(echoed(r)).toBe(false);
      }
    });
  }

  it('a well-formed U+FFFD, a pair (emoji) and other non-ASCII text are still forwarded as their UTF-8 bytes', async () => {
    for (const sub of ['alice\ufffd', 'ali\ud83d\ude00ce', 'zoë']) {
      const seen = upstreamSaw(await call(`${proxy.url}/app/x`, { token: await as.issueJwt({ sub, name: sub }) }));
      expect(seen['x-user']).toBe(wire(sub));
      expect(seen['x-name']).toBe(wire(sub));
    }
  });
});

describe('look-alike spellings never pass for the value the policy names', () => {
  const LOOK_ALIKES = ['ａdmin', 'admin\u200b', '\u200badmin', 'adm\u0131n', 'аdmin' /* Cyrillic а */, 'ADMIN', 'Admin', 'admin\u0000', 'admi\u006e\u0308', 'admin\ud800'];
  for (const v of LOOK_ALIKES) {
    it(`${JSON.stringify(v)} as scope, role and claim → 403`, async () => {
      const token = await as.issueJwt({ scope: v, roles: [v], group: v });
      expect((await call(`${proxy.url}/scoped`, { token })).status).toBe(403);
      expect((await call(`${proxy.url}/roled`, { token })).status).toBe(403);
      expect((await call(`${proxy.url}/claimed`, { token })).status).toBe(403);
    });
  }
  it('the real spelling passes (the routes are reachable)', async () => {
    const token = await as.issueJwt({ scope: 'admin', roles: ['admin'], group: 'admin' });
    expect((await call(`${proxy.url}/scoped`, { token })).status).toBe(200);
    expect((await call(`${proxy.url}/roled`, { token })).status).toBe(200);
    expect((await call(`${proxy.url}/claimed`, { token })).status).toBe(200);
  });
});
