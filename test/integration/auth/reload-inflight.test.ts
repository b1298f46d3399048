// A reload that replaces an upstream pool must not refuse the requests that started before it:
// README "In-flight requests finish on the snapshot they started with". Found by the soak probe
// (reloads every second under token churn): a request still authenticating (introspection
// answering slowly) when the reload committed reached the old pool after it had closed and got
// 502 from a healthy upstream. Single process and `--workers 2`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { SECRET_ENV, asIssuer, bearer, call, introspection, waitReady } from './tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const SLOW_MS = 1_200;

let as: AuthServer;
let echo: EchoUpstream;

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
});

afterAll(async () => {
  as?.setIntrospection('normal');
  await Promise.all([as?.close(), echo?.close()]);
});

/** One opaque-token route to `app`; `keepAliveMs` differs between versions so a reload builds a new pool. */
function config(keepAliveMs: number, workers: number, timeoutMs = 3 * SLOW_MS): Record<string, unknown> {
  return baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, workers },
    issuers: { demo: asIssuer(as, { introspection: introspection({ timeout_ms: timeoutMs, cache_ttl_s: 1 }) }) },
    upstreams: { app: { targets: [echo.url], pool: { keep_alive_ms: keepAliveMs } } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  });
}

describe.each([1, 2])('requests authenticating across a reload (workers: %i)', (workers) => {
  let proxy: ProxyProcess;

  beforeAll(async () => {
    proxy = await startProxy(config(4_000, workers), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
    await waitReady(proxy, 15_000);
  });

  afterAll(async () => {
    as.setIntrospection('normal');
    await proxy?.stop();
  });

  it('reach the upstream (200), never a 502 from the pool the reload retired', async () => {
    as.setIntrospection('slow', SLOW_MS);
    const asked = as.counters.introspection;
    // several in flight so that with --workers 2 each worker has some waiting on introspection
    const inflight = Array.from({ length: 6 }, () => call(`${proxy.url}/api/x`, { headers: bearer(as.issueOpaque({ sub: 'alice' }, 60)) }));
    await waitFor('as.counters.introspection - asked >= 6', () => as.counters.introspection - asked >= 6, 10_000, { detail: () => 'the six at introspection' });
    await reloadWith(proxy, config(4_001, workers));
    const replies = await Promise.all(inflight);
    expect(replies.map((r) => `${r.status} ${r.status === 200 ? '' : r.text}`)).toEqual(replies.map(() => '200 '));
    as.setIntrospection('normal');
    // and the new pool serves what comes after
    expect((await call(`${proxy.url}/api/y`, { headers: bearer(as.issueOpaque({ sub: 'bob' }, 60)) })).status).toBe(200);
  });

  it('waiting on an introspection client the reload replaced (issuer changed) get its answer (200), not 503', async () => {
    as.setIntrospection('slow', SLOW_MS);
    const asked = as.counters.introspection;
    const inflight = Array.from({ length: 6 }, () => call(`${proxy.url}/api/x`, { headers: bearer(as.issueOpaque({ sub: 'carol' }, 60)) }));
    await waitFor('as.counters.introspection - asked >= 6', () => as.counters.introspection - asked >= 6, 10_000, { detail: () => 'the six at introspection' });
    await reloadWith(proxy, config(4_002, workers, 3 * SLOW_MS + 1));
    const replies = await Promise.all(inflight);
    expect(replies.map((r) => `${r.status} ${r.status === 200 ? '' : r.text}`)).toEqual(replies.map(() => '200 '));
  });
});
