// cookieRequestAllowed: a cookie-token request with a state-changing method passes only when
// Sec-Fetch-Site says same-origin/none, or the Origin is the addressed one (no Sec-Fetch-Site) or
// listed in cookie_origins; safe methods and non-browser requests (neither header) always pass.
import { describe, expect, it } from 'vitest';
import { cookieRequestAllowed } from '../../../node/auth/cookie-origin.js';
import type { RequestContext } from '../../../node/pipeline/index.js';

function ctx(method: string, headers: string[], opts: { origin?: string | null; secure?: boolean; listed?: string[] } = {}): RequestContext {
  return {
    method, path: '/x', query: '', host: 'api.example', headers: ['host', 'api.example', ...headers], remoteAddress: '',
    secure: opts.secure ?? true, ...(opts.origin !== undefined ? { origin: opts.origin } : {}),
    route: { index: 0, name: 'r', config: { cookie_origins: opts.listed ?? ['https://app.example'], websocket_origins: ['https://chat.example'] }, policy: null },
    params: null, token: 't', tokenSource: 'cookie', principal: null, denyReason: null,
  } as unknown as RequestContext;
}
const ok = (c: RequestContext, trust = false): boolean => cookieRequestAllowed(c, trust);

describe('cookieRequestAllowed', () => {
  it('safe methods pass from anywhere; every other method is judged', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS']) expect(ok(ctx(m, ['origin', 'https://evil.example', 'sec-fetch-site', 'cross-site'])), m).toBe(true);
    for (const m of ['POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND', 'post']) expect(ok(ctx(m, ['origin', 'https://evil.example'])), m).toBe(false);
  });

  it('Sec-Fetch-Site: same-origin/none pass, anything else only with a listed Origin', () => {
    expect(ok(ctx('POST', ['sec-fetch-site', 'same-origin']))).toBe(true);
    expect(ok(ctx('POST', ['sec-fetch-site', 'none']))).toBe(true);
    for (const s of ['same-site', 'cross-site', 'Cross-Site', 'bogus', '']) expect(ok(ctx('POST', ['sec-fetch-site', s])), s).toBe(false);
    expect(ok(ctx('POST', ['sec-fetch-site', 'cross-site', 'origin', 'https://api.example'])), 'own origin does not override cross-site').toBe(false);
    expect(ok(ctx('POST', ['sec-fetch-site', 'cross-site', 'origin', 'HTTPS://APP.example:443']))).toBe(true);
    expect(ok(ctx('POST', ['sec-fetch-site', 'cross-site', 'origin', 'https://chat.example'])), 'websocket_origins is handshakes only').toBe(false);
    expect(ok(ctx('POST', ['sec-fetch-site', 'same-origin', 'sec-fetch-site', 'same-origin'])), 'twice').toBe(false);
  });

  it('without Sec-Fetch-Site the Origin must be the addressed origin or listed; none at all passes', () => {
    expect(ok(ctx('POST', []))).toBe(true);
    expect(ok(ctx('POST', ['origin', 'https://api.example']))).toBe(true);
    expect(ok(ctx('POST', ['origin', 'http://api.example']))).toBe(false);
    expect(ok(ctx('POST', ['origin', 'https://app.example']))).toBe(true);
    for (const o of ['null', 'https://evil.example', 'https://api.example/', 'https://api.example/x', 'https://u@api.example', 'api.example', 'ftp://api.example']) {
      expect(ok(ctx('POST', ['origin', o])), o).toBe(false);
    }
    expect(ok(ctx('POST', ['origin', 'https://api.example', 'origin', 'https://api.example'])), 'two Origins').toBe(false);
    expect(ok(ctx('POST', ['sec-fetch-site', 'same-origin', 'origin', 'null'])), 'null Origin beats same-origin').toBe(false);
  });

  it('a decision endpoint\'s original origin is the addressed one; X-Forwarded-* only when trusted', () => {
    expect(ok(ctx('POST', ['origin', 'https://shop.example'], { origin: 'https://shop.example' }))).toBe(true);
    expect(ok(ctx('POST', ['origin', 'https://api.example'], { origin: null }))).toBe(false);
    const fwd = ['x-forwarded-proto', 'https', 'x-forwarded-host', 'edge.example', 'origin', 'https://edge.example'];
    expect(ok(ctx('POST', fwd, { secure: false }), true)).toBe(true);
    expect(ok(ctx('POST', fwd, { secure: false }), false)).toBe(false);
  });
});
