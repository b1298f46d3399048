// Hostile or broken JWKS documents served to the real CLI: RSA keys whose public exponent
// makes every signature forgeable (e = 1: the signature is the padded message itself), a
// short modulus dressed up with leading zero bytes, symmetric and encryption keys, a key whose
// private half is published with it, a second key under a kid already used, and a key whose alg
// differs from the token's, a public exponent 2048 bits long (each check ~40× as dear). A token under such a
// key never reaches the upstream — nor one under a key already in use whose JWKS then publishes its private half as its only key.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { makeKey } from '../../fixtures/keys.js';
import { accessClaims, b64url, makeToken, signInput, TEST_AUDIENCE, TEST_ISSUER } from '../../fixtures/tokens.js';
import { waitFor } from '../../helpers/wait.js';
import { bearer, call, echoed, expectBearerError, notForwarded, startRecorder, waitReady, type Recorder, type Reply } from './tokens-helpers.js';

const good = makeKey('RS256', 'good');
const es = makeKey('ES256', 'es');
/** A real 2048-bit modulus published with e = 1 ("AQ"): RSA with e = 1 is the identity map. */
const e1 = { kty: 'RSA', kid: 'e1', use: 'sig', alg: 'RS256', n: String(good.jwk.n), e: 'AQ' };
/** e = 2 (even): not an RSA key at all. */
const e2 = { kty: 'RSA', kid: 'e2', use: 'sig', n: String(good.jwk.n), e: 'Ag' };
/** A 1024-bit key whose modulus is padded with leading zero bytes to 256 bytes. */
const short = generateKeyPairSync('rsa', { modulusLength: 1024 });
const shortN = Buffer.from(String((short.publicKey.export({ format: 'jwk' }) as { n: string }).n), 'base64url');
const padded = { kty: 'RSA', kid: 'padded', use: 'sig', n: Buffer.concat([Buffer.alloc(256 - shortN.length), shortN]).toString('base64url'), e: 'AQAB' };
/** A real RSA key pair (2048-bit modulus) whose public exponent is 2048 bits long: refusing a forged token under it costs ~3.7 ms, not ~0.09 ms. */
const bigE = ((): typeof good => {
  const j = good.privateKey.export({ format: 'jwk' }) as Record<string, string>;
  const int = (b64: string): bigint => BigInt(`0x${Buffer.from(b64, 'base64url').toString('hex')}`);
  const b64 = (v: bigint): string => { const h = v.toString(16); return Buffer.from(h.length % 2 === 1 ? `0${h}` : h, 'hex').toString('base64url'); };
  const inv = (a: bigint, m: bigint): bigint | null => {
    let [r0, r1, s0, s1] = [a % m, m, 1n, 0n];
    while (r1 !== 0n) { const q = r0 / r1; [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1]; }
    return r0 === 1n ? ((s0 % m) + m) % m : null;
  };
  const [p, q] = [int(j.p!), int(j.q!)];
  const phi = (p - 1n) * (q - 1n);
  for (;;) {
    const e = BigInt(`0x${randomBytes(256).toString('hex')}`) % phi | 1n | (1n << 2046n);
    const d = inv(e, phi);
    if (d === null) continue;
    const priv = { kty: 'RSA', n: j.n!, e: b64(e), d: b64(d), p: j.p!, q: j.q!, dp: b64(d % (p - 1n)), dq: b64(d % (q - 1n)), qi: j.qi! };
    const privateKey = createPrivateKey({ key: priv, format: 'jwk' });
    const publicKey = createPublicKey(privateKey);
    return { ...good, kid: 'big-e', privateKey, publicKey, jwk: { kty: 'RSA', kid: 'big-e', use: 'sig', alg: 'RS256', n: j.n!, e: b64(e) } };
  }
})();
/** A 16384-bit modulus (OpenSSL's largest; random, so no one holds its private half): a check under it costs ~14× one at 2048 bits. */
const hugeN = { kty: 'RSA', kid: 'huge-n', use: 'sig', alg: 'RS256', n: Buffer.concat([Buffer.from([0xc1]), randomBytes(2046), Buffer.from([0x01])]).toString('base64url'), e: 'AQAB' };
/** An HMAC key in a public JWKS (alg confusion bait). */
const octSecret = Buffer.from('an hmac secret a JWKS must never hold').toString('base64url');
const oct = { kty: 'oct', kid: 'hs', k: octSecret, alg: 'HS256' };
/** Keys published with their private members (`d`, and RSA's CRT parts): whoever reads the JWKS can sign. */
const leakedRsa = makeKey('RS256', 'leaked-rsa');
const leakedEc = makeKey('ES256', 'leaked-ec');
/** Other key material published under the kid `good` after the first one: the first keeps the kid. */
const twin = makeKey('RS256', 'good');
const privateJwk = (k: typeof good): Record<string, unknown> => ({ ...(k.privateKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: k.kid, use: 'sig' });
/** A second issuer whose only key, in use, is later published with its private half. */
const LEAKY_ISSUER = 'https://leaky.test/realms/main';
const leaky = makeKey('ES256', 'leaky');
let leakyKeys: Array<Record<string, unknown>> = [leaky.jwk as unknown as Record<string, unknown>];
/** A third issuer whose key leaks as a private JWK is usually written: `key_ops: ["sign"]`, no `use`. */
const SIGNING_ISSUER = 'https://leaky-ops.test/realms/main';
const leakyOps = makeKey('ES256', 'leaky-ops');
let leakyOpsKeys: Array<Record<string, unknown>> = [leakyOps.jwk as unknown as Record<string, unknown>];

let echo: EchoUpstream;
let jwks: Recorder;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  jwks = await startRecorder((req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url === '/leaky') { res.end(JSON.stringify({ keys: leakyKeys })); return; }
    if (req.url === '/leaky-ops') { res.end(JSON.stringify({ keys: leakyOpsKeys })); return; }
    res.end(JSON.stringify({ keys: [good.jwk, { ...es.jwk, alg: 'ES256' }, e1, e2, padded, oct, { ...good.jwk, kid: 'enc', use: 'enc' }, privateJwk(leakedRsa), privateJwk(leakedEc), twin.jwk, bigE.jwk, hugeN] }));
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      hostile: { issuer: TEST_ISSUER, jwks_uri: `${jwks.url}/jwks`, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['RS256', 'ES256'] },
      leaky: { issuer: LEAKY_ISSUER, jwks_uri: `${jwks.url}/leaky`, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['ES256'] },
      leaky_ops: { issuer: SIGNING_ISSUER, jwks_uri: `${jwks.url}/leaky-ops`, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['ES256'] },
    },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), jwks?.close()]);
});

