// The direct revocation push (`cluster.revocation.direct`) between three `portcullis serve`
// processes on a real nats-server: a revocation at one member is refused at the others and
// their metrics show it arrived by the direct push (counted once however many copies came);
// forged frames to a member's direct port change nothing, are counted and close the
// connection while the member keeps serving; a killed peer does not stop delivery to the third;
// an authentic revocation this build cannot read, pushed direct, closes the gate as its NATS copy
// does; the config is refused without NATS or without hmac.
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { BusAuth, Codec, revocationAdded, subjects } from '../../../cluster/protocol/index.js';
import { encodeDirectFrame } from '../../../cluster/transport/index.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, BUS_KEY, runCli, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { nextBuildRevocation } from './next-build.js';
import { admin, call, jtiOf, memberConfig, metric, revokeAtFirst, revoked } from './proxy-fixtures.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV };

/** The member's direct push address as `/readyz` shows it. */
async function directAddress(p: ProxyProcess): Promise<{ host: string; port: number }> {
  const r = await request(`${p.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const body = (await r.body.json()) as { cluster?: { direct?: string } };
  const m = /^(.*):(\d+)$/.exec(body.cluster?.direct ?? '');
  if (m === null) throw new Error(`no direct address in /readyz: ${JSON.stringify(body)}`);
  return { host: m[1]!, port: Number(m[2]) };
}


/** Open a connection to `addr`, write `bytes` (reading what the member sends), resolve true once the member closed it (false: still open after 3 s). */
function sendRaw(addr: { host: string; port: number }, bytes: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(addr, () => s.write(bytes));
    const t = setTimeout(() => { s.destroy(); resolve(false); }, 3_000);
    s.on('error', () => {});
    // the member writes its challenge first: read it, or the FIN behind it is never seen
    s.on('data', () => {});
    s.on('close', () => { clearTimeout(t); resolve(true); });
  });
}

describe('direct revocation push between three members', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let prefix = '';
  const members: ProxyProcess[] = [];

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    prefix = `ptd${Math.random().toString(36).slice(2, 8)}`;
    const cluster = { nats: { servers: [nats.url] }, subject_prefix: prefix, auth: BUS_AUTH, heartbeat_ms: 200, revocation: { direct: { listen: '127.0.0.1:0' } } };
    // the three at once, each pushed as soon as it listens (afterAll stops what started); one after another, the
    // starts alone took ~20 s of the hook's 60 s on the loaded CI run 1
    await Promise.all([0, 1, 2].map(async () => { members.push(await startProxy(memberConfig(as, echo.url, cluster), { env: ENV })); }));
    await Promise.all(members.map((p) => waitFor(`${p.url} ready`, async () => (await request(`${p.adminUrl}/readyz`).then(async (r) => { await r.body.dump(); return r.statusCode; })) === 200, 20_000)));
    // every member connected to both others
    await Promise.all(members.map((p) => waitFor(`${p.url} direct peers`, async () => (await metric(p, 'portcullis_revocation_direct_peers', 'state="connected"')) === 2, 15_000)));
  }, 90_000); // the waits' bounds (a start 30 s, ready 20 s, peers 15 s), not a speed

  afterAll(async () => {
    await Promise.all(members.map((p) => p.stop()));
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('a revocation at one member is refused at the others, arriving direct, counted once', async () => {
    const rounds = 5;
    const [p0, p1, p2] = members as [ProxyProcess, ProxyProcess, ProxyProcess];
    await revokeAtFirst(members, () => as.issueJwt({ scope: 'read' }), rounds);
    for (const p of [p1, p2]) {
      // both copies arrive, in either order (a loaded sender's push can trail the NATS message); the
      // first one is applied and timed, the second is a duplicate
      await waitFor('both copies at the receiver', async () => (await metric(p, 'portcullis_revocations_arrivals_total', 'path="live"')) === rounds
        && (await metric(p, 'portcullis_revocations_arrivals_total', 'path="direct"')) === rounds, 10_000);
      expect(await metric(p, 'portcullis_revocations_first_arrivals_total')).toBe(rounds);
      expect(await metric(p, 'portcullis_revocation_propagation_seconds_count')).toBe(rounds);
      expect(await metric(p, 'portcullis_revocations_applied_total', 'kind="jti"')).toBe(rounds);
      expect(await metric(p, 'portcullis_revocations_first_arrivals_total', 'path="direct"')).toBeGreaterThan(0);
    }
    expect(await metric(p0, 'portcullis_revocation_direct_frames_total', 'outcome="sent"')).toBe(rounds * 2);
    expect(await metric(p0, 'portcullis_revocations_arrivals_total')).toBe(0);
  });

  it('forged frames to a direct port change nothing, are counted and close the connection; the member keeps serving', async () => {
    const p1 = members[1]!;
    const addr = await directAddress(p1);
    const token = await as.issueJwt({ scope: 'read' });
    expect((await call(p1, token)).status).toBe(200);
    const codec = new Codec();
    const subj = subjects(prefix);
    const msg = revocationAdded({
      id: `forged-${jtiOf(token)}`, kind: 'jti', value: jtiOf(token), issuer: null, before: null,
      expiresAt: Math.floor(Date.now() / 1000) + 600, reason: 'forged', createdAt: Date.now(), origin: 'attacker',
    }, Date.now());
    const payload = codec.encode(msg);
    const subject = subj.revocation('jti');
    const wrongKey = new BusAuth({ key: Buffer.alloc(48, 7) });
    const rightKey = new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') });
    const oversized = Buffer.alloc(8);
    oversized.writeUInt32BE(1 << 20, 0);
    const cases: Array<[string, Buffer]> = [
      ['unknown_key', encodeDirectFrame(subject, wrongKey.seal(subject, payload))],
      ['unsigned', encodeDirectFrame(subject, payload)],
      // authentic, but not a revocation subject: the direct port carries revocations only
      ['subject', encodeDirectFrame(subj.members, rightKey.seal(subj.members, payload))],
      // authentic and sealed for the subject it names, but a jti revocation on the sub subject: a frame's kind is its subject's
      ['subject', encodeDirectFrame(subj.revocation('sub'), rightKey.seal(subj.revocation('sub'), payload))],
      // sealed for another subject than the frame names: the MAC is bound to the subject
      ['bad_mac', encodeDirectFrame(subj.revocation('sub'), rightKey.seal(subject, payload))],
      // a captured frame replayed after the freshness window (max_age_ms, 30 s)
      ['stale', encodeDirectFrame(subject, rightKey.seal(subject, payload, null, Date.now() - 60_000))],
      ['oversized', oversized],
      ['malformed', Buffer.from([0, 0, 0, 3, 0, 9, 0x41])],
    ];
    for (const [reason, bytes] of cases) {
      const before = await metric(p1, 'portcullis_revocation_direct_refused_total', `reason="${reason}"`);
      expect(await sendRaw(addr, bytes), `${reason}: connection closed`).toBe(true);
      await waitFor(`${reason} counted`, async () => (await metric(p1, 'portcullis_revocation_direct_refused_total', `reason="${reason}"`)) === before + 1, 5_000);
    }
    expect((await call(p1, token)).status).toBe(200);
    expect((await admin(p1, 'GET', '/revocations')).body.entries?.some((e: { value: string }) => e.value === jtiOf(token)) ?? false).toBe(false);
    // the line reaches the test after the counter it waited for: waited for too
    const refusedLine = (): boolean => p1.logs().some((l) => l.msg === 'direct revocation push: frame refused, connection closed' && l.reason === 'unknown_key');
    await waitFor('the unknown_key refusal logged', refusedLine, 5_000, { detail: () => p1.output().slice(-2000) });
    expect(refusedLine()).toBe(true);
    expect(p1.output()).not.toContain(BUS_KEY);
  });

  it('a killed peer does not stop delivery to the third', async () => {
    const [p0, p1, p2] = members as [ProxyProcess, ProxyProcess, ProxyProcess];
    p2.proc.kill('SIGKILL');
    await p2.exited;
    const before = await metric(p1, 'portcullis_revocations_arrivals_total', 'path="direct"');
    for (let i = 0; i < 3; i++) {
      const token = await as.issueJwt({ scope: 'read' });
      expect((await call(p1, token)).status).toBe(200);
      expect((await admin(p0, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) })).status).toBe(201);
      await waitFor('revoked at the third member', async () => revoked(await call(p1, token)), 10_000);
    }
    // the NATS copy may have revoked it first: the direct copy of the last one can still be on its way
    await waitFor('all three pushed directly', async () => (await metric(p1, 'portcullis_revocations_arrivals_total', 'path="direct"')) >= before + 3, 10_000);
    expect(await metric(p1, 'portcullis_revocations_arrivals_total', 'path="direct"')).toBe(before + 3);
    expect(p0.proc.exitCode).toBeNull();
  });

  it('an authentic revocation this build cannot read, pushed direct, closes the gate as its NATS copy does (regression)', async () => {
    // last in this suite: the member it reaches stays closed until the revocation could have expired
    const [p0, p1] = members as [ProxyProcess, ProxyProcess];
    const token = await as.issueJwt({ scope: 'read' });
    expect((await call(p1, token)).status).toBe(200);
    const subject = subjects(prefix).revocation('jti');
    const frame = encodeDirectFrame(subject, new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') }).seal(subject, nextBuildRevocation(jtiOf(token))));
    const s = tcpConnect(await directAddress(p1), () => s.write(frame));
    s.on('error', () => {});
    s.on('data', () => {});
    try {
      // before: refused as malformed (connection closed) and the member kept answering 200
      await waitFor('the member that got it direct closed', async () => (await call(p1, token)).status === 503, 10_000);
      const r = await request(`${p1.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(r.statusCode).toBe(503);
      expect(await r.body.text()).toContain('revocations_incomplete');
      expect(await metric(p1, 'portcullis_revocations_unreadable')).toBe(1);
      // only the direct port carried it: the member it was not sent to still serves
      expect((await call(p0, token)).status).toBe(200);
    } finally {
      s.destroy();
    }
  });
});

