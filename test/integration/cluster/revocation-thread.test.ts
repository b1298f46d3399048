// The revocation receiver thread (`cluster.revocation.receiver: thread`) between three
// `portcullis serve` processes on a real nats-server: a revocation at one member is refused at
// the others and their metrics show the thread path (every copy counted, applied once); forged
// and unsigned messages on the revocation subject never reach the ring (counted by reason, the
// member keeps serving); with the threads' NATS connections cut, the main thread's own
// subscription still revokes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as natsConnect } from 'nats';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { BusAuth, Codec, revocationAdded, subjects } from '../../../cluster/protocol/index.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { familyTypes, promtoolCheck } from '../../helpers/promtool.js';
import { admin, call, jtiOf, memberConfig, metric, revokeAtFirst, revoked } from './proxy-fixtures.js';
import { startNatsRelay, type NatsRelay } from './revocation-thread-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV };

describe('revocation receiver thread, three members', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let relay: NatsRelay;
  let as: AuthServer;
  let echo: EchoUpstream;
  let prefix = '';
  const members: ProxyProcess[] = [];

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    relay = await startNatsRelay(nats.port);
    prefix = `ptr${Math.random().toString(36).slice(2, 8)}`;
    const cluster = { nats: { servers: [relay.url] }, subject_prefix: prefix, auth: BUS_AUTH, revocation: { receiver: 'thread' } };
    for (let i = 0; i < 3; i++) members.push(await startProxy(memberConfig(as, echo.url, cluster), { env: ENV }));
    for (const p of members) {
      await waitFor(`${p.url} ready`, async () => (await request(`${p.adminUrl}/readyz`).then(async (r) => { await r.body.dump(); return r.statusCode; })) === 200, 20_000);
      await waitFor(`${p.url} receiver thread connected`, async () => (await metric(p, 'portcullis_revocation_receiver_threads', 'state="connected"')) === 1, 15_000);
    }
  });

  afterAll(async () => {
    await Promise.all(members.map((p) => p.stop()));
    await relay?.close();
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('a revocation at one member is refused at the others, through the thread, applied once', async () => {
    const rounds = 5;
    const [p0, p1, p2] = members as [ProxyProcess, ProxyProcess, ProxyProcess];
    await revokeAtFirst(members, () => as.issueJwt({ scope: 'read' }), rounds);
    for (const p of [p1, p2]) {
      // both copies arrive (the thread's and the main thread's NATS message); the first is applied and timed
      await waitFor('both copies at the receiver', async () => (await metric(p, 'portcullis_revocations_arrivals_total', 'path="thread"')) === rounds
        && (await metric(p, 'portcullis_revocations_arrivals_total', 'path="live"')) === rounds, 10_000);
      expect(await metric(p, 'portcullis_revocations_first_arrivals_total')).toBe(rounds);
      expect(await metric(p, 'portcullis_revocations_applied_total', 'kind="jti"')).toBe(rounds);
      expect(await metric(p, 'portcullis_revocation_propagation_seconds_count')).toBe(rounds);
      expect(await metric(p, 'portcullis_revocation_visible_seconds_count')).toBe(rounds);
      expect(await metric(p, 'portcullis_revocation_receiver_records_total', 'outcome="drained"')).toBe(rounds);
    }
    // the origin's own thread also gets its message: a duplicate, never an arrival from another member
    expect(await metric(p0, 'portcullis_revocations_arrivals_total')).toBe(0);
    const health = (await (await request(`${p1.adminUrl}/healthz`)).body.json()) as { status: string; revocation_receiver?: { thread: string; nats_connected: boolean } };
    expect(health.status).toBe('ok');
    expect(health.revocation_receiver).toMatchObject({ thread: 'running', nats_connected: true });
    // the new families are Prometheus text the reference linter accepts, with the thread's CPU in them
    const text = await (await request(`${p1.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
    expect(promtoolCheck(text)).toEqual({ status: 0, output: '' });
    expect(familyTypes(text).get('portcullis_revocation_visible_seconds')).toBe('histogram');
    expect(familyTypes(text).get('portcullis_revocation_receiver_cpu_seconds_total')).toBe('counter');
  });

  it('forged and unsigned messages on the revocation subject never reach the ring; counted; the member keeps serving', async () => {
    const p1 = members[1]!;
    const token = await as.issueJwt({ scope: 'read' });
    expect((await call(p1, token)).status).toBe(200);
    const drained = await metric(p1, 'portcullis_revocation_receiver_records_total', 'outcome="drained"');
    const before = { unsigned: await metric(p1, 'portcullis_revocation_receiver_refused_total', 'reason="unsigned"'), bad_mac: await metric(p1, 'portcullis_revocation_receiver_refused_total', 'reason="bad_mac"') };
    const codec = new Codec();
    const subject = subjects(prefix).revocation('jti');
    const payload = codec.encode(revocationAdded({
      id: `forged-${jtiOf(token)}`, kind: 'jti', value: jtiOf(token), issuer: null, before: null,
      expiresAt: Math.floor(Date.now() / 1000) + 600, reason: 'forged', createdAt: Date.now(), origin: 'attacker',
    }, Date.now()));
    const nc = await natsConnect({ servers: nats.url });
    try {
      nc.publish(subject, payload); // no envelope
      nc.publish(subject, new BusAuth({ key: Buffer.alloc(48, 7) }).seal(subject, payload)); // another key: refused as unknown key…
      // …and the right key id with a wrong MAC
      const forged = new BusAuth({ key: Buffer.from(BUS_ENV.PT_BUS_KEY, 'utf8') }).seal(subject, payload);
      forged[forged.length - 1]! ^= 0xff;
      nc.publish(subject, forged);
      await nc.flush();
    } finally {
      await nc.close();
    }
    await waitFor('the thread counted the forgeries', async () => (await metric(p1, 'portcullis_revocation_receiver_refused_total', 'reason="unsigned"')) === before.unsigned + 1
      && (await metric(p1, 'portcullis_revocation_receiver_refused_total', 'reason="unknown_key"')) >= 1
      && (await metric(p1, 'portcullis_revocation_receiver_refused_total', 'reason="bad_mac"')) === before.bad_mac + 1, 10_000);
    expect(await metric(p1, 'portcullis_revocation_receiver_records_total', 'outcome="drained"')).toBe(drained);
    expect((await call(p1, token)).status).toBe(200);
    expect(await metric(p1, 'portcullis_revocation_receiver_threads', 'state="running"')).toBe(1);
  });

  it('with the threads\' NATS connections cut, the main thread still revokes; the threads come back', async () => {
    const [p0, p1, p2] = members as [ProxyProcess, ProxyProcess, ProxyProcess];
    relay.cutReceivers(true);
    for (const p of [p1, p2]) await waitFor(`${p.url} thread disconnected`, async () => (await metric(p, 'portcullis_revocation_receiver_threads', 'state="connected"')) === 0, 10_000);
    const viaThread = await metric(p1, 'portcullis_revocations_arrivals_total', 'path="thread"');
    const token = await as.issueJwt({ scope: 'read' });
    for (const p of members) expect((await call(p, token)).status).toBe(200);
    expect((await admin(p0, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) })).status).toBe(201);
    for (const p of [p1, p2]) await waitFor(`revoked at ${p.url} without its thread`, async () => revoked(await call(p, token)), 10_000);
    expect(await metric(p1, 'portcullis_revocations_arrivals_total', 'path="thread"')).toBe(viaThread);
    const health = (await (await request(`${p1.adminUrl}/healthz`)).body.json()) as { status: string; revocation_receiver?: { nats_connected: boolean } };
    expect(health.status).toBe('ok');
    expect(health.revocation_receiver?.nats_connected).toBe(false);
    relay.cutReceivers(false);
    for (const p of [p1, p2]) await waitFor(`${p.url} thread reconnected`, async () => (await metric(p, 'portcullis_revocation_receiver_threads', 'state="connected"')) === 1, 15_000);
    expect(relay.refused).toBeGreaterThan(0);
  });
});

describe('cluster.revocation.receiver in the config', () => {
  it('is refused when not main or thread', async () => {
    const { runCli, writeConfig } = await import('../../helpers/proxy-process.js');
    const as = await startAuthServer();
    try {
      const path = writeConfig(memberConfig(as, 'http://127.0.0.1:9', { nats: { servers: ['nats://127.0.0.1:4222'] }, auth: BUS_AUTH, revocation: { receiver: 'worker' } }));
      const r = await runCli(['check-config', path], ENV);
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/cluster\.revocation\.receiver/);
    } finally {
      await as.close();
    }
  });
});

