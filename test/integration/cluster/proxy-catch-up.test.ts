// Catch-up across real proxy processes: C reaches nats-server only through a TCP relay
// the test cuts and restores. A token revoked at A while C is cut off is refused by C
// once it is back and caught up, and never accepted after its reconnect (with
// fail_closed_after_ms never after the restore at all); a proxy D started after the
// revocation replays the stream before its first answer and before /readyz says ready.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { busSection, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { Relay } from '../../helpers/tcp-relay.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_ENV, readyz, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { publicApiConfig, revoked } from './proxy-fixtures.js';
import { sleep } from './cluster-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV, PT_INTROSPECTION_SECRET: 'portcullis-secret' };

/** A member trusting `as` by JWT and by introspection: /api/* needs a token, /public/* does not. */
const proxyConfig = (as: AuthServer, upstream: string, cluster: Record<string, unknown>, level = 'warn'): Record<string, unknown> =>
  publicApiConfig(as, upstream, cluster, { introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET' } }, level);

interface Answer { status: number; challenge: string; sent: number; done: number }

async function call(p: ProxyProcess, token: string | null, path = '/api/x'): Promise<Answer> {
  const sent = Date.now();
  const r = await request(`${p.url}${path}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  await r.body.dump();
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? ''), sent, done: Date.now() };
}

describe('catch-up after a cut, and replay before ready, across proxy processes', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let relay: Relay;
  const proxies: ProxyProcess[] = [];
  let A: ProxyProcess;
  /** Behind the relay, default settings: keeps serving on local state while cut off. */
  let C: ProxyProcess;
  /** Behind the relay with fail_closed_after_ms: 300. */
  let F: ProxyProcess;
  let prefix = '';
  let token = '';
  let jti = '';

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    relay = await Relay.start(nats.port);
    prefix = subjectPrefix('ptc');
    const direct = proxyConfig(as, echo.url, busSection(nats.url, prefix));
    // info level: the test reads C's "NATS reconnected" line (with its time)
    const cut = proxyConfig(as, echo.url, busSection(relay.url, prefix), 'info');
    const closed = proxyConfig(as, echo.url, busSection(relay.url, prefix, { fail_closed_after_ms: 300 }), 'info');
    [A, C, F] = await Promise.all([startProxy(direct, { env: ENV }), startProxy(cut, { env: ENV }), startProxy(closed, { env: ENV })]);
    proxies.push(A, C, F);
    await Promise.all(proxies.map((p) => waitFor(`${p.url} ready`, async () => (await readyz(p)).status === 200, 20_000)));
    token = await as.issueJwt({ sub: 'cut-user' });
    jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
  });

  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await relay?.close();
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('C cut off while A revokes: refused after catch-up, never accepted after its reconnect; F (fail-closed) never after the restore', async () => {
    for (const p of proxies) expect((await call(p, token)).status).toBe(200);
    expect(relay.accepted).toBeGreaterThanOrEqual(2);

    relay.cut();
    await waitFor('C and F to notice the cut', async () => (await readyz(C)).body.cluster.bus_connected === false && (await readyz(F)).body.cluster.bus_connected === false, 5_000);
    const posted = await request(`${A.adminUrl}/revocations`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ kind: 'jti', value: jti, reason: 'while C was away' }),
    });
    expect(posted.statusCode).toBe(201);
    expect(((await posted.body.json()) as { persisted: boolean }).persisted).toBe(true);
    expect(revoked(await call(A, token))).toBe(true);

    // While cut off: C keeps serving on local state and says so (DESIGN §4) ...
    expect((await call(C, token)).status).toBe(200);
    const cz = await readyz(C);
    expect(cz.body.cluster).toMatchObject({ degraded: true, bus_connected: false });
    // ... and F, past its 300 ms, refuses auth routes with 503 but still serves auth: none
    await waitFor('F to fail closed', async () => (await call(F, token)).status === 503, 10_000);
    expect((await call(F, null, '/public/x')).status).toBe(200);
    await sleep(600);

    const restoredAt = Date.now();
    relay.restore();
    const poll = async (p: ProxyProcess): Promise<Answer[]> => {
      const seen: Answer[] = [];
      let refusals = 0;
      while (refusals < 20) {
        if (Date.now() - restoredAt > 10_000) throw new Error(`${p.url} did not refuse the token within 10 s of the restore: ${JSON.stringify(seen.slice(-5))}`);
        const a = await call(p, token);
        seen.push(a);
        if (revoked(a)) refusals++;
        else expect(refusals, `${p.url} answered ${a.status} after it had refused the token`).toBe(0);
      }
      return seen;
    };
    const [atC, atF] = await Promise.all([poll(C), poll(F)]);

    // C: the moment its bus was back (its own log line) it had to be catching up or caught up
    // (the line reaches the test asynchronously, possibly after C's refusals: waited for, then read)
    const reconnectLine = (): Record<string, unknown> | undefined => C.logs().find((l) => l.msg === 'NATS reconnected' && Number(l.time) >= restoredAt);
    await waitFor("C's 'NATS reconnected' line", () => reconnectLine() !== undefined, 5_000, { detail: () => C.output().slice(-2000) });
    const reconnect = reconnectLine();
    expect(reconnect, C.output().slice(-2000)).toBeDefined();
    const reconnectedAt = Number(reconnect!.time);
    const afterReconnect = atC.filter((a) => a.sent > reconnectedAt);
    expect(afterReconnect.length).toBeGreaterThan(0);
    expect(afterReconnect.filter((a) => a.status === 200)).toEqual([]);
    for (const a of atC) expect([200, 401, 503]).toContain(a.status);
    const servedStale = atC.filter((a) => a.status === 200);
    // every stale 200 was sent before C was connected again (still on local state by design)
    for (const a of servedStale) expect(a.sent).toBeLessThanOrEqual(reconnectedAt);

    // F: fail-closed, so not a single 200 from the restore on
    expect(atF.filter((a) => a.status === 200)).toEqual([]);
    for (const a of atF) expect([401, 503]).toContain(a.status);

    const first = (xs: Answer[]): number => xs.find(revoked)!.done - restoredAt;
    // eslint-disable-next-line no-console
    console.log(`catch-up: C reconnected ${reconnectedAt - restoredAt} ms after the restore (served ${servedStale.length} stale 200s before that, `
      + `${atC.filter((a) => a.status === 503).length}× 503 while catching up), refused ${first(atC)} ms after the restore; `
      + `F (fail-closed) refused ${first(atF)} ms after the restore after ${atF.filter((a) => a.status === 503).length}× 503`);
    for (const p of [C, F]) expect(await readyz(p)).toMatchObject({ status: 200, body: { cluster: { degraded: false, bus_connected: true, caught_up: true } } });
  });

  it('a proxy D started after the revocation refuses the token from its first answer; /readyz is never ready before the replay', async () => {
    // the token of the first test is revoked in the stream; D has never seen it
    const config = proxyConfig(as, echo.url, busSection(nats.url, prefix));
    const D = await startProxy(config, { env: ENV });
    proxies.push(D);
    const ready: Array<{ status: number; caughtUp: unknown }> = [];
    const answers: Answer[] = [];
    const t0 = Date.now();
    await Promise.all([
      (async () => {
        while (Date.now() - t0 < 10_000) {
          const r = await readyz(D);
          ready.push({ status: r.status, caughtUp: r.body.cluster?.caught_up });
          if (r.status === 200) return;
        }
      })(),
      (async () => {
        while (Date.now() - t0 < 10_000) {
          const a = await call(D, token);
          answers.push(a);
          if (revoked(a)) return;
        }
      })(),
    ]);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status === 200)).toEqual([]);
    for (const a of answers.slice(0, -1)) expect(a.status).toBe(503);
    expect(revoked(answers[answers.length - 1]!)).toBe(true);
    for (const r of ready) if (r.status === 200) expect(r.caughtUp).toBe(true);
    for (const r of ready) if (r.caughtUp !== true) expect(r.status).toBe(503);
    expect(ready[ready.length - 1]!.status).toBe(200);
    const list = await request(`${D.adminUrl}/revocations?kind=jti`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(((await list.body.json()) as { entries: Array<{ value: string }> }).entries.map((e) => e.value)).toContain(jti);
    // eslint-disable-next-line no-console
    console.log(`D: ${answers.length} answer(s) before/at the refusal (${answers.filter((a) => a.status === 503).length}× 503), /readyz samples ${ready.map((r) => r.status).join(',')}`);
  });
});
