// The DPoP proof verifier, rule by rule (RFC 9449 §4.3): proofs built with jose as a client
// would, and hostile variants — each refused with its own reason, nothing accepted by accident.
import { describe, expect, it, beforeAll } from 'vitest';
import { generateKeyPairSync, sign } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { ProofKeyCache, verifyProof, requestOrigin, type ProofRequest, type ProofSettings } from '../../../node/dpop/index.js';
import { athOf, baseClaims, clientKey, hmacProof, proof, rawProof, unsignedProof, type ClientKey } from './dpop-helpers.js';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln';
const ALGS = new Set(['ES256', 'ES384', 'EdDSA', 'PS256', 'RS256']);
const now = (): number => Math.floor(Date.now() / 1000);
const b64u = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

let es: ClientKey;
let other: ClientKey;

beforeAll(async () => {
  es = await clientKey('ES256');
  other = await clientKey('ES256');
});

function req(p: string, o: Partial<ProofRequest> = {}): ProofRequest {
  return { proof: p, method: 'GET', origin: requestOrigin('http', 'api.example'), path: '/orders', ath: athOf(TOKEN), jkt: es.jkt, ...o };
}
function settings(o: Partial<ProofSettings> = {}): ProofSettings {
  return { algorithms: ALGS, maxProofBytes: 8192, iatWindowS: 60, nowS: now(), ...o };
}
const keys = new ProofKeyCache();
const reasonOf = (p: string, r: Partial<ProofRequest> = {}, s: Partial<ProofSettings> = {}): string => {
  const v = verifyProof(req(p, r), settings(s), keys);
  return v.ok ? 'ok' : v.reason;
};

describe('verifyProof: valid proofs', () => {
  it.each(['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] as const)('accepts a %s proof built with jose', async (alg) => {
    const k = await clientKey(alg);
    const p = await proof(k, { token: TOKEN });
    const v = verifyProof(req(p, { jkt: k.jkt }), settings(), keys);
    expect(v).toMatchObject({ ok: true });
    if (v.ok) expect(v.jti.length).toBeGreaterThan(0);
  });

  it('ignores query and fragment of htu, and normalises case, default port and dot segments', async () => {
    for (const htu of ['http://api.example/orders?page=2', 'http://api.example/orders#top', 'HTTP://API.EXAMPLE:80/orders', 'http://api.example/a/../orders', 'http://api.example/%6Frders']) {
      expect(reasonOf(await proof(es, { token: TOKEN, htu })), htu).toBe('ok');
    }
  });

  it('matches a request whose Host carries a port against the same port in htu', async () => {
    const p = await proof(es, { token: TOKEN, htu: 'https://api.example:8443/orders' });
    expect(reasonOf(p, { origin: requestOrigin('https', 'api.example:8443') })).toBe('ok');
    expect(reasonOf(p, { origin: requestOrigin('https', 'api.example') })).toBe('dpop_htu');
  });

  it('accepts iat at the edges of the window', async () => {
    // One clock reading for the proof and the check: signing may cross a second boundary on a loaded host.
    const t = now();
    expect(reasonOf(await proof(es, { token: TOKEN, iat: t - 60 }), {}, { nowS: t })).toBe('ok');
    expect(reasonOf(await proof(es, { token: TOKEN, iat: t + 60 }), {}, { nowS: t })).toBe('ok');
    expect(reasonOf(await proof(es, { token: TOKEN, iat: t - 61 }), {}, { nowS: t })).not.toBe('ok');
  });
});

