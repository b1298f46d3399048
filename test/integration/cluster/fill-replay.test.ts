// An IdP's token-claims-change drops a subject's cached introspection results at every member.
// Someone who can read and publish on the bus but holds no bus key captured an earlier, authentic
// `cache.filled` for that subject's token (fresh for cluster.auth.max_age_ms, 30 s): replayed after
// the drop, it must not put the dropped result back — the token is introspected again.
// Likewise a captured active fill replayed after a newer result said the token is inactive (a member
// that asked the authorization server later): the newer answer stands.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { busSection, clusterMemberConfig, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import { BusAuth, Codec } from '../../../cluster/protocol/index.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { BUS_KEY, type ProxyProcess } from '../../helpers/proxy-process.js';
import { CAEP, startTransmitter, type Transmitter } from '../../helpers/ssf-transmitter.js';
import { metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const PATH = '/ssf/events';
const AUD = 'https://proxy.example/ssf';
const SECRET = 'Bearer ssf-push-secret-0123456789';

async function status(p: ProxyProcess, token: string): Promise<number> {
  const r = await request(`${p.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
  await r.body.dump();
  return r.statusCode;
}

describe('shared introspection cache: a captured fill replayed after a token-claims-change drop', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let echo: EchoUpstream;
  let tx: Transmitter;
  let A: ProxyProcess;
  let B: ProxyProcess;
  const prefix = subjectPrefix('ptfr');

  beforeAll(async () => {
    [nats, as, echo, tx] = await Promise.all([startNatsServer(), startAuthServer(), startEchoUpstream(), startTransmitter(AUD)]);
    const config = clusterMemberConfig({
      issuers: {
        demo: {
          issuer: as.issuer, audiences: ['portcullis-demo'],
          introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', cache_ttl_s: 120, negative_ttl_s: 1 },
        },
      },
      event_sources: { idp: { issuer: tx.issuer, audiences: [AUD], push: { path: PATH, authorization_env: 'PT_SSF_PUSH' }, token_issuer: as.issuer } },
      upstreams: { echo: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} }],
      cluster: busSection(nats.url, prefix),
    });
    [A, B] = await startMembers(2, config, { PT_SSF_PUSH: SECRET, PT_INTROSPECTION_SECRET: 'portcullis-secret' });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await Promise.all([nats?.stop(), as?.close(), echo?.close(), tx?.close()]);
  });

  it('the replayed fill is refused: the token is introspected again and stays refused', async () => {
    const token = as.issueOpaque({ sub: 'ivan' }, 600);
    const key = Buffer.from(createHash('sha256').update(token).digest('hex'));
    const nc = await connect({ servers: [nats.url] });
    try {
      let fill: Uint8Array | null = null;
      const sub = nc.subscribe(`${prefix}.cache.introspection`);
      void (async () => { for await (const m of sub) if (fill === null && Buffer.from(m.data).includes(key) && Buffer.from(m.data).includes(Buffer.from('cache.filled'))) fill = m.data; })();
      await nc.flush(); // the subscription is at the server before A sends its one fill (nats.js sends SUB asynchronously)
      expect(await status(A, token)).toBe(200);
      await waitFor('the fill captured', async () => fill !== null, 5_000);
      expect(await status(B, token)).toBe(200); // from the shared cache

      // the IdP says ivan's claims changed (here: the token is no longer active at the AS)
      as.revokeOpaque(token);
      const set = await tx.set(`${CAEP}token-claims-change`, { claims: { role: 'guest' } }, { sub_id: { format: 'iss_sub', iss: as.issuer, sub: 'ivan' } });
      expect(await tx.push(`${A.url}${PATH}`, set, SECRET)).toMatchObject({ status: 202 });
      await waitFor('dropped at A', async () => (await status(A, token)) === 401, 10_000);
      await waitFor('dropped at B', async () => (await status(B, token)) === 401, 10_000);

      // the replay, after the negative result (1 s) ran out
      await new Promise((r) => setTimeout(r, 1_200));
      const refusedAtB = (): Promise<number> => metric(B, 'portcullis_introspection_sync_fills_dropped_total', 'reason="refused"');
      const refused = await refusedAtB();
      for (let i = 0; i < 3; i++) nc.publish(`${prefix}.cache.introspection`, fill!);
      await nc.flush();
      // the replay has reached B's cache (another process, over the bus) and was refused there
      await waitFor('the replayed fill refused at B', async () => (await refusedAtB()) > refused, 10_000);
      expect(await status(B, token)).toBe(401);
      expect(await status(A, token)).toBe(401);
    } finally {
      await nc.close();
    }
  }, 60_000);

  it('a captured active fill replayed after a newer inactive result is refused: the token stays refused', async () => {
    const token = as.issueOpaque({ sub: 'judy' }, 600);
    const hash = createHash('sha256').update(token).digest('hex');
    const subject = `${prefix}.cache.introspection`;
    const nc = await connect({ servers: [nats.url] });
    try {
      let fill: Uint8Array | null = null;
      const sub = nc.subscribe(subject);
      void (async () => { for await (const m of sub) if (fill === null && Buffer.from(m.data).includes(Buffer.from(hash)) && Buffer.from(m.data).includes(Buffer.from('cache.filled'))) fill = m.data; })();
      await nc.flush(); // the subscription is at the server before A sends its one fill
      expect(await status(A, token)).toBe(200);
      await waitFor('the fill captured', async () => fill !== null, 5_000);
      expect(await status(B, token)).toBe(200); // from the shared cache

      // the token is revoked at the authorization server, and a member that asks it later (one that
      // joined, or whose cache let the entry go) shares the newer answer: inactive
      as.revokeOpaque(token);
      const later = new BusAuth({ key: Buffer.from(BUS_KEY, 'utf8') });
      const newer = new Codec().encode({ type: 'cache.filled', v: 1, key: hash, issuer: 'demo', active: false, claims: null, expiresAt: Date.now() + 60_000, origin: 'member-x' });
      nc.publish(subject, later.seal(subject, newer));
      await nc.flush();
      await waitFor('the newer answer at A', async () => (await status(A, token)) === 401, 10_000);
      await waitFor('the newer answer at B', async () => (await status(B, token)) === 401, 10_000);

      // without the key: the captured active fill again (signed seconds ago, fresh for max_age_ms)
      const judged = async (): Promise<number> => (await metric(B, 'portcullis_introspection_sync_fills_total', 'direction="received"')) + (await metric(B, 'portcullis_introspection_sync_fills_dropped_total'));
      const before = await judged();
      const refused = await metric(B, 'portcullis_introspection_sync_fills_dropped_total', 'reason="refused"');
      nc.publish(subject, fill!);
      await nc.flush();
      await waitFor('B to judge the replayed fill', async () => (await judged()) > before, 10_000);
      expect(await status(B, token)).toBe(401);
      expect(await status(A, token)).toBe(401);
      expect(await metric(B, 'portcullis_introspection_sync_fills_dropped_total', 'reason="refused"')).toBe(refused + 1);
    } finally {
      await nc.close();
    }
  }, 60_000);
});
