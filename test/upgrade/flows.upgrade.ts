// Every cross-build flow on one nats-server, members of both builds (one of each with --workers 2):
// each revocation kind from either build's admin API and `revoke` CLI refused everywhere, replayed at
// a member of each build started later; introspection across builds; what each member dropped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../helpers/nats.js';
import { admin, call, cli, config, hearsAll, introspectEverywhere, isRevoked, metricsText, pick, readyz, sha256, sleep, startMember, until, writeCfg, type Member } from './mixed.js';

const log = (...a: unknown[]): void => { process.stdout.write(a.map(String).join(' ') + '\n'); };

describe('mixed builds', () => {
  let as: AuthServer; let echo: EchoUpstream; let nats: NatsServer & { stop(): Promise<void> };
  const members: Member[] = [];
  let cfg: Record<string, unknown>;
  const P = `mix${Math.random().toString(36).slice(2, 7)}`;
  beforeAll(async () => {
    [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]);
    await as.rotateKeys(); // a second key to revoke by kid
    cfg = config(as.issuer, echo.url, nats.url, P);
    members.push(await startMember('O1w2', 'old', cfg, ['--workers', '2']));
    members.push(await startMember('N1w2', 'new', cfg, ['--workers', '2']));
    members.push(await startMember('O2', 'old', cfg));
    members.push(await startMember('N2', 'new', cfg));
  }, 120_000);
  afterAll(async () => { for (const m of members) await m.stop(); await nats?.stop(); await as?.close(); await echo?.close(); });

  it('flows', async () => {
    const failures: string[] = [];
    const warm = await as.issueJwt({ sub: 'warm' });
    for (const m of members) await until(`${m.name} warm`, async () => (await call(m, warm)).status === 200, 30_000);
    // 4 instances (2 of them --workers 2): 6 processes answering requests
    for (const m of members) {
      await until(`${m.name} hears 4 instances, 6 processes`, async () => hearsAll((await readyz(m)).body, 4, 6), 20_000)
        .catch(async () => { const body = JSON.stringify((await readyz(m)).body?.cluster); log('MEMBERS', m.name, body); failures.push(`${m.name} does not hear the cluster: ${body}`); });
    }
    for (const m of members) log('readyz', m.name, JSON.stringify((await readyz(m)).body?.cluster ?? (await readyz(m)).body));

    // revocations of every kind, from every origin
    const cliCfg = writeCfg(cfg);
    const origins: Array<{ name: string; revoke: (kind: string, value: string, before?: number) => Promise<string> }> = [];
    for (const [i, m] of members.slice(0, 2).entries()) {
      origins.push({ name: `admin@${m.name}`, revoke: async (kind, value, before) => { const r = await admin(m, 'POST', '/revocations', { kind, value, ...(before ? { before } : {}) }); return String(r.status); } });
      void i;
    }
    for (const b of ['old', 'new'] as const) {
      const flag: Record<string, string> = { jti: '--jti', token: '--token', sub: '--sub', client_id: '--client', kid: '--kid', sid: '--sid' };
      origins.push({ name: `cli-${b}(nats)`, revoke: async (kind, value, before) => { const r = await cli(b, ['revoke', flag[kind]!, value, ...(before ? ['--before', String(before)] : []), '--config', cliCfg]); return `${r.code} ${r.stderr.trim().slice(0, 200)}`; } });
    }
    const all: Array<{ token: string; label: string }> = [];
    let n = 0;
    for (const o of origins) {
      n++;
      const tJti = await as.issueJwt({ sub: `u-jti-${n}` });
      const tTok = await as.issueJwt({ sub: `u-tok-${n}` });
      const tSub = await as.issueJwt({ sub: `u-sub-${n}` });
      const tSubB = await as.issueJwt({ sub: `u-subb-${n}`, iat: Math.floor(Date.now() / 1000) - 100 });
      const tSubAfter = await as.issueJwt({ sub: `u-subb-${n}` }); // issued after `before`: stays valid
      const tCli = await as.issueJwt({ sub: `u-cli-${n}`, client_id: `c-${n}` });
      const tSid = await as.issueJwt({ sub: `u-sid-${n}`, sid: `s-${n}` });
      const tOpaque = as.issueOpaque({ sub: `u-op-${n}` }, 600);
      const jti = JSON.parse(Buffer.from(tJti.split('.')[1]!, 'base64url').toString()).jti as string;
      const cases: Array<[string, string, string, number?]> = [
        ['jti', jti, tJti], ['token', o.name.startsWith('cli') ? tTok : sha256(tTok), tTok], ['sub', `u-sub-${n}`, tSub],
        ['sub', `u-subb-${n}`, tSubB, Math.floor(Date.now() / 1000) - 50], ['client_id', `c-${n}`, tCli], ['sid', `s-${n}`, tSid],
        ['token', o.name.startsWith('cli') ? tOpaque : sha256(tOpaque), tOpaque],
      ];
      for (const [, , t] of cases) for (const m of members) { const a = await call(m, t); if (a.status !== 200) failures.push(`pre ${o.name} ${m.name} ${a.status}`); }
      for (const [kind, value, t, before] of cases) {
        const res = await o.revoke(kind, value, before);
        const label = `${o.name} ${kind}${before ? '+before' : ''}${t === tOpaque ? '(opaque)' : ''}`;
        const times: string[] = [];
        for (const m of members) {
          try { const ms = await until(`${label} at ${m.name}`, async () => isRevoked(await call(m, t)), 5_000); times.push(`${m.name}:${ms}ms`); }
          catch { const a = await call(m, t); times.push(`${m.name}:NOT-REVOKED(${a.status} ${a.challenge.slice(0, 80)})`); failures.push(`${label} at ${m.name}`); }
        }
        log('REVOKE', label, 'answer', res, '|', times.join(' '));
        all.push({ token: t, label });
      }
      for (const m of members) { const a = await call(m, tSubAfter); if (a.status !== 200) failures.push(`sub after before ${o.name} ${m.name} ${a.status}`); }
    }
    // kid: from old admin, a token signed with the second key
    const kids = ['rs256-1'];
    log('kids', kids.join(','));
    const tKid = await as.issueJwt({ sub: 'u-kid' }, { kid: kids[kids.length - 1] });
    for (const m of members) log('kid-pre', m.name, (await call(m, tKid)).status);
    log('REVOKE kid via admin@O1', (await admin(members[0]!, 'POST', '/revocations', { kind: 'kid', value: kids[kids.length - 1] })).status);
    for (const m of members) { try { log('kid', m.name, await until('kid', async () => isRevoked(await call(m, tKid)), 5_000), 'ms'); } catch { failures.push(`kid at ${m.name}`); } }
    all.push({ token: tKid, label: 'kid' });

    // replay at members started later, one of each build
    const late = [await startMember('O3late', 'old', cfg), await startMember('N3late', 'new', cfg, ['--workers', '2'])];
    members.push(...late);
    for (const m of late) {
      await until(`${m.name} ready`, async () => (await readyz(m)).status === 200, 20_000).catch(async () => log('LATE-NOT-READY', m.name, JSON.stringify((await readyz(m)).body)));
      let bad = 0;
      for (const { token, label } of all) { const a = await call(m, token); if (!isRevoked(a)) { bad++; failures.push(`replay ${m.name} ${label} ${a.status}`); } }
      log('REPLAY', m.name, `${all.length - bad}/${all.length} revoked`);
      if ((await call(m, warm)).status !== 200) failures.push(`live token at ${m.name}`);
    }

    // introspection single-flight across builds: fresh opaque tokens, every member at once
    const before = as.counters.introspection;
    const { ops, statuses: st, answers, asCalls } = await introspectEverywhere(as, members);
    if (st[200] !== answers) failures.push(`introspection ${JSON.stringify(st)}`);
    log('INTROSPECTION statuses', JSON.stringify(st), 'AS calls', asCalls, 'for', ops.length, 'tokens x', members.length, 'members');
    await sleep(300);
    const again = await Promise.all(ops.flatMap((t) => members.map((m) => call(m, t))));
    log('INTROSPECTION after fill statuses', JSON.stringify(again.reduce((a: any, r) => { a[r.status] = (a[r.status] ?? 0) + 1; return a; }, {})), 'AS calls total', (as.counters.introspection) - before);

    for (const m of members) {
      const t = await metricsText(m);
      log('METRICS', m.name, m.build, pick(t, /bus_messages_(dropped|refused)|bus_.*refused|members_replayed|unreadable|revocations_overflowed/).filter((l) => !/ 0$/.test(l)).join(' ; ') || '(all zero)');
      const rz = await readyz(m); log('READYZ', m.name, rz.status, JSON.stringify(rz.body?.cluster ?? {}).slice(0, 300));
      if (rz.status !== 200) failures.push(`readyz ${m.name} ${rz.status}`);
    }
    for (const b of ['old', 'new'] as const) {
      const r = await cli(b, ['policy', 'status', '--config', cliCfg, '--wait', '2500']);
      log('POLICY STATUS by', b, r.code, (r.stdout + r.stderr).replace(/\n/g, ' | ').slice(0, 600));
    }
    expect(failures).toEqual([]);
  }, 600_000);
});