describe('verifyProof: refusals', () => {
  it('refuses an oversized proof before parsing it', async () => {
    const p = await proof(es, { token: TOKEN, claims: { pad: 'x'.repeat(9000) } });
    expect(reasonOf(p)).toBe('dpop_oversized');
    expect(reasonOf(p, {}, { maxProofBytes: 20_000 })).toBe('ok');
  });

  it('refuses malformed proofs', () => {
    for (const p of ['', 'abc', 'a.b', 'a.b.c.d', '!!!.e30.', `${Buffer.from('[1]').toString('base64url')}.e30.`, 'e30.bm90IGpzb24.', 'e30.e30.sig+/']) {
      expect(reasonOf(p), p).toBe('dpop_malformed');
    }
  });

  it('refuses a wrong or missing typ', async () => {
    expect(reasonOf(await proof(es, { token: TOKEN, header: { typ: 'JWT' } }))).toBe('dpop_typ');
    expect(reasonOf(await proof(es, { token: TOKEN, header: { typ: 'at+jwt' } }))).toBe('dpop_typ');
    expect(reasonOf(await proof(es, { token: TOKEN, header: { typ: undefined } }))).toBe('dpop_typ');
    expect(reasonOf(await proof(es, { token: TOKEN, header: { typ: 'application/dpop+jwt' } }))).toBe('ok');
  });

  it('refuses alg none and HS256 (symmetric) proofs', async () => {
    expect(reasonOf(unsignedProof(es, baseClaims(TOKEN)))).toBe('dpop_alg');
    expect(reasonOf(await hmacProof(es, baseClaims(TOKEN)))).toBe('dpop_alg');
  });

  it('refuses an algorithm outside the configured allowlist', async () => {
    const rs = await clientKey('RS256');
    expect(reasonOf(await proof(rs, { token: TOKEN }), { jkt: rs.jkt }, { algorithms: new Set(['ES256']) })).toBe('dpop_alg');
  });

  it('refuses critical header parameters', async () => {
    expect(reasonOf(rawProof(es, { crit: ['exp'], exp: 1 }, baseClaims(TOKEN)))).toBe('dpop_crit');
    expect(reasonOf(rawProof(es, {}, baseClaims(TOKEN)))).toBe('ok');
  });

  it('refuses a private jwk (d present) even when the signature is valid', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const priv = await exportJWK(privateKey);
    const k: ClientKey = { ...es, privateKey, jwk: priv };
    expect(reasonOf(await proof(k, { token: TOKEN }))).toBe('dpop_private_jwk');
    // a symmetric key in the header is refused the same way
    expect(reasonOf(await proof(es, { token: TOKEN, header: { jwk: { kty: 'oct', k: 'AAAA' } } }))).toBe('dpop_private_jwk');
  });

  it('refuses a jwk missing, of the wrong type for alg, or inconsistent with it', async () => {
    expect(reasonOf(await proof(es, { token: TOKEN, header: { jwk: undefined } }))).toBe('dpop_jwk');
    expect(reasonOf(await proof(es, { token: TOKEN, header: { jwk: 'key' } }))).toBe('dpop_jwk');
    expect(reasonOf(await proof(es, { token: TOKEN, header: { jwk: { ...es.jwk, crv: 'P-384' } } }))).toBe('dpop_jwk');
    expect(reasonOf(await proof(es, { token: TOKEN, header: { jwk: { ...es.jwk, alg: 'ES384' } } }))).toBe('dpop_jwk');
    expect(reasonOf(await proof(es, { token: TOKEN, header: { jwk: { ...es.jwk, use: 'enc' } } }))).toBe('dpop_jwk');
    const rs = await clientKey('RS256');
    expect(reasonOf(await proof(es, { token: TOKEN, header: { jwk: rs.jwk } }))).toBe('dpop_jwk');
  });

  it('refuses a missing, empty or oversized jti', async () => {
    expect(reasonOf(await proof(es, { token: TOKEN, claims: { jti: undefined } }))).toBe('dpop_jti');
    expect(reasonOf(await proof(es, { token: TOKEN, jti: '' }))).toBe('dpop_jti');
    expect(reasonOf(await proof(es, { token: TOKEN, claims: { jti: 42 } }))).toBe('dpop_jti');
    expect(reasonOf(await proof(es, { token: TOKEN, jti: 'j'.repeat(257) }))).toBe('dpop_jti');
    expect(reasonOf(await proof(es, { token: TOKEN, jti: 'j'.repeat(256) }))).toBe('ok');
  });

  it('refuses a wrong htm (methods are case-sensitive)', async () => {
    expect(reasonOf(await proof(es, { token: TOKEN, htm: 'POST' }))).toBe('dpop_htm');
    expect(reasonOf(await proof(es, { token: TOKEN, htm: 'get' }))).toBe('dpop_htm');
    expect(reasonOf(await proof(es, { token: TOKEN, claims: { htm: undefined } }))).toBe('dpop_htm');
  });

  it('refuses an htu for another host, scheme, port or path', async () => {
    for (const htu of ['http://evil.example/orders', 'https://api.example/orders', 'http://api.example:8080/orders', 'http://api.example/orders/1',
      'http://api.example/Orders', 'http://api.example/', 'http://user@api.example/orders', 'ftp://api.example/orders', '/orders', 'not a url',
      'http://api.example/a/%2e%2e/%2e%2e/orders/%2f']) {
      expect(reasonOf(await proof(es, { token: TOKEN, htu })), htu).toBe('dpop_htu');
    }
    expect(reasonOf(await proof(es, { token: TOKEN, claims: { htu: 7 } }))).toBe('dpop_htu');
    // no Host header → no origin → nothing matches
    expect(reasonOf(await proof(es, { token: TOKEN }), { origin: null })).toBe('dpop_htu');
  });

  it('refuses a stale, future or missing iat', async () => {
    expect(reasonOf(await proof(es, { token: TOKEN, iat: now() - 120 }))).toBe('dpop_iat_stale');
    expect(reasonOf(await proof(es, { token: TOKEN, iat: now() + 120 }))).toBe('dpop_iat_future');
    expect(reasonOf(await proof(es, { token: TOKEN, claims: { iat: undefined } }))).toBe('dpop_iat');
    expect(reasonOf(await proof(es, { token: TOKEN, claims: { iat: '1700000000' } }))).toBe('dpop_iat');
    expect(reasonOf(await proof(es, { token: TOKEN, iat: now() - 300 }), {}, { iatWindowS: 600 })).toBe('ok');
  });

  it('refuses a wrong or missing ath', async () => {
    expect(reasonOf(await proof(es, { token: 'another.access.token' }))).toBe('dpop_ath');
    expect(reasonOf(await proof(es, {}))).toBe('dpop_ath');
    expect(reasonOf(await proof(es, { ath: athOf(TOKEN).toUpperCase() }))).toBe('dpop_ath');
  });

  it('refuses a proof signed by a key other than the one the token is bound to', async () => {
    expect(reasonOf(await proof(other, { token: TOKEN }))).toBe('dpop_key_mismatch');
    expect(reasonOf(await proof(es, { token: TOKEN }), { jkt: '' })).toBe('dpop_key_mismatch');
  });

  it('refuses a bad signature: another key signing under this jwk, a flipped byte, a truncated signature', async () => {
    expect(reasonOf(await proof({ ...other, jwk: es.jwk }, { token: TOKEN }))).toBe('dpop_signature');
    const p = await proof(es, { token: TOKEN });
    const dot = p.lastIndexOf('.');
    const sig = Buffer.from(p.slice(dot + 1), 'base64url');
    sig[5] ^= 1;
    expect(reasonOf(`${p.slice(0, dot)}.${sig.toString('base64url')}`)).toBe('dpop_signature');
    expect(reasonOf(`${p.slice(0, dot)}.${sig.subarray(0, 32).toString('base64url')}`)).toBe('dpop_signature');
    // claims changed after signing
    const [h, , s] = p.split('.');
    expect(reasonOf(`${h}.${Buffer.from(JSON.stringify({ ...baseClaims(TOKEN) })).toString('base64url')}.${s}`)).toBe('dpop_signature');
  });

  it('refuses an invalid public key (point off the curve, short RSA modulus) whose thumbprint matches', async () => {
    const bad = { kty: 'EC', crv: 'P-256', x: es.jwk.x, y: es.jwk.x };
    const { calculateJwkThumbprint } = await import('jose');
    const jkt = await calculateJwkThumbprint(bad as never, 'sha256');
    expect(reasonOf(await proof({ ...es, jwk: bad }, { token: TOKEN }), { jkt })).toBe('dpop_key_invalid');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const small = rsa.publicKey.export({ format: 'jwk' });
    const input = `${b64u({ alg: 'RS256', typ: 'dpop+jwt', jwk: small })}.${b64u(baseClaims(TOKEN))}`;
    const p = `${input}.${sign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`;
    expect(reasonOf(p, { jkt: await calculateJwkThumbprint(small as never, 'sha256') })).toBe('dpop_key_invalid');
  });

  it('refuses an RSA jwk whose public exponent is over 64 bits before checking any signature under it (a check there cost ~40× one under e = 65537, on the event loop)', async () => {
    const { calculateJwkThumbprint } = await import('jose');
    const n = String(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }).n);
    const bigE = { kty: 'RSA', n, e: Buffer.from(`80${'00'.repeat(254)}01`, 'hex').toString('base64url') };
    const input = `${b64u({ alg: 'RS256', typ: 'dpop+jwt', jwk: bigE })}.${b64u(baseClaims(TOKEN))}`;
    // before: imported, and the forged signature checked (and refused) at that cost — dpop_signature
    expect(reasonOf(`${input}.${Buffer.alloc(256, 7).toString('base64url')}`, { jkt: await calculateJwkThumbprint(bigE as never, 'sha256') })).toBe('dpop_key_invalid');
  });
});
