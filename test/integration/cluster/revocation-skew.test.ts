// A revocation entry is dropped at its expiry, but the proxy accepts a token until its `exp` plus the
// issuer's clock skew (60 s by default). Before the fix an entry swept in that window let the revoked
// token through again: `revoke --token` (entry expiry = the token's exp) and a `sub` cut (expiry =
// before + max_token_lifetime_s) both answered 200 for a revoked token in the seconds after its exp.
// A full store (max_entries: 1) sweeps at the next revocation, so the window is reached at once.
import { afterEach, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, runCli, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, revoked, startWarmProxy } from './proxy-fixtures.js';
import { sleep } from './cluster-fixtures.js';

const LIFETIME_S = 60;

describe('a revocation outlasts the clock skew its token is accepted for', () => {
  let as: AuthServer | undefined;
  let echo: EchoUpstream | undefined;
  let proxy: ProxyProcess | undefined;

  async function start(): Promise<ProxyProcess> {
    [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
    proxy = await startWarmProxy(as, echo.url, { revocation: { max_token_lifetime_s: LIFETIME_S, max_entries: 1 } }, 30);
    return proxy;
  }

  /** Wait until the clock is past `t` (epoch s), then make the full store sweep (another revocation). */
  async function sweepAfter(p: ProxyProcess, t: number): Promise<void> {
    while (Date.now() / 1000 < t + 1.2) await sleep(100);
    await admin(p, 'POST', '/revocations', { kind: 'jti', value: `sweep-trigger-${Date.now()}` });
  }

  afterEach(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), echo?.close()]);
    proxy = undefined;
  });

  it('`revoke --token` (entry expiry = the token\'s exp): still refused after exp, within the skew', async () => {
    const p = await start();
    const tok = await as!.issueJwt({ sub: 'short-lived' }, { ttlSeconds: 3 });
    expect((await call(p, tok)).status).toBe(200);
    const out = await runCli(['revoke', '--admin', p.adminUrl, '--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN', '--token', tok], ADMIN_ENV);
    expect(out.code, out.stderr).toBe(0);
    expect(revoked(await call(p, tok))).toBe(true);
    const exp = JSON.parse(Buffer.from(tok.split('.')[1]!, 'base64url').toString()).exp as number;
    await sweepAfter(p, exp);
    const a = await call(p, tok);
    expect(a.status, 'a revoked token accepted again after its exp, within the clock skew').toBe(401);
    expect(revoked(a)).toBe(true);
  });

  it('a `sub` cut (entry expiry = before + max_token_lifetime_s): a token living that long is still refused after it', async () => {
    const p = await start();
    const before = Math.floor(Date.now() / 1000) - LIFETIME_S + 4;
    const tok = await as!.issueJwt({ sub: 'cut-edge', iat: before, exp: before + LIFETIME_S });
    expect((await call(p, tok)).status).toBe(200);
    const posted = await admin(p, 'POST', '/revocations', { kind: 'sub', value: 'cut-edge', before });
    expect(posted.status).toBe(201);
    expect(revoked(await call(p, tok))).toBe(true);
    await sweepAfter(p, before + LIFETIME_S);
    const a = await call(p, tok);
    expect(a.status, 'a revoked token accepted again after the cut expired, within the clock skew').toBe(401);
    expect(revoked(a)).toBe(true);
  });
});
