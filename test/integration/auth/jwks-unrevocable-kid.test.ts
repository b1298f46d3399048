// A JWKS key whose kid no revocation can name (a control character, over 1024 characters, or shaped as a
// compact JWS, taken for a pasted token: what `revoke --kid` and POST /revocations refuse) is refused at JWKS load — logged by its RFC 7638
// thumbprint, counted in jwt.jwks_keys_refused — so no token verifies under a key that could not be
// revoked by kid. The issuer's other keys keep working. Before, such a key verified tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { makeKey, type FixtureKey } from '../../fixtures/keys.js';
import { TEST_AUDIENCE, TEST_ISSUER, makeToken } from '../../fixtures/tokens.js';
import { bearer, call, waitReady, type Reply } from './tokens-helpers.js';

const good = makeKey('ES256', 'good-es256');
const bell = makeKey('ES256', 'ops\u0007key');
const long = makeKey('ES256', `k${'x'.repeat(1024)}`);
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const tokenShaped = makeKey('ES256', `${b64({ alg: 'HS256' })}.${b64({ k: 1 })}.c2ln`);
const printOf = (k: FixtureKey): string => {
  const j = k.jwk as { crv: string; x: string; y: string };
  return createHash('sha256').update(`{"crv":"${j.crv}","kty":"EC","x":"${j.x}","y":"${j.y}"}`).digest('base64url');
};

let jwks: Server;
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  jwks = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [good.jwk, bell.jwk, long.jwk, tokenShaped.jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      main: {
        issuer: TEST_ISSUER, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['ES256'],
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

const get = (token: string): Promise<Reply> => call(`${proxy.url}/api/orders`, { headers: bearer(token) });

describe('a JWKS key whose kid no revocation can name', () => {
  it('POST /revocations refuses such kids 400 (why the key must not be used)', async () => {
    for (const kid of [bell.kid, long.kid, tokenShaped.kid]) {
      const r = await request(`${proxy.adminUrl}/revocations`, {
        method: 'POST', headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'kid', value: kid }),
      });
      expect(r.statusCode).toBe(400);
      await r.body.dump();
    }
  });

  it('verifies nothing: its tokens → 401, nothing forwarded; the good key still → 200', async () => {
    const before = echo.requests;
    for (const k of [bell, long, tokenShaped]) {
      const r = await get(makeToken(k));
      expect(r.status, `${k.kid.slice(0, 8)}: ${r.text}`).toBe(401);
    }
    expect(echo.requests).toBe(before);
    expect((await get(makeToken(good))).status).toBe(200);
  });

  it('is logged by thumbprint, never by its kid, and counted in jwt.jwks_keys_refused', async () => {
    const refused = proxy.logs().find((l) => l.msg === 'jwks keys refused');
    expect(refused?.refused).toEqual([
      `key ${printOf(bell)}: kid over 1024 characters, with a control character or shaped as a token (JWS/JWE): no revocation could name it`,
      `key ${printOf(long)}: kid over 1024 characters, with a control character or shaped as a token (JWS/JWE): no revocation could name it`,
      // review rev49: before, this key verified tokens though POST /revocations refused its kid as a raw token
      `key ${printOf(tokenShaped)}: kid over 1024 characters, with a control character or shaped as a token (JWS/JWE): no revocation could name it`,
    ]);
    expect(JSON.stringify(refused)).not.toContain('ops\\u0007key');
    expect(JSON.stringify(refused)).not.toContain('x'.repeat(64));
    const stats = (await call(`${proxy.adminUrl}/cache/stats`, { headers: bearer(ADMIN_TOKEN) })).json as Record<string, number>;
    expect(stats['jwt.jwks_keys_refused']).toBeGreaterThanOrEqual(3);
  });
});
