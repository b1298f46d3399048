// A decision call (nginx auth_request) waiting on introspection when a reload replaces the
// issuer's introspection client: it gets the decision of the snapshot it started with (200 and
// the identity headers), never a 503 caused only by the reload. `serve` inline and `--workers 2`.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { DECISION, INTROSPECTION_SECRET, decisionPolicy, send, waitReady } from './decision-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const SLOW_MS = 1_200;
const ENV = { ...ADMIN_ENV, PT_INTROSPECTION_SECRET: INTROSPECTION_SECRET };
let as: AuthServer;
let echo: EchoUpstream;

beforeAll(async () => { [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]); });
afterAll(async () => {
  as?.setIntrospection('normal');
  await Promise.all([as?.close(), echo?.close()]);
});

/** The decision fixtures' policy; the introspection `timeout_ms` differs between versions so a reload replaces the client. */
function config(workers: number, timeoutMs: number): Record<string, unknown> {
  const policy = decisionPolicy(as, echo.url) as { issuers: { demo: Record<string, unknown> } };
  const demo = policy.issuers.demo;
  return {
    server: { listen: { host: '127.0.0.1', port: 0 }, decision: DECISION, workers },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    ...policy,
    issuers: { demo: { ...demo, introspection: { ...(demo.introspection as object), timeout_ms: timeoutMs } } },
    internal_tokens: undefined,
    routes: (policy as unknown as { routes: Array<{ name: string }> }).routes.filter((r) => r.name === 'orders'),
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  };
}

describe.each([1, 2])('decision calls waiting on introspection across a reload (workers: %i)', (workers) => {
  let proxy: ProxyProcess;
  beforeAll(async () => {
    proxy = await startProxy(JSON.parse(JSON.stringify(config(workers, 3 * SLOW_MS))), { env: ENV });
    await waitReady(proxy.adminUrl, ADMIN_TOKEN);
  });
  afterAll(async () => {
    as.setIntrospection('normal');
    await proxy?.stop();
  });

  it('answer 200 with the identity headers, never a 503 from the replaced client', async () => {
    as.setIntrospection('slow', SLOW_MS);
    const asked = as.counters.introspection;
    const inflight = Array.from({ length: 4 }, (_, i) => send(`${proxy.url}/_portcullis/auth`, {
      'x-original-uri': `/orders/${i}`, 'x-original-method': 'GET', host: 'api.example',
      authorization: `Bearer ${as.issueOpaque({ sub: `u${i}`, scope: 'orders:read' }, 60)}`,
    }));
    await waitFor('as.counters.introspection - asked >= 4', () => as.counters.introspection - asked >= 4, 10_000, { detail: () => 'the four at introspection' });
    writeFileSync(proxy.configPath, stringify(JSON.parse(JSON.stringify(config(workers, 3 * SLOW_MS + 1)))));
    const r = await send(`${proxy.adminUrl}/reload`, { authorization: `Bearer ${ADMIN_TOKEN}` }, 'POST');
    expect(r.status, r.text).toBe(200);
    const replies = await Promise.all(inflight);
    expect(replies.map((x) => `${x.status} ${String(x.headers['x-auth-subject'])}`)).toEqual(replies.map((_, i) => `200 u${i}`));
  });
});

