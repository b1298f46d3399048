// A revoked token after the proxy's wall clock was stepped forward and back (libfaketime, a real
// `serve`, no bus): a sweep while the clock ran an hour ahead dropped every revocation of a token with
// under an hour left, and once NTP stepped the clock back the revoked token passed again (200).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { steppedClock, type SteppedClock } from '../../helpers/stepped-clock.js';
import { admin, call, jtiOf, memberConfig, revoked } from './proxy-fixtures.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let clock: SteppedClock;

beforeAll(async () => {
  clock = steppedClock();
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  // max_entries 1: the store is full, so the next revocation sweeps it at once (no waiting for the sweeper);
  // a jti entry lives max_token_lifetime_s (10 min here) + the 120 s linger
  proxy = await startProxy(memberConfig(as, echo.url, { revocation: { max_entries: 1, max_token_lifetime_s: 600 } }), { env: { ...ADMIN_ENV, ...clock.env } });
  await waitReady(proxy, 20_000);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

describe('revocations under a stepped wall clock', () => {
  it('stepped an hour forward, swept, stepped back: the revoked token is still refused (before: 200)', async () => {
    const tok = await as.issueJwt({ sub: 'stepped' }, { ttlSeconds: 600 });
    expect((await call(proxy, tok)).status).toBe(200);
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok) })).status).toBe(201);
    expect(revoked(await call(proxy, tok))).toBe(true);

    clock.step(3600); // a bad NTP source: the token is past its exp on this clock
    expect((await call(proxy, tok)).status).toBe(401);
    // a revocation into the full store sweeps it (before: the entry for tok went, 201; now it stays — its token
    // lives 10 min in real time — and this one finds the store full, 507)
    await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: 'sweep-trigger' });

    clock.step(0); // NTP steps it back: tok's exp is ahead again
    const a = await call(proxy, tok);
    expect(a.status, 'a revoked token accepted after the clock stepped forward and back').toBe(401);
    expect(revoked(a)).toBe(true);
  }, 60_000);
});
