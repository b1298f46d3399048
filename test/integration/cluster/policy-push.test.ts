// Cluster-wide policy on a three-node NATS cluster with three proxy instances whose config
// has only the local part: a pushed version is applied by all three (a token allowed before
// is refused after), a version one instance cannot use (its environment lacks a secret) leaves
// it on its old version and `policy status` says so, rollback, concurrent pushes, and an
// invalid policy that is never published.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.js';
import { runCli, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin } from './proxy-fixtures.js';
import { ENV, localConfig, policyCli, policyDoc, readyz, statusOf, writePolicy, QUICK_BEAT } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { startScriptedUpstream } from '../../helpers/upstreams.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUS_KEY } from '../../helpers/proxy-process.js';

const NONCE_SECRET = 'n'.repeat(48);

describe('cluster policy: push, apply everywhere, status, rollback', () => {
  let nats: NatsCluster;
  let as: AuthServer;
  let echo: EchoUpstream;
  let prefix = '';
  let cliConfig = '';
  const proxies: ProxyProcess[] = [];

  beforeAll(async () => {
    [nats, as, echo] = await Promise.all([startNatsCluster(3), startAuthServer(), startEchoUpstream()]);
    prefix = `ptp${Math.random().toString(36).slice(2, 8)}`;
    cliConfig = writeConfig(localConfig(nats.urls, prefix, {}, {}, QUICK_BEAT));
    const first = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url)), '--by', 'alice']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/pushed version 1 /);
    // instance 3's environment lacks the DPoP nonce secret a later version names
    const started = await Promise.all(nats.urls.map((u, i) => startProxy(localConfig([u], prefix, {}, {}, QUICK_BEAT), { env: i < 2 ? { ...ENV, PT_NONCE_SECRET: NONCE_SECRET } : ENV, timeoutMs: 30_000 })));
    proxies.push(...started);
    await Promise.all(proxies.map((p) => waitFor(`${p.url} ready`, async () => (await readyz(p.adminUrl)).status === 200, 40_000)));
  }, 90_000);

  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await Promise.all([nats?.stop(), as?.close(), echo?.close()]);
  });

  const everyProxy = (what: string, cond: (p: ProxyProcess) => Promise<boolean>, ms = 15_000): Promise<number[]> =>
    Promise.all(proxies.map((p, i) => waitFor(`${what} at proxy ${i + 1}`, () => cond(p), ms)));

  it('starts every instance on the pushed version: the token is allowed, GET /policy names version 1', async () => {
    const token = await as.issueJwt();
    for (const p of proxies) {
      expect(await statusOf(p, '/api/x', token)).toBe(200);
      const g = await admin(p, 'GET', '/policy');
      expect(g.status).toBe(200);
      expect(g.body).toMatchObject({ version: 1, pushed_by: 'alice', error: null, from: 'bus' });
      // before it became ready it warmed the check and the reload path with that version (README "Cluster policy": warm at start)
      const warmed = p.logs().find((l) => l.msg === 'policy: check path warmed with the start version');
      expect(warmed).toMatchObject({ where: 'event_loop' });
      expect(Number(warmed?.rounds)).toBeGreaterThan(1);
      expect(Number(p.logs().find((l) => l.msg === 'reload path warmed for cluster policy versions')?.rounds)).toBeGreaterThan(1);
      // version 1 was pushed before the start: its age, not a propagation time (before: "policy applied", propagation_ms = the age)
      const atStart = p.logs().find((l) => l.msg === 'policy applied at start');
      expect(atStart).toMatchObject({ version: 1, from: 'bus', version_age_ms: expect.any(Number) });
      expect(atStart).not.toHaveProperty('propagation_ms');
      expect(p.logs().filter((l) => l.msg === 'policy applied')).toEqual([]);
    }
  });

  // README "portcullis revoke": with source: cluster the file holds the local part only and the
  // revocation is published unchecked; before, revoke refused that file (upstreams/routes required)
  it('revoke --config FILE with the local part only publishes on the bus: the token is refused at all three', async () => {
    const token = await as.issueJwt({ sub: 'revoke-cli-local-part' });
    for (const p of proxies) expect(await statusOf(p, '/api/x', token)).toBe(200);
    const r = await runCli(['revoke', '--config', cliConfig, '--sub', 'revoke-cli-local-part'], ENV, 30_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('revoked sub revoke-cli-local-part');
    await everyProxy('the token to be refused', async (p) => (await statusOf(p, '/api/x', token)) === 401);
  });

  it('explain --config FILE with the local part only: the member at its admin listener judges; none there → exit 2 saying why', async () => {
    // a member's own config (its admin port): before, explain exited 2 ("holds no routes") on the host of a running member
    const member = writeConfig(localConfig([nats.urls[0]!], prefix, {}, { admin: { listen: { host: '127.0.0.1', port: Number(new URL(proxies[0]!.adminUrl).port) }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' } }, QUICK_BEAT));
    const token = await as.issueJwt({ scope: 'orders:read' });
    const ok = await runCli(['explain', '--config', member, 'GET', '/api/x', '--token', token], ENV);
    expect([ok.code, ok.stderr], ok.stdout).toEqual([0, '']);
    expect(ok.stdout).toMatch(/route +api → upstream app[^]*verdict +ALLOWED \(200\)[^]*judged by the member at http:\/\/127\.0\.0\.1:\d+/);
    const none = await runCli(['explain', '--config', member, 'GET', '/api/x'], ENV);
    expect([none.code, none.stdout], none.stderr).toEqual([1, expect.stringMatching(/verdict +DENIED \(401\)/)]);
    // admin port 0: no member to ask (before: "upstreams: required")
    const r = await runCli(['explain', '--config', cliConfig, 'GET', '/api/x'], ENV);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('takes its policy from the cluster (cluster.policy.source: cluster), so it holds no routes, and admin.listen.port is 0, so no member can be found: run it on a member\'s host');
    expect(r.stderr).not.toContain('required');
  });

  it('a push is applied by all three: the token allowed before is refused after (403), and status agrees', async () => {
    const token = await as.issueJwt({ scope: 'orders:read' });
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] }))]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/pushed version 2 .*based on 1/);
    await everyProxy('the token to be refused', async (p) => (await statusOf(p, '/api/x', token)) === 403);
    // seen arriving: a propagation time, push → applied here
    await everyProxy('the "policy applied" line', async (p) => p.logs().some((l) => l.msg === 'policy applied' && l.version === 2));
    for (const p of proxies) expect(p.logs().find((l) => l.msg === 'policy applied' && l.version === 2)).toMatchObject({ propagation_ms: expect.any(Number), delivery_ms: expect.any(Number) });
    const writer = await as.issueJwt({ scope: 'orders:write' });
    for (const p of proxies) expect(await statusOf(p, '/api/x', writer)).toBe(200);
    const s = await policyCli(['status', '--wait', '1000', '--config', cliConfig, '--json']);
    expect(s.code, s.stdout + s.stderr).toBe(0);
    const st = JSON.parse(s.stdout) as { latest: { version: number }; members: Array<{ version: number; error: string | null }>; agree: boolean };
    expect(st.latest.version).toBe(2);
    expect(st.members).toHaveLength(3);
    expect(st.members.every((m) => m.version === 2 && m.error === null)).toBe(true);
  });

  it('a version one instance cannot use (a secret missing in its environment) is applied by the others; it stays on its version and status exits non-zero naming it', async () => {
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url, { extra: { dpop: { nonce: { secret_env: 'PT_NONCE_SECRET' } } } }))]);
    expect(r.code, r.stderr).toBe(0);
    const token = await as.issueJwt({ scope: 'orders:read' });
    // version 3 drops the scope rule again: the token is allowed at 1 and 2, still refused at 3
    await waitFor('proxies 1 and 2 to apply version 3', async () => (await statusOf(proxies[0]!, '/api/x', token)) === 200 && (await statusOf(proxies[1]!, '/api/x', token)) === 200, 15_000);
    await waitFor('proxy 3 to report its refusal', async () => (await admin(proxies[2]!, 'GET', '/policy')).body.error !== null, 15_000);
    expect(await statusOf(proxies[2]!, '/api/x', token)).toBe(403);
    const g = await admin(proxies[2]!, 'GET', '/policy');
    expect(g.body.version).toBe(2);
    expect(g.body.error).toMatch(/version 3 refused \(environment\).*dpop\.nonce\.secret_env.*PT_NONCE_SECRET/);
    const s = await policyCli(['status', '--wait', '1000', '--config', cliConfig]);
    expect(s.code).toBe(1);
    expect(s.stdout).toMatch(/latest version 3/);
    expect(s.stdout).toMatch(/PT_NONCE_SECRET/);
    expect(s.stdout).toMatch(/members disagree/);
    // the disagreement travels on the heartbeats: proxy 1's GET /policy shows proxy 3 on version 2 with its error
    const third = g.body.member as string;
    await waitFor('proxy 1 to hear proxy 3\'s status', async () => {
      const row = ((await admin(proxies[0]!, 'GET', '/policy')).body.members as Array<{ member: string; version: number; error: string | null }>).find((m) => m.member === third);
      return row !== undefined && row.version === 2 && /PT_NONCE_SECRET/.test(row.error ?? '');
    }, 10_000);
    const mine = (await admin(proxies[0]!, 'GET', '/policy')).body;
    expect(mine.members).toHaveLength(3);
    expect(mine.members[0]).toMatchObject({ member: mine.member, version: 3, error: null });
  });

  it('status believes only authentic heartbeats: an unsigned one claiming a member on version 99 is not listed', async () => {
    const { connect } = await import('nats');
    const { Codec } = await import('../../../cluster/protocol/index.js');
    const nc = await connect({ servers: [...nats.urls] });
    const forged = new Codec().encode({ type: 'member.heartbeat', v: 2, id: 'forged-member', role: 'single', host: 'evil', pid: 1, startedAt: 1, seq: 1, intervalMs: 1_000, policy: { version: 99, digest: null, error: null, latestSeen: 99, from: 'bus' } });
    const timer = setInterval(() => nc.publish(`${prefix}.members`, forged), 200);
    try {
      const s = await policyCli(['status', '--wait', '1000', '--config', cliConfig, '--json']);
      const st = JSON.parse(s.stdout) as { members: Array<{ member: string }> };
      expect(st.members).toHaveLength(3);
      expect(st.members.map((m) => m.member)).not.toContain('forged-member');
    } finally { clearInterval(timer); await nc.close(); }
  });

  it('rollback --to 1 publishes version 4 with version 1\'s content: every instance applies it, status agrees again', async () => {
    const r = await policyCli(['rollback', '--config', cliConfig, '--to', '1', '--by', 'bob']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/version 4 has the content of version 1/);
    await everyProxy('version 4', async (p) => (await admin(p, 'GET', '/policy')).body.version === 4);
    const token = await as.issueJwt({ scope: 'orders:read' });
    for (const p of proxies) expect(await statusOf(p, '/api/x', token)).toBe(200);
    const s = await policyCli(['status', '--wait', '1000', '--config', cliConfig]);
    expect(s.code, s.stdout).toBe(0);
    const h = await policyCli(['history', '--config', cliConfig, '--json']);
    const rows = JSON.parse(h.stdout) as Array<{ version: number; pushed_by: string; digest: string }>;
    expect(rows.map((x) => x.version)).toEqual([1, 2, 3, 4]);
    expect(rows[3]!.digest).toBe(rows[0]!.digest);
    expect(rows[3]!.pushed_by).toMatch(/bob \(rollback to 1\)/);
  });

  it('an invalid policy is never published: push exits 2 listing every error with its path', async () => {
    const bad = policyDoc(as.issuer, echo.url, { routes: [
      { name: 'api', match: { path: '/api/*' }, upstream: 'ordrs', auth: {} },
      { name: 'api', match: { path: 'nope' }, upstream: 'app', auth: 'none' },
    ] });
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(bad)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nothing published/);
    expect(r.stderr).toMatch(/routes\[0\]\.upstream: unknown upstream "ordrs"/);
    expect(r.stderr).toMatch(/routes\[1\]\.match\.path/);
    expect(r.stderr).toMatch(/routes\[1\]\.name: duplicate route name/);
    const h = await policyCli(['history', '--config', cliConfig, '--json']);
    expect((JSON.parse(h.stdout) as unknown[]).length).toBe(4);
  });

  it('two concurrent pushes based on the same version: exactly one wins, the other is refused as stale', async () => {
    const a = writePolicy(policyDoc(as.issuer, echo.url, { scopes: ['orders:read'] }));
    const b = writePolicy(policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] }));
    const [ra, rb] = await Promise.all([
      policyCli(['push', '--config', cliConfig, '--policy', a, '--base', '4', '--by', 'a']),
      policyCli(['push', '--config', cliConfig, '--policy', b, '--base', '4', '--by', 'b']),
    ]);
    expect([ra.code, rb.code].sort()).toEqual([0, 1]);
    const loser = ra.code === 0 ? rb : ra;
    expect(loser.stderr).toMatch(/push refused: .*(stale base|another push won)/);
    const h = await policyCli(['history', '--config', cliConfig, '--json']);
    const rows = JSON.parse(h.stdout) as Array<{ version: number; pushed_by: string }>;
    expect(rows.map((x) => x.version)).toEqual([1, 2, 3, 4, 5]);
    expect(rows[4]!.pushed_by).toBe(ra.code === 0 ? 'a' : 'b');
  });

  it('POST /policy on the admin API publishes a version (admin token required); a stale ?base is refused with 409 naming ?force=1, an unknown parameter or a ?force other than 1 or 0 with 400, force=0 as no force', async () => {
    const body = JSON.stringify(policyDoc(as.issuer, echo.url));
    const { request } = await import('undici');
    const unauth = await request(`${proxies[0]!.adminUrl}/policy`, { method: 'POST', body });
    await unauth.body.dump();
    expect(unauth.statusCode).toBe(401);
    const stale = await request(`${proxies[0]!.adminUrl}/policy?base=1`, { method: 'POST', body, headers: { authorization: 'Bearer test-admin-token' } });
    expect(stale.statusCode).toBe(409);
    // the hint names the API's spelling, not the CLI's (before: "--force publishes anyway", a flag no API call has)
    const staleMessage = (await stale.body.json() as { message: string }).message;
    expect(staleMessage).toContain('?force=1 publishes anyway');
    expect(staleMessage).not.toContain('--force');
    // force=0 means no force: the stale base's 409, as without the parameter (before: 400)
    const noForce = await request(`${proxies[0]!.adminUrl}/policy?base=1&force=0`, { method: 'POST', body, headers: { authorization: 'Bearer test-admin-token' } });
    expect(noForce.statusCode).toBe(409);
    expect((await noForce.body.json() as { message: string }).message).toContain('?force=1 publishes anyway');
    // a ?force other than 1 is refused, not read as "no force" (before: force=true answered the same 409 as no force)
    for (const q of ['force=true', 'force', 'force=yes']) {
      const r = await request(`${proxies[0]!.adminUrl}/policy?base=1&${q}`, { method: 'POST', body, headers: { authorization: 'Bearer test-admin-token' } });
      expect(r.statusCode, q).toBe(400);
      expect((await r.body.json() as { message: string }).message, q).toBe('force: expected 1 (publish even when base is no longer the latest version) or 0 (do not)');
    }
    // a misspelt ?force is refused, not read as "no force" (before: 409 as if it were not there)
    const misspelt = await request(`${proxies[0]!.adminUrl}/policy?base=1&forse=1`, { method: 'POST', body, headers: { authorization: 'Bearer test-admin-token' } });
    expect(misspelt.statusCode).toBe(400);
    expect((await misspelt.body.json() as { message: string }).message).toBe('forse: unknown parameter (expected base, force)');
    const ok = await request(`${proxies[0]!.adminUrl}/policy`, { method: 'POST', body, headers: { authorization: 'Bearer test-admin-token' } });
    const j = await ok.body.json() as { pushed: boolean; version: number };
    expect(ok.statusCode).toBe(200);
    expect(j).toMatchObject({ pushed: true, version: 6 });
    await everyProxy('version 6', async (p) => (await admin(p, 'GET', '/policy')).body.version === 6);
  });

  it('a foreign (unsigned) entry written into the bucket is ignored and counted; the next push numbers past it and applies', async () => {
    const { connect } = await import('nats');
    const nc = await connect({ servers: [...nats.urls] });
    try {
      const kv = await (nc.jetstream()).views.kv(`${prefix.toUpperCase()}_POLICY`, { bindOnly: true });
      await kv.put('current', new TextEncoder().encode(JSON.stringify({ version: 99, policy: { routes: [] } })));
    } finally { await nc.close(); }
    const metric = async (p: ProxyProcess): Promise<string> => {
      const { request } = await import('undici');
      const r = await request(`${p.adminUrl}/metrics`, { headers: { authorization: 'Bearer test-admin-token' } });
      return r.body.text();
    };
    await everyProxy('the foreign entry to be counted', async (p) => /^portcullis_policy_entries_ignored_total\{reason="unsigned"\} 1\b/m.test(await metric(p)));
    for (const p of proxies) expect((await admin(p, 'GET', '/policy')).body).toMatchObject({ version: 6, error: null });
    const token = await as.issueJwt();
    for (const p of proxies) expect(await statusOf(p, '/api/x', token)).toBe(200);
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(policyDoc(as.issuer, echo.url, { scopes: ['orders:write'] }))]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/pushed version 7 /);
    await everyProxy('version 7', async (p) => (await admin(p, 'GET', '/policy')).body.version === 7);
    expect(await metric(proxies[0]!)).toMatch(/^portcullis_policy_applies_total \d+/m);
  });

  it('a version naming an instance\'s own secret (the bus key as an introspection client secret) is refused: POST /policy 422, every member keeps its version, the key is never sent', async () => {
    // the "authorization server" of the pushed issuer records what the members send it
    const evil = await startScriptedUpstream((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url?.startsWith('/jwks') === true ? '{"keys":[]}' : '{"active":false}');
    });
    try {
      const doc = policyDoc(as.issuer, echo.url, { routes: [
        { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} },
        { name: 'ev', match: { path: '/ev/*' }, upstream: 'app', auth: { issuers: ['evil'] } },
      ] }) as { issuers: Record<string, unknown> };
      doc.issuers.evil = {
        issuer: evil.url, discovery: false, jwks_uri: `${evil.url}/jwks`, audiences: ['x'],
        introspection: { endpoint: `${evil.url}/introspect`, client_id: 'c', client_secret_env: 'PT_BUS_KEY' },
      };
      const { request } = await import('undici');
      const posted = await request(`${proxies[0]!.adminUrl}/policy`, { method: 'POST', body: JSON.stringify(doc), headers: { authorization: 'Bearer test-admin-token' } });
      const pj = await posted.body.json() as { pushed: boolean; errors: Array<{ path: string; message: string }> };
      expect(posted.statusCode).toBe(422);
      expect(pj.pushed).toBe(false);
      expect(pj.errors).toContainEqual({ path: 'issuers.evil.introspection.client_secret_env', message: expect.stringMatching(/PT_BUS_KEY, which cluster\.auth\.key_env names/) });
      // a pusher whose own config reads the key from a file (or an older build) gets it into the bucket: every member refuses it
      const keyFile = join(tempDir(), 'bus.key');
      writeFileSync(keyFile, BUS_KEY, { mode: 0o600 });
      const local = localConfig(nats.urls, prefix, {}, {}, QUICK_BEAT) as { cluster: { auth: unknown } };
      local.cluster.auth = { key_file: keyFile };
      const fileCli = writeConfig(local);
      const r = await policyCli(['push', '--config', fileCli, '--policy', writePolicy(doc)]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/pushed version 8 /);
      await everyProxy('version 8 refused', async (p) => /version 8 refused/.test((await admin(p, 'GET', '/policy')).body.error ?? ''));
      for (const p of proxies) {
        const g = (await admin(p, 'GET', '/policy')).body;
        expect(g.version).toBe(7);
        expect(g.error).toMatch(/issuers\.evil\.introspection\.client_secret_env/);
        expect(await statusOf(p, '/ev/x', 'opaque-token-value')).toBe(404);
      }
      const sent = evil.seen.map((x) => String(x.headers.authorization ?? '')).join(' ');
      expect(sent).not.toContain(Buffer.from(`c:${encodeURIComponent(BUS_KEY)}`).toString('base64'));
      expect(evil.seen.filter((x) => x.url.startsWith('/introspect'))).toEqual([]);
    } finally { await evil.close(); }
  });
});
