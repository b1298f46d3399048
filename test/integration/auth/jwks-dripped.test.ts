// A JWKS endpoint that turns hostile after the first fetch: the unknown-kid refetch gets a 200 head
// and then one byte every 50 ms, forever (every idle timer stays happy). The request waiting on
// that refetch is answered (no hang), and the refetch is cut at jwks.timeout_ms, so the next one
// runs and finds the new key once the endpoint serves it: a refetch that never completes does not
// block the ones after it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { jwksOf, makeKey } from '../../fixtures/keys.js';
import { makeToken, TEST_AUDIENCE, TEST_ISSUER } from '../../fixtures/tokens.js';
import { waitFor } from '../../helpers/wait.js';
import { bearer, call, echoed, startRecorder, waitReady, type Recorder } from './tokens-helpers.js';

const old = makeKey('ES256', 'old');
const rotated = makeKey('ES256', 'rotated');
let mode: 'old' | 'drip' | 'rotated' = 'old';
let echo: EchoUpstream;
let jwks: Recorder;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = await startEchoUpstream();
  jwks = await startRecorder((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (mode !== 'drip') { res.end(JSON.stringify(jwksOf(mode === 'old' ? [old] : [old, rotated]))); return; }
    const t = setInterval(() => res.write(' '), 50);
    res.on('close', () => clearInterval(t));
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      d: {
        issuer: TEST_ISSUER, jwks_uri: `${jwks.url}/jwks`, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['ES256'],
        jwks: { timeout_ms: 300, unknown_kid_cooldown_s: 0 },
      },
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

const get = (token: string) => call(`${proxy.url}/api/x`, { headers: bearer(token) });

describe('JWKS refetch dripped forever', () => {
  it('the request waiting on it is answered, and a later refetch finds the rotated key', async () => {
    expect((await get(makeToken(old))).status).toBe(200);
    mode = 'drip';
    const fetchesBefore = jwks.hits.length;
    const r = await get(makeToken(rotated));
    // answered at all (a refetch bounded by jwks.timeout_ms): the kid is still unknown
    expect([401, 503]).toContain(r.status);
    expect(jwks.hits.length).toBeGreaterThan(fetchesBefore);
    mode = 'rotated';
    await waitFor('the rotated key is fetched and accepted', async () => (await get(makeToken(rotated))).status === 200, 5_000);
    expect(echoed(await get(makeToken(rotated))).url).toBe('/api/x');
  });
});