const get = (token: string): Promise<Reply> => call(`${proxy.url}/api/x`, { headers: bearer(token) });
const refused = (token: string): Promise<Reply> => notForwarded(() => echo.requests, () => get(token));

/** RS256 "signature" under an e = 1 key: the EMSA-PKCS1-v1_5 encoding of the input's SHA-256, no private key needed. */
function forgeE1(kid: string): string {
  const input = `${b64url({ alg: 'RS256', typ: 'at+jwt', kid })}.${b64url(accessClaims())}`;
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(input).digest()]);
  const em = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(256 - digestInfo.length - 3, 0xff), Buffer.from([0]), digestInfo]);
  return `${input}.${em.toString('base64url')}`;
}

describe('a JWKS with unusable keys: tokens under them are refused, the good keys keep working', () => {
  it('control: a token of the well-formed RSA and EC keys → 200', async () => {
    expect(echoed(await get(makeToken(good))).headers['x-auth-subject']).toBe('alice');
    expect(echoed(await get(makeToken(es))).headers['x-auth-subject']).toBe('alice');
  });

  it('an RSA key with e = 1 (every signature forgeable without a private key) → 401, nothing forwarded', async () => {
    expectBearerError(await refused(forgeE1('e1')), 401, 'invalid_token');
  });

  it('an RSA key with an even exponent → 401', async () => {
    expectBearerError(await refused(forgeE1('e2')), 401, 'invalid_token');
  });

  it('a 1024-bit modulus padded with leading zeros to look like 2048 bits → 401 (even with its real private key)', async () => {
    const input = `${b64url({ alg: 'RS256', typ: 'at+jwt', kid: 'padded' })}.${b64url(accessClaims())}`;
    const sig = signInput({ ...good, privateKey: short.privateKey }, input, 'RS256');
    expectBearerError(await refused(`${input}.${sig}`), 401, 'invalid_token');
  });

  it('an RSA key whose public exponent is 2048 bits long: its real tokens → 401, so forged ones cost nothing to refuse (before: 200)', async () => {
    const r = await refused(makeToken(bigE));
    expectBearerError(r, 401, 'invalid_token');
    expect(r.json?.message).toBe('token signing key unknown');
  });

  it('a 16384-bit modulus is not taken: a forged token under its kid is refused as signed by an unknown key, never checked (before: checked, ~14× the cost)', async () => {
    const input = `${b64url({ alg: 'RS256', typ: 'at+jwt', kid: 'huge-n' })}.${b64url(accessClaims())}`;
    const r = await refused(`${input}.${randomBytes(2048).toString('base64url')}`);
    expectBearerError(r, 401, 'invalid_token');
    expect(r.json?.message).toBe('token signing key unknown');
  });

  it('an oct key in the JWKS: an HS256 token keyed with it → 401', async () => {
    const input = `${b64url({ alg: 'HS256', typ: 'at+jwt', kid: 'hs' })}.${b64url(accessClaims())}`;
    const sig = createHmac('sha256', Buffer.from(octSecret, 'base64url')).update(input).digest('base64url');
    expectBearerError(await refused(`${input}.${sig}`), 401, 'invalid_token');
  });

  it('a use: enc key and a key whose alg (ES256) differs from the token\'s (RS256) → 401', async () => {
    expectBearerError(await refused(makeToken(good, { header: { kid: 'enc' } })), 401, 'invalid_token');
    expectBearerError(await refused(makeToken(good, { header: { kid: 'es' } })), 401, 'invalid_token');
  });

  it('a key published with its private half (d): a token anyone reading the JWKS could sign → 401, nothing forwarded', async () => {
    // before, the private members were stripped and the key used: these tokens reached the upstream
    for (const k of [leakedRsa, leakedEc]) {
      const r = await refused(makeToken(k));
      expectBearerError(r, 401, 'invalid_token');
      expect(r.json?.message).toBe('token signing key unknown');
    }
  });

  it('two keys under one kid: the first one published keeps it, a token of the second → 401 (README: duplicate kids)', async () => {
    expect((await get(makeToken(good))).status).toBe(200);
    expectBearerError(await refused(makeToken(twin)), 401, 'invalid_token');
  });

  it('the refused keys are named in the log by kid, with no key material', () => {
    const refusedLine = proxy.logs().find((l) => l.msg === 'jwks keys refused');
    const text = JSON.stringify(refusedLine);
    for (const kid of ['e1', 'e2', 'padded', 'hs', 'enc', 'leaked-rsa', 'leaked-ec', 'big-e', 'huge-n']) expect(text).toContain(`kid \\"${kid}\\"`);
    expect(text).toContain('RSA public exponent over 64 bits');
    // before, a duplicate was logged as a bare 'duplicate kid', naming no kid
    expect(text).toContain('kid \\"good\\": duplicate kid');
    expect(text).toContain('private key material published');
    expect(proxy.output()).not.toContain(octSecret);
    expect(proxy.output()).not.toContain(String(privateJwk(leakedRsa).d));
  });
});

