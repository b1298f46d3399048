// JWKS sanitising: only public signature keys survive, keys published with private members are dropped,
// weak or broken keys are dropped, and an unchanged set keeps its version.
import { describe, it, expect } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { makeSnapshot, sanitizeJwks, thumbprint } from '../../../node/jwt/index.js';
import { fixtureKeys, makeKey } from '../../fixtures/keys.js';

const k = fixtureKeys();

describe('sanitizeJwks', () => {
  it('keeps every fixture key with its kid', () => {
    const r = sanitizeJwks({ keys: Object.values(k).map((x) => x.jwk) });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.keys.map((e) => e.id).sort()).toEqual(Object.values(k).map((x) => x.kid).sort());
  });

  it('drops symmetric keys, encryption keys and keys without verify in key_ops', () => {
    const r = sanitizeJwks({ keys: [
      { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' },
      { ...k.RS256.jwk, kid: 'enc', use: 'enc' },
      { ...k.ES256.jwk, kid: 'ops', key_ops: ['encrypt'] },
      k.EdDSA.jwk,
    ] });
    expect(r.ok && r.keys.map((e) => e.id)).toEqual([k.EdDSA.kid]);
    expect(r.ok && r.dropped).toEqual(['kid "hmac": symmetric key', 'kid "enc": use is not sig', 'kid "ops": key_ops lacks verify']);
  });

  it('drops a key published with its private half: anyone reading the JWKS could sign with it', () => {
    const ec = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'leaky-ec' };
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    // one private member is enough: an RSA key with only its CRT parts can be rebuilt from them
    const crtOnly = { kty: 'RSA', n: rsa.n, e: rsa.e, p: rsa.p, q: rsa.q, kid: 'leaky-crt' };
    const r = sanitizeJwks({ keys: [ec, crtOnly, k.EdDSA.jwk] });
    expect(r.ok && r.keys.map((e) => e.id)).toEqual([k.EdDSA.kid]);
    expect(r.ok && r.dropped).toEqual(['kid "leaky-ec": private key material published', 'kid "leaky-crt": private key material published']);
    // a JWKS of such keys alone is a failed fetch whose message (logged as 'jwks fetch failed') says why
    const only = sanitizeJwks({ keys: [ec] });
    expect(only.ok === false && only.message).toBe('JWKS has no usable signature key (1 dropped: kid "leaky-ec": private key material published)');
    // and names the leaked key (its RFC 7638 thumbprint), which the actor withdraws from the last good keys
    expect(only.ok === false && only.leaked).toEqual([thumbprint({ kty: 'EC', crv: ec.crv, x: ec.x, y: ec.y })]);
  });

  it('drops RSA keys under 2048 bits, unsupported curves, invalid points and inconsistent alg', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey.export({ format: 'jwk' });
    const badPoint = { ...k.ES256.jwk, kid: 'bad', x: k.ES384.jwk.x };
    const r = sanitizeJwks({ keys: [{ ...small, kid: 'small' }, { ...p521, kid: 'p521' }, badPoint, { ...k.ES256.jwk, kid: 'wrongalg', alg: 'RS256' }, 'junk', null, k.RS256.jwk] });
    expect(r.ok && r.keys.map((e) => e.id)).toEqual([k.RS256.kid]);
    expect(r.ok && r.dropped).toEqual([
      'kid "small": RSA modulus below 2048 bits', 'kid "p521": unsupported EC curve', 'kid "bad": key material invalid',
      'kid "wrongalg": alg unsupported or inconsistent with the key', 'not an object', 'not an object',
    ]);
    expect(sanitizeJwks({ keys: [{ ...small, kid: 'small' }] }).ok).toBe(false);
  });

  it('refuses a document without keys and keeps the first of duplicate kids', () => {
    expect(sanitizeJwks({}).ok).toBe(false);
    expect(sanitizeJwks({ keys: {} }).ok).toBe(false);
    const dup = makeKey('ES256', k.ES256.kid);
    const r = sanitizeJwks({ keys: [k.ES256.jwk, dup.jwk] });
    expect(r.ok && r.keys.length).toBe(1);
    expect(r.ok && r.keys[0]!.jwk.x).toBe(k.ES256.jwk.x);
    expect(r.ok && r.dropped).toEqual([`kid ${JSON.stringify(k.ES256.kid)}: duplicate kid`]);
  });

  it('gives kid-less keys an RFC 7638 thumbprint id', () => {
    const r = sanitizeJwks({ keys: [{ ...k.EdDSA.jwk, kid: undefined }] });
    expect(r.ok && r.keys[0]!.id).toBe('~' + thumbprint(k.EdDSA.jwk));
  });
});

