// SET claim rules (RFC 8417, SSF 1.0) and the event → revocation mapping: which CAEP/RISC event
// with which RFC 9493 subject revokes what, and what is only acknowledged.
import { describe, expect, it } from 'vitest';
import { eventSourceSchema } from '../../../node/config/index.js';
import { checkSetClaims, mapEvent, requestedEvents, SSF_VERIFICATION, type SecurityEvent } from '../../../node/events/index.js';

const NOW = 1_800_000_000;
const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
const src = eventSourceSchema.parse({ issuer: 'https://tx.example', audiences: ['rp'], push: { path: '/ssf', authorization_env: 'X' } });
const mapped = eventSourceSchema.parse({ ...src, token_issuer: 'https://as.example', subjects: { email: 'sub', opaque: 'sid' } });
const ev = (type: string, subject: Record<string, unknown> | null, body: Record<string, unknown> = {}): SecurityEvent => ({ jti: 'j', iat: NOW - 10, type, body, subject });
const issSub = { format: 'iss_sub', iss: 'https://as.example', sub: 'u1' };

describe('SET claims', () => {
  const rules = { issuer: 'https://tx.example', audiences: ['rp'], maxAgeS: 900, clockSkewS: 60 };
  const base = { iss: 'https://tx.example', aud: ['x', 'rp'], iat: NOW, jti: 'j1', events: { [`${RISC}account-disabled`]: { subject: issSub } } };
  const res = (p: Record<string, unknown>): string => { const r = checkSetClaims(p, rules, NOW); return r.ok ? 'ok' : `${r.err}/${r.result}`; };

  it('reads the one event and its subject from the event, or from sub_id first', () => {
    const r = checkSetClaims(base, rules, NOW);
    expect(r.ok && r.event).toMatchObject({ jti: 'j1', type: `${RISC}account-disabled`, subject: issSub });
    const s = checkSetClaims({ ...base, sub_id: { format: 'email', email: 'a@b' } }, rules, NOW);
    expect(s.ok && s.event.subject).toEqual({ format: 'email', email: 'a@b' });
  });

  it('maps each broken rule to its RFC 8935 code', () => {
    expect(res({ ...base, iss: 'https://other' })).toBe('invalid_issuer/wrong_issuer');
    expect(res({ ...base, aud: 'x' })).toBe('invalid_audience/wrong_audience');
    expect(res({ ...base, iat: NOW - 961 })).toBe('invalid_request/bad_iat');
    expect(res({ ...base, iat: NOW + 61 })).toBe('invalid_request/bad_iat');
    expect(res({ ...base, jti: undefined })).toBe('invalid_request/missing_jti');
    expect(res({ ...base, nonce: 'n' })).toBe('invalid_request/nonce_present');
    expect(res({ ...base, events: {} })).toBe('invalid_request/not_one_event');
    expect(res({ ...base, events: { a: {}, b: {} } })).toBe('invalid_request/not_one_event');
    expect(res({ ...base, events: { a: 1 } })).toBe('invalid_request/no_events');
    expect(res({ ...base, exp: NOW - 61 })).toBe('invalid_request/expired');
  });
});

