// An authorization server that sheds load (429) or is down for maintenance (503) says how long to stay
// away (Retry-After). The proxy stops calling it for that long (capped at 60 s): tokens it has not
// judged yet get 503 at once with the server's wait, cached tokens still pass, calls resume after; a 403 holds nothing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import {
  SECRET_ENV, asIssuer, bearer, call, expectUnavailable, introspection, metrics, notForwarded,
  sample, startRecorder, waitReady, type Recorder, type Reply,
} from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let fake: Recorder;
let proxy: ProxyProcess;
/** While set, every introspection call is answered this status with this Retry-After. */
let shedding: { status: number; retryAfter: string } | null = null;

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  fake = await startRecorder((_req, _body, res) => {
    if (shedding !== null) { res.writeHead(shedding.status, { 'retry-after': shedding.retryAfter }).end(); return; }
    const exp = Math.floor(Date.now() / 1000) + 300;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ active: true, sub: 'bob', iss: as.issuer, exp }));
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as, { introspection: introspection({ endpoint: `${fake.url}/introspect`, cache_ttl_s: 300 }) }) },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), fake?.close()]);
});

const fresh = (): string => randomBytes(32).toString('base64url');
const get = (token: string): Promise<Reply> => call(`${proxy.url}/orders/1`, { headers: bearer(token) });
const refused = (token: string): Promise<Reply> => notForwarded(() => echo.requests, () => get(token));

describe('an authorization server answering 429/503 with Retry-After is left alone for that long', () => {
  it('a 403 (this client may not introspect) is no wait: 503, the next token is asked again, the log names the client\'s permission', async () => {
    shedding = { status: 403, retryAfter: '30' };
    const before = fake.hits.length;
    expectUnavailable(await refused(fresh()));
    expectUnavailable(await refused(fresh()));
    expect(fake.hits.length - before).toBe(2);
    expect(proxy.output()).toContain('the authorization server refused this client (client_id not allowed to introspect');
    shedding = null;
  });

  it('503 Retry-After: 1 (maintenance): the next token is not sent to it, and once the second has passed calls resume', async () => {
    shedding = { status: 503, retryAfter: '1' };
    const before = fake.hits.length;
    expectUnavailable(await refused(fresh()));
    shedding = null; // the server is back — but asked for a second
    expectUnavailable(await refused(fresh()));
    expect(fake.hits.length - before, 'calls to a server that asked to wait').toBe(1);
    // held failures are not cached: after the hold a fresh token is introspected and passes
    await waitFor('a fresh token to pass once the hold is over', async () => (await get(fresh())).status === 200, 10_000);
  });

  it('429 Retry-After: 30 (rate limited): five more tokens cost the server no call, their 503 carries its wait, a cached token still passes', async () => {
    const cached = fresh();
    expect((await get(cached)).status).toBe(200);
    shedding = { status: 429, retryAfter: '30' };
    const before = fake.hits.length;
    const heldBefore = sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_introspection_held_total') ?? 0;
    expectUnavailable(await refused(fresh()));
    for (let i = 0; i < 5; i++) {
      const r = await refused(fresh());
      expectUnavailable(r);
      // the server's wait, not the proxy's default 5 s: a client retrying sooner only meets another 503
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(20);
      expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(30);
    }
    expect(fake.hits.length - before, 'calls to a server that asked to wait').toBe(1);
    expect((await get(cached)).status).toBe(200);
    expect(sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_introspection_held_total')).toBe(heldBefore + 5);
    expect(proxy.output()).toContain('no call for 30 s (the server asks to wait)');
  });
});
