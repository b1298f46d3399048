// Someone with the proxies' NATS credentials but not the bus key listens on the owner subjects
// (DPoP replay claims, introspection leases) and answers every request first: junk, a forged
// "no responders" status, and a captured authentic reply to an earlier request. The asker must
// wait for its owner's authentic answer: a proof used at both members at once passes once, and
// a token is introspected once for the cluster — none of the forged answers count.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers, type NatsConnection } from 'nats';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { busSection, clusterMemberConfig, subjectPrefix, waitReadyWithMembers } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { clientKey, proof, type ClientKey } from '../../unit/dpop/dpop-helpers.js';
import { metric } from './proxy-fixtures.js';

const ENV = { ...ADMIN_ENV, ...BUS_ENV, PT_INTROSPECTION_SECRET: 'portcullis-secret' };

async function get(p: ProxyProcess, h: Record<string, string>): Promise<number> {
  const r = await request(`${p.url}/api/orders`, { headers: h });
  await r.body.dump();
  return r.statusCode;
}

/** The attacker: answers every owner request first, cycling which forged shape leads. */
async function racer(url: string, prefix: string): Promise<{ nc: NatsConnection; answered: () => number }> {
  const nc = await connect({ servers: [url] });
  let captured: Uint8Array | null = null;
  let answered = 0;
  // authentic replies travel on the members' inboxes: keep the latest one to replay elsewhere
  nc.subscribe('_INBOX.>', { callback: (_e, m) => { if (m.data.byteLength > 45 && m.data[0] === 0xb1) captured = m.data; } });
  nc.subscribe(`${prefix}.rpc.>`, {
    callback: (_e, m) => {
      if (m.reply === undefined || m.reply === '') return;
      const shapes: Array<() => void> = [
        () => nc.publish(m.reply!, new Uint8Array([0xb1, 1, 2, 3, 4, 5])),
        () => nc.publish(m.reply!, new Uint8Array(0), { headers: headers(503, 'No Responders') }),
        () => { if (captured !== null) nc.publish(m.reply!, captured); },
      ];
      for (let i = 0; i < shapes.length; i++) shapes[(answered + i) % shapes.length]!();
      answered++;
    },
  });
  await nc.flush();
  return { nc, answered: () => answered };
}

describe('a bus request takes the first authentic reply to it, not the first reply', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let nats: NatsServer & { stop(): Promise<void> };
  let a: ProxyProcess;
  let b: ProxyProcess;
  let key: ClientKey;
  let attacker: { nc: NatsConnection; answered: () => number };
  const prefix = subjectPrefix('ptrr');

  beforeAll(async () => {
    [as, echo, nats, key] = await Promise.all([startAuthServer({ algorithms: ['ES256'] }), startEchoUpstream(), startNatsServer(), clientKey('ES256')]);
    const config = clusterMemberConfig({
      issuers: {
        demo: {
          issuer: as.issuer, audiences: ['portcullis-demo'],
          introspection: { client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', cache_ttl_s: 120, negative_ttl_s: 1 },
        },
      },
      upstreams: { app: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
      // generous: the machine is shared; a timeout would turn the strict check into a local one
      dpop: { replay: { owner_timeout_ms: 3_000 } },
      cluster: busSection(nats.url, prefix),
    });
    [a, b] = await Promise.all([startProxy(config, { env: ENV }), startProxy(config, { env: ENV })]);
    await Promise.all([waitReadyWithMembers(a, 2), waitReadyWithMembers(b, 2)]);
    attacker = await racer(nats.url, prefix);
  }, 90_000);

  afterAll(async () => {
    await attacker?.nc.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all([as?.close(), echo?.close(), nats?.stop()]);
  });

  it('DPoP: of two simultaneous uses of one proof at the two members exactly one passes; no check falls back to local', async () => {
    const token = await as.issueJwt({ cnf: { jkt: key.jkt } });
    const rejectedBefore = await metric(b, 'portcullis_bus_messages_rejected_total') + await metric(a, 'portcullis_bus_messages_rejected_total');
    for (let i = 0; i < 12; i++) {
      const jti = `race-${i}-${Date.now()}`;
      const [pa, pb] = await Promise.all([
        proof(key, { htu: `${a.url}/api/orders`, token, jti }),
        proof(key, { htu: `${b.url}/api/orders`, token, jti }),
      ]);
      const [ra, rb] = await Promise.all([get(a, { authorization: `DPoP ${token}`, dpop: pa }), get(b, { authorization: `DPoP ${token}`, dpop: pb })]);
      expect([ra, rb].sort(), jti).toEqual([200, 401]);
    }
    expect(attacker.answered()).toBeGreaterThan(0);
    expect(await metric(a, 'portcullis_dpop_replay_fallback_local_total') + await metric(b, 'portcullis_dpop_replay_fallback_local_total')).toBe(0);
    // the forged answers were seen and refused, not silently lost
    const rejectedAfter = await metric(b, 'portcullis_bus_messages_rejected_total') + await metric(a, 'portcullis_bus_messages_rejected_total');
    expect(rejectedAfter).toBeGreaterThan(rejectedBefore);
  }, 60_000);

  it('introspection: a token used at both members is introspected once; no call bypasses the owner', async () => {
    const before = as.counters.introspection;
    const answeredBefore = attacker.answered();
    const n = 8;
    for (let i = 0; i < n; i++) {
      const token = as.issueOpaque({ sub: `u${i}` }, 600);
      // both at once: one of them asks the other (the owner) for the lease
      const codes = await Promise.all([get(a, { authorization: `Bearer ${token}` }), get(b, { authorization: `Bearer ${token}` })]);
      expect(codes).toEqual([200, 200]);
      expect([await get(a, { authorization: `Bearer ${token}` }), await get(b, { authorization: `Bearer ${token}` })]).toEqual([200, 200]);
    }
    expect(attacker.answered()).toBeGreaterThan(answeredBefore);
    expect(as.counters.introspection - before).toBe(n);
    expect(await metric(a, 'portcullis_introspection_sync_fallback_calls_total') + await metric(b, 'portcullis_introspection_sync_fallback_calls_total')).toBe(0);
    // every forged shape reached an inbox and was set aside, counted by why
    const ignored = async (reason: string): Promise<number> => await metric(a, 'portcullis_bus_replies_ignored_total', `reason="${reason}"`) + await metric(b, 'portcullis_bus_replies_ignored_total', `reason="${reason}"`);
    expect(await ignored('refused')).toBeGreaterThan(0);
    expect(await ignored('status')).toBeGreaterThan(0);
  }, 60_000);
});
