// Counters must not go down on a reload (a counter reset makes rate()/increase() lie and alerts
// misfire): a reload that changes an issuer replaces its introspection client, and one that
// changes an upstream replaces its pool; /metrics keeps every count the retired client made
// (singleflight waits, cache lookups, call time…, not only its calls) and the pool's ejections.
// Single process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { SECRET_ENV, asIssuer, bearer, call, introspection, metrics, sample, waitReady } from './tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';
import { freePort } from '../../helpers/ports.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let dead: string; // a target nobody listens on: its connect failure ejects it

/** One opaque-token route; `timeoutMs` differs between versions so a reload replaces the client and the pool. */
function config(timeoutMs: number): Record<string, unknown> {
  return baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, workers: 1 },
    issuers: { demo: asIssuer(as, { introspection: introspection({ timeout_ms: timeoutMs, cache_ttl_s: 60 }) }) },
    upstreams: { app: { targets: [dead, echo.url], eject: { consecutive_failures: 1 }, pool: { keep_alive_ms: timeoutMs } } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  });
}

/** Every `portcullis_introspection_*_total` and `portcullis_upstream_*_total` sample of one scrape: `name{labels}` → value. */
async function counters(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await metrics(proxy, ADMIN_TOKEN)).split('\n')) {
    const m = /^(portcullis_(?:introspection_(?!sync_)|upstream_)\w+_total(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m !== null) out[m[1]!] = Number(m[2]);
  }
  return out;
}

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  dead = `http://127.0.0.1:${await freePort()}`;
  proxy = await startProxy(config(2_000), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy, 15_000);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close()]);
});

describe('counters across a reload that replaces the issuer\'s introspection client and the upstream\'s pool', () => {
  it('keep every count the retired client and pool made (singleflight waits stay 1, ejections 1, not back to 0)', async () => {
    as.setIntrospection('slow', 300);
    const token = as.issueOpaque({ sub: 'alice' }, 60);
    const asked = as.counters.introspection;
    const both = [call(`${proxy.url}/api/a`, { headers: bearer(token) }), call(`${proxy.url}/api/b`, { headers: bearer(token) })];
    expect((await Promise.all(both)).map((r) => r.status)).toEqual([200, 200]);
    expect(as.counters.introspection - asked).toBe(1); // one call, the second lookup waited for it
    as.setIntrospection('normal');
    expect((await call(`${proxy.url}/api/c`, { headers: bearer(token) })).status).toBe(200); // a cache hit

    const before = await counters();
    expect(sample((await metrics(proxy, ADMIN_TOKEN)), 'portcullis_introspection_singleflight_waits_total')).toBe(1);
    await reloadWith(proxy, config(2_001));
    await waitFor('the new client is ready', async () => (await call(`${proxy.adminUrl}/readyz`)).status === 200, 10_000);
    const after = await counters();

    expect(after['portcullis_introspection_singleflight_waits_total']).toBe(1);
    expect([before['portcullis_upstream_ejections_total{upstream="app"}'], after['portcullis_upstream_ejections_total{upstream="app"}']]).toEqual([1, 1]);
    const lower = Object.entries(before).filter(([k, v]) => !(after[k]! >= v)).map(([k, v]) => `${k}: ${v} → ${after[k]}`);
    expect(lower).toEqual([]);
    expect(Object.keys(before).length).toBeGreaterThan(5);
  });
});
