// Minting internal tokens: the claims (RFC 9068 shape, exp bound by the inbound token and
// max_ttl_s), signatures that jose verifies against the ring's JWKS for both algorithms and
// both signers, the per-(token, audience) cache, single-flight and revocation.
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import type { InternalTokensConfig } from '../../../node/config/index.js';
import type { Principal } from '../../../node/pipeline/context.js';
import { identityClaimsMalformed, parentFacts, type TokenFacts } from '../../../node/contracts/index.js';
import { InternalMinter, internalClaims, reuseMarginS } from '../../../node/s2s/internal-minter.js';
import { KeyRing, generateKeySync, type InternalAlg } from '../../../node/s2s/key-ring.js';
import { InlineSigner, ThreadSigner, type TokenSigner } from '../../../node/s2s/token-signer.js';
import { tempDir } from '../../helpers/temp-dirs.js';

const nowS = (): number => Math.floor(Date.now() / 1000);
const CFG: InternalTokensConfig = { issuer: 'https://portcullis.internal', alg: 'ES256', max_ttl_s: 300, publish_ahead_s: 60, claims: ['tenant'], cache_entries: 100, signing: 'inline' };

function principal(hash: string, claims: Record<string, unknown>, exp = nowS() + 3600, scopes: string[] = []): Principal {
  return { issuer: 'demo', kind: 'jwt', claims, scopes, exp, validUntil: exp, fingerprint: hash.slice(0, 16), facts: { tokenHash: hash } };
}

function setup(alg: InternalAlg, signer: TokenSigner, cfg: Partial<InternalTokensConfig> = {}): { ring: KeyRing; minter: InternalMinter } {
  const ring = new KeyRing({ alg, maxTtlS: 300, publishAheadS: 60 });
  ring.install(generateKeySync(alg), alg);
  return { ring, minter: new InternalMinter({ ...CFG, alg, ...cfg }, ring, signer) };
}

const threads: ThreadSigner[] = [];
afterAll(async () => { await Promise.all(threads.map((t) => t.close())); });

describe('internalClaims', () => {
  it('carries sub, scope, client_id and configured claims; iss and aud are the proxy\'s', () => {
    const p = principal('a'.repeat(64), { sub: 'alice', scope: 'orders:read', client_id: 'web', tenant: 'acme', email: 'x@y' });
    const c = internalClaims(p, 'orders', CFG, 1000, 'j1');
    expect(c).toEqual({ iss: CFG.issuer, sub: 'alice', aud: 'orders', iat: 1000, exp: 1300, jti: 'j1', client_id: 'web', scope: 'orders:read', tenant: 'acme', portcullis_src: { th: 'a'.repeat(64) } });
  });

  it('copies a configured claim only when the token has it as its own: an inherited toString is no claim', () => {
    const p = principal('e'.repeat(64), { sub: 'alice' });
    const c = internalClaims(p, 'x', { ...CFG, claims: ['toString', 'hasOwnProperty', 'tenant'] }, 1000, 'j');
    expect(Object.keys(c)).not.toContain('toString');
    expect(Object.keys(c)).not.toContain('hasOwnProperty');
  });

  it('exp is the earlier of the inbound exp and iat + max_ttl_s; scp and azp are understood', () => {
    const p = principal('b'.repeat(64), { azp: 'svc' }, 1060, ['a', 'b']);
    expect(internalClaims(p, 'x', CFG, 1000, 'j')).toEqual({ iss: CFG.issuer, sub: 'svc', aud: 'x', iat: 1000, exp: 1060, jti: 'j', client_id: 'svc', scope: 'a b', portcullis_src: { th: 'b'.repeat(64) } });
  });

  it('a client only in cid (Okta) is the internal token\'s client_id, and its sub when there is none', () => {
    const p = principal('c'.repeat(64), { cid: 'okta-app', scope: 'r' });
    expect(internalClaims(p, 'x', CFG, 1000, 'j')).toMatchObject({ sub: 'okta-app', client_id: 'okta-app' });
  });

  it('reuses a token until min(30 s, lifetime/4) before exp', () => {
    expect(reuseMarginS(300)).toBe(30);
    expect(reuseMarginS(60)).toBe(15);
    expect(reuseMarginS(1)).toBe(0);
  });
});

