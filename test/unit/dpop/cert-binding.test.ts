// RFC 8705: cnf.x5t#S256 against the connection's client certificate, and the Envoy-format
// X-Forwarded-Client-Cert value built from that certificate.
import { describe, it, expect } from 'vitest';
import { boundX5t, checkCertBinding } from '../../../node/dpop/cert-binding.js';
import { unenforceableBinding } from '../../../node/dpop/dpop-stage.js';
import { xfcc } from '../../../node/pipeline/forward.js';
import type { ClientCertificate, RequestContext } from '../../../node/pipeline/index.js';

const CERT: ClientCertificate = { thumbprint: 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2', subject: 'CN=orders,O=Shop', commonNames: ['orders'], uris: ['spiffe://example.org/sa/orders'], dns: ['orders.internal'] };
const ctx = (clientCert: ClientCertificate | null | undefined): RequestContext => ({ ...(clientCert !== undefined ? { clientCert } : {}) }) as unknown as RequestContext;
const bound = (x: unknown): Record<string, unknown> => ({ cnf: { 'x5t#S256': x } });

describe('checkCertBinding', () => {
  it('passes an unbound token, and a bound one whose thumbprint is the certificate\'s', () => {
    expect(checkCertBinding(ctx(CERT), {}).kind).toBe('continue');
    expect(checkCertBinding(ctx(CERT), bound(CERT.thumbprint)).kind).toBe('continue');
  });

  it('refuses 401 invalid_token: another certificate, none, a malformed binding', () => {
    const other = checkCertBinding(ctx({ ...CERT, thumbprint: 'x' + CERT.thumbprint.slice(1) }), bound(CERT.thumbprint));
    expect(other).toMatchObject({ kind: 'deny', reason: 'cnf_x5t_mismatch', error: { code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' } });
    expect(checkCertBinding(ctx(null), bound(CERT.thumbprint))).toMatchObject({ kind: 'deny', reason: 'cnf_x5t_no_certificate' });
    expect(checkCertBinding(ctx(CERT), bound(42))).toMatchObject({ kind: 'deny', reason: 'cnf_x5t_mismatch' });
    expect(boundX5t(bound(42))).toBe('');
  });

  it('x5t#S256 is enforceable only where the listener checks certificates', () => {
    expect(unenforceableBinding(bound('a'), false)).toBe('x5t#S256');
    expect(unenforceableBinding(bound('a'), true)).toBeNull();
    expect(unenforceableBinding({ cnf: { 'x5t#S256': 'a', jwk: {} } }, true)).toBe('jwk');
  });
});

describe('xfcc', () => {
  it('Hash is the hex of the thumbprint; Subject quoted; URI and DNS SANs; values with separators quoted and escaped', () => {
    expect(xfcc(CERT)).toBe(`Hash=${Buffer.from(CERT.thumbprint, 'base64url').toString('hex')};Subject="CN=orders,O=Shop";URI=spiffe://example.org/sa/orders;DNS=orders.internal`);
    expect(xfcc({ ...CERT, subject: 'CN=a "b"', uris: ['urn:x;y'], dns: [] })).toMatch(/Subject="CN=a \\"b\\"";URI="urn:x;y"$/);
  });

  it('characters outside printable ASCII become RFC 4514 hex pairs of their UTF-8 bytes (a header carries no more)', () => {
    expect(xfcc({ ...CERT, subject: 'CN=注,O=ö', uris: [], dns: ['dé.internal'] })).toMatch(/;Subject="CN=\\\\E6\\\\B3\\\\A8,O=\\\\C3\\\\B6";DNS="d\\\\C3\\\\A9\.internal"$/);
  });
});
