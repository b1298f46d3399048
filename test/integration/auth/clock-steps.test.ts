// The proxy's wall clock stepped (NTP, a VM resumed) while it runs, under libfaketime: a cached
// verdict lives no longer in real time than it was given when cached: a step back does not keep it
// for the size of the step (a step forward ends it early: one more call to the authorization server).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { steppedClock, type SteppedClock } from '../../helpers/stepped-clock.js';
import { waitFor } from '../../helpers/wait.js';
import { SECRET_ENV, asIssuer, bearer, call, introspection, waitReady } from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let clock: SteppedClock;
const TTL_S = 2;

beforeAll(async () => {
  clock = steppedClock();
  as = await startAuthServer();
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as, { introspection: introspection({ cache_ttl_s: TTL_S, negative_ttl_s: 1 }) }) },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { issuers: ['demo'] } }],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV, ...clock.env } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

const get = (token: string): Promise<number> => call(`${proxy.url}/orders/1`, { headers: bearer(token) }).then((r) => r.status);

describe('introspection cache under a stepped wall clock', () => {
  it('stepped back 45 s: an answer cached for cache_ttl_s is asked again after cache_ttl_s of real time — a token revoked at the AS meanwhile is refused, not served from the cache for the step', async () => {
    clock.step(0);
    const t = as.issueOpaque({ scope: 'orders:read' });
    const calls = as.counters.introspection;
    expect(await get(t)).toBe(200);
    expect(await get(t)).toBe(200);
    expect(as.counters.introspection - calls).toBe(1); // the second answer came from the cache
    clock.step(-45); // within the issuer's 60 s clock skew: the token's iat is not "in the future" to it
    as.revokeOpaque(t);
    // before: the entry's expiry was read on the wall clock, so the revoked token passed for 45 s + cache_ttl_s
    await waitFor('the revoked token refused', async () => (await get(t)) === 401, 10 * TTL_S * 1000, { everyMs: 250, detail: () => `introspection calls since the first: ${as.counters.introspection - calls - 1}` });
    expect(as.counters.introspection - calls).toBeGreaterThan(1);
    clock.step(0);
  });
});
