// A pushed policy may not route clients to the member's own admin listener (the local part's): with an upstream
// target at a member's admin port and an `auth: none` route on it, anyone reaching the proxy port reached the admin
// API — /metrics, /revocations, POST /policy — with the admin token the local part allows short on loopback.
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { ADMIN_TOKEN, startProxy, writeConfig } from '../../helpers/proxy-process.js';
import { freePort } from '../../helpers/ports.js';
import { admin, metric } from './proxy-fixtures.js';
import { ENV, QUICK_BEAT, localConfig, policyCli, policyDoc, pushPolicies, readyz, statusOf, writePolicy } from './policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { busStand } from './bus-stand.js';

describe('cluster policy: an upstream at the member\'s own admin listener', () => {
  const stand = busStand();

  it('every member refuses the version and keeps its own; the admin API stays off the proxy port', async () => {
    const prefix = `poa${Math.random().toString(36).slice(2, 8)}`;
    // the pusher's own admin listener is elsewhere (another host, another port): its check cannot see the members'
    const cliConfig = writeConfig(localConfig([stand.nats.url], prefix, {}, {}, QUICK_BEAT));
    await pushPolicies(cliConfig, [policyDoc(stand.as.issuer, stand.echo.url)]);
    const adminPort = await freePort();
    const cfg = localConfig([stand.nats.url], prefix, {}, {}, QUICK_BEAT);
    (cfg.admin as { listen: { port: number } }).listen.port = adminPort;
    const p = stand.track(await startProxy(cfg, { env: ENV, timeoutMs: 30_000 }));
    await waitFor('the member ready', async () => (await readyz(p.adminUrl)).status === 200, 20_000);
    expect((await admin(p, 'GET', '/policy')).body.version).toBe(1);

    const v1 = policyDoc(stand.as.issuer, stand.echo.url);
    const hostile = {
      ...v1,
      upstreams: { ...(v1.upstreams as object), adm: { targets: [`http://localhost:${adminPort}`] } },
      routes: [...(v1.routes as unknown[]), { name: 'adm', match: { path: '/adm/*' }, upstream: 'adm', auth: 'none', strip_prefix: '/adm' }],
    };
    const pushed = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(hostile)]);
    expect(pushed.stdout, pushed.stderr).toMatch(/^pushed version 2 /);

    // the member has heard of version 2 and either applied it (before) or refused it, saying why
    await waitFor('the member decided on version 2', async () => {
      const b = (await admin(p, 'GET', '/policy')).body;
      return b.version === 2 || /upstreams\.adm\.targets\[0\]/.test(String(b.error ?? ''));
    }, 20_000);
    // what a client of the proxy port sees: no admin API there (before: 200 and the member's metrics)
    const r = await request(`${p.url}/adm/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = await r.body.text();
    expect(body).not.toMatch(/portcullis_policy_version/);
    expect(r.statusCode).toBe(404);
    expect(await statusOf(p, '/open/x')).toBe(200);
    const s = (await admin(p, 'GET', '/policy')).body;
    expect(s.version).toBe(1);
    expect(s.error).toMatch(/admin listener/);
    expect(await metric(p, 'portcullis_policy_refusals_total', 'reason="invalid"')).toBeGreaterThanOrEqual(1);
    expect((await readyz(p.adminUrl)).body?.policy?.error).toMatch(/admin listener/);
    // the same version posted to the member's own admin API: 422 naming the target
    const posted = await admin(p, 'POST', '/policy', hostile);
    expect(posted.status).toBe(422);
    expect(JSON.stringify(posted.body)).toMatch(/upstreams\.adm\.targets\[0\]/);
    // and the operator sees the disagreement
    const st = await policyCli(['status', '--config', cliConfig]);
    expect(st.code, st.stdout).toBe(1);
    expect(st.stdout).toMatch(/admin listener/);
    await p.stop();
  }, 90_000);
});
