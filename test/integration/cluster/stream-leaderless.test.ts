// The revocation stream without a leader, over live connections, and back: two of three nats-servers
// paused (SIGSTOP) while members stay connected to the third past cluster.fail_closed_after_ms, a
// revocation made meanwhile. Once the servers resume and elect again, every member — one process and
// each worker of `serve --workers 2` — serves again and refuses the revoked token: the outage ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, jtiOf, memberConfig, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV };
let nats: NatsCluster;
let as: AuthServer;
let echo: EchoUpstream;
let prefix = '';
let single: ProxyProcess;
let workers: ProxyProcess;

beforeAll(async () => {
  [nats, as, echo] = await Promise.all([startNatsCluster(3), startAuthServer(), startEchoUpstream()]);
  prefix = `ptl${Math.random().toString(36).slice(2, 8)}`;
  // both on n1 only: the servers paused are the other two, the connections stay up
  const config = memberConfig(as, echo.url, { nats: { servers: [nats.urls[0]!] }, subject_prefix: prefix, auth: BUS_AUTH, fail_closed_after_ms: 1_000, heartbeat_ms: 200 });
  [single, workers] = await Promise.all([startProxy(config, { env: ENV }), startProxy(config, { env: ENV, args: ['--workers', '2'], timeoutMs: 40_000 })]);
  await Promise.all([waitReady(single), waitReady(workers)]);
}, 90_000); // a 3-node cluster, a start (40 s for --workers 2) and readiness (20 s): bounds, not a speed

afterAll(async () => {
  await Promise.all([single?.stop(), workers?.stop()]);
  await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
});

/** Six answers on fresh connections (SO_REUSEPORT spreads them over both workers). */
async function answers(p: ProxyProcess, token: string): Promise<Array<{ status: number; challenge: string }>> {
  const out = [];
  for (let i = 0; i < 6; i++) out.push(await call(p, token));
  return out;
}

/** The server leading the revocation stream as the JetStream API says ('' while there is none), asked through n1. */
async function streamLeader(): Promise<string> {
  const nc = await connect({ servers: [nats.urls[0]!], timeout: 1_000 });
  try {
    return (await (await nc.jetstreamManager({ timeout: 1_000 })).streams.info(`${prefix.toUpperCase()}_REVOCATIONS`)).cluster?.leader ?? '';
  } catch {
    return '';
  } finally {
    await nc.close();
  }
}

/** Ask the stream's leader to step down (a leader on n1 would keep answering with its own state while the others are paused). */
async function stepDown(): Promise<void> {
  const nc = await connect({ servers: [nats.urls[0]!], timeout: 1_000 });
  try {
    await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${prefix.toUpperCase()}_REVOCATIONS`, undefined, { timeout: 2_000 }).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

describe('a leaderless revocation stream over live connections', () => {
  it('every member, each worker too, serves again and refuses a revocation made meanwhile once the servers elect again', async () => {
    const fine = await as.issueJwt({ sub: 'fine' });
    const doomed = await as.issueJwt({ sub: 'doomed' });
    for (const p of [single, workers]) await waitFor(`${p.url} to serve`, async () => (await answers(p, fine)).every((a) => a.status === 200), 20_000);
    await waitFor('the stream to be led by n2 or n3', async () => {
      const leader = await streamLeader();
      if (leader === 'n1') await stepDown();
      return leader === 'n2' || leader === 'n3';
    }, 20_000, { everyMs: 250 });

    nats.servers[1]!.pause();
    nats.servers[2]!.pause();
    // n1 alone has no quorum: past fail_closed_after_ms every member answers 503
    for (const p of [single, workers]) await waitFor(`${p.url} to hold requests`, async () => (await answers(p, fine)).every((a) => a.status === 503), 20_000);
    const r = await admin(single, 'POST', '/revocations', { kind: 'jti', value: jtiOf(doomed) });
    expect(r.status).toBe(201);

    nats.servers[1]!.resume();
    nats.servers[2]!.resume();
    const t0 = performance.now();
    // bounds for the wait, not speeds: the servers elect a stream and a cluster leader again (seconds)
    const back = await Promise.all([single, workers].map(async (p) => {
      await waitFor(`${p.url} to serve again`, async () => (await answers(p, fine)).every((a) => a.status === 200), 30_000, { everyMs: 50, detail: () => p.output().slice(-3000) });
      await waitFor(`${p.url} to refuse the token revoked meanwhile`, async () => (await answers(p, doomed)).every(revoked), 10_000);
      return Math.round(performance.now() - t0);
    }));
    // the member's outbox stored it once the stream had a leader: a member started later replays it
    await waitFor('the revocation made meanwhile to be in the stream', async () => {
      const m = await request(`${single.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return /^portcullis_revocations_unpersisted 0$/m.test(await m.body.text());
    }, 10_000);
    // eslint-disable-next-line no-console
    console.log(`revocation during the leaderless window persisted=${String(r.body.persisted)}; serving again ${back.join(' / ')} ms after the servers resumed (single / --workers 2)`);
  }, 150_000); // the waits' bounds (vitest's 30 s default cut them short: 17 s on CI, 10 s idle), not a speed
});
