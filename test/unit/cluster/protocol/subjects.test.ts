// Subject names derived from the prefix, the stream name, and NATS wildcard matching
// as the in-process and IPC transports implement it.
import { describe, expect, it } from 'vitest';
import { subjectMatches, subjects } from '../../../../cluster/protocol/index.js';

describe('subjects', () => {
  it('derives every subject from the prefix', () => {
    const s = subjects('acme.prod');
    expect(s.revocation('client_id')).toBe('acme.prod.revocations.client_id');
    expect(s.revocationsAll).toBe('acme.prod.revocations.>');
    expect(s.cacheIntrospection).toBe('acme.prod.cache.introspection');
    expect(s.members).toBe('acme.prod.members');
    expect(s.introspectionOwner('host-1-abc')).toBe('acme.prod.rpc.introspection.host-1-abc');
    expect(s.revocationStream).toBe('ACME_PROD_REVOCATIONS');
    expect(subjects().revocationStream).toBe('PORTCULLIS_REVOCATIONS');
  });

  it('keeps request/reply subjects out of the revocation stream', () => {
    const s = subjects();
    expect(subjectMatches(s.revocationsAll, s.revocation('jti'))).toBe(true);
    expect(subjectMatches(s.revocationsAll, s.introspectionOwner('host-1-abc'))).toBe(false);
  });

  it('refuses a bad prefix or member id', () => {
    expect(() => subjects('a..b')).toThrow();
    expect(() => subjects('a.>')).toThrow();
    expect(() => subjects().introspectionOwner('a.b')).toThrow();
  });

  it.each([
    ['a.b.c', 'a.b.c', true],
    ['a.*.c', 'a.b.c', true],
    ['a.*', 'a.b.c', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['a.b.>', 'a.b', false],
    ['*.b', 'a.b', true],
    ['a.b', 'a.b.c', false],
    ['a.b.c', 'a.b', false],
  ])('%s matches %s: %s', (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });
});
