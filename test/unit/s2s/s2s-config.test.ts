// Config of the service-to-service features: defaults, and every cross-check reported with
// its path (internal needs internal_tokens and an auth block, exchange needs the issuer's
// token_exchange, client credentials conflict with internal/exchange, rotation rules).
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../node/config/index.js';

const up = { targets: ['http://127.0.0.1:9'] };
const issuer = { issuer: 'https://as.example', audiences: ['api'] };
const route = (extra: Record<string, unknown>): Record<string, unknown> => ({ name: 'r', match: { path: '/*' }, upstream: 'app', auth: {}, ...extra });

function errors(doc: Record<string, unknown>): string[] {
  const r = validateConfig({ upstreams: { app: up }, issuers: { demo: issuer }, ...doc });
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

describe('s2s config', () => {
  it('fills the documented defaults', () => {
    const r = validateConfig({ upstreams: { app: up }, issuers: { demo: issuer }, internal_tokens: { issuer: 'https://p' }, routes: [route({ forward: { token: 'internal' } })] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.internal_tokens).toEqual({ issuer: 'https://p', alg: 'ES256', max_ttl_s: 300, publish_ahead_s: 60, claims: [], cache_entries: 10_000, signing: 'worker' });
    expect(r.config.routes[0]!.forward).toMatchObject({ authorization: 'keep', token: 'internal' });
  });

  it('forward.token defaults to keep', () => {
    const r = validateConfig({ upstreams: { app: up }, routes: [route({ auth: 'none' })] });
    expect(r.ok && r.config.routes[0]!.forward.token).toBe('keep');
  });

  it('internal needs internal_tokens and an auth block', () => {
    expect(errors({ routes: [route({ forward: { token: 'internal' } })] })).toEqual(['routes[0].forward.token: "internal" requires the top-level internal_tokens section']);
    expect(errors({ internal_tokens: { issuer: 'https://p' }, routes: [route({ auth: 'none', forward: { token: 'internal' } })] }))
      .toEqual(['routes[0].forward.token: "internal" needs an inbound token: the route must have an auth block']);
  });

  it('exchange needs token_exchange on every issuer the route accepts', () => {
    expect(errors({ routes: [route({ forward: { token: 'exchange' } })] })).toEqual(['routes[0].forward.token: "exchange" requires issuers.demo.token_exchange (the route accepts tokens of demo)']);
    expect(errors({
      issuers: { demo: { ...issuer, token_exchange: { client_id: 'p', client_secret_env: 'S' } } },
      routes: [route({ forward: { token: 'exchange' } })],
    })).toEqual([]);
  });

  it('client credentials: a known issuer or a URL, no internal/exchange beside them, caller_authorization only with them', () => {
    const cc = { issuer: 'nope', client_id: 'c', client_secret_env: 'S' };
    expect(errors({ upstreams: { app: { ...up, client_credentials: cc } }, routes: [route({ auth: 'none' })] }))
      .toEqual(['upstreams.app.client_credentials.issuer: unknown issuer "nope" (a name under issuers: or an http(s) issuer URL; known: demo)']);
    // a name found only on Object.prototype is unknown too (before: accepted by check-config)
    expect(errors({ upstreams: { app: { ...up, client_credentials: { ...cc, issuer: 'constructor' } } }, routes: [route({ auth: 'none' })] }))
      .toEqual(['upstreams.app.client_credentials.issuer: unknown issuer "constructor" (a name under issuers: or an http(s) issuer URL; known: demo)']);
    expect(errors({ upstreams: { app: { ...up, client_credentials: { ...cc, issuer: 'https://other' } } }, internal_tokens: { issuer: 'https://p' }, routes: [route({ forward: { token: 'internal' } })] }))
      .toEqual(['routes[0].forward.token: "internal" conflicts with the client-credentials token of upstream "app" (one Authorization header)']);
    expect(errors({ routes: [route({ forward: { caller_authorization: 'X-Caller' } })] }))
      .toEqual(['routes[0].forward.caller_authorization: only for egress routes (a client_credentials block on the route or its upstream)']);
    expect(errors({ routes: [route({ auth: 'none', client_credentials: { ...cc, issuer: 'demo', scopes: ['a b'] } })] }))
      .toEqual(['routes[0].client_credentials.scopes[0]: a scope token (RFC 6749 §3.3: visible ASCII but \" and \\, no space)']);
  });

  it('caller_authorization names a header of its own: not one the proxy owns, an override or an identity header', () => {
    const cc = { issuer: 'demo', client_id: 'c', client_secret_env: 'S' };
    const named = (h: string, extra: Record<string, unknown> = {}): string[] => errors({ routes: [route({ auth: 'none', client_credentials: cc, forward: { caller_authorization: h } })], ...extra });
    for (const h of ['Host', 'AUTHORIZATION', 'dpop', 'Cookie', 'Content-Length', 'X-Forwarded-Proto', 'Forwarded', 'X-Original-URL', 'X-Real-IP', 'X-Auth-Subject']) {
      expect(named(h), h).toHaveLength(1);
      expect(named(h)[0], h).toMatch(/^routes\[0\]\.forward\.caller_authorization: /);
    }
    expect(named('X-User', { identity: { headers: { 'x-user': 'sub' } } })).toHaveLength(1);
    expect(named('X-Forwarded-Authorization')).toEqual([]);
    expect(named('X-Caller-Token')).toEqual([]);
  });

  it('identity header names: not one the proxy owns', () => {
    expect(errors({ identity: { headers: { Host: 'sub', 'X-User': 'sub' } }, routes: [route({})] }).map((e) => e.split(':')[0])).toEqual(['identity.headers.Host']);
    expect(errors({ routes: [route({ forward: { identity_headers: { 'X-Forwarded-For': 'sub', Cookie: 'sid' } } })] }).map((e) => e.split(':')[0]))
      .toEqual(['routes[0].forward.identity_headers.X-Forwarded-For', 'routes[0].forward.identity_headers.Cookie']);
    expect(errors({ routes: [route({ forward: { identity_headers: { 'X-Remote-User': 'sub' } } })] })).toEqual([]);
    // every credential field: a claim under its name would reach the upstream as a second credential
    for (const name of ['Authorization', 'Proxy-Authorization', 'DPoP', 'Cookie', 'Host']) {
      expect(errors({ routes: [route({ forward: { identity_headers: { [name]: 'sub' } } })] }).map((e) => e.split(':')[0]), name)
        .toEqual([`routes[0].forward.identity_headers.${name}`]);
    }
  });

  it('an issuer that is not a URL needs jwks_uri', () => {
    expect(errors({ internal_tokens: { issuer: 'portcullis' }, routes: [route({})] }))
      .toEqual(['internal_tokens.jwks_uri: required when issuer is not an http(s) URL (the discovery document names an absolute jwks_uri)']);
    expect(errors({ internal_tokens: { issuer: 'portcullis', jwks_uri: 'http://portcullis:8080/.well-known/jwks.json' }, routes: [route({})] })).toEqual([]);
  });

  it('rotation only for generated keys, longer than publish_ahead_s; reserved claims refused', () => {
    expect(errors({ internal_tokens: { issuer: 'https://p', key_file: '/k.pem', rotate_after_s: 3600, claims: ['tenant', 'aud'] }, routes: [route({})] })).toEqual([
      'internal_tokens.rotate_after_s: only for generated keys: a key_file rotates by replacing the file and reloading',
      'internal_tokens.claims[1]: "aud" is set by the proxy itself',
    ]);
    // an inbound scp beside the minted scope (the scopes the policy judged) would name others to an upstream
    // reading scp (Microsoft.Identity.Web); an inbound cnf binds the minted token to the client's key
    expect(errors({ internal_tokens: { issuer: 'https://p', claims: ['scp', 'cnf', 'portcullis_src', 'tenant'] }, routes: [route({})] })).toEqual([
      'internal_tokens.claims[0]: "scp" is not copied: the minted token\'s scope carries the scopes the policy judged, an inbound scp beside it could name others',
      'internal_tokens.claims[1]: "cnf" is not copied: it binds the inbound token to the client\'s key (DPoP, mTLS), which the proxy cannot prove to the upstream',
      'internal_tokens.claims[2]: "portcullis_src" is set by the proxy itself',
    ]);
    // an object's prototype machinery: `__proto__` set the minted claims' prototype and the claim was silently left out
    expect(errors({ internal_tokens: { issuer: 'https://p', claims: ['__proto__', 'constructor', 'tenant'] }, routes: [route({})] })).toEqual([
      'internal_tokens.claims[0]: "__proto__" cannot be copied: it names a JavaScript object\'s prototype machinery, not a claim',
      'internal_tokens.claims[1]: "constructor" cannot be copied: it names a JavaScript object\'s prototype machinery, not a claim',
    ]);
    expect(errors({ internal_tokens: { issuer: 'https://p', rotate_after_s: 30 }, routes: [route({})] }))
      .toEqual(['internal_tokens.rotate_after_s: must exceed publish_ahead_s (60): a key is published that long before it signs']);
  });

  it('a route naming no issuers needs one other than the proxy\'s own; exchange is judged on the ones it accepts', () => {
    const self = { issuer: 'https://p', jwks_uri: 'http://127.0.0.1:9/.well-known/jwks.json', audiences: ['app'], algorithms: ['ES256'] };
    expect(errors({ issuers: { self }, internal_tokens: { issuer: 'https://p' }, routes: [route({})] }))
      .toEqual(['routes[0].auth.issuers: required: every configured issuer is the proxy\'s own (internal_tokens.issuer), which a route accepts only when it names it (known: self)']);
    expect(errors({ issuers: { self }, internal_tokens: { issuer: 'https://p' }, routes: [route({ auth: { issuers: ['self'] } })] })).toEqual([]);
    // the default leaves the proxy's own issuer out, so it needs no token_exchange
    expect(errors({
      issuers: { demo: { ...issuer, token_exchange: { client_id: 'p', client_secret_env: 'S' } }, self },
      internal_tokens: { issuer: 'https://p' }, routes: [route({ forward: { token: 'exchange' } })],
    })).toEqual([]);
  });

  it('the example config stays valid', async () => {
    const { loadConfigFile } = await import('../../../node/config/index.js');
    const r = loadConfigFile(new URL('../../../deploy/portcullis.example.yaml', import.meta.url).pathname);
    expect(r.ok ? [] : r.errors).toEqual([]);
  });
});