describe('SSF event → revocation', () => {
  it('session-revoked: the session of a complex subject, else the user up to the event time', () => {
    expect(mapEvent('tx', ev(`${CAEP}session-revoked`, { format: 'complex', user: issSub, session: { format: 'opaque', id: 's9' } }), mapped, NOW))
      .toEqual({
        kind: 'revoke', input: { kind: 'sid', value: 's9', issuer: 'https://as.example', reason: 'ssf:tx:session_revoked' },
        // the user is named too: their tokens without a sid go with the session, up to the event time
        companion: { kind: 'sub_without_sid', value: 'u1', issuer: 'https://as.example', before: NOW - 10, reason: 'ssf:tx:session_revoked' },
      });
    // a session alone: nothing ties it to a user, so no companion
    expect(mapEvent('tx', ev(`${CAEP}session-revoked`, { format: 'complex', session: { format: 'opaque', id: 's9' } }), mapped, NOW))
      .toEqual({ kind: 'revoke', input: { kind: 'sid', value: 's9', issuer: 'https://as.example', reason: 'ssf:tx:session_revoked' }, companion: null });
    expect(mapEvent('tx', ev(`${CAEP}session-revoked`, issSub, { event_timestamp: NOW - 100 }), src, NOW))
      .toEqual({ kind: 'revoke', input: { kind: 'sub', value: 'u1', issuer: 'https://as.example', before: NOW - 100, reason: 'ssf:tx:session_revoked' }, companion: null });
  });

  it('credential-change and the RISC account events revoke the user; an event time in the future is cut to now + 60 s', () => {
    for (const t of [`${CAEP}credential-change`, `${RISC}account-disabled`, `${RISC}account-purged`, `${RISC}credential-compromise`, `${RISC}sessions-revoked`]) {
      const a = mapEvent('tx', ev(t, issSub, { event_timestamp: NOW + 500 }), src, NOW);
      expect(a).toMatchObject({ kind: 'revoke', input: { kind: 'sub', value: 'u1', before: NOW + 60 } });
      // a transmitter whose clock runs 20 s ahead: its time is the one its tokens' iat were stamped with, kept as it is
      // (before, cut to our now: the user's tokens issued in those 20 s by its clock escaped the revocation)
      expect(mapEvent('tx', ev(t, issSub, { event_timestamp: NOW + 20 }), src, NOW)).toMatchObject({ kind: 'revoke', input: { kind: 'sub', before: NOW + 20 } });
    }
    // below 0 is no time: the SET's iat stands in (the publisher would refuse a negative cut, revoking nothing)
    expect(mapEvent('tx', ev(`${RISC}account-disabled`, issSub, { event_timestamp: -1 }), src, NOW)).toMatchObject({ kind: 'revoke', input: { kind: 'sub', before: NOW - 10 } });
  });

  it('an iss_sub naming another issuer than token_issuer maps to nothing (also as a complex subject\'s user, also for drop_cache); without token_issuer its iss is kept', () => {
    const foreign = { format: 'iss_sub', iss: 'https://other-tenant.example', sub: 'u1' };
    expect(mapEvent('tx', ev(`${RISC}account-disabled`, foreign), mapped, NOW)).toEqual({ kind: 'accept', result: 'unmapped_subject' });
    expect(mapEvent('tx', ev(`${CAEP}session-revoked`, { format: 'complex', user: foreign }), mapped, NOW)).toEqual({ kind: 'accept', result: 'unmapped_subject' });
    expect(mapEvent('tx', ev(`${CAEP}token-claims-change`, foreign), mapped, NOW)).toEqual({ kind: 'accept', result: 'unmapped_subject' });
    expect(mapEvent('tx', ev(`${RISC}account-disabled`, foreign), src, NOW)).toMatchObject({ kind: 'revoke', input: { value: 'u1', issuer: 'https://other-tenant.example' } });
  });

  it('email and opaque subjects follow subjects.*; unmapped ones are acknowledged', () => {
    expect(mapEvent('tx', ev(`${RISC}account-disabled`, { format: 'email', email: 'a@b.example' }), src, NOW)).toEqual({ kind: 'accept', result: 'unmapped_subject' });
    expect(mapEvent('tx', ev(`${RISC}account-disabled`, { format: 'email', email: 'a@b.example' }), mapped, NOW)).toMatchObject({ kind: 'revoke', input: { kind: 'sub', value: 'a@b.example', issuer: 'https://as.example' } });
    expect(mapEvent('tx', ev(`${CAEP}session-revoked`, { format: 'opaque', id: 'o1' }), mapped, NOW)).toMatchObject({ kind: 'revoke', input: { kind: 'sid', value: 'o1' } });
    expect(mapEvent('tx', ev(`${RISC}account-disabled`, { format: 'phone_number', phone_number: '+1' }), mapped, NOW)).toEqual({ kind: 'accept', result: 'unmapped_subject' });
    expect(mapEvent('tx', ev(`${RISC}account-disabled`, null), mapped, NOW)).toEqual({ kind: 'accept', result: 'unmapped_subject' });
  });

  it('an event type named like an Object.prototype member is an unknown event, not an action (before: the user was revoked)', () => {
    for (const t of ['constructor', '__proto__', 'hasOwnProperty', 'toString']) {
      expect(mapEvent('tx', ev(t, issSub), src, NOW)).toEqual({ kind: 'accept', result: 'unknown_event' });
    }
  });

  it('verification and unknown types are acknowledged, never revoking; token-claims-change drops the subject\'s cached verdicts', () => {
    expect(mapEvent('tx', ev(SSF_VERIFICATION, null, { state: 'x' }), src, NOW)).toEqual({ kind: 'accept', result: 'verification' });
    expect(mapEvent('tx', ev(`${CAEP}token-claims-change`, issSub), src, NOW)).toEqual({ kind: 'drop', sub: 'u1', issuer: 'https://as.example' });
    expect(mapEvent('tx', ev(`${CAEP}assurance-level-change`, issSub), src, NOW)).toEqual({ kind: 'accept', result: 'not_revoking' });
    expect(mapEvent('tx', ev('https://vendor.example/x', issSub), src, NOW)).toEqual({ kind: 'accept', result: 'unknown_event' });
  });

  it('follows the source\'s events table over the defaults; requests exactly what is not ignored', () => {
    const custom = eventSourceSchema.parse({
      ...src, events: { [`${CAEP}session-revoked`]: 'subject_before_event', [`${RISC}account-disabled`]: 'ignore', [`${CAEP}token-claims-change`]: 'ignore', 'https://vendor.example/logout': 'session', [`${RISC}account-enabled`]: 'drop_cache' },
    });
    const complex = { format: 'complex', user: issSub, session: { format: 'opaque', id: 's9' } };
    expect(mapEvent('tx', ev(`${CAEP}session-revoked`, complex), custom, NOW)).toMatchObject({ kind: 'revoke', input: { kind: 'sub', value: 'u1', before: NOW - 10 } });
    expect(mapEvent('tx', ev('https://vendor.example/logout', complex), custom, NOW)).toMatchObject({ kind: 'revoke', input: { kind: 'sid', value: 's9', reason: 'ssf:tx:other' } });
    expect(mapEvent('tx', ev(`${RISC}account-disabled`, issSub), custom, NOW)).toEqual({ kind: 'accept', result: 'not_revoking' });
    expect(mapEvent('tx', ev(`${RISC}account-enabled`, issSub), custom, NOW)).toEqual({ kind: 'drop', sub: 'u1', issuer: 'https://as.example' });
    expect(requestedEvents(custom).sort()).toEqual([
      `${CAEP}credential-change`, `${CAEP}session-revoked`, `${RISC}account-enabled`, `${RISC}account-purged`, `${RISC}credential-compromise`, `${RISC}sessions-revoked`, 'https://vendor.example/logout',
    ].sort());
    expect(requestedEvents(src)).toHaveLength(7);
  });

  it('refuses a mistyped standard event type, the verification event and a bad action at config load', () => {
    const r = eventSourceSchema.safeParse({
      ...src, events: { [`${CAEP}session-revokd`]: 'session', [SSF_VERIFICATION]: 'ignore', 'not a uri': 'ignore', [`${RISC}account-purged`]: 'revoke' },
    });
    expect(r.success).toBe(false);
    const msgs = r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(msgs.join('\n')).toMatch(/session-revokd: not a CAEP 1\.0 or RISC 1\.0 event type/);
    expect(msgs.join('\n')).toMatch(/verification: the SSF verification event is always acknowledged/);
    expect(msgs.join('\n')).toMatch(/not a uri: an event type URI/);
    expect(msgs.join('\n')).toMatch(/account-purged: one of session, subject_before_event, drop_cache, ignore/);
  });
});

