// Session revocations across builds: a `sid` and a `sub_without_sid` (v3, what a back-channel logout naming the user
// publishes) made at a member of this build, seen by a previous-release member, and after a rollback (this build's
// member replaced by a previous-release one replaying the stream): no member ever answers 200 for the session's tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../helpers/nats.js';
import { admin, call, config, metricsText, pick, readyz, sleep, startMember, until, type Member } from './mixed.js';

const log = (...a: unknown[]): void => { process.stdout.write(a.map(String).join(' ') + '\n'); };

describe('session revocations across builds, and a rollback', () => {
  let as: AuthServer; let echo: EchoUpstream; let nats: NatsServer & { stop(): Promise<void> };
  const all: Member[] = [];
  let cfg: Record<string, unknown>;
  beforeAll(async () => {
    [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]);
    cfg = config(as.issuer, echo.url, nats.url, `lo${Math.random().toString(36).slice(2, 7)}`);
    all.push(await startMember('O', 'old', cfg), await startMember('N', 'new', cfg));
  }, 120_000);
  afterAll(async () => { for (const m of all) await m.stop(); await nats?.stop(); await as?.close(); await echo?.close(); });

  it('never admits a logged-out session at either build', async () => {
    const [O, N] = all as [Member, Member];
    const iat = Math.floor(Date.now() / 1000) - 30;
    const sidless = await as.issueJwt({ sub: 'u-lo', iat });
    const inSession = await as.issueJwt({ sub: 'u-lo2', sid: 's-lo', iat });
    const oldSid = await as.issueJwt({ sub: 'u-lo3', sid: 's-old', iat });
    const other = await as.issueJwt({ sub: 'u-live' });
    for (const m of all) for (const t of [sidless, inSession, oldSid, other]) await until(`${m.name} 200`, async () => (await call(m, t)).status === 200, 30_000);
    // the old build's sid revocation (v2) reaches this build
    log('POST sid at O', (await admin(O, 'POST', '/revocations', { kind: 'sid', value: 's-old' })).status);
    for (const m of all) await until(`${m.name} refuses s-old`, async () => (await call(m, oldSid)).status === 401, 10_000);
    const sub3 = await admin(N, 'POST', '/revocations', { kind: 'sub_without_sid', value: 'u-lo', before: iat + 1 });
    const sid2 = await admin(N, 'POST', '/revocations', { kind: 'sid', value: 's-lo' });
    log('POST at N: sub_without_sid', sub3.status, 'sid', sid2.status);
    expect([sub3.status, sid2.status]).toEqual([201, 201]);
    const row = async (m: Member): Promise<number[]> => [(await call(m, sidless)).status, (await call(m, inSession)).status, (await call(m, other)).status, (await readyz(m)).status];
    // each member is given 10 s to hear both (a loaded host); what it answers then is the finding
    for (const m of all) await until(`${m.name} hears the logout`, async () => { const [a, b] = await row(m); return a !== 200 && b !== 200; }, 10_000).catch(() => undefined);
    for (const m of all) log('AFTER', m.build, m.name, 'sidless,inSession,live,readyz =', (await row(m)).join(','), pick(await metricsText(m), /bus_messages_dropped_total|failed_closed|unreadable/).filter((l) => !/ 0$/.test(l)).join(' ; '));
    for (const m of all) { const [a, b] = await row(m); expect([m.name, a === 200, b === 200]).toEqual([m.name, false, false]); }
    // rollback: N replaced by a member of the previous release, which replays the stream this build wrote
    await N.stop();
    const R = await startMember('R', 'old', cfg);
    all.push(R);
    await sleep(3000);
    log('ROLLED BACK', 'sidless,inSession,live,readyz =', (await row(R)).join(','), pick(await metricsText(R), /bus_messages_dropped_total|failed_closed|unreadable/).filter((l) => !/ 0$/.test(l)).join(' ; '));
    const [a, b] = await row(R);
    expect([a === 200, b === 200]).toEqual([false, false]);
    // and O restarted (rolled again) the same
    await O.stop();
    const O2 = await startMember('O2', 'old', cfg);
    all.push(O2);
    await sleep(3000);
    log('O RESTARTED', 'sidless,inSession,live,readyz =', (await row(O2)).join(','));
    const [c, d] = await row(O2);
    expect([c === 200, d === 200]).toEqual([false, false]);
  }, 300_000);
});
