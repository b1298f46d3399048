// Revocation across proxy processes on a three-node NATS cluster (JetStream, R3 stream):
// each proxy is pointed at a different node. The stream leader's node is killed while requests run
// and a survivor's proxy stalls (SIGSTOP) during the election; a revocation made afterwards at a proxy on
// a surviving node is refused by every proxy (the one whose node died fails over to a survivor and catches up),
// the survivors never refuse a valid token, and nothing is lost: every proxy lists both revocations and the
// stream acked the one made during the election.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, jtiOf, memberConfig, metric, revoked } from './proxy-fixtures.js';
import { sleep } from './cluster-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV, PT_INTROSPECTION_SECRET: 'portcullis-secret' };

/** `refusal`: a 503's message, which names the rule that refused (e.g. "revocations are being replayed"). */
interface Answer { status: number; challenge: string; refusal: string }

async function call(p: ProxyProcess, token: string): Promise<Answer> {
  const r = await request(`${p.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
  const refusal = r.statusCode === 503 ? String((await r.body.json() as { message?: unknown }).message) : '';
  if (r.statusCode !== 503) await r.body.dump();
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? ''), refusal };
}


describe('proxies on a three-node NATS cluster', () => {
  let nats: NatsCluster;
  let as: AuthServer;
  let echo: EchoUpstream;
  let prefix = '';
  const proxies: ProxyProcess[] = [];

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsCluster(3), startAuthServer(), startEchoUpstream()]);
    prefix = `ptn${Math.random().toString(36).slice(2, 8)}`;
    // proxy i is given node i only; it learns the others from the cluster for failover
    const started = await Promise.all(nats.urls.map((u) => startProxy(memberConfig(as, echo.url, { nats: { servers: [u] }, subject_prefix: prefix, auth: BUS_AUTH, heartbeat_ms: 200 }), { env: ENV })));
    proxies.push(...started);
    await Promise.all(proxies.map((p) => waitFor(`${p.url} ready`, async () => (await request(`${p.adminUrl}/readyz`).then(async (r) => { await r.body.dump(); return r.statusCode; })) === 200, 20_000)));
  });

  afterAll(async () => {
    for (const p of proxies) try { process.kill(p.proc.pid!, 'SIGCONT'); } catch { /* gone */ }
    await Promise.all(proxies.map((p) => p.stop()));
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  /** Name of the server leading the revocation stream (e.g. "n2"). */
  async function streamLeader(): Promise<string> {
    const nc = await connect({ servers: nats.urls.filter((_, i) => nats.servers[i]!.running()) });
    try {
      const info = await (await nc.jetstreamManager()).streams.info(`${prefix.toUpperCase()}_REVOCATIONS`);
      return info.cluster?.leader ?? '';
    } finally {
      await nc.close();
    }
  }

  it('the stream leader\'s node dies under load; a revocation made afterwards on a survivor reaches every proxy and none is lost', async () => {
    // the worst node to lose: the one leading the R3 revocation stream (and its proxy's only configured server)
    // the R3 stream may still be electing its first leader just after the proxies became ready
    let leader = '';
    await waitFor('the revocation stream to have a leader', async () => {
      leader = await streamLeader().catch(() => '');
      return nats.servers.some((s) => s.name === leader);
    }, 15_000);
    const victim = nats.servers.findIndex((s) => s.name === leader);
    expect(victim, `stream leader "${leader}" is one of the servers`).toBeGreaterThanOrEqual(0);
    const orphan = proxies[victim]!; // its only configured server is the one that dies
    const revoker = proxies[(victim + 1) % 3]!;
    // the other survivor's loop stalls while the stream elects its new leader: its catch-up asks a stream that does not answer
    const stalled = proxies[(victim + 2) % 3]!;
    const before = await as.issueJwt({ sub: 'before-kill' });
    const after = await as.issueJwt({ sub: 'after-kill' });
    const fine = await as.issueJwt({ sub: 'fine' });
    for (const p of proxies) for (const t of [before, after, fine]) expect((await call(p, t)).status).toBe(200);

    const r1 = await admin(orphan, 'POST', '/revocations', { kind: 'jti', value: jtiOf(before) });
    expect(r1.status).toBe(201);
    // waits, not speed bounds (the delays are printed; a loaded CI member can take seconds)
    for (const p of proxies) await waitFor(`${p.url} to refuse the first token`, async () => revoked(await call(p, before)), 10_000);

    // requests keep running on every proxy while the leader's node is killed
    let load = true;
    const statuses = proxies.map(() => new Map<number, number>());
    const refusals = proxies.map(() => new Set<string>());
    const loops = proxies.map(async (p, i) => {
      while (load) {
        const a = await call(p, fine);
        statuses[i]!.set(a.status, (statuses[i]!.get(a.status) ?? 0) + 1);
        if (a.refusal !== '') refusals[i]!.add(a.refusal);
        await sleep(2);
      }
    });
    await sleep(200);
    await nats.servers[victim]!.kill();
    // 700 ms: past the 500 ms after which a member catches up with the bus before it judges again
    process.kill(stalled.proc.pid!, 'SIGSTOP');
    const resumed = sleep(700).then(() => { process.kill(stalled.proc.pid!, 'SIGCONT'); });

    const t0 = Date.now();
    let postMs = 0;
    const [r2, ...refusedAt] = await Promise.all([
      admin(revoker, 'POST', '/revocations', { kind: 'jti', value: jtiOf(after), reason: 'after the node died' }).then((r) => { postMs = Date.now() - t0; return r; }),
      ...proxies.map(async (p) => {
        await waitFor(`${p.url} to refuse the second token`, async () => revoked(await call(p, after)), p === orphan ? 12_000 : 10_000);
        return Date.now() - t0;
      }),
    ]);
    await resumed;
    expect(r2.status).toBe(201);
    await sleep(200);
    load = false;
    await Promise.all(loops);

    // the survivors' proxies never stopped serving the valid token — the stalled one too: its catch-up took the round trip
    // on its own live connection, not an answer from a stream without a leader (before: 503 "…caught up after a stall");
    // the orphan only paused (503) while it failed over and caught up
    expect(await metric(stalled, 'portcullis_revocations_bus_stalls_total'), 'the stopped survivor saw its stall').toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) if (i !== victim) expect([...statuses[i]!.keys()], `proxy on ${nats.servers[i]!.name}${proxies[i] === stalled ? ' (stalled 700 ms)' : ''} refused: ${[...refusals[i]!].join('; ')}`).toEqual([200]);
    for (const s of statuses[victim]!.keys()) expect([200, 503]).toContain(s);
    expect(statuses[victim]!.get(200) ?? 0).toBeGreaterThan(0);

    // nothing lost: every proxy lists both, and still refuses the first token. The orphan may have
    // taken the second revocation from the core-NATS fan-out and still be catching up from the
    // stream (503 while the R3 stream elects its new leader), so it is given until it is ready.
    const ids = [r1.body.revocation.id as string, r2.body.revocation.id as string];
    for (const p of proxies) {
      if (p === orphan) await waitFor('the orphan to finish catching up', async () => (await call(p, fine)).status === 200, 12_000);
      const list = await admin(p, 'GET', '/revocations?kind=jti');
      expect(list.body.entries.map((e: { id: string }) => e.id)).toEqual(expect.arrayContaining(ids));
      const first = await call(p, before);
      expect(revoked(first), `${p === orphan ? 'the orphan' : 'a survivor'} answered the first revoked token ${first.status} ${first.challenge}`).toBe(true);
      expect((await call(p, fine)).status).toBe(200);
    }
    // and the stream has it too: the revoker's outbox retried until the new stream leader acked it
    // (a proxy started later replays it; proxy-catch-up checks replay before ready)
    await waitFor('the stream to ack the second revocation', async () => {
      const m = await request(`${revoker.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return /^portcullis_revocations_unpersisted 0$/m.test(await m.body.text());
    }, 10_000);
    // eslint-disable-next-line no-console
    console.log(`stream leader ${leader} killed: second revocation (POST answered in ${postMs} ms, persisted=${String(r2.body.persisted)}) refused at proxies on n1/n2/n3 after ${refusedAt.join('/')} ms; `
      + `the proxy on ${leader} answered ${statuses[victim]!.get(503) ?? 0}× 503 and ${statuses[victim]!.get(200) ?? 0}× 200 during the failover`);
  });
});
