// An authorization server whose introspection endpoint is down while many distinct opaque tokens
// arrive: every request gets 503 with Retry-After, and the log says so without one line per token
// (identical failures at most once a second, the next line counting the ones left out; a count no later
// line carries — the outage ended — is said once the second has passed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { SECRET_ENV, asIssuer, bearer, call, expectUnavailable, introspection, waitReady } from './tokens-helpers.js';

const TOKENS = 40;

describe('introspection endpoint down under many distinct tokens', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
    proxy = await startProxy(baseConfig(echo.url, {
      issuers: { demo: asIssuer(as, { introspection: introspection() }) },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
      verifier: { pool_size: 1 },
    }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  it('answers each 503 with Retry-After and logs the outage, not one warning per token', async () => {
    as.setIntrospection('down');
    const tokens = Array.from({ length: TOKENS }, () => randomBytes(32).toString('base64url'));
    const replies = await Promise.all(tokens.map((t) => call(`${proxy.url}/api/x`, { headers: bearer(t) })));
    for (const r of replies) expectUnavailable(r);
    expect(as.counters.introspection, 'every distinct token was asked about').toBeGreaterThanOrEqual(TOKENS);
    await expect.poll(() => proxy.logs().some((l) => l.msg === 'introspection failed')).toBe(true);
    const lines = proxy.logs().filter((l) => l.msg === 'introspection failed');
    // before: one line per token (40); a loaded host may spread the burst over a few seconds
    expect(lines.length, JSON.stringify(lines.map((l) => l.suppressed ?? 0))).toBeLessThan(TOKENS / 4);
    expect(lines[0]).toMatchObject({ reason: expect.any(String), status: 503 });
  });

  it('accounts in the log for every failed call once the outage is over, the last second included', async () => {
    as.setIntrospection('down');
    const logged = (): number => proxy.logs().filter((l) => l.msg === 'introspection failed' || l.msg === 'introspection failures left out')
      .reduce((n, l) => n + (l.msg === 'introspection failed' ? 1 : 0) + (typeof l.suppressed === 'number' ? l.suppressed : 0), 0);
    const tokens = Array.from({ length: TOKENS }, () => randomBytes(32).toString('base64url'));
    for (const r of await Promise.all(tokens.map((t) => call(`${proxy.url}/api/x`, { headers: bearer(t) })))) expectUnavailable(r);
    // every call since the start failed (the endpoint was never up): each is one line or counted in one
    const failed = as.counters.introspection;
    expect(failed).toBeGreaterThanOrEqual(2 * TOKENS);
    // nothing fails after the burst; before: the ones left out in its last second were never said
    await expect.poll(logged, { timeout: 5_000 }).toBe(failed);
    expect(proxy.logs().filter((l) => l.msg === 'introspection failures left out').at(-1)).toMatchObject({ status: 503, suppressed: expect.any(Number) });
  });
});
