// Ed25519 public keys of small order accept forged signatures (R = identity, S = 0) in
// OpenSSL. Through a running proxy: a DPoP-bound token whose cnf.jkt is such a key's
// thumbprint, with such a "proof", is refused; an issuer JWKS carrying such a key is
// refused for that kid (log + counter) while the issuer's other keys keep working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { makeKey } from '../../fixtures/keys.js';
import { TEST_AUDIENCE, TEST_ISSUER, accessClaims, b64url, makeToken } from '../../fixtures/tokens.js';
import { bearer, call, waitReady, type Reply } from '../auth/tokens-helpers.js';

/** x = 01 00…00: the identity point (order 1), the exact key of the report. */
const IDENTITY = Buffer.alloc(32);
IDENTITY[0] = 1;
const SMALL_JWK = { kty: 'OKP', crv: 'Ed25519', x: IDENTITY.toString('base64url') };
/** R = identity, S = 0: "valid" for every message under a key of order 1. */
const FORGED_SIG = Buffer.concat([IDENTITY, Buffer.alloc(32)]).toString('base64url');
const JKT = createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${SMALL_JWK.x}"}`).digest('base64url');

const es256 = makeKey('ES256', 'good-es256');
const ed25519 = makeKey('EdDSA', 'good-ed25519');

let jwks: Server;
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  jwks = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      keys: [es256.jwk, { ...SMALL_JWK, kid: 'small-order', alg: 'EdDSA', use: 'sig' }, ed25519.jwk],
    }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      main: {
        issuer: TEST_ISSUER, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['ES256', 'EdDSA'],
        jwks_uri: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`,
      },
    },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  jwks?.closeAllConnections();
  await Promise.all([echo?.close(), new Promise((resolve) => jwks?.close(resolve))]);
});

const get = (headers: Record<string, string>): Promise<Reply> => call(`${proxy.url}/api/orders`, { headers });

describe('Ed25519 keys of small order', () => {
  it('DPoP: a token bound to the identity key with an R = identity, S = 0 proof → 401 invalid_dpop_proof, nothing forwarded', async () => {
    const token = makeToken(es256, { claims: { cnf: { jkt: JKT } } });
    const claims = {
      jti: randomUUID(), htm: 'GET', htu: `${proxy.url}/api/orders`, iat: Math.floor(Date.now() / 1000),
      ath: createHash('sha256').update(token).digest('base64url'),
    };
    const forged = `${b64url({ typ: 'dpop+jwt', alg: 'EdDSA', jwk: SMALL_JWK })}.${b64url(claims)}.${FORGED_SIG}`;
    const before = echo.requests;
    const r = await get({ authorization: `DPoP ${token}`, dpop: forged });
    expect(r.status, r.text).toBe(401);
    expect(String(r.headers['www-authenticate'])).toMatch(/^DPoP realm="portcullis", error="invalid_dpop_proof"/);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_DPOP_INVALID_PROOF' });
    expect(echo.requests).toBe(before);
  });

  it('JWKS: the small-order key is refused for its kid (log + counter); a forged token under it → 401; the other keys keep working', async () => {
    const header = { alg: 'EdDSA', typ: 'at+jwt', kid: 'small-order' };
    const forgedJwt = `${b64url(header)}.${b64url(accessClaims())}.${FORGED_SIG}`;
    const before = echo.requests;
    const r = await get(bearer(forgedJwt));
    expect(r.status, r.text).toBe(401);
    expect(echo.requests).toBe(before);

    expect((await get(bearer(makeToken(es256)))).status).toBe(200);
    expect((await get(bearer(makeToken(ed25519)))).status).toBe(200);

    const refused = proxy.logs().find((l) => l.msg === 'jwks keys refused');
    expect(refused?.refused).toEqual(['kid "small-order": Ed25519 public key is a point of small order']);
    const stats = (await call(`${proxy.adminUrl}/cache/stats`, { headers: bearer(ADMIN_TOKEN) })).json as Record<string, number>;
    expect(stats['jwt.jwks_keys_refused']).toBeGreaterThanOrEqual(1);
  });
});