describe.each([
  ['ES256', 'inline'], ['EdDSA', 'inline'], ['ES256', 'worker'], ['EdDSA', 'worker'],
] as const)('minting %s (%s signer)', (alg, mode) => {
  const signer = (): TokenSigner => {
    if (mode === 'inline') return new InlineSigner();
    const t = new ThreadSigner();
    threads.push(t);
    return t;
  };

  it('signs a token jose verifies against the published JWKS (typ at+jwt, kid)', async () => {
    const { ring, minter } = setup(alg, signer());
    const r = await minter.authorization(principal('c'.repeat(64), { sub: 'alice', scope: 's' }), 'orders');
    expect(typeof r).toBe('string');
    const token = (r as string).slice('Bearer '.length);
    const v = await jwtVerify(token, createLocalJWKSet(JSON.parse(ring.jwks())), { issuer: CFG.issuer, audience: 'orders', typ: 'at+jwt', algorithms: [alg] });
    expect(v.protectedHeader.kid).toBe(ring.signer().kid);
    expect(v.payload).toMatchObject({ sub: 'alice', scope: 's', aud: 'orders' });
    expect(v.payload.exp! - v.payload.iat!).toBe(300);
  });

  it('answers from the cache synchronously, once per (token, audience), single-flight', async () => {
    const { minter } = setup(alg, signer());
    const p = principal('d'.repeat(64), { sub: 'bob' });
    const concurrent = await Promise.all(Array.from({ length: 20 }, () => minter.authorization(p, 'orders')));
    expect(new Set(concurrent).size).toBe(1);
    expect(minter.stats()).toMatchObject({ minted: 1, singleflight_waits: 19 });
    const again = minter.authorization(p, 'orders');
    expect(again).toBe(concurrent[0]); // a string, not a Promise
    const other = await minter.authorization(p, 'billing');
    expect(other).not.toBe(concurrent[0]);
    expect(minter.stats()).toMatchObject({ minted: 2, cache_hits: 1, cache_tokens: 1 });
  });

  it('a revocation drops the cached tokens; a mint overtaken by the revocation is refused', async () => {
    const { minter } = setup(alg, signer());
    const hash = 'e'.repeat(64);
    const p = principal(hash, { sub: 'carol' });
    const first = await minter.authorization(p, 'orders');
    expect(minter.revoke(hash)).toBe(true);
    expect(minter.stats()).toMatchObject({ cache_tokens: 0, revocation_evictions: 1 });
    const pending = minter.authorization(p, 'orders');
    expect(pending).toBeInstanceOf(Promise);
    minter.revoke(hash);
    expect(await pending).toMatchObject({ kind: 'deny', reason: 'revoked', error: { code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' } });
    const fresh = await minter.authorization(p, 'orders');
    expect(typeof fresh).toBe('string');
    expect(fresh).not.toBe(first);
  });
});

describe('a token about to expire', () => {
  it('is not cached when the minted token expires within a second', async () => {
    const { minter } = setup('ES256', new InlineSigner());
    const p = principal('f'.repeat(64), { sub: 'dan' }, nowS());
    const a = await minter.authorization(p, 'orders');
    const b = await minter.authorization(p, 'orders');
    expect(typeof a).toBe('string');
    expect(b).not.toBe(a);
    expect(minter.stats()).toMatchObject({ minted: 2, cache_tokens: 0 });
  });
});

describe('ThreadSigner', () => {
  it('restarts a crashed worker: its batch is retried item by item once, the culprit answered null; later signing works', async () => {
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { pathToFileURL } = await import('node:url');
    const file = join(tempDir('portcullis-signer-'), 'flaky.worker.mjs');
    // crashes on any batch containing "crash"; otherwise answers "sig:<input>"
    writeFileSync(file, `import { parentPort } from 'node:worker_threads';
parentPort.on('message', (items) => { if (items.some((i) => i.input === 'crash')) process.exit(3); parentPort.postMessage(items.map((i) => 'sig:' + i.input)); });`);
    const t = new ThreadSigner({ filename: pathToFileURL(file).href });
    threads.push(t);
    const ring = new KeyRing({ alg: 'ES256', maxTtlS: 60, publishAheadS: 1 });
    const key = ring.install(generateKeySync('ES256'), 'ES256')!;
    const [a, crash] = await Promise.all([t.sign(key, 'a'), t.sign(key, 'crash')]);
    // one batch crashed: each item is retried alone, so only the culprit fails
    expect(a).toBe('sig:a');
    expect(crash).toBeNull();
    expect(await t.sign(key, 'b')).toBe('sig:b');
    expect(t.stats()).toMatchObject({ sign_failovers: 2, sign_failures: 1, sign_worker_restarts: 2 });
  });
});

describe('portcullis_src: the inbound token an internal token replaced', () => {
  it('carries the inbound token\'s revocation keys, its own parents nested, and reads back to the same facts', () => {
    const inner: TokenFacts = { tokenHash: 'c'.repeat(64), jti: 'j0', sub: 'alice', iss: 'https://as', iat: 10 };
    const facts: TokenFacts = { tokenHash: 'd'.repeat(64), twinHash: 'e'.repeat(64), jti: 'j1', sub: 'alice', clientId: 'web', iat: 20, kid: 'k1', iss: 'https://proxy', sid: 's1', parent: inner };
    const p: Principal = { issuer: 'demo', kind: 'jwt', claims: { sub: 'alice', portcullis_src: { th: 'f'.repeat(64) } }, scopes: [], exp: nowS() + 60, validUntil: nowS() + 60, fingerprint: 'd'.repeat(16), facts };
    const claim = internalClaims(p, 'x', { ...CFG, claims: ['portcullis_src'] }, 1000, 'j').portcullis_src;
    // the proxy's own, never the inbound token's copy
    expect(claim).toEqual({ th: 'd'.repeat(64), tt: 'e'.repeat(64), jti: 'j1', sub: 'alice', cid: 'web', iat: 20, kid: 'k1', iss: 'https://proxy', sid: 's1', src: { th: 'c'.repeat(64), jti: 'j0', sub: 'alice', iss: 'https://as', iat: 10 } });
    expect(parentFacts(claim)).toEqual({ ...facts, parent: { ...inner, twinHash: undefined, clientId: undefined, kid: undefined, sid: undefined, parent: undefined } });
  });

  it('a malformed claim is refused: not an object, no 64-hex th, a wrong type, nested too deep', () => {
    const th = 'a'.repeat(64);
    for (const bad of ['x', null, [], {}, { th: 'A'.repeat(64) }, { th, sub: 1 }, { th, iat: 'x' }, { th, src: 'x' }, { th, src: { th, src: { th, src: { th, src: { th } } } } }]) {
      expect(parentFacts(bad), JSON.stringify(bad)).toBeNull();
      expect(identityClaimsMalformed({ portcullis_src: bad }), JSON.stringify(bad)).toBe(true);
    }
    expect(parentFacts({ th, src: { th, src: { th, src: { th } } } })).not.toBeNull();
    expect(parentFacts(undefined)).toBeUndefined();
  });
});
