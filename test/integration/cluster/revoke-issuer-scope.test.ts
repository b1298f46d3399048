// Two tenants on one proxy (realms /a and /ab of one identity provider), each with a user "alice" and a signing key
// "k1". A revocation without an issuer reaches every issuer's tokens (fail closed: both tenants' alice are refused) and
// the operator is told so: `portcullis revoke` notes on stderr which issuers it reached, and the admin API's 201 names
// them in `issuers_reached`. With --issuer, only that tenant's tokens go and nothing is noted. Before, the CLI said
// "revoked sub alice" alone, and nothing said that the other tenant's alice was logged out too. Also on a
// 2-member NATS cluster, with `revoke --config FILE` publishing on the bus: the note comes from the file's issuers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_ENV, baseConfig, runCli, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { clusterMemberConfig, waitReadyWithMembers } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { waitFor } from '../../helpers/wait.js';
import { jwksOf, makeKey } from '../../fixtures/keys.js';
import { makeToken } from '../../fixtures/tokens.js';

const A = 'https://idp.test/realms/a', B = 'https://idp.test/realms/ab';
const keyA = makeKey('RS256', 'k1'), keyB = makeKey('RS256', 'k1');
let up: ScriptedUpstream, jwksA: ScriptedUpstream, jwksB: ScriptedUpstream;
beforeAll(async () => {
  const serve = (body: unknown) => startScriptedUpstream((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)); });
  [up, jwksA, jwksB] = await Promise.all([serve({ ok: true }), serve(jwksOf([keyA])), serve(jwksOf([keyB]))]);
});
afterAll(async () => { await Promise.all([up?.close(), jwksA?.close(), jwksB?.close()]); });

const config = (): Record<string, unknown> => baseConfig(up.url, {
  issuers: {
    a: { issuer: A, jwks_uri: `${jwksA.url}/jwks`, discovery: false, audiences: ['api'], algorithms: ['RS256'] },
    b: { issuer: B, jwks_uri: `${jwksB.url}/jwks`, discovery: false, audiences: ['api'], algorithms: ['RS256'] },
  },
  routes: [{ name: 'api', match: { path: '/*' }, upstream: 'app', auth: { issuers: ['a', 'b'] } }],
  log: { level: 'warn', access: false },
});
const ofA = (sub: string): string => makeToken(keyA, { claims: { sub } }, A, 'api');
const ofB = (sub: string): string => makeToken(keyB, { claims: { sub } }, B, 'api');

describe.each([
  ['one process', [] as string[]],
  ['--workers 2', ['--workers', '2']],
])('revocations and the issuers they reach, %s', (_name, args) => {
  let proxy: ProxyProcess;
  beforeAll(async () => { proxy = await startProxy(config(), { args, timeoutMs: 30_000 }); }, 60_000);
  afterAll(async () => { await proxy?.stop(); });

  const status = async (token: string): Promise<number> => (await fetch(`${proxy.url}/x`, { headers: { authorization: `Bearer ${token}` } })).status;
  /** Every worker answers `want` (six in a row: with --workers 2 each worker is asked). */
  const settled = (token: string, want: number): Promise<number> => waitFor(`${want} for the token`, async () => {
    for (let i = 0; i < 6; i++) if ((await status(token)) !== want) return false;
    return true;
  }, 10_000);
  const revoke = (...flags: string[]) => runCli(['revoke', '--admin', proxy.adminUrl, '--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN', ...flags], ADMIN_ENV);

  it('without --issuer: both tenants\' alice are refused, and the CLI notes every issuer it reached', async () => {
    const [a, b, bob] = [ofA('alice'), ofB('alice'), ofB('bob')];
    await settled(a, 200);
    await settled(b, 200);
    const r = await revoke('--sub', 'alice');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^revoked sub alice /);
    expect(r.stderr).toContain(`note: no --issuer, so this sub is revoked at every configured issuer (2: ${A}, ${B})`);
    await settled(a, 401);
    await settled(b, 401);
    expect(await status(bob)).toBe(200);
  });

  it('with --issuer: only that tenant\'s tokens go, and nothing is noted', async () => {
    const [a, b] = [ofA('carol'), ofB('carol')];
    const r = await revoke('--sub', 'carol', '--issuer', A);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    await settled(a, 401);
    await settled(b, 200);
  });

  it('a kid both tenants use, revoked for one issuer, leaves the other\'s key alone; the admin API names the issuers reached', async () => {
    const res = await fetch(`${proxy.adminUrl}/revocations`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ kind: 'kid', value: 'k1', issuer: B }) });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { issuers_reached: unknown }).issuers_reached).toEqual([B]);
    await settled(ofB('dave'), 401);
    await settled(ofA('dave'), 200);
    const all = await fetch(`${proxy.adminUrl}/revocations`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ kind: 'jti', value: 'j-1' }) });
    expect(((await all.json()) as { issuers_reached: unknown }).issuers_reached).toEqual([A, B]);
  });
});

describe('two members on nats-server: revoke --config publishes on the bus', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  const members: ProxyProcess[] = [];
  beforeAll(async () => {
    nats = await startNatsServer();
    const cfg = clusterMemberConfig({
      issuers: (config() as { issuers: unknown }).issuers,
      upstreams: { app: { targets: [up.url] } },
      routes: [{ name: 'api', match: { path: '/*' }, upstream: 'app', auth: { issuers: ['a', 'b'] } }],
      cluster: { nats: { servers: [nats.url] }, subject_prefix: `ris${Math.random().toString(36).slice(2, 8)}`, auth: { key_env: 'PT_BUS_KEY' } },
    });
    for (let i = 0; i < 2; i++) members.push(await startProxy(cfg, { env: BUS_ENV, timeoutMs: 30_000 }));
    await Promise.all(members.map((m) => waitReadyWithMembers(m, 2)));
  }, 90_000);
  afterAll(async () => { await Promise.all(members.map((m) => m.stop())); await nats?.stop(); });

  const statusAt = async (p: ProxyProcess, token: string): Promise<number> => (await fetch(`${p.url}/x`, { headers: { authorization: `Bearer ${token}` } })).status;
  const everywhere = (token: string, want: number): Promise<number> => waitFor(`${want} at both members`, async () => {
    for (const m of members) if ((await statusAt(m, token)) !== want) return false;
    return true;
  }, 10_000);

  it('without --issuer, a note naming both issuers, and both tenants\' alice refused at both members; with --issuer, one tenant\'s', async () => {
    const [a, b, a2, b2] = [ofA('erin'), ofB('erin'), ofA('frank'), ofB('frank')];
    await everywhere(a, 200);
    await everywhere(b, 200);
    const r = await runCli(['revoke', '--config', members[0]!.configPath, '--sub', 'erin'], { ...ADMIN_ENV, ...BUS_ENV }, 30_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^revoked sub erin /);
    expect(r.stderr).toContain(`note: no --issuer, so this sub is revoked at every configured issuer (2: ${A}, ${B})`);
    await everywhere(a, 401);
    await everywhere(b, 401);
    const s = await runCli(['revoke', '--config', members[0]!.configPath, '--sub', 'frank', '--issuer', B], { ...ADMIN_ENV, ...BUS_ENV }, 30_000);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).not.toContain('note:');
    await everywhere(b2, 401);
    await everywhere(a2, 200);
  }, 60_000);
});
