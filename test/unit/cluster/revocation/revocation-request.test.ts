// Validation of revocation requests (admin body / CLI): every problem named by field,
// and the entry's expiry derived from exp, before and the maximum token lifetime.
import { describe, expect, it } from 'vitest';
import { buildRevocation, checkRevocationRecord, SKEW_S } from '../../../../cluster/revocation/index.js';

const NOW_MS = 1_714_564_800_000;
const NOW = NOW_MS / 1000;
const ctx = { nowMs: NOW_MS, maxLifetimeS: 3600, origin: 'm1', id: 'fixed' };

describe('buildRevocation', () => {
  it('builds a jti revocation living the maximum token lifetime', () => {
    expect(buildRevocation({ kind: 'jti', value: 'abc', reason: 'oops' }, ctx)).toEqual({
      ok: true,
      record: { id: 'fixed', kind: 'jti', value: 'abc', issuer: null, before: null, expiresAt: NOW + 3600, reason: 'oops', createdAt: NOW_MS, origin: 'm1' },
    });
  });

  it('skewS: an exp that far in the past still names an accepted token (the entry expires at it); further back, or without skewS, is refused', () => {
    const within = buildRevocation({ kind: 'jti', value: 'late', exp: NOW - 250 }, { ...ctx, skewS: 300 });
    expect(within.ok && within.record.expiresAt).toBe(NOW - 250);
    const beyond = buildRevocation({ kind: 'jti', value: 'late', exp: NOW - 300 }, { ...ctx, skewS: 300 });
    expect(beyond.ok ? [] : beyond.errors).toEqual([expect.stringMatching(/^exp: in the past by more than the issuers' clock skew \(300 s\).*leave exp out/)]);
    expect(buildRevocation({ kind: 'jti', value: 'late', exp: NOW - 1 }, ctx).ok).toBe(false);
  });

  it('knownIssuers: an issuer outside them is refused naming both; inside them, or no issuer, is built', () => {
    const known = { ...ctx, knownIssuers: ['https://a.example', 'https://b.example'] };
    const r = buildRevocation({ kind: 'sub', value: 'alice', issuer: 'https://c.example' }, known);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors).toEqual([expect.stringMatching(/^issuer: "https:\/\/c\.example" is the iss of no configured issuer \(configured: "https:\/\/a\.example", "https:\/\/b\.example"\)/)]);
    expect(buildRevocation({ kind: 'sub', value: 'alice', issuer: 'https://b.example' }, known).ok).toBe(true);
    expect(buildRevocation({ kind: 'sub', value: 'alice' }, known).ok).toBe(true);
    const none = buildRevocation({ kind: 'kid', value: 'k', issuer: 'https://a.example' }, { ...ctx, knownIssuers: [] });
    expect(!none.ok && none.errors[0]).toMatch(/none is configured/);
    // without the list (a record from the bus, an event source) nothing is checked
    expect(buildRevocation({ kind: 'sub', value: 'alice', issuer: 'https://c.example' }, ctx).ok).toBe(true);
  });

  it('uses exp when known, capped at the maximum lifetime', () => {
    const r1 = buildRevocation({ kind: 'jti', value: 'a', exp: NOW + 60 }, ctx);
    expect(r1.ok && r1.record.expiresAt).toBe(NOW + 60);
    const r2 = buildRevocation({ kind: 'kid', value: 'k', exp: '2030-01-01' }, ctx);
    expect(r2.ok && r2.record.expiresAt).toBe(NOW + 3600 + SKEW_S);
  });

  it('sub/client_id: before defaults to now; the entry lives until tokens issued before it have expired', () => {
    const r = buildRevocation({ kind: 'sub', value: 'alice' }, ctx);
    expect(r.ok && r.record).toMatchObject({ before: NOW, expiresAt: NOW + 3600 });
    const old = buildRevocation({ kind: 'client_id', value: 'svc', before: NOW - 600 }, ctx);
    expect(old.ok && old.record).toMatchObject({ before: NOW - 600, expiresAt: NOW + 3000 });
  });

  it('lower-cases a token hash and refuses a raw token', () => {
    const r = buildRevocation({ kind: 'token', value: 'AB'.repeat(32) }, ctx);
    expect(r.ok && r.record.value).toBe('ab'.repeat(32));
    const raw = buildRevocation({ kind: 'token', value: 'eyJhbGciOi.x.y' }, ctx);
    expect(raw.ok).toBe(false);
    if (!raw.ok) expect(raw.errors[0]).toMatch(/^value: .*SHA-256/);
  });

  it('a JWS-shaped sid: refused as a pasted raw token from an operator, built from an identity-provider event (the claim tokens carry)', () => {
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const sid = `${b64({ alg: 'HS256' })}.${b64({ s: 1 })}.${'Q'.repeat(43)}`;
    const pasted = buildRevocation({ kind: 'sid', value: sid }, ctx);
    expect(!pasted.ok && pasted.errors[0]).toMatch(/^value: a raw token \(JWS\/JWE\), not a sid/);
    const event = buildRevocation({ kind: 'sid', value: sid, reason: 'backchannel_logout' }, { ...ctx, valueFromEvent: true });
    expect(event.ok && event.record.value).toBe(sid);
  });

  it('kind kid keeps a space at an end (a kid may have one), yet a raw token pasted with one is refused (before: built, stored, sent to every member)', () => {
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const kid = buildRevocation({ kind: 'kid', value: `${b64({ alg: 'RS256' })}.${b64({ sub: 'a' })}.${'Q'.repeat(43)} ` }, ctx);
    expect(!kid.ok && kid.errors[0]).toMatch(/^value: a raw token \(JWS\/JWE\), not a kid/);
  });

  it('reports every problem at once, each with its field', () => {
    const r = buildRevocation({ kind: 'email', value: '', before: 'later', exp: 5, reason: 7, extra: true }, ctx);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual(expect.arrayContaining([
      expect.stringMatching(/^extra: unknown field/),
      expect.stringMatching(/^kind: expected one of jti, token, sub, client_id, kid, sid, sub_without_sid, got "email"/),
      expect.stringMatching(/^value: expected a non-empty string/),
      expect.stringMatching(/^before: "later" is not a time/),
      expect.stringMatching(/^exp: in the past/),
      expect.stringMatching(/^reason: /),
    ]));
  });

  it.each([
    [{ kind: 'jti', value: 'a', before: 'now' }, 'before: only for kinds sub, client_id and sub_without_sid'],
    [{ kind: 'sub', value: 'a', before: NOW + 3600 }, 'before: in the future'],
    [{ kind: 'token', value: 'ab'.repeat(32), issuer: 'https://x' }, 'issuer: not used with kind "token"'],
    [{ kind: 'jti', value: 'a\nb' }, 'value: contains control characters'],
    [{ value: 'a' }, 'kind: expected one of'],
    [null, 'body: expected a JSON object'],
    [[1], 'body: expected a JSON object'],
  ])('refuses %j', (input, message) => {
    const r = buildRevocation(input, ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join('\n')).toContain(message);
  });
});

describe('checkRevocationRecord: the admin rules for records from the bus and the stream', () => {
  const rec = { id: 'i', kind: 'sub' as const, value: 'alice', issuer: null, before: NOW, expiresAt: NOW + 3600, reason: null, createdAt: NOW_MS, origin: 'm' };
  const at = { nowMs: NOW_MS, maxLifetimeS: 3600 };

  it('accepts what the admin API would build, unchanged', () => {
    expect(checkRevocationRecord(rec, at)).toEqual({ ok: true, record: rec, capped: false });
  });

  it('refuses before in the future beyond the skew (it would refuse every later token), and a createdAt from the future', () => {
    expect(checkRevocationRecord({ ...rec, before: NOW + SKEW_S + 1 }, at)).toMatchObject({ ok: false, errors: [expect.stringContaining('before: in the future')] });
    expect(checkRevocationRecord({ ...rec, before: NOW + SKEW_S }, at).ok).toBe(true);
    expect(checkRevocationRecord({ ...rec, createdAt: NOW_MS + (SKEW_S + 1) * 1000 }, at)).toMatchObject({ ok: false, errors: ['createdAt: in the future'] });
  });

  it('caps the expiry at the maximum token lifetime past its signing time, as the admin API caps exp', () => {
    const r = checkRevocationRecord({ ...rec, expiresAt: NOW + 10 * 365 * 86_400 }, at);
    expect(r).toEqual({ ok: true, record: { ...rec, expiresAt: NOW + 3600 + SKEW_S }, capped: true });
    // judged at the signing time: an old stream message is not refused for being old
    expect(checkRevocationRecord({ ...rec, createdAt: NOW_MS - 7_200_000, before: NOW - 7200, expiresAt: NOW - 3600 }, at).ok).toBe(true);
  });
});
