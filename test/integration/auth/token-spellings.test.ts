// One signed token, several byte forms that all verify: ECDSA's (r, n − s) twin and an RSA-PSS
// signature whose leading zero byte is dropped. A revocation by token hash of one form must
// refuse every form, cached or not; `portcullis serve` with the verifier inline and on the pool.
// Also the cut of a sub revocation against an `iat` with a fraction (a NumericDate may have one),
// and a revocation by kid against a token without a kid header that the key verified all the same.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { fixtureKeys, jwksOf } from '../../fixtures/keys.js';
import { makeToken, TEST_AUDIENCE, TEST_ISSUER } from '../../fixtures/tokens.js';
import { bearer, call, notForwarded, startRecorder, waitReady, type Recorder, type Reply } from './tokens-helpers.js';

const keys = fixtureKeys();
/** Group orders (RFC 7518 §3.4 curves). */
const ORDER: Readonly<Record<string, bigint>> = {
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
};

let jwks: Recorder;
let upstream: Recorder;
const proxies: Record<string, ProxyProcess> = {};

beforeAll(async () => {
  jwks = await startRecorder((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([keys.RS256, keys.PS256, keys.ES256, keys.ES384, keys.EdDSA])));
  });
  upstream = await startRecorder((_req, _body, res) => { res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'); });
  for (const mode of ['inline', 'pool'] as const) {
    proxies[mode] = await startProxy(baseConfig(upstream.url, {
      issuers: { fixture: { issuer: TEST_ISSUER, jwks_uri: `${jwks.url}/jwks`, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] } },
      routes: [{ name: 'api', match: { path: '/*' }, upstream: 'app', auth: {} }],
      verifier: { mode, pool_size: 1 },
    }), { env: ADMIN_ENV });
    await waitReady(proxies[mode]!);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(Object.values(proxies).map((p) => p.stop()));
  await Promise.all([jwks?.close(), upstream?.close()]);
});

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** The same token with the ECDSA signature (r, s) replaced by (r, n − s): valid for the same key and input. */
function ecdsaTwin(token: string, alg: 'ES256' | 'ES384'): string {
  const dot = token.lastIndexOf('.');
  const sig = Buffer.from(token.slice(dot + 1), 'base64url');
  const half = sig.length / 2;
  const s = BigInt(`0x${sig.subarray(half).toString('hex')}`);
  const twinS = Buffer.from((ORDER[alg]! - s).toString(16).padStart(half * 2, '0'), 'hex');
  return `${token.slice(0, dot)}.${Buffer.concat([sig.subarray(0, half), twinS]).toString('base64url')}`;
}

/** A PS256 token whose signature starts with a zero byte (one in 256), and the same token with that byte dropped. */
function psWithLeadingZero(): { token: string; stripped: string } {
  for (let i = 0; i < 20_000; i++) {
    const token = makeToken(keys.PS256, { claims: { n: i } });
    const dot = token.lastIndexOf('.');
    const sig = Buffer.from(token.slice(dot + 1), 'base64url');
    if (sig[0] === 0) return { token, stripped: `${token.slice(0, dot)}.${sig.subarray(1).toString('base64url')}` };
  }
  throw new Error('no PS256 signature with a leading zero byte in 20 000 tries');
}

async function revokeHash(p: ProxyProcess, hash: string): Promise<void> {
  await revoke(p, { kind: 'token', value: hash });
}

async function revoke(p: ProxyProcess, body: Record<string, unknown>): Promise<void> {
  const r = await request(`${p.adminUrl}/revocations`, {
    method: 'POST', headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const text = await r.body.text();
  expect(r.statusCode, text).toBe(201);
}

const get = (p: ProxyProcess, token: string): Promise<Reply> => call(`${p.url}/orders/1`, { headers: bearer(token) });
const refused = async (p: ProxyProcess, token: string): Promise<Reply> => {
  const r = await notForwarded(() => upstream.hits.length, () => get(p, token));
  expect(r.status, r.text).toBe(401);
  expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' });
  return r;
};

describe.each(['inline', 'pool'] as const)('verifier %s', (mode) => {
  const p = (): ProxyProcess => proxies[mode]!;

  it.each(['ES256', 'ES384'] as const)('%s: the (r, n − s) twin verifies too, and a revocation of either spelling refuses both, cached or not', async (alg) => {
    const a = makeToken(keys[alg]);
    const twinA = ecdsaTwin(a, alg);
    expect(twinA).not.toBe(a);
    // both spellings are valid signatures: both pass and both are now cached
    expect((await get(p(), a)).status).toBe(200);
    expect((await get(p(), twinA)).status).toBe(200);
    await revokeHash(p(), sha256(a));
    await refused(p(), a);
    await refused(p(), twinA);
    // the other way round, never seen before the revocation: revoke the twin's hash, present the original
    const b = makeToken(keys[alg]);
    await revokeHash(p(), sha256(ecdsaTwin(b, alg)));
    await refused(p(), b);
    await refused(p(), ecdsaTwin(b, alg));
  });

  it('PS256: a signature shorter than the modulus (its leading zero byte dropped) is refused, so it cannot dodge a revocation of the token', async () => {
    const { token, stripped } = psWithLeadingZero();
    expect((await get(p(), token)).status).toBe(200);
    await refused(p(), stripped);
    await revokeHash(p(), sha256(token));
    await refused(p(), token);
    await refused(p(), stripped);
  });

  it('controls: RS256 and EdDSA tokens pass, and their one spelling is refused once revoked by hash', async () => {
    for (const key of [keys.RS256, keys.EdDSA]) {
      const t = makeToken(key);
      expect((await get(p(), t)).status).toBe(200);
      await revokeHash(p(), sha256(t));
      await refused(p(), t);
    }
  });

  it('a sub revocation cut at second S refuses a token whose iat is S plus a fraction (issued within S), not one of S + 1', async () => {
    const S = Math.floor(Date.now() / 1000) - 30;
    const sub = `frac-${mode}`;
    const within = makeToken(keys.ES256, { iat: S + 0.5, claims: { sub } });
    const later = makeToken(keys.ES256, { iat: S + 1, claims: { sub } });
    expect((await get(p(), within)).status).toBe(200);
    await revoke(p(), { kind: 'sub', value: sub, before: S });
    await refused(p(), within);
    expect((await get(p(), later)).status).toBe(200);
  });

  it('a kid revocation refuses a token without a kid header that the one key of its type verified', async () => {
    const key = mode === 'inline' ? keys.ES384 : keys.EdDSA; // one key per test: a kid revocation outlives it
    const kidless = makeToken(key, { header: { kid: undefined } });
    expect(JSON.parse(Buffer.from(kidless.split('.')[0]!, 'base64url').toString())).not.toHaveProperty('kid');
    expect((await get(p(), kidless)).status).toBe(200);
    await revoke(p(), { kind: 'kid', value: key.kid });
    await refused(p(), kidless);
    await refused(p(), makeToken(key));
  });
});
