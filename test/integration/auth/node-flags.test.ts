// `node <flags> portcullis serve` as operators start it with heap or diagnostics flags
// (systemd ExecStart, a container's CMD): the verifier threads start and verify tokens.
// Regression: a V8 flag (--max-old-space-size, --expose-gc…) was copied into the pool's
// worker execArgv, new Worker() refused it and the proxy did not start.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { asIssuer, bearer, call, metrics, sample, waitReady } from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
const running: ProxyProcess[] = [];

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
});
afterEach(async () => { await Promise.all(running.splice(0).map((p) => p.stop())); });
afterAll(async () => { await as?.close(); await echo?.close(); });

const config = (): Record<string, unknown> => baseConfig(echo.url, {
  issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
  routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }],
  verifier: { pool_size: 1, mode: 'pool' },
});

const V8_AND_HEAP_FLAGS = ['--max-old-space-size=512', '--expose-gc', '--stack-trace-limit=30', '--enable-source-maps'];

describe('node flags on the command line', () => {
  it.each([
    ['one process', [] as string[]],
    ['two worker processes', ['--workers', '2']],
  ])('%s: starts with V8/heap flags and verifies tokens on the pool', async (_name, args) => {
    const proxy = await startProxy(config(), { env: ADMIN_ENV, args, nodeArgs: V8_AND_HEAP_FLAGS });
    running.push(proxy);
    await waitReady(proxy, 15_000);
    const good = await call(`${proxy.url}/orders/1`, { headers: bearer(await as.issueJwt({ sub: 'alice', scope: 'orders:read' })) });
    expect(good.status).toBe(200);
    const forged = await call(`${proxy.url}/orders/1`, { headers: bearer(`${await as.issueJwt({ sub: 'alice', scope: 'orders:read' })}x`) });
    expect(forged.status).toBe(401);
    const text = await metrics(proxy, ADMIN_TOKEN);
    expect(sample(text, 'portcullis_verifier_pool_tokens_total') ?? 0).toBeGreaterThanOrEqual(2); // both went through a verifier thread
    expect(proxy.output()).not.toMatch(/invalid execArgv/);
  });
});
