// A token the proxy obtains itself (client credentials, an internal or an exchanged token) is
// never sent to a Host the caller chose: with an upstream's `host: preserve` the target (a
// shared ingress, a virtual-host router) picks the receiver by the client's Host, so every route
// attaching such a token to that upstream must match one exact host — else the config is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_ENV, runCli, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { call, startVerifyingUpstream, waitReady, type VerifyingUpstream } from './s2s-fixtures.js';

const ENV = { ...ADMIN_ENV, PT_CC_SECRET: 'portcullis-secret' };
let as: AuthServer;
let upstream: VerifyingUpstream;

function config(routes: unknown[]): Record<string, unknown> {
  const cc = { issuer: 'demo', client_id: 'portcullis', client_secret_env: 'PT_CC_SECRET', scopes: ['billing:write'] };
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: {
      billing: { targets: [upstream.url], host: 'preserve', client_credentials: cc },
      orders: { targets: [upstream.url], host: 'preserve' },
      plain: { targets: [upstream.url], host: 'preserve' },
    },
    routes,
    internal_tokens: { issuer: 'https://portcullis.test' },
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  };
}

beforeAll(async () => {
  [as, upstream] = await Promise.all([startAuthServer(), startVerifyingUpstream()]);
});
afterAll(async () => {
  await Promise.all([as?.close(), upstream?.close()]);
});

describe('host: preserve and tokens the proxy attaches', () => {
  it('a route without an exact host match is refused by check-config and serve, naming its path', async () => {
    const file = writeConfig(config([
      { name: 'egress', match: { path: '/billing/*' }, upstream: 'billing', auth: 'none' },
      { name: 'egress-wild', match: { path: '/billing2/*', host: '*.internal' }, upstream: 'billing', auth: 'none' },
      { name: 'minted', match: { path: '/orders/*' }, upstream: 'orders', auth: {}, forward: { token: 'internal' } },
      // the caller's own token (keep) and an exact host are fine
      { name: 'own-token', match: { path: '/plain/*' }, upstream: 'plain', auth: {} },
      { name: 'egress-exact', match: { path: '/billing3/*', host: 'billing.internal' }, upstream: 'billing', auth: 'none' },
    ]));
    const check = await runCli(['check-config', file], ENV);
    expect(check.code, check.stdout + check.stderr).toBe(2);
    expect(check.stderr).toContain('routes[0].match.host');
    expect(check.stderr).toContain('routes[1].match.host');
    expect(check.stderr).toContain('routes[2].match.host');
    expect(check.stderr).not.toContain('routes[3]');
    expect(check.stderr).not.toContain('routes[4]');
    expect(check.stderr).toContain('host: preserve');
    const before = upstream.received.length;
    const serve = await runCli(['serve', '--config', file], ENV, 15_000);
    expect(serve.code).toBe(2);
    expect(serve.stdout).not.toContain('"listening"');
    expect(upstream.received.length).toBe(before);
  });

  describe('an exact host match', () => {
    let proxy: ProxyProcess;
    beforeAll(async () => {
      proxy = await startProxy(config([
        { name: 'egress', match: { path: '/billing/*', host: 'billing.internal' }, upstream: 'billing', auth: 'none' },
      ]), { env: ENV });
      await waitReady(proxy);
    });
    afterAll(async () => { await proxy?.stop(); });

    it('the token goes to the matched host only; another Host is not routed and nothing is sent', async () => {
      const ok = await call(`${proxy.url}/billing/1`, { headers: { host: 'billing.internal' } });
      expect(ok.status, ok.text).toBe(200);
      const seen = upstream.received.at(-1)!;
      expect(seen.headers.host).toBe('billing.internal');
      expect(seen.token).not.toBeNull();
      const before = upstream.received.length;
      const evil = await call(`${proxy.url}/billing/1`, { headers: { host: 'collector.internal' } });
      expect(evil.status).toBe(404);
      expect(upstream.received.length).toBe(before);
    });
  });
});
