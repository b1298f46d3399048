// Cross-build extras: the direct push port both ways, a DPoP proof used at one build's member
// refused as a replay at the other's, introspection single-flight (one AS call per token).
// BUILDS=old,new,old,new (default) picks the members; the first two run --workers 2.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../helpers/nats.js';
import { clientKey, proof } from '../unit/dpop/dpop-helpers.js';
import { admin, call, config, introspectEverywhere, isRevoked, metricsText, pick, readyz, sleep, startMember, until, type Member } from './mixed.js';

const log = (...a: unknown[]): void => { process.stdout.write(a.map(String).join(' ') + '\n'); };
const BUILDS = (process.env.BUILDS ?? 'old,new,old,new').split(',') as Array<'old' | 'new'>;

describe('mixed builds 2', () => {
  let as: AuthServer; let echo: EchoUpstream; let nats: NatsServer & { stop(): Promise<void> };
  const members: Member[] = [];
  beforeAll(async () => {
    [as, echo, nats] = await Promise.all([startAuthServer({ algorithms: ['ES256'] }), startEchoUpstream(), startNatsServer()]);
    const P = `mix${Math.random().toString(36).slice(2, 7)}`;
    const cfg = config(as.issuer, echo.url, nats.url, P, { dpop: { replay: { owner_timeout_ms: 3_000 } } });
    (cfg.cluster as any).revocation = { direct: { listen: '127.0.0.1:0' } };
    for (const [i, b] of BUILDS.entries()) members.push(await startMember(`${b[0]!.toUpperCase()}${i}`, b, cfg, i < 2 ? ['--workers', '2'] : []));
  }, 120_000);
  afterAll(async () => { for (const m of members) await m.stop(); await nats?.stop(); await as?.close(); await echo?.close(); });

  it('flows', async () => {
    const warm = await as.issueJwt({ sub: 'warm' });
    for (const m of members) await until(`${m.name} warm`, async () => (await call(m, warm)).status === 200, 30_000);
    await sleep(2500);
    for (const m of members) { const r = await readyz(m); log('READYZ', m.name, r.status, 'members', r.body?.cluster?.members, 'workers', r.body?.cluster?.workers, 'serving_processes', r.body?.cluster?.serving_processes, 'direct', JSON.stringify(r.body?.cluster?.direct ?? null).slice(0, 200)); }
    // direct push: revocations from each member, first arrival path counted
    for (const m of members) {
      const t = await as.issueJwt({ sub: `d-${m.name}` });
      for (const x of members) await call(x, t);
      await admin(m, 'POST', '/revocations', { kind: 'sub', value: `d-${m.name}` });
      const times: string[] = [];
      for (const x of members) { try { times.push(`${x.name}:${await until('rev', async () => isRevoked(await call(x, t)), 5000)}`); } catch { times.push(`${x.name}:MISS`); } }
      expect(times.filter((t) => t.endsWith('MISS'))).toEqual([]);
      log('DIRECT-REVOKE from', m.name, times.join(' '));
    }
    for (const m of members) log('ARRIVALS', m.name, m.build, pick(await metricsText(m), /revocations_first_arrivals_total|revocations_arrivals_total/).join(' ; '));

    // DPoP: a proof used at one member, replayed at each other (Host header of the first, so htu matches)
    const key = await clientKey('ES256');
    const token = await as.issueJwt({ cnf: { jkt: key.jkt } });
    for (const a of members) {
      const host = new URL(a.url).host;
      const p = await proof(key, { htu: `${a.url}/api/dp`, token });
      const first = await request(`${a.url}/api/dp`, { headers: { authorization: `DPoP ${token}`, dpop: p, connection: 'close' } }); await first.body.dump();
      const rest: string[] = [];
      for (const b of members) { if (b === a) continue; const r = await request(`${b.url}/api/dp`, { headers: { host, authorization: `DPoP ${token}`, dpop: p, connection: 'close' } }); const ch = String(r.headers['www-authenticate'] ?? ''); await r.body.dump(); rest.push(`${b.name}:${r.statusCode}${/replay|already/i.test(ch) ? '(replay)' : ch ? '(' + ch.slice(0, 60) + ')' : ''}`); }
      log('DPOP first at', a.name, first.statusCode, 'replays:', rest.join(' '));
      expect(first.statusCode).toBe(200);
      expect(rest.filter((x) => !x.endsWith('401(replay)'))).toEqual([]);
    }

    // introspection single-flight
    const before = as.counters.introspection;
    const { ops, statuses: st, answers, asCalls } = await introspectEverywhere(as, members);
    expect(st[200]).toBe(answers);
    expect(asCalls).toBe(ops.length);
    log('INTROSPECTION', BUILDS.join(','), JSON.stringify(st), 'AS calls', asCalls, 'for', ops.length, 'tokens x', members.length);
    const ops2 = Array.from({ length: 20 }, (_, i) => as.issueOpaque({ sub: `sq-${i}` }, 600));
    for (const t of ops2) for (const m of members) await call(m, t);
    log('INTROSPECTION sequential', as.counters.introspection - before - 0, 'cumulative; sequential part for', ops2.length, 'tokens');
    for (const m of members) log('METRICS', m.name, m.build, pick(await metricsText(m), /bus_messages_(dropped|refused)|refused_total|dpop_replay_fallback|introspection_lease|unreadable/).filter((l) => !/ 0$/.test(l)).join(' ; ') || '(all zero)');
  }, 600_000);
});
