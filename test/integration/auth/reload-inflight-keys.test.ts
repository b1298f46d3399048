// A reload that replaces an issuer's JWKS actor must not refuse the requests waiting on its
// unknown-kid refetch: README "In-flight requests finish on the snapshot they started with".
// Before the fix the replaced actor's close() aborted the fetch, so a token signed with a key
// the issuer had just published got 401 unknown_kid from a healthy issuer; and the outcome of a
// verification finished under the old issuer policy must not be cached for the new one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { AUDIENCE, asIssuer, bearer, call, waitReady } from './tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const SLOW_MS = 1_200;

let as: AuthServer;
let echo: EchoUpstream;

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
});

afterAll(async () => {
  as?.setJwks('normal');
  await Promise.all([as?.close(), echo?.close()]);
});

/** One JWT route; `audiences` differ between versions so a reload replaces the issuer's JWKS actor (same key source). */
function config(audiences: string[], workers: number): Record<string, unknown> {
  return baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, workers },
    issuers: { demo: asIssuer(as, { audiences, jwks: { timeout_ms: 3 * SLOW_MS, unknown_kid_cooldown_s: 0 } }) },
    upstreams: { app: { targets: [echo.url] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  });
}

describe.each([1, 2])('requests waiting on an unknown-kid JWKS refetch across a reload (workers: %i)', (workers) => {
  let proxy: ProxyProcess;

  beforeAll(async () => {
    proxy = await startProxy(config([AUDIENCE, 'other'], workers), { env: ADMIN_ENV });
    await waitReady(proxy, 15_000);
  });

  afterAll(async () => {
    as.setJwks('normal');
    await proxy?.stop();
  });

  it('get the refetched key (200) from the actor the reload replaced, and the new issuer policy judges what comes after', async () => {
    expect((await call(`${proxy.url}/api/warm`, { headers: bearer(await as.issueJwt({ sub: 'warm' })) })).status).toBe(200);
    await as.rotateKeys(); // a key the proxy has not seen yet: the next tokens make it refetch
    as.setJwks('slow', SLOW_MS);
    const tokens = await Promise.all(Array.from({ length: 6 }, (_, i) => as.issueJwt({ sub: `u${i}`, aud: 'other' })));
    const asked = as.counters.jwks;
    const inflight = tokens.map((t) => call(`${proxy.url}/api/x`, { headers: bearer(t) }));
    // the refetch waits at the (slow) JWKS endpoint when the reload replaces the actor
    await waitFor('as.counters.jwks > asked', () => as.counters.jwks > asked, 10_000, { detail: () => 'the refetch at the JWKS endpoint' });
    await reloadWith(proxy, config([AUDIENCE], workers));
    // the same token sent now is judged by the new version: it must not join the old actor's verification in flight
    const joined = await call(`${proxy.url}/api/joined`, { headers: bearer(tokens[0]!) });
    const replies = await Promise.all(inflight);
    expect(joined.status, joined.text).toBe(401);
    expect(replies.map((r) => `${r.status} ${r.status === 200 ? '' : r.text}`)).toEqual(replies.map(() => '200 '));
    as.setJwks('normal');
    // the new actor has the new key too once its own fetch is in (this request waits for it)…
    expect((await call(`${proxy.url}/api/z`, { headers: bearer(await as.issueJwt({ sub: 'after' })) })).status).toBe(200);
    // …and the new version no longer accepts audience `other`: a verification finished under the
    // old policy must not have been cached for it (it was: 200 from the cache)
    for (const t of tokens) expect((await call(`${proxy.url}/api/y`, { headers: bearer(t) })).status).toBe(401);
  });
});