describe('cluster.revocation.direct config', () => {
  it('is refused without hmac bus authentication, without NATS and beside a TLS bus, naming the path', async () => {
    const base = { server: { listen: { host: '127.0.0.1', port: 0 } }, upstreams: { app: { targets: ['http://127.0.0.1:9'] } }, routes: [{ name: 'r', match: { path: '/*' }, upstream: 'app' }] };
    // the three checks run side by side: each is a CLI start (seconds on a loaded machine)
    const [none, noNats, tls] = await Promise.all([
      runCli(['check-config', writeConfig({ ...base, cluster: { nats: { servers: ['nats://127.0.0.1:4222'] }, auth: { mode: 'none' }, revocation: { direct: {} } } })]),
      runCli(['check-config', writeConfig({ ...base, cluster: { revocation: { direct: { listen: '127.0.0.1:0' } } } })]),
      // an encrypted bus must not get a plaintext side channel carrying the same revocations
      runCli(['check-config', writeConfig({ ...base, cluster: { nats: { servers: ['nats://127.0.0.1:4222'], tls: true }, auth: { mode: 'hmac', key_env: 'PORTCULLIS_TEST_BUS_KEY' }, revocation: { direct: {} } } })]),
    ]);
    expect(none.code).not.toBe(0);
    expect(none.stdout + none.stderr).toMatch(/cluster\.revocation\.direct.*hmac/);
    expect(noNats.code).not.toBe(0);
    expect(noNats.stdout + noNats.stderr).toMatch(/cluster\.revocation\.direct.*cluster\.nats/);
    expect(tls.code).not.toBe(0);
    expect(tls.stdout + tls.stderr).toMatch(/cluster\.revocation\.direct.*cluster\.nats\.tls/);
  });
});

