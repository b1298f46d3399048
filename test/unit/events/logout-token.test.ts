// The §2.6 claim rules of a logout token, one refusal per rule, and what a valid one asks for.
import { describe, expect, it } from 'vitest';
import { BACKCHANNEL_LOGOUT_EVENT, checkLogoutClaims, eventRevocationId } from '../../../node/events/index.js';

const NOW = 1_800_000_000;
const rules = { issuer: 'https://op.example', clientId: 'rp', maxAgeS: 120, clockSkewS: 30 };
const valid = { iss: 'https://op.example', aud: 'rp', iat: NOW - 5, jti: 'j-1', sid: 's-1', sub: 'u-1', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } };
const code = (p: Record<string, unknown>): string => { const r = checkLogoutClaims(p, rules, NOW); return r.ok ? 'ok' : r.code; };

describe('logout token claims (Back-Channel Logout 1.0 §2.6)', () => {
  it('accepts a valid token and reports sid, sub, jti and iat; aud may be a list', () => {
    expect(checkLogoutClaims(valid, rules, NOW)).toEqual({ ok: true, logout: { jti: 'j-1', iat: NOW - 5, sid: 's-1', sub: 'u-1' } });
    expect(code({ ...valid, aud: ['other', 'rp'] })).toBe('ok');
    expect(code({ ...valid, sid: undefined })).toBe('ok');
    expect(code({ ...valid, sub: undefined })).toBe('ok');
  });

  it('refuses each broken rule with its own code', () => {
    expect(code({ ...valid, iss: 'https://op.example/' })).toBe('wrong_issuer');
    expect(code({ ...valid, aud: ['other'] })).toBe('wrong_audience');
    expect(code({ ...valid, iat: undefined })).toBe('bad_iat');
    expect(code({ ...valid, iat: NOW + 31 })).toBe('bad_iat');
    expect(code({ ...valid, iat: NOW - 151 })).toBe('bad_iat');
    expect(code({ ...valid, iat: NOW - 150 })).toBe('ok');
    expect(code({ ...valid, exp: NOW - 31 })).toBe('expired');
    expect(code({ ...valid, jti: '' })).toBe('missing_jti');
    expect(code({ ...valid, events: { [BACKCHANNEL_LOGOUT_EVENT]: 'yes' } })).toBe('not_logout_event');
    expect(code({ ...valid, events: [] })).toBe('not_logout_event');
    expect(code({ ...valid, nonce: 'n' })).toBe('nonce_present');
    expect(code({ ...valid, sid: undefined, sub: undefined })).toBe('no_subject');
    expect(code({ ...valid, sid: 'a\nb' })).toBe('no_subject');
    expect(code({ ...valid, sub: 7 })).toBe('no_subject');
  });

  it('derives one revocation id per (issuer, jti), whichever member computes it', () => {
    expect(eventRevocationId('bcl', 'https://op.example', 'j-1')).toBe(eventRevocationId('bcl', 'https://op.example', 'j-1'));
    expect(eventRevocationId('bcl', 'https://op.example', 'j-1')).not.toBe(eventRevocationId('bcl', 'https://op2.example', 'j-1'));
    expect(eventRevocationId('bcl', 'https://op.example', 'j-1')).toMatch(/^bcl-[0-9a-f]{40}$/);
  });
});
