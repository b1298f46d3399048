// A revocation entry is dropped at its expiry, but the proxy accepts a token until its `exp` plus the
// issuer's clock skew (60 s by default). Before the fix an entry swept in that window let the revoked
// token through again: `revoke --token` (entry expiry = the token's exp) and a `sub` cut (expiry =
// before + max_token_lifetime_s) both answered 200 for a revoked token in the seconds after its exp.
// A full store (max_entries: 1) sweeps at the next revocation, so the window is reached at once.
// The entry's stay past its expiry follows the issuers' clock_skew_s (up to 600 s): in the store, after
// a reload that raises it (a NATS member reads the stream again for what it dropped), and in the
// JetStream stream a later member replays (an older release's shorter stream is raised, or reported).
import { describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { RevocationStream } from '../../../cluster/revocation/index.js';
import { subjects } from '../../../cluster/protocol/index.js';
import { busSection, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, startNatsServerWithConfig, type NatsPlaces, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_ENV, readyz, reloadWith, runCli, startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, jtiOf, memberConfig, metric, revoked, startWarmProxy } from './proxy-fixtures.js';
import { sleep } from './cluster-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const LIFETIME_S = 60;

// Each case has its own authorization server, upstream and proxy; the cases (and the suite below)
// run side by side: each waits seconds for a token's exp to pass. 60 s each: a start among the
// file's eight took up to 25 s on the loaded 2-core machine (one case ran past the default 30 s).
describe.concurrent('a revocation outlasts the clock skew its token is accepted for', () => {
  /** A case's own authorization server, upstream and proxy (full store: max_entries 1), stopped when the case ends. */
  async function start(onTestFinished: (fn: () => Promise<void>) => void): Promise<{ as: AuthServer; p: ProxyProcess }> {
    const [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
    let proxy: ProxyProcess | undefined;
    onTestFinished(async () => {
      await proxy?.stop();
      await Promise.all([as.close(), echo.close()]);
    });
    proxy = await startWarmProxy(as, echo.url, { revocation: { max_token_lifetime_s: LIFETIME_S, max_entries: 1 } }, 30);
    return { as, p: proxy };
  }

  /** Wait until the clock is past `t` (epoch s), then make the full store sweep (another revocation). */
  async function sweepAfter(p: ProxyProcess, t: number): Promise<void> {
    while (Date.now() / 1000 < t + 1.2) await sleep(100);
    await admin(p, 'POST', '/revocations', { kind: 'jti', value: `sweep-trigger-${Date.now()}` });
  }

  it('`revoke --token` (entry expiry = the token\'s exp): still refused after exp, within the skew', async ({ onTestFinished }) => {
    const { as, p } = await start(onTestFinished);
    // 6 s: the revoke CLI (a process of its own) runs while the other cases start theirs
    const tok = await as.issueJwt({ sub: 'short-lived' }, { ttlSeconds: 6 });
    expect((await call(p, tok)).status).toBe(200);
    const out = await runCli(['revoke', '--admin', p.adminUrl, '--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN', '--token', tok], ADMIN_ENV);
    expect(out.code, out.stderr).toBe(0);
    expect(revoked(await call(p, tok))).toBe(true);
    const exp = JSON.parse(Buffer.from(tok.split('.')[1]!, 'base64url').toString()).exp as number;
    await sweepAfter(p, exp);
    const a = await call(p, tok);
    expect(a.status, 'a revoked token accepted again after its exp, within the clock skew').toBe(401);
    expect(revoked(a)).toBe(true);
  }, 60_000);

  it('a `sub` cut (entry expiry = before + max_token_lifetime_s): a token living that long is still refused after it', async ({ onTestFinished }) => {
    const { as, p } = await start(onTestFinished);
    const before = Math.floor(Date.now() / 1000) - LIFETIME_S + 4;
    const tok = await as.issueJwt({ sub: 'cut-edge', iat: before, exp: before + LIFETIME_S });
    expect((await call(p, tok)).status).toBe(200);
    const posted = await admin(p, 'POST', '/revocations', { kind: 'sub', value: 'cut-edge', before });
    expect(posted.status).toBe(201);
    expect(revoked(await call(p, tok))).toBe(true);
    await sweepAfter(p, before + LIFETIME_S);
    const a = await call(p, tok);
    expect(a.status, 'a revoked token accepted again after the cut expired, within the clock skew').toBe(401);
    expect(revoked(a)).toBe(true);
  }, 60_000);
});

const SKEW_S = 300;
const NATS_PASSWORD = 'proxy-secret';

/** nats-server config: user `admin` may do anything, user `proxy` everything but `proxyPerms`. */
const twoUsers = (proxyPerms: string) => (at: NatsPlaces): string => [
  `listen: 127.0.0.1:${at.port}`,
  `http: 127.0.0.1:${at.monitorPort}`,
  `jetstream { store_dir: "${at.storeDir}", max_memory_store: 64MB, max_file_store: 256MB }`,
  `authorization { users: [ { user: admin, password: $PT_NATS_PASSWORD }, { user: proxy, password: $PT_NATS_PASSWORD, ${proxyPerms} } ] }`,
  '',
].join('\n');

// Each case has its own authorization server, upstream, nats-server and proxies, so the cases run
// side by side: two of them wait for the store's sweep (one the sweeper's timer, set to 1 s, one a full
// store's). The longest comes first: vitest runs at most 5 tests at once, and one started last would wait for a place.
describe.concurrent('an issuer whose clock_skew_s exceeds 60 s: its revoked tokens stay refused for the whole skew', () => {
  interface World {
    as: AuthServer;
    echo: EchoUpstream;
    nats?: NatsServer & { stop(): Promise<void> };
    procs: ProxyProcess[];
  }

  /** A case's own authorization server and upstream, stopped with everything started on it when the case ends. */
  async function world(onTestFinished: (fn: () => Promise<void>) => void): Promise<World> {
    const [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
    const w: World = { as, echo, procs: [] };
    onTestFinished(async () => {
      await Promise.all(w.procs.splice(0).map((p) => p.stop()));
      await w.nats?.stop();
      await Promise.all([w.as.close(), w.echo.close()]);
    });
    return w;
  }

  /** memberConfig on `cluster`, the issuer's clock_skew_s set to `skewS` (undefined: the default 60 s). */
  function config(w: World, cluster: Record<string, unknown>, skewS?: number): Record<string, unknown> {
    const c = memberConfig(w.as, w.echo.url, { ...cluster, revocation: { max_token_lifetime_s: LIFETIME_S, ...(cluster.revocation as object | undefined) } }) as { issuers: { demo: Record<string, unknown> } };
    if (skewS !== undefined) c.issuers.demo.clock_skew_s = skewS;
    return c;
  }

  /** Start a proxy on `cfg` that has its keys (a warm-up token answers 200). */
  async function start(w: World, cfg: Record<string, unknown>): Promise<ProxyProcess> {
    const p = await startProxy(cfg, { env: { ...ADMIN_ENV, ...BUS_ENV, PT_NATS_PASSWORD: NATS_PASSWORD } });
    w.procs.push(p);
    await waitReady(p);
    const warm = await w.as.issueJwt({ sub: 'warm-up' }, { ttlSeconds: 30 });
    for (let i = 0; i < 40 && (await call(p, warm)).status !== 200; i++) await sleep(250);
    return p;
  }

  /** A token of `sub` living the maximum lifetime whose exp passed `agoS` s ago, and the sub cut at its iat: the cut's entry expires with it. */
  async function pastCut(w: World, sub: string, agoS: number): Promise<{ token: string; cut: Record<string, unknown>; exp: number }> {
    const before = Math.floor(Date.now() / 1000) - agoS - LIFETIME_S;
    return { token: await w.as.issueJwt({ sub, iat: before, exp: before + LIFETIME_S }), cut: { kind: 'sub', value: sub, before }, exp: before + LIFETIME_S };
  }

  it('NATS: a reload that raises clock_skew_s after an entry was swept reads the stream again, and the token stays refused', async ({ onTestFinished }) => {
    const w = await world(onTestFinished);
    const nats = w.nats = await startNatsServer();
    // swept every second (cluster.revocation.sweep_interval_s) instead of every 60 s: the case waits for one sweep
    const bus = { ...busSection(nats.url, subjectPrefix('pskewre')), revocation: { sweep_interval_s: 1 } };
    const a = await start(w, config(w, bus));
    // exp 115 s ago: refused as expired under the default skew; its entry is held 120 s past it, then swept
    const { token, cut } = await pastCut(w, 'reread-skew', 115);
    const posted = await admin(a, 'POST', '/revocations', cut);
    expect(posted.status).toBe(201);
    expect(posted.body.persisted).toBe(true);
    expect((await call(a, token)).status).toBe(401);
    await waitFor('the entry swept', async () => (await metric(a, 'portcullis_revocations_swept_total')) >= 1, 90_000);
    await reloadWith(a, config(w, bus, SKEW_S));
    expect(await metric(a, 'portcullis_revocations_linger_seconds')).toBe(2 * SKEW_S);
    await waitFor('the token refused as revoked again', async () => revoked(await call(a, token)), 10_000);
  }, 90_000);

  it('a token 130 s past its exp (accepted: skew 300 s) is refused once revoked; its entry is held, not swept to make room', async ({ onTestFinished }) => {
    const w = await world(onTestFinished);
    const p = await start(w, config(w, { revocation: { max_entries: 1 } }, SKEW_S));
    const { token, cut } = await pastCut(w, 'late-skew', 130);
    expect((await call(p, token)).status, 'inside the issuer\'s clock skew the token is accepted').toBe(200);
    expect((await admin(p, 'POST', '/revocations', cut)).status).toBe(201);
    const a = await call(p, token);
    expect(a.status, 'a revoked token accepted: the entry was dropped as expired though the token is accepted for 300 s past its exp').toBe(401);
    expect(revoked(a)).toBe(true);
    expect((await admin(p, 'GET', '/revocations?kind=sub')).body.total).toBe(1);
    // the store is full (max_entries: 1): making room sweeps, and the entry still counts
    expect((await admin(p, 'POST', '/revocations', { kind: 'jti', value: 'sweep-trigger' })).status).toBe(507);
    expect(revoked(await call(p, token))).toBe(true);
  });

  it('POST /revocations with the exp of a token still accepted within the skew (exp 130 s ago) revokes it instead of answering 400', async ({ onTestFinished }) => {
    const w = await world(onTestFinished);
    const p = await start(w, config(w, {}, SKEW_S));
    const exp = Math.floor(Date.now() / 1000) - 130;
    const token = await w.as.issueJwt({ sub: 'late-exp', iat: exp - 30, exp });
    expect((await call(p, token)).status).toBe(200);
    const posted = await admin(p, 'POST', '/revocations', { kind: 'jti', value: jtiOf(token), exp });
    expect(posted.status, JSON.stringify(posted.body)).toBe(201);
    expect(revoked(await call(p, token))).toBe(true);
    const stale = await admin(p, 'POST', '/revocations', { kind: 'jti', value: 'older-than-the-skew', exp: exp - 200 });
    expect(stale.status, 'an exp further back than every issuer\'s skew: that token is refused as expired anyway').toBe(400);
  });

  it('a reload that raises clock_skew_s keeps the entries already held for the new skew', async ({ onTestFinished }) => {
    const w = await world(onTestFinished);
    const cfg = config(w, { revocation: { max_entries: 1 } });
    const p = await start(w, cfg);
    // exp 110 s ago: past the default skew (refused as expired), its entry held 120 s past its expiry —
    // the post and reload below have 10 s before the old linger ends (the sweeper's timer is 60 s)
    const { token, cut, exp } = await pastCut(w, 'raised-skew', 110);
    expect((await call(p, token)).status).toBe(401);
    expect((await admin(p, 'POST', '/revocations', cut)).status).toBe(201);
    const raised = config(w, { revocation: { max_entries: 1 } }, SKEW_S);
    await reloadWith(p, raised);
    expect(revoked(await call(p, token)), 'accepted again by the raised skew, and refused as revoked').toBe(true);
    // past the old 120 s linger: a full store sweeps at the next revocation
    while (Date.now() / 1000 < exp + 121.5) await sleep(200);
    const trigger = await admin(p, 'POST', '/revocations', { kind: 'jti', value: 'sweep-trigger' });
    const a = await call(p, token);
    expect(a.status, 'the entry was swept after the old skew\'s linger though the raised skew accepts the token').toBe(401);
    expect(revoked(a)).toBe(true);
    expect(trigger.status).toBe(507);
  }, 60_000);

  it('NATS: a stream an older release made (max age lifetime + 300 s) is raised, and a member started later replays the revocation', async ({ onTestFinished }) => {
    const w = await world(onTestFinished);
    const nats = w.nats = await startNatsServer();
    const prefix = subjectPrefix('pskew');
    const nc = await connect({ servers: [nats.url] });
    try {
      const old = new RevocationStream(nc, { subjects: subjects(prefix), maxAgeMs: (LIFETIME_S + 300) * 1000, replicas: 1 });
      await old.ensure();
      const cfg = config(w, busSection(nats.url, prefix), SKEW_S);
      const a = await start(w, cfg);
      const maxAgeS = (await (await nc.jetstreamManager()).streams.info(old.name)).config.max_age / 1e9;
      expect(maxAgeS, 'the stream keeps a revocation for the lifetime plus twice the largest skew any config allows, and 180 s').toBe(LIFETIME_S + 1380);
      expect((await readyz(a)).body.cluster.stream_retention_short).toBeUndefined();
      const { token, cut } = await pastCut(w, 'replayed-skew', 130);
      expect((await call(a, token)).status).toBe(200);
      const posted = await admin(a, 'POST', '/revocations', cut);
      expect(posted.status).toBe(201);
      expect(posted.body.persisted).toBe(true);
      expect(revoked(await call(a, token)), 'refused at the member that took it').toBe(true);
      const b = await start(w, cfg);
      expect(revoked(await call(b, token)), 'a member started later replays it from the stream and refuses the token').toBe(true);
    } finally {
      await nc.close();
    }
  }, 60_000);

  it('NATS: a member whose user may not raise an older release\'s stream says so in /readyz and /metrics, and serves on', async ({ onTestFinished }) => {
    const w = await world(onTestFinished);
    const nats = w.nats = await startNatsServerWithConfig(twoUsers('permissions: { publish: { deny: ["$JS.API.STREAM.UPDATE.>"] } }'), { PT_NATS_PASSWORD: NATS_PASSWORD });
    const prefix = subjectPrefix('pskewro');
    const nc = await connect({ servers: [nats.url], user: 'admin', pass: NATS_PASSWORD });
    try {
      const old = new RevocationStream(nc, { subjects: subjects(prefix), maxAgeMs: (LIFETIME_S + 300) * 1000, replicas: 1 });
      await old.ensure();
      const a = await start(w, config(w, busSection(nats.url, prefix, { nats: { servers: [nats.url], user: 'proxy', password_env: 'PT_NATS_PASSWORD' } }), SKEW_S));
      await waitFor('the short stream in /readyz', async () => (await readyz(a)).body.cluster.stream_retention_short !== undefined, 15_000);
      const r = await readyz(a);
      expect(r.status, 'its own store is complete: still ready').toBe(200);
      expect(r.body.cluster.stream_retention_short).toEqual({ max_age_s: LIFETIME_S + 300, wanted_s: LIFETIME_S + 1380 });
      expect(await metric(a, 'portcullis_revocation_stream_retention_short')).toBe(1);
      expect((await (await nc.jetstreamManager()).streams.info(old.name)).config.max_age / 1e9, 'the update was refused').toBe(LIFETIME_S + 300);
      const { token, cut } = await pastCut(w, 'readonly-skew', 130);
      expect((await admin(a, 'POST', '/revocations', cut)).status).toBe(201);
      expect(revoked(await call(a, token))).toBe(true);
    } finally {
      await nc.close();
    }
  }, 60_000);
});
