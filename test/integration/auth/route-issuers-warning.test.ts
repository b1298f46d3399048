// An operator adds a staging issuer for one route (`auth.issuers: [staging]`) and leaves the other routes'
// auth.issuers out: those routes take staging tokens too (the documented default). check-config prints a warning
// naming the route, the issuer and the route that scopes it, and serve logs it at start; before, both were silent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { baseConfig, runCli, startProxy, writeConfig } from '../../helpers/proxy-process.js';

let echo: EchoUpstream;
beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

const config = (url: string): Record<string, unknown> => baseConfig(url, {
  issuers: {
    prod: { issuer: 'https://idp.example/prod', jwks_uri: 'http://127.0.0.1:9/prod/jwks', audiences: ['orders'] },
    staging: { issuer: 'https://idp.example/staging', jwks_uri: 'http://127.0.0.1:9/staging/jwks', audiences: ['orders'] },
  },
  routes: [
    { name: 'smoke-tests', match: { path: '/test/*' }, upstream: 'app', auth: { issuers: ['staging'] } },
    { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
  ],
});
const WARNING = /route "orders" names no issuers, so it accepts tokens of every configured issuer \("prod", "staging"\), while route "smoke-tests" accepts only "staging": a token of an issuer meant for some routes opens this one too/;

describe('a route taking every issuer while another keeps one to itself', () => {
  it('check-config says ok with a warning naming the route, the issuer and the scoping route', async () => {
    const r = await runCli(['check-config', '--no-env', writeConfig(config(echo.url))]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^warning: routes\\[1\\]\\.auth\\.issuers: ${WARNING.source}`, 'm'));
  });

  it('serve logs it at start, at warn level with its path', async () => {
    const p = await startProxy(config(echo.url));
    try {
      const line = p.logs().find((l) => l.path === 'routes[1].auth.issuers');
      expect(line?.level, p.output()).toBe(40);
      expect(String(line?.msg)).toMatch(WARNING);
    } finally { await p.stop(); }
  });
});
