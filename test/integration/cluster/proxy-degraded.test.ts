// A proxy process and a NATS that is not there: started without it, the proxy has no
// revocation state, so auth routes answer 503 and /readyz says why (a revocation made at its
// admin API meanwhile is kept); it connects when nats-server appears, replays, serves, and
// revocations flow both ways (including the one made while it was alone). With
// cluster.fail_closed_after_ms: 500, losing nats-server turns auth routes into 503
// after about half a second while auth: none routes keep answering 200.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { freePort, startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, jtiOf, publicApiConfig, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV };

interface Answer { status: number; challenge: string; retryAfter: string; body: string }

async function call(p: ProxyProcess, token: string | null, path = '/api/x'): Promise<Answer> {
  const r = await request(`${p.url}${path}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? ''), retryAfter: String(r.headers['retry-after'] ?? ''), body: await r.body.text() };
}

describe('a proxy process without its NATS', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  const proxies: ProxyProcess[] = [];
  const servers: Array<NatsServer & { stop(): Promise<void> }> = [];
  const prefix = (): string => subjectPrefix('ptd');
  const start = async (cluster: Record<string, unknown>): Promise<ProxyProcess> => {
    const p = await startProxy(publicApiConfig(as, echo.url, { auth: BUS_AUTH, ...cluster }), { env: ENV });
    proxies.push(p);
    return p;
  };

  beforeAll(async () => { [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]); });
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await Promise.all(servers.map((s) => s.stop()));
    await Promise.all([as?.close(), echo?.close()]);
  });

  it('unreachable at start: auth routes 503 and /readyz says degraded without state; connects when nats-server appears, replays, and revocations flow', async () => {
    const port = await freePort();
    const P = prefix();
    const cluster = { nats: { servers: [`nats://127.0.0.1:${port}`] }, subject_prefix: P, start_timeout_ms: 300 };
    const X = await start(cluster);
    const tok1 = await as.issueJwt({ sub: 'x1' });
    const tok2 = await as.issueJwt({ sub: 'x2' });
    // /readyz: keys loaded and the start wait over, but never replayed → not ready, and the body says why
    let ready: { status: number; body: any } = { status: 0, body: null };
    await waitFor('X to have its keys and be past the start wait', async () => {
      const r = await request(`${X.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      ready = { status: r.statusCode, body: await r.body.json() };
      return ready.body.keys_loaded === true && X.logs().some((l) => String(l.msg).startsWith('cluster bus unreachable at start'));
    }, 15_000);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ ready: false, keys_loaded: true, cluster: { degraded: true, bus_connected: false, caught_up: false, revocations_from: 'none' } });
    expect((await call(X, tok1)).status).toBe(503);
    expect((await call(X, tok2)).status).toBe(503);
    expect((await call(X, null, '/public/x')).status).toBe(200);
    const degradedMetric = async (): Promise<string> => {
      const m = await request(`${X.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return /^portcullis_revocations_degraded (\d+)$/m.exec(await m.body.text())?.[1] ?? 'missing';
    };
    expect(await degradedMetric()).toBe('1');

    // revoked while alone: kept here, not yet in any stream
    const alone = await admin(X, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok1) });
    expect(alone.status).toBe(201);
    expect(alone.body.persisted).toBe(false);

    const nats = await startNatsServer({ port });
    servers.push(nats);
    // Y joins meanwhile: it gets X's lone revocation (from the stream, or live when X's outbox flushes) ...
    const [connectedIn, Y] = await Promise.all([
      waitFor('X to connect and catch up', async () => {
        const r = await request(`${X.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        const b = (await r.body.json()) as { cluster: { degraded: boolean; bus_connected: boolean } };
        return r.statusCode === 200 && b.cluster.bus_connected && !b.cluster.degraded;
      }, 10_000),
      start({ nats: { servers: [nats.url] }, subject_prefix: P }),
    ]);
    expect(revoked(await call(X, tok1))).toBe(true);
    await waitFor('Y to refuse the token revoked at X while NATS was down', async () => revoked(await call(Y, tok1)), 10_000);
    // ... and a revocation at Y reaches X
    expect((await call(X, tok2)).status).toBe(200);
    const t0 = Date.now();
    expect((await admin(Y, 'POST', '/revocations', { kind: 'jti', value: jtiOf(tok2) })).status).toBe(201);
    await waitFor('X to refuse the token revoked at Y', async () => revoked(await call(X, tok2)), 10_000);
    const metrics = await request(`${X.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const text = await metrics.body.text();
    expect(text).toMatch(/^portcullis_revocations_unpersisted 0$/m);
    expect(await degradedMetric()).toBe('0');
    // eslint-disable-next-line no-console
    console.log(`degraded start: X connected and caught up ${connectedIn} ms after nats-server was up; Y→X revocation refused after ${Date.now() - t0} ms`);
  });

  it('fail_closed_after_ms: 500 — nats-server killed: auth routes answer 503 after about 0.5 s, auth: none routes stay 200; back to normal when it returns', async () => {
    const nats = await startNatsServer();
    servers.push(nats);
    const Z = await start({ nats: { servers: [nats.url] }, subject_prefix: prefix(), fail_closed_after_ms: 500 });
    const tok = await as.issueJwt({ sub: 'z' });
    await waitFor('Z to serve the token', async () => (await call(Z, tok)).status === 200, 15_000);

    const killedAt = performance.now();
    await nats.kill();
    const seen: Array<{ t: number; status: number }> = [];
    let closed: Answer | null = null;
    // a bound on the wait (≤ 10 s), not on the speed: a loaded machine notices the loss late; the delay is printed
    while (performance.now() - killedAt < 10_000) {
      const a = await call(Z, tok);
      seen.push({ t: performance.now() - killedAt, status: a.status });
      if (a.status === 503) { closed = a; break; }
      expect(a.status).toBe(200);
    }
    expect(closed, 'Z never failed closed').not.toBeNull();
    const closedAfter = seen[seen.length - 1]!.t;
    expect(closedAfter).toBeGreaterThanOrEqual(450); // not before fail_closed_after_ms (the loop above bounds the wait)
    expect(closed!.retryAfter).toMatch(/^\d+$/);
    expect(closed!.body).toContain('temporarily_unavailable');
    // stays closed for auth routes, open for auth: none
    for (let i = 0; i < 10; i++) {
      expect((await call(Z, tok)).status).toBe(503);
      expect((await call(Z, null, '/public/x')).status).toBe(200);
    }
    const rz = await request(`${Z.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(rz.statusCode).toBe(503);
    expect(await rz.body.json()).toMatchObject({ ready: false, cluster: { bus_connected: false } });

    await nats.restart();
    const reopenedIn = await waitFor('Z to serve again', async () => (await call(Z, tok)).status === 200, 10_000);
    // eslint-disable-next-line no-console
    console.log(`fail-closed: first 503 ${closedAfter.toFixed(0)} ms after the kill (${seen.length - 1} × 200 before); open again ${reopenedIn} ms after the restart`);
  });
});
