// A route without auth.issuers accepts every configured issuer; when another route keeps an issuer to itself
// (a staging or partner issuer added for one route), the unscoped route is named as a warning — before, nothing
// said a staging token opened /orders/* — silenced by listing the route's issuers.
import { describe, expect, it } from 'vitest';
import { validateConfig, type Config } from '../../../node/config/index.js';
import { configWarnings } from '../../../node/config-warnings.js';

const ISSUERS = {
  prod: { issuer: 'https://idp.example/prod', audiences: ['orders'] },
  staging: { issuer: 'https://idp.example/staging', audiences: ['orders'] },
};

function valid(routes: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): Config {
  const r = validateConfig({ issuers: ISSUERS, upstreams: { app: { targets: ['http://127.0.0.1:3001'] } }, routes: routes.map((x) => ({ upstream: 'app', ...x })), ...extra });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}
const warnings = (routes: Array<Record<string, unknown>>, extra?: Record<string, unknown>): string[] =>
  configWarnings(valid(routes, extra)).map((w) => `${w.path}: ${w.message}`);

describe('routes taking every issuer while another route keeps one to itself', () => {
  it('a staging issuer named by /test/* alone: the unscoped /orders/* route is named, with the issuer and the route', () => {
    const w = warnings([
      { name: 'test-only', match: { path: '/test/*' }, auth: { issuers: ['staging'] } },
      { name: 'orders', match: { path: '/orders/*' }, auth: { scopes: { all: ['orders:read'] } } },
      { name: 'docs', match: { path: '/docs/*' }, auth: 'none' },
    ]);
    expect(w).toEqual([
      expect.stringMatching(/^routes\[1\]\.auth\.issuers: route "orders" names no issuers, so it accepts tokens of every configured issuer \("prod", "staging"\), while route "test-only" accepts only "staging": a token of an issuer meant for some routes opens this one too\. List the issuers this route trusts in auth\.issuers/),
    ]);
  });

  it('says nothing when no route scopes issuers, when a route lists them all, or when the unscoped route names its own', () => {
    expect(warnings([{ name: 'a', match: { path: '/a/*' }, auth: {} }, { name: 'b', match: { path: '/b/*' }, auth: {} }])).toEqual([]);
    expect(warnings([{ name: 'a', match: { path: '/a/*' }, auth: { issuers: ['staging', 'prod'] } }, { name: 'b', match: { path: '/b/*' }, auth: {} }])).toEqual([]);
    expect(warnings([{ name: 'a', match: { path: '/a/*' }, auth: { issuers: ['staging'] } }, { name: 'b', match: { path: '/b/*' }, auth: { issuers: ['prod', 'staging'] } }])).toEqual([]);
    expect(warnings([{ name: 'a', match: { path: '/a/*' }, auth: { issuers: ['staging'] } }, { name: 'b', match: { path: '/b/*' }, auth: { issuers: ['prod'] } }])).toEqual([]);
  });

  it('a route kept to the corporate issuer alone says the same of the routes that take every one', () => {
    expect(warnings([{ name: 'admin', match: { path: '/admin/*' }, auth: { issuers: ['prod'] } }, { name: 'b', match: { path: '/b/*' }, auth: {} }]))
      .toEqual([expect.stringMatching(/^routes\[1\]\.auth\.issuers: route "b" names no issuers, .* while route "admin" accepts only "prod"/)]);
  });

  it('the proxy\'s own issuer, which no route takes by default, does not count', () => {
    const own = { internal_tokens: { issuer: 'https://portcullis.internal' }, issuers: { ...ISSUERS, self: { issuer: 'https://portcullis.internal', audiences: ['app'] } } };
    expect(warnings([{ name: 'a', match: { path: '/a/*' }, auth: { issuers: ['self'] } }, { name: 'b', match: { path: '/b/*' }, auth: {} }], own)).toEqual([]);
  });
});
