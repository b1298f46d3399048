// An ES256 JWT that its issuer's introspection judged (its keys not loaded, or never
// published) has two valid spellings — (r, s) and (r, n − s) — as one the verifier judged: an
// authorization server that verifies the signature calls both active. A revocation by token hash
// of either must refuse both, as it does for a JWT verified here (token-spellings.test.ts).
// Regression: the introspected principal carried no twin digest, so the other spelling passed.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { SECRET_ENV, asIssuer, bearer, call, introspection, notForwarded, waitReady, type Reply } from './tokens-helpers.js';

/** Group order n of P-256 (the demo authorization server signs ES256; ES384 shares the code path, see signature-twin.test.ts). */
const N_P256 = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  as = await startAuthServer({ algorithms: ['ES256'] });
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      // the keys never load (nothing listens on port 9): every JWT of this issuer is introspected
      demo: asIssuer(as, {
        algorithms: ['ES256'], jwks_uri: 'http://127.0.0.1:9/jwks', discovery: false,
        introspection: introspection({ endpoint: as.introspectionEndpoint, cache_ttl_s: 120 }),
      }),
    },
    routes: [{ name: 'api', match: { path: '/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** The same token with the ECDSA signature (r, s) replaced by (r, n − s): valid for the same key and input. */
function ecdsaTwin(token: string): string {
  const dot = token.lastIndexOf('.');
  const sig = Buffer.from(token.slice(dot + 1), 'base64url');
  const half = sig.length / 2;
  const s = BigInt(`0x${sig.subarray(half).toString('hex')}`);
  const twinS = Buffer.from((N_P256 - s).toString(16).padStart(half * 2, '0'), 'hex');
  return `${token.slice(0, dot)}.${Buffer.concat([sig.subarray(0, half), twinS]).toString('base64url')}`;
}

async function revokeHash(hash: string): Promise<void> {
  const r = await request(`${proxy.adminUrl}/revocations`, {
    method: 'POST', headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'token', value: hash }),
  });
  const text = await r.body.text();
  expect(r.statusCode, text).toBe(201);
}

const get = (token: string): Promise<Reply> => call(`${proxy.url}/orders/1`, { headers: bearer(token) });
const refused = async (token: string): Promise<void> => {
  const r = await notForwarded(() => echo.requests, () => get(token));
  expect(r.status, r.text).toBe(401);
  expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' });
};

describe('ECDSA twin spellings of JWTs judged by introspection', () => {
  it('the authorization server calls both spellings active; a revocation of either refuses both, cached or not', async () => {
    const a = await as.issueJwt({ sub: 'twin-a' });
    const twinA = ecdsaTwin(a);
    expect(twinA).not.toBe(a);
    const callsBefore = as.counters.introspection;
    // both spellings are active at the authorization server (it verifies the signature): both pass, both cached
    expect((await get(a)).status).toBe(200);
    expect((await get(twinA)).status).toBe(200);
    expect(as.counters.introspection).toBe(callsBefore + 2);
    await revokeHash(sha256(a));
    await refused(a);
    await refused(twinA);
    // the other way round, never seen before the revocation: revoke the twin's hash, present the original
    const b = await as.issueJwt({ sub: 'twin-b' });
    await revokeHash(sha256(ecdsaTwin(b)));
    await refused(b);
    await refused(ecdsaTwin(b));
  });

  it('control: an opaque token of the same issuer still passes', async () => {
    const opaque = as.issueOpaque({ sub: 'twin-control' }, 600);
    expect((await get(opaque)).status).toBe(200);
  });
});
