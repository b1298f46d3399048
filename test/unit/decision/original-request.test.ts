// The original request each dialect reports, read as the edges document sending it, and the
// refusals of reports that are missing, doubled or malformed; plus server.decision validation.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readOriginal, socketPath, type DecisionCall } from '../../../node/decision/index.js';
import { cidrMatcher, parseCidr, validateConfig } from '../../../node/config/index.js';

const call = (headers: Record<string, string | string[]>, o: Partial<DecisionCall> = {}): DecisionCall => ({
  method: 'GET', path: '/_portcullis/auth', query: '',
  headers: Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v.flatMap((x) => [k, x]) : [k, v])),
  ...o,
});

describe('readOriginal', () => {
  it('nginx: X-Original-URI with query, X-Original-Method, Host or X-Forwarded-Host, X-Forwarded-Proto', () => {
    expect(readOriginal('auto', '/_portcullis/auth', call({ host: 'api.example', 'x-original-uri': '/a/b?c=1&d', 'x-original-method': 'POST', 'x-forwarded-proto': 'https' })))
      .toEqual({ dialect: 'nginx', method: 'POST', rawPath: '/a/b', query: 'c=1&d', host: 'api.example', proto: 'https' });
    expect(readOriginal('nginx', '/x', call({ host: 'auth.internal', 'x-forwarded-host': 'api.example', 'x-original-uri': '/', 'x-original-method': 'GET' })))
      .toMatchObject({ host: 'api.example', proto: 'http' });
  });

  it('Traefik/Caddy: X-Forwarded-Method/-Uri/-Host/-Proto; the first proto of a chain', () => {
    expect(readOriginal('auto', '/x', call({ host: 'auth', 'x-forwarded-method': 'DELETE', 'x-forwarded-uri': '/o/1', 'x-forwarded-host': 'api.example', 'x-forwarded-proto': 'https, http' })))
      .toEqual({ dialect: 'traefik', method: 'DELETE', rawPath: '/o/1', query: '', host: 'api.example', proto: 'https' });
  });

  it('Envoy: the call method, the path after the prefix, the query, the call Host', () => {
    expect(readOriginal('envoy', '/authz', call({ host: 'api.example' }, { method: 'PUT', path: '/authz/o/1', query: 'x=2' })))
      .toEqual({ dialect: 'envoy', method: 'PUT', rawPath: '/o/1', query: 'x=2', host: 'api.example', proto: 'http' });
  });

  it('refuses missing, doubled and malformed reports with a message naming the problem', () => {
    expect(readOriginal('auto', '/x', call({}))).toMatch(/X-Original-URI/);
    expect(readOriginal('nginx', '/x', call({ 'x-original-uri': '/a' }))).toBe('no X-Original-Method header');
    expect(readOriginal('traefik', '/x', call({ 'x-forwarded-method': 'GET' }))).toBe('no X-Forwarded-Uri header');
    expect(readOriginal('auto', '/x', call({ 'x-original-uri': ['/a', '/b'], 'x-original-method': 'GET' }))).toMatch(/more than once/);
    expect(readOriginal('auto', '/x', call({ 'x-original-uri': '/a', 'x-original-method': 'GET', host: ['a', 'b'] }))).toMatch(/Host/);
    expect(readOriginal('auto', '/x', call({ 'x-original-uri': 'http://evil/a', 'x-original-method': 'GET' }))).toMatch(/origin-form/);
    expect(readOriginal('auto', '/x', call({ 'x-original-uri': '*', 'x-original-method': 'OPTIONS' }))).toMatch(/origin-form/);
    expect(readOriginal('auto', '/x', call({ 'x-original-uri': '/a', 'x-original-method': 'G T' }))).toMatch(/method/);
    // methods are case-sensitive: the edge forwards `post` as sent, and the app may route it apart from POST
    expect(readOriginal('auto', '/x', call({ 'x-original-uri': '/a', 'x-original-method': 'post' }))).toMatch(/upper case/);
    expect(readOriginal('traefik', '/x', call({ 'x-forwarded-uri': '/a', 'x-forwarded-method': 'Get' }))).toMatch(/upper case/);
    expect(readOriginal('auto', '/x', call({ 'x-original-uri': '/a', 'x-original-method': 'GET', 'x-forwarded-proto': 'ftp' }))).toMatch(/proto/);
  });

  it('property: whatever the nginx report, the result is refused or an origin-form path with its query split off at the first ? (a # is kept: the path reader refuses it)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (uri) => {
      const r = readOriginal('auto', '/x', call({ 'x-original-uri': uri, 'x-original-method': 'GET' }));
      if (typeof r === 'string') return true;
      const target = uri;
      return r.rawPath.startsWith('/') && !r.rawPath.includes('?') && (r.query === '' ? !target.slice(r.rawPath.length + 1).length : `${r.rawPath}?${r.query}` === target);
    }));
  });
});

