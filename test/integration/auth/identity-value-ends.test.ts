// A claim forwarded as an identity header with a space or tab at either end: an HTTP parser
// trims a field value (RFC 9110 §5.5), so `" admin@corp"` would reach the upstream as another
// identity, `admin@corp`. Such a value is left out, in proxy mode and in a decision's answer.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, issuerFor, waitReady, type Answer } from './policy-fixtures.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;

const ROUTES = [{
  name: 'app', match: { path: '/app/*' }, upstream: 'app', auth: {},
  forward: { identity_headers: { 'X-Email': 'email', 'X-User': 'sub', 'X-Name': 'name' } },
}];

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer({ issuerPath: '/realms/ends' }), startEchoUpstream()]);
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'traefik' }] } },
    issuers: { demo: issuerFor(as) },
    routes: ROUTES,
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
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

describe('identity values with whitespace at either end', () => {
  for (const email of [' admin@corp', 'admin@corp ', '\tadmin@corp', 'admin@corp\t', '  ']) {
    it(`email ${JSON.stringify(email)} never reaches the upstream as another address`, async () => {
      const token = await as.issueJwt({ sub: 'mallory', email, name: 'Mallory' });
      const seen = upstreamSaw(await call(`${proxy.url}/app/x`, { token }));
      expect(seen['x-email']).toBeUndefined();
      expect(seen['x-user']).toBe('mallory');
      expect(seen['x-name']).toBe('Mallory');
      const d = await call(`${proxy.url}/_portcullis/auth`, { token, headers: DECISION });
      expect(d.status, d.text).toBe(200);
      expect(d.headers['x-email']).toBeUndefined();
      expect(d.headers['x-user']).toBe('mallory');
    });
  }

  it('inner spaces and tabs stay: one value, as written', async () => {
    const token = await as.issueJwt({ sub: 'alice', email: 'alice@corp', name: 'Alice  van\tDijk' });
    const seen = upstreamSaw(await call(`${proxy.url}/app/x`, { token }));
    expect(seen['x-email']).toBe('alice@corp');
    expect(seen['x-name']).toBe('Alice  van\tDijk');
  });
});
