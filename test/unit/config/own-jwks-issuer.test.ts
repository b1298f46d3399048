// An issuer entry verifying against the proxy's own JWKS names internal_tokens.issuer, or the config is refused at the
// entry's `issuer`: after a rename of internal_tokens.issuer, an entry left on the old name took the tokens minted
// under it as an ordinary issuer's, on every route naming no issuers.
import { describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { formerInternalIssuerProblems, validateConfig } from '../../../node/config/index.js';

const OLD = 'https://portcullis.internal';
const NEW = 'https://gateway.internal';

const doc = (entry: Record<string, unknown>, internalIssuer = NEW, server: Record<string, unknown> = { listen: { host: '127.0.0.1', port: 18080 } }): Record<string, unknown> => ({
  server,
  issuers: {
    idp: { issuer: 'https://idp.example', jwks_uri: 'https://idp.example/jwks', audiences: ['api'] },
    from_orders: { audiences: ['orders'], algorithms: ['ES256'], ...entry },
  },
  internal_tokens: { issuer: internalIssuer },
  upstreams: { app: { targets: ['http://127.0.0.1:8081'] } },
  routes: [
    { name: 'a', match: { path: '/a/*' }, upstream: 'app', auth: {} },
    { name: 'b', match: { path: '/b/*' }, upstream: 'app', auth: { issuers: ['from_orders'] } },
  ],
});

const problems = (d: Record<string, unknown>): Array<{ path: string; message: string }> => {
  const r = validateConfig(d);
  return r.ok ? [] : r.errors.map((e) => ({ path: e.path, message: e.message }));
};

describe('an issuer entry on the proxy\'s own JWKS', () => {
  it('naming a former internal issuer is refused at its issuer, whichever way the JWKS URL is written', () => {
    for (const jwks of ['http://127.0.0.1:18080/.well-known/jwks.json', 'http://localhost:18080/.well-known/jwks.json', `http://${hostname()}:18080/.well-known/jwks.json`,
      'http://[::ffff:127.0.0.1]:18080/.well-known/jwks.json', `${NEW}/.well-known/jwks.json`]) {
      expect(problems(doc({ issuer: OLD, jwks_uri: jwks })), jwks).toEqual([{ path: 'issuers.from_orders.issuer', message: expect.stringMatching(/proxy's own JWKS .* another issuer than internal_tokens\.issuer \(https:\/\/gateway\.internal\).*name https:\/\/gateway\.internal here, or remove the entry/) }]);
    }
    // the HTTP/2 listener serves it too
    expect(problems(doc({ issuer: OLD, jwks_uri: 'http://127.0.0.1:18443/.well-known/jwks.json' }, NEW,
      { listen: { host: '127.0.0.1', port: 18080 }, http2: { listen: { host: '127.0.0.1', port: 18443 } } })).map((p) => p.path)).toEqual(['issuers.from_orders.issuer']);
  });

  it('naming internal_tokens.issuer, or another host\'s, port\'s or path\'s keys, is fine', () => {
    expect(problems(doc({ issuer: NEW, jwks_uri: 'http://127.0.0.1:18080/.well-known/jwks.json' }))).toEqual([]);
    expect(problems(doc({ issuer: OLD, jwks_uri: 'http://127.0.0.1:18081/.well-known/jwks.json' }))).toEqual([]);
    expect(problems(doc({ issuer: OLD, jwks_uri: 'http://192.0.2.7:18080/.well-known/jwks.json' }))).toEqual([]);
    expect(problems(doc({ issuer: OLD, jwks_uri: 'http://127.0.0.1:18080/other/jwks.json' }))).toEqual([]);
    // a proxy on port 0 (chosen when bound) is not known here; without internal_tokens there are no own keys
    expect(problems(doc({ issuer: OLD, jwks_uri: 'http://127.0.0.1:18080/.well-known/jwks.json' }, NEW, { listen: { host: '127.0.0.1', port: 0 } }))).toEqual([]);
    const noInternal = doc({ issuer: OLD, jwks_uri: 'http://127.0.0.1:18080/.well-known/jwks.json' });
    delete noInternal.internal_tokens;
    expect(problems(noInternal)).toEqual([]);
  });
});

describe('a reload against the running config: an entry on the internal issuer name it renames or removes', () => {
  const cfg = (internal: string | null, entryIssuer: string): Parameters<typeof formerInternalIssuerProblems>[0] => ({
    issuers: { from_orders: { issuer: entryIssuer, jwks_uri: 'https://lb.example/.well-known/jwks.json' } },
    ...(internal === null ? {} : { internal_tokens: { issuer: internal } }),
  });

  it('is refused at that entry, whatever its jwks_uri; renamed together, unchanged, or never internal is fine', () => {
    expect(formerInternalIssuerProblems(cfg(OLD, OLD), cfg(NEW, OLD))).toEqual([{ path: 'issuers.from_orders.issuer', message: expect.stringMatching(/^names https:\/\/portcullis\.internal, the internal_tokens\.issuer this reload renames to https:\/\/gateway\.internal: /) }]);
    expect(formerInternalIssuerProblems(cfg(OLD, OLD), cfg(null, OLD)).map((p) => p.message)).toEqual([expect.stringMatching(/this reload removes: /)]);
    expect(formerInternalIssuerProblems(cfg(OLD, OLD), cfg(NEW, NEW))).toEqual([]);
    expect(formerInternalIssuerProblems(cfg(OLD, OLD), cfg(OLD, OLD))).toEqual([]);
    expect(formerInternalIssuerProblems(cfg(null, OLD), cfg(NEW, OLD))).toEqual([]);
  });
});