describe('aliases subjects (RFC 9493 §3.2.4)', () => {
  const disabled = `${RISC}account-disabled`;
  it('revoke by the first identifier the source maps; nested aliases and unmappable formats are passed over', () => {
    const phone = { format: 'phone_number', phone_number: '+12065550100' };
    expect(mapEvent('t', ev(disabled, { format: 'aliases', identifiers: [phone, issSub] }), mapped, NOW)).toMatchObject({ kind: 'revoke', input: { kind: 'sub', value: 'u1', issuer: 'https://as.example' } });
    expect(mapEvent('t', ev(disabled, { format: 'aliases', identifiers: [{ format: 'aliases', identifiers: [issSub] }, phone] }), mapped, NOW)).toEqual({ kind: 'accept', result: 'unmapped_subject' });
    expect(mapEvent('t', ev(disabled, { format: 'aliases', identifiers: 'x' }), mapped, NOW)).toEqual({ kind: 'accept', result: 'unmapped_subject' });
    const many = [...Array.from({ length: 40 }, () => phone), issSub];
    expect(mapEvent('t', ev(disabled, { format: 'aliases', identifiers: many }), mapped, NOW)).toEqual({ kind: 'accept', result: 'unmapped_subject' });
  });

  it('identifiers that map to different users revoke each (fail closed), the same one twice only once — before, only the first', () => {
    const email = { format: 'email', email: 'heidi@example.com' };
    const session = { format: 'opaque', id: 'sess-7' };
    const a = mapEvent('t', ev(disabled, { format: 'aliases', identifiers: [email, issSub, session, { ...issSub }] }), mapped, NOW);
    expect(a).toMatchObject({ kind: 'revoke', input: { kind: 'sub', value: 'heidi@example.com', issuer: 'https://as.example', before: NOW - 10 } });
    expect(a.kind === 'revoke' && a.also).toEqual([
      { kind: 'sub', value: 'u1', issuer: 'https://as.example', before: NOW - 10, reason: 'ssf:t:account_disabled' },
      { kind: 'sid', value: 'sess-7', issuer: 'https://as.example', reason: 'ssf:t:account_disabled' },
    ]);
    // one user named twice: nothing more
    expect(mapEvent('t', ev(disabled, { format: 'aliases', identifiers: [issSub, { ...issSub }] }), mapped, NOW)).not.toHaveProperty('also');
  });
});
