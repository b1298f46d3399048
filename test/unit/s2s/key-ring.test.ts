// The internal-token key ring: RFC 7638 kids (checked against jose), the key file (created
// 0600 when missing, reused, refused when it cannot sign the alg), and rotation on a fake
// clock: the next key is published before it signs, the old one stays until its tokens expire.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import { KeyRing, generateKeySync, jwkThumbprint, loadOrCreateKeyFile, ringKey } from '../../../node/s2s/key-ring.js';
import { tempDir } from '../../helpers/temp-dirs.js';

const dir = (): string => tempDir('portcullis-keyring-');
const kids = (ring: KeyRing, now: number): string[] => (JSON.parse(ring.jwks(now)) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

describe('kid', () => {
  it.each(['ES256', 'EdDSA'] as const)('is the RFC 7638 thumbprint jose computes (%s)', async (alg) => {
    const k = ringKey(generateKeySync(alg), alg, 0);
    expect(k.kid).toBe(await calculateJwkThumbprint(k.jwk));
    expect(jwkThumbprint(k.jwk)).toBe(k.kid);
    expect(k.jwk).toMatchObject({ alg, use: 'sig', kty: alg === 'ES256' ? 'EC' : 'OKP', crv: alg === 'ES256' ? 'P-256' : 'Ed25519' });
    expect(JSON.stringify(k.jwk)).not.toMatch(/"d"/); // never the private part
  });
});

describe('key file', () => {
  it('is created (PKCS#8, mode 0600) when missing and read back unchanged afterwards', () => {
    const file = join(dir(), 'internal.pem');
    const a = loadOrCreateKeyFile(file, 'ES256');
    expect(a.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain('BEGIN PRIVATE KEY');
    const b = loadOrCreateKeyFile(file, 'ES256');
    expect(b.created).toBe(false);
    expect(ringKey(b.key, 'ES256', 0).kid).toBe(ringKey(a.key, 'ES256', 0).kid);
  });

  it('accepts a private JWK and refuses a key of the wrong type or no key at all', () => {
    const d = dir();
    const jwkFile = join(d, 'k.jwk');
    writeFileSync(jwkFile, JSON.stringify(generateKeySync('EdDSA').export({ format: 'jwk' })));
    expect(loadOrCreateKeyFile(jwkFile, 'EdDSA').created).toBe(false);
    expect(() => loadOrCreateKeyFile(jwkFile, 'ES256')).toThrow(/cannot sign ES256/);
    const junk = join(d, 'junk.pem');
    writeFileSync(junk, 'not a key');
    expect(() => loadOrCreateKeyFile(junk, 'ES256')).toThrow(/not a PEM or JWK private key/);
  });

  it('a JSON file that is no private JWK is refused without quoting its members (the file may be any secret a policy named)', () => {
    const file = join(dir(), 'creds.json');
    for (const text of ['{"kty":"s3cr3t-kty-value"}', '{"kty":"EC","crv":"s3cr3t-crv-value","x":"a","y":"b","d":"c"}', '{"kty":"RSA","n":12345678901}']) {
      writeFileSync(file, text);
      let message = '';
      try { loadOrCreateKeyFile(file, 'ES256'); } catch (err) { message = (err as Error).message; }
      expect(message).toMatch(/not a PEM or JWK private key/);
      expect(message).not.toMatch(/s3cr3t|12345678901/);
    }
  });
});

describe('rotation', () => {
  it('publishes the next key before it signs and retires the old one after max_ttl_s', () => {
    let now = 1_000_000;
    const ring = new KeyRing({ alg: 'ES256', maxTtlS: 300, publishAheadS: 60, now: () => now });
    const first = ring.install(generateKeySync('ES256'), 'ES256')!;
    expect(ring.signer().kid).toBe(first.kid);
    expect(kids(ring, now)).toEqual([first.kid]);

    now += 10_000;
    const next = ring.install(generateKeySync('ES256'), 'ES256')!;
    expect(kids(ring, now)).toEqual([first.kid, next.kid]); // published at once…
    expect(ring.signer(now).kid).toBe(first.kid); // …but the old key still signs
    expect(ring.signer(now + 59_999).kid).toBe(first.kid);
    expect(ring.signer(now + 60_000).kid).toBe(next.kid);
    // the old key signed until now+60 s; its last tokens expire 300 s later (+5 s slack)
    expect(kids(ring, now + 60_000 + 300_000)).toEqual([first.kid, next.kid]);
    expect(kids(ring, now + 60_000 + 305_000)).toEqual([next.kid]);
    expect(ring.rotations).toBe(1);
  });

  it('installing the same key again changes nothing', () => {
    const ring = new KeyRing({ alg: 'EdDSA', maxTtlS: 60, publishAheadS: 5 });
    const key = generateKeySync('EdDSA');
    const a = ring.install(key, 'EdDSA');
    expect(ring.install(key, 'EdDSA')).toBe(a);
    expect(ring.rotations).toBe(0);
    expect(ring.published()).toHaveLength(1);
  });

  it('a key rolled back to while still published signs again at once; the one it replaced retires after its tokens', () => {
    let now = 1_000_000;
    const ring = new KeyRing({ alg: 'ES256', maxTtlS: 300, publishAheadS: 60, now: () => now });
    const keyA = generateKeySync('ES256');
    const a = ring.install(keyA, 'ES256')!;
    now += 10_000;
    const b = ring.install(generateKeySync('ES256'), 'ES256')!;
    now += 70_000; // b signs
    expect(ring.signer(now).kid).toBe(b.kid);
    // before: the same kid was a no-op, so b went on signing with the file naming a
    expect(ring.install(keyA, 'ES256')!.kid).toBe(a.kid);
    expect(ring.signer(now).kid).toBe(a.kid);
    expect(kids(ring, now)).toEqual([b.kid, a.kid]);
    expect(kids(ring, now + 305_000)).toEqual([a.kid]);
    expect(ring.rotations).toBe(2);
    // a second reload with the same file changes nothing more
    ring.install(keyA, 'ES256');
    expect(ring.rotations).toBe(2);
  });

  it('max_ttl_s lowered in the rotating reload: the old key stays until the tokens it signed under the old lifetime expire', () => {
    let now = 1_000_000;
    const ring = new KeyRing({ alg: 'ES256', maxTtlS: 3600, publishAheadS: 60, now: () => now });
    const a = ring.install(generateKeySync('ES256'), 'ES256')!;
    now += 10_000;
    ring.setTimes(60, 60);
    const b = ring.install(generateKeySync('ES256'), 'ES256')!;
    // a signed 1 h tokens until now; before, it left 60 s + 5 s after b started signing
    expect(kids(ring, b.signFrom + 65_000)).toEqual([a.kid, b.kid]);
    // b signs with the new lifetime only: its successor retires it 60 s (+5 s) after taking over
    now = b.signFrom;
    const c = ring.install(generateKeySync('ES256'), 'ES256')!;
    expect(kids(ring, c.signFrom + 64_999)).toEqual([a.kid, b.kid, c.kid]);
    expect(kids(ring, c.signFrom + 65_000)).toEqual([a.kid, c.kid]);
    expect(kids(ring, b.signFrom + 3_600_000)).toEqual([a.kid, c.kid]);
    expect(kids(ring, b.signFrom + 3_605_000)).toEqual([c.kid]);
  });

  it('max_ttl_s raised while the old key still signs (before its successor does) keeps it published for those tokens', () => {
    let now = 1_000_000;
    const ring = new KeyRing({ alg: 'ES256', maxTtlS: 60, publishAheadS: 60, now: () => now });
    const a = ring.install(generateKeySync('ES256'), 'ES256')!;
    const b = ring.install(generateKeySync('ES256'), 'ES256')!; // signs at +60 s; a retires at +125 s
    now += 30_000;
    ring.setTimes(3600, 60); // a mints 1 h tokens for 30 s more
    expect(ring.signer(now).kid).toBe(a.kid);
    expect(kids(ring, 1_000_000 + 60_000 + 3_600_000)).toEqual([a.kid, b.kid]);
    expect(kids(ring, 1_000_000 + 60_000 + 3_605_000)).toEqual([b.kid]);
  });

  it('a key rolled back to after it left the JWKS is published ahead again, like a new one', () => {
    let now = 1_000_000;
    const ring = new KeyRing({ alg: 'ES256', maxTtlS: 60, publishAheadS: 10, now: () => now });
    const keyA = generateKeySync('ES256');
    const a = ring.install(keyA, 'ES256')!;
    const b = ring.install(generateKeySync('ES256'), 'ES256')!;
    now += 10_000 + 65_000; // a retired (no JWKS fetched meanwhile)
    ring.install(keyA, 'ES256');
    expect(ring.signer(now).kid).toBe(b.kid);
    expect(ring.signer(now + 10_000).kid).toBe(a.kid);
    expect(kids(ring, now)).toEqual([b.kid, a.kid]);
  });
});

describe('revoking one of our kids (revocation kind kid)', () => {
  it('the signing key stops signing and leaves the JWKS; the same key is refused again, a new one signs at once', () => {
    let now = 1_000_000;
    const ring = new KeyRing({ alg: 'ES256', maxTtlS: 300, publishAheadS: 60, now: () => now });
    const keyA = generateKeySync('ES256');
    const a = ring.install(keyA, 'ES256')!;
    expect(ring.revoke('not-ours')).toBe(false);
    expect(ring.revoke(a.kid)).toBe(true);
    expect(kids(ring, now)).toEqual([]);
    expect(ring.halted).toBe(true);
    expect(() => ring.signer(now)).toThrow(/revoked/);
    // a reload with the same key file: refused, still nothing signs
    expect(ring.install(keyA, 'ES256')).toBeNull();
    expect(ring.halted).toBe(true);
    now += 1_000;
    const b = ring.install(generateKeySync('ES256'), 'ES256')!;
    expect(ring.signer(now).kid).toBe(b.kid); // not after publish_ahead_s: nothing else may sign meanwhile
    expect(kids(ring, now)).toEqual([b.kid]);
  });

  it('with the next key published ahead, that key signs at once', () => {
    const now = 1_000_000;
    const ring = new KeyRing({ alg: 'EdDSA', maxTtlS: 300, publishAheadS: 60, now: () => now });
    const a = ring.install(generateKeySync('EdDSA'), 'EdDSA')!;
    const b = ring.install(generateKeySync('EdDSA'), 'EdDSA')!;
    expect(ring.signer(now).kid).toBe(a.kid);
    ring.revoke(a.kid);
    expect(ring.halted).toBe(false);
    expect(ring.signer(now).kid).toBe(b.kid);
    expect(kids(ring, now)).toEqual([b.kid]);
  });
});
