// What an admin call's audit record keeps of its request and answer: identifiers and outcomes,
// never a token, an admin token or a policy's content.
import { describe, it, expect } from 'vitest';
import { adminDetail, appliedRevocationRecord, auditedAction, fingerprint, outcomeOf } from '../../../node/audit/index.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

describe('admin audit records', () => {
  it('names the actions and leaves reads out', () => {
    expect(auditedAction('POST', '/reload')).toBe('config.reload');
    expect(auditedAction('POST', '/revocations')).toBe('revocation.add');
    expect(auditedAction('POST', '/policy')).toBe('policy.push');
    expect(auditedAction('POST', '/explain')).toBe('explain');
    expect(auditedAction('DELETE', '/something')).toBe('admin DELETE /something');
    expect(auditedAction('GET', '/metrics')).toBeNull();
  });

  it('maps statuses to outcomes', () => {
    expect([200, 201, 400, 409, 422, 507, 500, 503, 401].map(outcomeOf)).toEqual(['ok', 'ok', 'refused', 'refused', 'refused', 'refused', 'failed', 'failed', 'unauthorized']);
  });

  it('keeps a token revocation and an explained token as fingerprints only', () => {
    const hash = 'a'.repeat(64);
    const rv = adminDetail('revocation.add', JSON.stringify({ kind: 'token', value: hash }), 201, { revocation: { id: 'r1' } }, '/revocations');
    expect(rv).toEqual({ kind: 'token', value_fingerprint: fingerprint(hash), id: 'r1' });
    const ex = adminDetail('explain', JSON.stringify({ method: 'GET', path: '/a', token: TOKEN }), 200, { allowed: false }, '/explain');
    expect(JSON.stringify(ex)).not.toContain(TOKEN);
    expect(ex).toMatchObject({ token: fingerprint(TOKEN), allowed: false });
  });

  // a method or host field that is not one (a pasted token; a host of 1 MiB) was recorded as written
  it('names an explain method or host that is not one by fingerprint', () => {
    const host = 'h'.repeat(100_000);
    const ex = adminDetail('explain', JSON.stringify({ method: TOKEN, path: '/a', host }), 200, { allowed: false }, '/explain');
    expect(ex).toMatchObject({ method_fingerprint: fingerprint(TOKEN), host_fingerprint: fingerprint(host) });
    expect(JSON.stringify(ex)).not.toContain(TOKEN);
    expect(JSON.stringify(ex).length).toBeLessThan(1_000);
    expect(adminDetail('explain', JSON.stringify({ method: 'GET', path: '/a', host: 'API.example.com:8443' }), 200, {}, '/explain')).toMatchObject({ method: 'GET', host: 'API.example.com:8443' });
  });

  it('names a policy by digest, never by content', () => {
    const body = 'routes: [{ name: secret-route }]\n';
    const d = adminDetail('policy.push', body, 200, { pushed: true, version: 4, digest: 'd'.repeat(64) }, '/policy?base=3');
    expect(JSON.stringify(d)).not.toContain('secret-route');
    expect(d).toMatchObject({ body_bytes: body.length, base: '3', digest: 'd'.repeat(64) });
  });

  it('keeps only the paths of a refused reload', () => {
    expect(adminDetail('config.reload', '', 422, { errors: [{ path: 'routes[0].upstream', message: 'unknown upstream x' }] }, '/reload'))
      .toEqual({ errors: 1, error_paths: ['routes[0].upstream'] });
  });

  it('records an applied revocation with its origin member', () => {
    const r = appliedRevocationRecord({ id: 'i', kind: 'token', value: 'b'.repeat(64), issuer: null, before: null, expiresAt: 1, reason: null, createdAt: 0, origin: 'm-2' });
    expect(r.actor).toEqual({ kind: 'member', origin: 'm-2' });
    expect(JSON.stringify(r)).not.toContain('b'.repeat(64));
  });
});