describe('a key in use whose JWKS then publishes it with its private half, alone', () => {
  it('is withdrawn at that fetch: its tokens, cached or new, → 503, nothing forwarded (before: kept as the last good keys, 200)', async () => {
    const before = makeToken(leaky, {}, LEAKY_ISSUER);
    expect(echoed(await get(before)).headers['x-auth-subject']).toBe('alice');
    // the set that leaks it holds no other usable key: a failed fetch, which keeps the last good keys
    leakyKeys = [privateJwk(leaky)];
    const fetches = jwks.hits.filter((h) => h.url === '/leaky').length;
    // an unknown kid is the way a token makes the proxy fetch again at once
    await get(makeToken(leaky, { header: { kid: 'rotated' } }, LEAKY_ISSUER));
    expect(jwks.hits.filter((h) => h.url === '/leaky').length).toBeGreaterThan(fetches);
    for (const token of [before, makeToken(leaky, {}, LEAKY_ISSUER)]) {
      const r = await refused(token);
      // the JWKS fetch failed and holds no key for the kid: the outage answer, as for a rotation it could not deliver
      expect(r.status, r.text).toBe(503);
      expect(r.json?.message).toBe('signing keys could not be refetched');
    }
    const withdrawn = 'jwks key withdrawn: the JWKS publishes its private half, its tokens are refused';
    // the failed fetch's line is written after the withdrawal's and may come in a later piece of the pipe: both waited for
    const failedLines = (): string => JSON.stringify(proxy.logs().filter((l) => l.msg === 'jwks fetch failed'));
    await waitFor('the withdrawal and the failed fetch logged', () => proxy.logs().some((l) => l.msg === withdrawn) && failedLines().includes('kid \\"leaky\\": private key material published'), 5_000, { detail: () => proxy.output().slice(-2000) });
    expect(proxy.logs().find((l) => l.msg === withdrawn)?.kids).toEqual(['leaky']);
    expect(failedLines()).toContain('kid \\"leaky\\": private key material published');
    expect(proxy.output()).not.toContain(String(privateJwk(leaky).d));
  });
});

describe('a key in use whose JWKS then publishes it as a private JWK for signing (key_ops ["sign"]), alone', () => {
  it('is withdrawn too: its tokens → 503, nothing forwarded (before: refused for its key_ops, not as leaked — kept as a last good key, 200)', async () => {
    const before = makeToken(leakyOps, {}, SIGNING_ISSUER);
    expect(echoed(await get(before)).headers['x-auth-subject']).toBe('alice');
    const { use: _use, ...priv } = privateJwk(leakyOps);
    leakyOpsKeys = [{ ...priv, key_ops: ['sign'] }];
    const fetches = jwks.hits.filter((h) => h.url === '/leaky-ops').length;
    await get(makeToken(leakyOps, { header: { kid: 'rotated' } }, SIGNING_ISSUER));
    expect(jwks.hits.filter((h) => h.url === '/leaky-ops').length).toBeGreaterThan(fetches);
    const r = await refused(before);
    expect(r.status, r.text).toBe(503);
    // log lines reach the test asynchronously (pino's destination, then the pipe): waited for, as in the case above
    const withdrawn = (l: { msg?: unknown; kids?: unknown }): boolean => l.msg === 'jwks key withdrawn: the JWKS publishes its private half, its tokens are refused' && JSON.stringify(l.kids) === '["leaky-ops"]';
    await waitFor('the withdrawal logged', () => proxy.logs().some(withdrawn), 5_000, { detail: () => proxy.output().slice(-2000) });
    expect(proxy.logs().find(withdrawn)).toBeDefined();
  });
});