describe('sanitizeJwks across fetches', () => {
  it('takes an unchanged key\'s check from the previous fetch; a changed key is checked afresh', () => {
    const oct = { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' };
    const first = sanitizeJwks({ keys: [k.RS256.jwk, k.ES256.jwk, oct] });
    if (!first.ok) throw new Error('fixture');
    const replaced = makeKey('ES256', k.ES256.kid); // new material under the same kid
    const again = sanitizeJwks({ keys: [k.RS256.jwk, replaced.jwk, oct] }, first.checked);
    if (!again.ok) throw new Error('fixture');
    // the RSA key is not parsed again (before: every key of a 512 KiB JWKS, 1.25 s of event loop, at every fetch)
    expect(again.keys[0]!.jwk).toBe(first.keys[0]!.jwk);
    expect(again.keys[1]!.jwk).not.toBe(first.keys[1]!.jwk);
    expect(again.keys[1]!.jwk.x).toBe(replaced.jwk.x);
    expect(again.dropped).toEqual(first.dropped);
    // one member changed (e = 1: every signature forgeable) is another key, refused
    expect(sanitizeJwks({ keys: [{ ...k.RS256.jwk, e: 'AQ' }] }, first.checked).ok).toBe(false);
  });
});

describe('makeSnapshot', () => {
  it('keeps the version for an identical set and bumps it on change', () => {
    const a = sanitizeJwks({ keys: [k.RS256.jwk] });
    const b = sanitizeJwks({ keys: [k.RS256.jwk, k.ES256.jwk] });
    if (!a.ok || !b.ok) throw new Error('fixture');
    const s1 = makeSnapshot(a.keys, null);
    expect(makeSnapshot(a.keys, s1)).toBe(s1);
    const s2 = makeSnapshot(b.keys, s1);
    expect(s2.version).toBeGreaterThan(s1.version);
    expect(s2.byKid.has(k.ES256.kid)).toBe(true);
    expect(Object.isFrozen(s2)).toBe(true);
  });
});

describe('key refs', () => {
  it('the same kid with new material is another key: its ref and the snapshot change', () => {
    const a = makeKey('ES256', 'same');
    const b = makeKey('ES256', 'same');
    const ra = sanitizeJwks({ keys: [a.jwk] });
    const rb = sanitizeJwks({ keys: [b.jwk] });
    if (!ra.ok || !rb.ok) throw new Error('fixture keys refused');
    expect(ra.keys[0]!.id).toBe(rb.keys[0]!.id);
    expect(ra.keys[0]!.ref).not.toBe(rb.keys[0]!.ref);
    const s1 = makeSnapshot(ra.keys, null);
    const s2 = makeSnapshot(rb.keys, s1);
    expect(s1.ids.has(ra.keys[0]!.ref)).toBe(true);
    expect(s2.ids.has(ra.keys[0]!.ref)).toBe(false);
  });

  it('the same material narrowed to another alg is another key', () => {
    const r = makeKey('RS256', 'rsa');
    const rs = sanitizeJwks({ keys: [r.jwk] });
    const ps = sanitizeJwks({ keys: [{ ...r.jwk, alg: 'PS256' }] });
    const any = sanitizeJwks({ keys: [{ ...r.jwk, alg: undefined }] });
    if (!rs.ok || !ps.ok || !any.ok) throw new Error('fixture keys refused');
    expect(new Set([rs.keys[0]!.ref, ps.keys[0]!.ref, any.keys[0]!.ref]).size).toBe(3);
  });
});
