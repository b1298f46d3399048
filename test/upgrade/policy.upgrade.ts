// Cluster policy across builds: versions pushed (and rolled back) by either build's `policy` CLI are
// applied by members of both; `policy status` of each build lists every member on the latest version.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../helpers/nats.js';
import { localConfig, policyDoc } from '../integration/cluster/policy-fixtures.js';
import { admin, cli, metricsText, pick, readyz, sleep, startMember, writeCfg, type Member } from './mixed.js';

const log = (...a: unknown[]): void => { process.stdout.write(a.map(String).join(' ') + '\n'); };

describe('policy mixed', () => {
  let as: AuthServer; let echo: EchoUpstream; let nats: NatsServer & { stop(): Promise<void> };
  const members: Member[] = [];
  let cliCfg = '';
  beforeAll(async () => {
    [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]);
    const P = `mixp${Math.random().toString(36).slice(2, 7)}`;
    const cfg = localConfig([nats.url], P);
    (cfg as any).log = { level: 'warn', access: false };
    cliCfg = writeCfg(cfg);
    const r = await cli('old', ['policy', 'push', '--config', cliCfg, '--policy', writeCfg(policyDoc(as.issuer, echo.url)), '--by', 'old-cli']);
    log('PUSH v1 by old', r.code, r.stdout.trim(), r.stderr.trim().slice(0, 300));
    members.push(await startMember('O0w2', 'old', cfg, ['--workers', '2']));
    members.push(await startMember('N1w2', 'new', cfg, ['--workers', '2']));
    members.push(await startMember('O2', 'old', cfg));
    members.push(await startMember('N3', 'new', cfg));
  }, 120_000);
  afterAll(async () => { for (const m of members) await m.stop(); await nats?.stop(); await as?.close(); await echo?.close(); });

  const st = async (m: Member, token: string): Promise<number> => { const r = await request(`${m.url}/api/x`, { headers: { authorization: `Bearer ${token}`, connection: 'close' } }); await r.body.dump(); return r.statusCode; };
  /** Wait until every member runs `version`; log each one's version and the token's answer, which must be `status`. */
  const show = async (label: string, token: string, version: number, status: number): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      const vs = await Promise.all(members.map(async (m) => (await admin(m, 'GET', '/policy')).body?.version));
      if (vs.every((v) => v === version)) break;
      await sleep(100);
    }
    const rows: string[] = [];
    for (const m of members) {
      const g = await admin(m, 'GET', '/policy');
      const s = await st(m, token);
      rows.push(`${m.name}: v${g.body?.version} by ${g.body?.pushed_by} err=${g.body?.error} api=${s}`);
      expect([m.name, g.body?.version, s]).toEqual([m.name, version, status]);
    }
    log(label, rows.join(' | '));
  };

  it('flows', async () => {
    for (const m of members) { for (let i = 0; i < 200 && (await readyz(m)).status !== 200; i++) await sleep(100); }
    const token = await as.issueJwt({ scope: 'orders:read' });
    await show('AFTER v1(old cli)', token, 1, 200);
    let r = await cli('new', ['policy', 'push', '--config', cliCfg, '--policy', writeCfg(policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] })), '--by', 'new-cli']);
    log('PUSH v2 by new', r.code, r.stdout.trim(), r.stderr.trim().slice(0, 300));
    await show('AFTER v2(new cli, needs orders:write)', token, 2, 403);
    r = await cli('old', ['policy', 'push', '--config', cliCfg, '--policy', writeCfg(policyDoc(as.issuer, echo.url, { scopes: ['orders:read'] })), '--by', 'old-cli']);
    log('PUSH v3 by old', r.code, r.stdout.trim(), r.stderr.trim().slice(0, 300));
    await show('AFTER v3(old cli)', token, 3, 200);
    for (const b of ['old', 'new'] as const) {
      r = await cli(b, ['policy', 'status', '--config', cliCfg, '--wait', '2500']);
      log('STATUS by', b, r.code, (r.stdout + r.stderr).replace(/\n/g, ' | ').slice(0, 900));
      expect(r.stdout).toContain('all 4 members run version 3');
    }
    r = await cli('new', ['policy', 'rollback', '--config', cliCfg, '--to', '2']);
    log('ROLLBACK by new', r.code, r.stdout.trim().slice(0, 200), r.stderr.trim().slice(0, 300));
    await show('AFTER rollback to 2 (new cli)', token, 4, 403);
    for (const m of members) log('METRICS', m.name, pick(await metricsText(m), /bus_messages_(dropped|refused)|refused_total|members_replayed/).filter((l) => !/ 0$/.test(l)).join(' ; ') || '(all zero)');
  }, 300_000);
});