describe('trusted edges', () => {
  it('parses CIDRs and bare addresses; refuses the rest', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr('::1')).toEqual({ address: '::1', prefix: 128, family: 'ipv6' });
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.0/', '10.0.0.0/8x', '']) expect(parseCidr(bad), bad).toBeNull();
  });

  it('matches IPv4, IPv6 and IPv4-mapped IPv6 peers', () => {
    const m = cidrMatcher(['10.0.0.0/8', 'fd00::/8']);
    expect(m('10.1.2.3')).toBe(true);
    expect(m('::ffff:10.1.2.3')).toBe(true);
    expect(m('fd12::1')).toBe(true);
    expect(m('11.0.0.1')).toBe(false);
    expect(m('::1')).toBe(false);
    expect(m('garbage')).toBe(false);
  });
});

describe('server.decision config', () => {
  const base = (decision: unknown): Record<string, unknown> => ({
    server: { decision },
    upstreams: { app: { targets: ['http://127.0.0.1:3001'] } },
    routes: [{ name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' }],
  });

  it('is off by default and trusts loopback only', () => {
    const r = validateConfig(base(undefined));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.server.decision).toEqual({ endpoints: [], trusted_edges: ['127.0.0.0/8', '::1/128'], grpc: false });
  });

  it('reports every error with its path: bad path, unknown dialect, bad CIDR, unknown key', () => {
    const r = validateConfig(base({
      endpoints: [{ path: 'auth' }, { path: '/a', dialect: 'apache' }],
      trusted_edges: ['10.0.0.0/40'], cache: true,
    }));
    expect(r.ok).toBe(false);
    const paths = r.ok ? [] : r.errors.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining([
      'server.decision.endpoints[0].path', 'server.decision.endpoints[1].dialect', 'server.decision.trusted_edges[0]', 'server.decision.cache',
    ]));
  });

  it('refuses a path listed twice, and an empty trusted_edges', () => {
    const dup = validateConfig(base({ endpoints: [{ path: '/b' }, { path: '/b', dialect: 'envoy' }] }));
    expect(dup.ok ? [] : dup.errors.map((e) => `${e.path}: ${e.message}`)).toEqual(['server.decision.endpoints[1].path: the same path as endpoints[0]']);
    const none = validateConfig(base({ endpoints: [{ path: '/b' }], trusted_edges: [] }));
    expect(none.ok ? [] : none.errors.map((e) => e.path)).toEqual(['server.decision.trusted_edges']);
  });

  it('unix_socket: an absolute path within the sun_path limit and an octal mode (default 0660); workers get their own socket', () => {
    const ok = validateConfig(base({ endpoints: [{ path: '/b' }], unix_socket: { path: '/run/portcullis/decision.sock' } }));
    expect(ok.ok && ok.config.server.decision.unix_socket).toEqual({ path: '/run/portcullis/decision.sock', mode: '0660' });
    const bad = validateConfig(base({ endpoints: [{ path: '/b' }], unix_socket: { path: 'decision.sock', mode: '0999', owner: 'nginx' } }));
    expect(bad.ok ? [] : bad.errors.map((e) => e.path).sort()).toEqual(['server.decision.unix_socket.mode', 'server.decision.unix_socket.owner', 'server.decision.unix_socket.path']);
    const long = validateConfig(base({ endpoints: [{ path: '/b' }], unix_socket: { path: `/${'a'.repeat(120)}` } }));
    expect(long.ok ? [] : long.errors.map((e) => e.path)).toEqual(['server.decision.unix_socket.path']);
    expect(socketPath('/run/p.sock', 1, '0')).toBe('/run/p.sock');
    expect(socketPath('/run/p.sock', 4, '2')).toBe('/run/p.sock.2');
    expect(socketPath('/run/p.sock', 2, '0')).toBe('/run/p.sock.0');
  });
});