describe('direct revocation push to a member with --workers 2', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let single: ProxyProcess;
  let workers: ProxyProcess;
  const prefix = `ptw${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream()]);
    const cluster = (listen: string): Record<string, unknown> => ({ nats: { servers: [nats.url] }, subject_prefix: prefix, auth: BUS_AUTH, heartbeat_ms: 200, revocation: { direct: { listen } } });
    // the workers get a fixed port P: worker 0 binds P, worker 1 P + 1
    const fixed = await freePort(2);
    // one after the other: a start that fails leaves nothing running behind afterAll's back
    single = await startProxy(memberConfig(as, echo.url, cluster('127.0.0.1:0')), { env: ENV });
    workers = await startProxy(memberConfig(as, echo.url, cluster(`127.0.0.1:${fixed}`)), { env: ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
    for (const p of [single, workers]) {
      await waitFor(`${p.url} ready`, async () => (await request(`${p.adminUrl}/readyz`).then(async (r) => { await r.body.dump(); return r.statusCode; })) === 200, 20_000);
    }
    // each worker listens on a port of its own (P and P + 1): the single member connects to both
    await waitFor('direct peers of the single member', async () => (await metric(single, 'portcullis_revocation_direct_peers', 'state="connected"')) === 2, 15_000);
  }, 120_000); // two starts one after the other (30 s, and 40 s for --workers 2), ready and peers: bounds, not a speed

  afterAll(async () => {
    await Promise.all([single?.stop(), workers?.stop()]);
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  it('a revocation at the single member reaches both workers directly', async () => {
    const token = await as.issueJwt({ scope: 'read' });
    expect((await call(workers, token)).status).toBe(200);
    expect((await admin(single, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token) })).status).toBe(201);
    await waitFor('both workers got the direct copy', async () => (await metric(workers, 'portcullis_revocations_arrivals_total', 'path="direct"')) === 2, 10_000);
    // fresh connections spread over both workers: every one refuses
    for (let i = 0; i < 8; i++) {
      const r = await request(`${workers.url}/api/w/${i}`, { headers: { authorization: `Bearer ${token}`, connection: 'close' } });
      await r.body.dump();
      expect(revoked({ status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? '') })).toBe(true);
    }
    expect(await metric(single, 'portcullis_revocation_direct_frames_total', 'outcome="sent"')).toBe(2);
  });
});
