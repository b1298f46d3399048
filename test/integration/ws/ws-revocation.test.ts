// Live connections end with their token, on one proxy process: a revocation at the admin API
// closes the WebSockets of that token with 1008 "token revoked" (and only those), a short-lived
// token's socket closes with 1008 "token expired" at its exp, and an SSE response streaming
// through the proxy is cut (the client sees the stream end without its last chunk); a socket opened
// with an ES256 token's twin spelling (r, n − s) closes on a revocation of the original's hash.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, bearer, chatEventsConfig, expOf, handshake, jtiOf, open, sleep, sseEvents, stream, waitReady, wsMetric, wsUrl } from './ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

describe('WebSockets and streamed responses end when their token is revoked or expires', () => {
  let as: AuthServer;
  let up: WsEchoUpstream;
  let echo: EchoUpstream;
  let proxy: ProxyProcess;
  const measured: string[] = [];

  beforeAll(async () => {
    [as, up, echo] = await Promise.all([startAuthServer(), startWsEchoUpstream(), startEchoUpstream()]);
    proxy = await startProxy(chatEventsConfig(as.issuer, up.url, echo.url, { clock_skew_s: 0 }), { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close(), echo?.close()]);
    // eslint-disable-next-line no-console
    console.log(`live-connection close delays (one proxy, local revocation store): ${measured.join('; ')}`);
  });

  it('revoking a jti closes that token\'s sockets with 1008 "token revoked"; other tokens stay connected', async () => {
    const tok = await as.issueJwt({ sub: 'alice' });
    const other = await as.issueJwt({ sub: 'alice' });
    const [a1, a2, b] = await Promise.all([open(wsUrl(proxy, '/chat/1'), [], bearer(tok)), open(wsUrl(proxy, '/chat/2'), [], bearer(tok)), open(wsUrl(proxy, '/chat/3'), [], bearer(other))]);
    for (const c of [a1, a2, b]) expect((await c.roundTrip('hi')).data.toString()).toBe('hi');
    const t0 = performance.now();
    const posted = await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok), reason: 'test' });
    expect(posted.status).toBe(201);
    const [c1, c2] = await Promise.all([a1.waitClosed(), a2.waitClosed()]);
    for (const c of [c1, c2]) expect(c).toMatchObject({ code: 1008, reason: 'token revoked' });
    measured.push(`jti revocation → 1008 ${(Math.max(c1.at, c2.at) - t0).toFixed(1)} ms`);
    // the other token's socket still relays
    expect((await b.roundTrip('still here')).data.toString()).toBe('still here');
    const upstreamCloses = () => up.closes.filter((c) => c.url === '/chat/1' || c.url === '/chat/2');
    await waitFor('upstreamCloses().length >= 2', () => upstreamCloses().length >= 2, 10_000); // the upstream process hears the closes after the client does
    expect(upstreamCloses().map((c) => c.code)).toEqual([1008, 1008]);
    // and the revoked token cannot reconnect
    const again = await handshake(wsUrl(proxy, '/chat/4'), [], bearer(tok));
    expect(again.kind === 'refused' && again.status).toBe(401);
    b.ws.close();
    await b.waitClosed();
  });

  it('revoking an ES256 token by its hash closes a socket opened with its (r, n − s) twin spelling', async () => {
    const tok = await as.issueJwt({ sub: 'twin' }, { alg: 'ES256' });
    const dot = tok.lastIndexOf('.');
    const sig = Buffer.from(tok.slice(dot + 1), 'base64url');
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
    const twinS = (n - BigInt(`0x${sig.subarray(32).toString('hex')}`)).toString(16).padStart(64, '0');
    const twin = `${tok.slice(0, dot)}.${Buffer.concat([sig.subarray(0, 32), Buffer.from(twinS, 'hex')]).toString('base64url')}`;
    const c = await open(wsUrl(proxy, '/chat/twin'), [], bearer(twin));
    expect((await c.roundTrip('hi')).data.toString()).toBe('hi');
    const hash = createHash('sha256').update(tok).digest('hex');
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'token', value: hash })).status).toBe(201);
    expect(await c.waitClosed()).toMatchObject({ code: 1008, reason: 'token revoked' });
  });

  it('revoking a subject closes every socket of that subject issued before the cut', async () => {
    const [t1, t2, t3] = await Promise.all([as.issueJwt({ sub: 'bob' }), as.issueJwt({ sub: 'bob' }), as.issueJwt({ sub: 'carol' })]);
    const [s1, s2, s3] = await Promise.all([t1, t2, t3].map((t) => open(wsUrl(proxy, '/chat/sub'), [], bearer(t))));
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'sub', value: 'bob' })).status).toBe(201);
    for (const c of [s1!, s2!]) expect(await c.waitClosed()).toMatchObject({ code: 1008, reason: 'token revoked' });
    expect((await s3!.roundTrip('carol ok')).data.toString()).toBe('carol ok');
    s3!.ws.close();
  });

  it('a short-lived token\'s socket closes with 1008 "token expired" at its exp', async () => {
    const tok = await as.issueJwt({ sub: 'dave' }, { ttlSeconds: 3 });
    const exp = expOf(tok);
    const c = await open(wsUrl(proxy, '/chat/exp'), [], bearer(tok));
    expect((await c.roundTrip('before exp')).data.toString()).toBe('before exp');
    const closed = await c.waitClosed(8_000);
    const lateMs = Date.now() - exp * 1000;
    expect(closed).toMatchObject({ code: 1008, reason: 'token expired' });
    expect(lateMs).toBeGreaterThan(-50); // not before exp (closed on the 250 ms tick after it; printed below)
    measured.push(`expiry → 1008 ${lateMs} ms after exp`);
    expect(await wsMetric(proxy, 'ended_expired_total')).toBeGreaterThanOrEqual(1);
  });

  it('an SSE response streaming through the proxy is cut when its token is revoked; another token\'s stream goes on', async () => {
    const tok = await as.issueJwt({ sub: 'erin' });
    const other = await as.issueJwt({ sub: 'erin' });
    const s = await stream(`${proxy.url}/events/sse`, bearer(tok));
    const keep = await stream(`${proxy.url}/events/sse`, bearer(other));
    expect(s.status).toBe(200);
    await waitFor('sseEvents(s) >= 2', () => sseEvents(s) >= 2, 10_000, { detail: () => 'two events of the stream reach the client' });
    const t0 = performance.now();
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok) })).status).toBe(201);
    const ended = await Promise.race([s.ended, sleep(10_000).then(() => null)]);
    expect(ended, 'the revoked stream is still open 10 s after the revocation').not.toBeNull();
    expect(ended!.complete).toBe(false); // cut, not a clean end the client could take for "done"
    measured.push(`jti revocation → SSE cut ${(ended!.at - t0).toFixed(1)} ms`);
    const n = sseEvents(keep);
    await waitFor('sseEvents(keep) > n', () => sseEvents(keep) > n, 10_000, { detail: () => 'the other token\'s stream goes on' });
    keep.destroy();
    // the access line of the cut stream comes over the proxy's stdout, after the cut
    const log = (): Record<string, unknown> | undefined => proxy.logs().find((l) => l.msg === 'request' && l.path === '/events/sse' && l.deny === 'stream_revoked');
    await waitFor('log() !== undefined', () => log() !== undefined, 10_000);
    expect(log()).toMatchObject({ status: 200 });
  });

  it('an SSE response ends at its token\'s exp', async () => {
    const tok = await as.issueJwt({ sub: 'frank' }, { ttlSeconds: 2 });
    const s = await stream(`${proxy.url}/events/sse`, bearer(tok));
    expect(s.status).toBe(200);
    const ended = await Promise.race([s.ended, sleep(6_000).then(() => null)]);
    expect(ended).not.toBeNull();
    expect(ended!.complete).toBe(false);
    const lateMs = Date.now() - expOf(tok) * 1000;
    expect(lateMs).toBeGreaterThan(-50); // not before exp
    expect(await wsMetric(proxy, 'streams_ended_expired_total')).toBe(1);
  });
});
