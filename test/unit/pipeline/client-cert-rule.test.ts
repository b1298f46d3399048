// routes[].client_cert: the matcher (exact, SPIFFE prefix, DNS one-label wildcard, AND across
// fields, one CN only), the stage's answers per listener situation, and config validation
// (every bad pattern named by its path, an empty rule refused, no route without a listener that
// sees certificates).
import { describe, it, expect } from 'vitest';
import { validateConfig, type ConfigResult } from '../../../node/config/index.js';
import { checkClientCert, compileClientCertRule, judgeCertificate } from '../../../node/pipeline/client-cert-rule.js';
import type { ClientCertificate, RequestContext } from '../../../node/pipeline/index.js';

const CERT: ClientCertificate = {
  thumbprint: 't', subject: 'CN=orders,O=Shop', commonNames: ['orders'], uris: ['spiffe://example.org/ns/shop/sa/orders'], dns: ['orders.svc.internal'],
};
const verdict = (rule: Parameters<typeof compileClientCertRule>[0], cert: ClientCertificate = CERT): string => {
  const r = judgeCertificate(compileClientCertRule(rule), cert);
  return r.kind === 'continue' ? 'ok' : r.reason;
};

describe('client certificate matcher', () => {
  it('subject CN: exact, case-sensitive, and a certificate with two CNs matches none', () => {
    expect(verdict({ subject_cn: ['billing', 'orders'] })).toBe('ok');
    expect(verdict({ subject_cn: ['Orders'] })).toBe('client_cert_mismatch:subject_cn');
    expect(verdict({ subject_cn: ['orders'] }, { ...CERT, commonNames: ['orders', 'admin'] })).toBe('client_cert_mismatch:subject_cn');
    expect(verdict({ subject_cn: ['orders'] }, { ...CERT, commonNames: [] })).toBe('client_cert_mismatch:subject_cn');
  });

  it('SAN URI: exact or a /* prefix, at any depth, never a sibling namespace or a dot segment', () => {
    expect(verdict({ san_uri: ['spiffe://example.org/ns/shop/sa/orders'] })).toBe('ok');
    expect(verdict({ san_uri: ['spiffe://example.org/ns/shop/*'] })).toBe('ok');
    expect(verdict({ san_uri: ['spiffe://example.org/*'] })).toBe('ok');
    expect(verdict({ san_uri: ['spiffe://example.org/ns/sh/*'] })).toBe('client_cert_mismatch:san_uri');
    expect(verdict({ san_uri: ['spiffe://example.org/ns/shop/sa/orders/*'] }), 'the prefix itself is not under it').toBe('client_cert_mismatch:san_uri');
    for (const sneaky of ['spiffe://example.org/ns/shop/../admin', 'spiffe://example.org/ns/shop/./x', 'spiffe://example.org/ns/shop/..']) {
      expect(verdict({ san_uri: ['spiffe://example.org/ns/shop/*'] }, { ...CERT, uris: [sneaky] }), sneaky).toBe('client_cert_mismatch:san_uri');
    }
    expect(verdict({ san_uri: ['spiffe://example.org/ns/shop/*'] }, { ...CERT, uris: [] })).toBe('client_cert_mismatch:san_uri');
  });

  it('SAN DNS: exact case-insensitive, *.suffix for exactly one label', () => {
    expect(verdict({ san_dns: ['ORDERS.svc.internal'] })).toBe('ok');
    expect(verdict({ san_dns: ['*.svc.internal'] })).toBe('ok');
    expect(verdict({ san_dns: ['*.internal'] }), 'two labels are not one').toBe('client_cert_mismatch:san_dns');
    expect(verdict({ san_dns: ['*.svc.internal'] }, { ...CERT, dns: ['svc.internal'] })).toBe('client_cert_mismatch:san_dns');
  });

  it('every field given must match (AND), any value within one (OR)', () => {
    expect(verdict({ subject_cn: ['orders'], san_uri: ['spiffe://example.org/*'], san_dns: ['*.svc.internal'] })).toBe('ok');
    expect(verdict({ subject_cn: ['orders'], san_dns: ['billing.svc.internal'] })).toBe('client_cert_mismatch:san_dns');
  });

  it('the stage: 421 on a listener that cannot see certificates, 401 for none, 403 for the wrong one', () => {
    const rule = compileClientCertRule({ subject_cn: ['orders'] });
    const ctx = (clientCert?: ClientCertificate | null): RequestContext => ({ ...(clientCert !== undefined ? { clientCert } : {}) }) as unknown as RequestContext;
    const status = (c?: ClientCertificate | null): unknown => { const r = checkClientCert(rule, ctx(c)); return r.kind === 'deny' ? r.error.code : 'ok'; };
    expect(status(undefined)).toBe('PORTCULLIS_ERR_CLIENT_CERT_UNAVAILABLE');
    expect(status(null)).toBe('PORTCULLIS_ERR_CLIENT_CERT_MISSING');
    expect(status({ ...CERT, commonNames: ['billing'] })).toBe('PORTCULLIS_ERR_CLIENT_CERT_FORBIDDEN');
    expect(status(CERT)).toBe('ok');
  });
});

describe('client_cert config', () => {
  const cfg = (clientCert: unknown, mtls = true): Record<string, unknown> => ({
    server: { http2: { listen: { port: 8443 }, tls: { cert_file: '/c.pem', key_file: '/k.pem', ...(mtls ? { client_ca_file: '/ca.pem' } : {}) } } },
    upstreams: { app: { targets: ['http://127.0.0.1:3001'] } },
    routes: [{ name: 'svc', match: { path: '/svc/*' }, upstream: 'app', auth: 'none', client_cert: clientCert }],
  });
  const errors = (r: ConfigResult): string[] => (r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`));

  it('names every bad pattern by its path, refuses an empty rule and unknown keys', () => {
    const e = errors(validateConfig(cfg({ subject_cn: ['a*'], san_uri: ['spiffe://x/*/y', 'spiffe://ok/*'], san_dns: ['a.*.b'] })));
    expect(e).toEqual(expect.arrayContaining([
      expect.stringMatching(/^routes\[0\]\.client_cert\.subject_cn\[0\]: an exact common name/),
      expect.stringMatching(/^routes\[0\]\.client_cert\.san_uri\[0\]: an exact URI, or a prefix ending in \/\*/),
      expect.stringMatching(/^routes\[0\]\.client_cert\.san_dns\[0\]: an exact name, or \*\.suffix/),
    ]));
    expect(e.some((x) => x.includes('san_uri[1]'))).toBe(false);
    expect(errors(validateConfig(cfg({})))).toEqual([expect.stringMatching(/^routes\[0\]\.client_cert: name at least one of subject_cn, san_uri, san_dns/)]);
    expect(errors(validateConfig(cfg({ subject: ['x'] }))).join('\n')).toMatch(/routes\[0\]\.client_cert/);
  });

  it('refuses a client_cert route when no listener asks for client certificates', () => {
    expect(errors(validateConfig(cfg({ subject_cn: ['orders'] }, false)))).toEqual([expect.stringMatching(/^routes\[0\]\.client_cert: no listener sees client certificates: configure server\.http2 with tls\.client_ca_file/)]);
  });
});
