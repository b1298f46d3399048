// An issuer that replaces a key's material under the same kid (a compromised key swapped
// out, a single-key issuer with a fixed kid): tokens the old material signed are refused at
// once after the proxy loads the new set, also those it had already verified and cached; so are
// tokens of an alg the key no longer declares.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { makeKey, jwksOf, type FixtureKey } from '../../fixtures/keys.js';
import { makeToken, TEST_AUDIENCE, TEST_ISSUER } from '../../fixtures/tokens.js';
import { bearer, call, echoed, expectBearerError, notForwarded, startRecorder, waitReady, type Recorder, type Reply } from './tokens-helpers.js';

/** Two key pairs published one after the other under the same kid. */
const before = makeKey('ES256', 'k1');
const after = makeKey('ES256', 'k1');
const other = makeKey('ES256', 'k2');
/** An RSA key published for RS256, later narrowed to PS256 (same kid, same material). */
const rsa = makeKey('RS256', 'r1');
const kids = [makeKey('ES256', 'k3')];

let published: FixtureKey[] = [before, rsa];
let echo: EchoUpstream;
let jwks: Recorder;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  jwks = await startRecorder((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf(published)));
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { main: { issuer: TEST_ISSUER, jwks_uri: `${jwks.url}/jwks`, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['ES256', 'RS256', 'PS256'], jwks: { unknown_kid_cooldown_s: 0 } } },
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

describe('a kid whose key material the issuer replaced', () => {
  it('a token of the old material, verified and cached before the swap → 401 after the proxy loads the new set', async () => {
    const old = makeToken(before);
    expect(echoed(await get(old)).headers['x-auth-subject']).toBe('alice');
    expect(echoed(await get(old)).headers['x-auth-subject']).toBe('alice'); // served from the cache
    published = [after, other, rsa];
    const fetches = jwks.hits.length;
    // a token naming a kid the proxy lacks makes it fetch the set again (the new k1 comes with it)
    expect(echoed(await get(makeToken(other))).headers['x-auth-subject']).toBe('alice');
    expect(jwks.hits.length, 'the unknown kid made the proxy fetch the JWKS again').toBeGreaterThan(fetches);
    // control: the new material verifies, and a fresh token of the old one is refused
    expect(echoed(await get(makeToken(after))).headers['x-auth-subject']).toBe('alice');
    expectBearerError(await notForwarded(() => echo.requests, () => get(makeToken(before))), 401, 'invalid_token');
    // the cached verification was made with a key the issuer no longer publishes
    expectBearerError(await notForwarded(() => echo.requests, () => get(old)), 401, 'invalid_token');
  });

  it('a key narrowed from RS256 to PS256: an RS256 token cached before → 401 after the proxy loads the new set', async () => {
    const rs = makeToken(rsa);
    expect(echoed(await get(rs)).headers['x-auth-subject']).toBe('alice');
    expect(echoed(await get(rs)).headers['x-auth-subject']).toBe('alice'); // served from the cache
    published = [after, other, { ...rsa, jwk: { ...rsa.jwk, alg: 'PS256' } }, kids[0]!];
    const fetches = jwks.hits.length;
    expect(echoed(await get(makeToken(kids[0]!))).headers['x-auth-subject']).toBe('alice');
    expect(jwks.hits.length, 'the unknown kid made the proxy fetch the JWKS again').toBeGreaterThan(fetches);
    // control: a fresh RS256 token of that key is refused now
    expectBearerError(await notForwarded(() => echo.requests, () => get(makeToken(rsa))), 401, 'invalid_token');
    expectBearerError(await notForwarded(() => echo.requests, () => get(rs)), 401, 'invalid_token');
  });
});
