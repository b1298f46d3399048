// A flood of distinct junk opaque tokens against a (very) slow authorization server: the
// proxy never opens more AS connections than `introspection.connections`, sheds what
// does not fit `max_pending` with 503 + Retry-After (counted), lets a timed-out call
// finish on its connection (its late answer fills the cache) and caches no failure; and with
// the AS fast, the junk's "inactive" answers never push a good token's answer out of the cache.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { SECRET_ENV, bearer, call, expectBearerError, expectUnavailable, waitReady, type Reply } from './tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * An AS whose introspection answers are held until the test releases them (slower than any
 * timeout, whatever the machine's load), or given at once with `hold = false`; counts TCP
 * connections and requests.
 */
interface SlowAs {
  url: string;
  hold: boolean;
  /** Answer every held request now. */
  release(): void;
  /** TCP connections accepted since start (server 'connection' events). */
  connections: number;
  /** Most connections open at the same time. */
  maxOpen: number;
  requests: number;
  answered: number;
  active: Set<string>;
  close(): Promise<void>;
}

async function startSlowAs(): Promise<SlowAs> {
  let open = 0;
  const held: Array<() => void> = [];
  const state = { url: '', hold: true, connections: 0, maxOpen: 0, requests: 0, answered: 0, active: new Set<string>() } as SlowAs;
  state.release = () => { for (const answer of held.splice(0)) answer(); };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token') ?? '';
      const body = state.active.has(token)
        ? { active: true, sub: 'late-alice', scope: 'orders:read', exp: Math.floor(Date.now() / 1000) + 600 }
        : { active: false };
      const answer = (): void => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        state.answered++;
      };
      if (state.hold) held.push(answer);
      else answer();
    });
  });
  server.on('connection', (s) => {
    state.connections++;
    open++;
    state.maxOpen = Math.max(state.maxOpen, open);
    s.on('close', () => { open--; });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
  return state;
}

const POOL = 4;
const PENDING = 4;
const TIMEOUT_MS = 1_000;
const FLOOD = 300;
/**
 * About how many "inactive" answers (~600 B each) `verifier.cache_bytes` holds: small, so that a few dozen
 * junk tokens fill both the issuer's cache and the owner's kept results (bounded by the same bytes).
 */
const CACHE_ENTRIES = 16;
const CACHE_BYTES = CACHE_ENTRIES * 640;

let as: SlowAs;
let jwks: Server; // apart from the AS, so that its connections count introspection alone
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  as = await startSlowAs();
  jwks = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}'); });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      slow: {
        issuer: 'https://slow-as.test', discovery: false, jwks_uri: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`, audiences: ['api'],
        introspection: {
          endpoint: `${as.url}/introspect`, client_id: 'portcullis', client_secret_env: 'PORTCULLIS_TEST_INTROSPECTION_SECRET',
          // one client floods here: one lane of the fair queue, no cap (the default, said here; introspection-client-budget.test.ts: several clients)
          timeout_ms: TIMEOUT_MS, negative_ttl_s: 60, connections: POOL, max_pending: PENDING, per_client_max: 0,
        },
      },
    },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }],
    verifier: { pool_size: 1, cache_bytes: CACHE_BYTES },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  jwks?.closeAllConnections();
  await Promise.all([as?.close(), echo?.close(), new Promise((resolve) => jwks?.close(resolve))]);
});

const get = (token: string): Promise<Reply> => call(`${proxy.url}/orders/1`, { headers: bearer(token) });
const stats = async (): Promise<Record<string, number>> =>
  (await call(`${proxy.adminUrl}/cache/stats`, { headers: bearer(ADMIN_TOKEN) })).json as Record<string, number>;
const junk = (): string => randomBytes(24).toString('base64url');

describe('introspection under a flood of junk tokens with a slow authorization server', () => {
  it('opens at most `connections` AS connections, sheds the excess with 503 + Retry-After, and a late answer fills the cache', async () => {
    const good = junk();
    as.active.add(good);
    // the good token goes first so that its call holds one of the pool's connections
    const goodReply = get(good);
    await waitFor('as.requests >= 1', () => as.requests >= 1, 10_000);
    const tokens = Array.from({ length: FLOOD }, junk);
    const replies = await Promise.all(tokens.map(get));

    for (const r of [await goodReply, ...replies]) expectUnavailable(r);
    expect(as.connections, 'AS connections opened during the flood').toBeLessThanOrEqual(POOL);
    // the AS answers nothing yet, so the POOL calls on the wire are the only ones it ever got
    expect(as.requests, 'calls that reached the AS').toBe(POOL);
    const shed = replies.filter((r) => r.json?.message === 'introspection queue full').length;
    const timedOut = replies.filter((r) => r.json?.message === 'authorization server timed out').length;
    expect(shed + timedOut).toBe(FLOOD);
    // POOL calls hold the connections, up to PENDING at a time wait for one (and time out): the rest is shed at once
    expect(shed).toBeGreaterThanOrEqual(FLOOD / 2);
    const s = await stats();
    expect(s['introspection.calls_queue_full']).toBe(shed);

    // the AS answers at last: the timed-out calls finish on their connections; the good token's late answer is cached
    as.release();
    await waitFor("(await stats())['introspection.calls_late'] >= as.requests", async () => (await stats())['introspection.calls_late'] >= as.requests, 10_000);
    const before = as.requests;
    const ok = await get(good);
    expect(ok.status, ok.text).toBe(200);
    expect(JSON.parse(ok.text).headers['x-auth-subject']).toBe('late-alice');
    expect(as.requests, 'the late answer was served from the cache').toBe(before);
    expect(as.connections).toBeLessThanOrEqual(POOL);
    expect(as.maxOpen).toBeLessThanOrEqual(POOL);
  });

  it('caches nothing for a shed or timed-out token: once the AS is fast again it is asked and its answer decides', async () => {
    as.hold = false;
    as.release();
    const shedToken = junk();
    const knownGood = junk();
    as.active.add(knownGood);
    const before = as.requests;
    expectBearerError(await get(shedToken), 401, 'invalid_token');
    expect((await get(knownGood)).status).toBe(200);
    expect(as.requests - before).toBe(2);
    expect(as.maxOpen).toBeLessThanOrEqual(POOL);
  });

  it('junk answered "inactive" never evicts a good token\'s cached answer: the AS is not asked for it again', async () => {
    as.hold = false;
    const good = junk();
    as.active.add(good);
    expect((await get(good)).status).toBe(200);
    const before = as.requests;
    // three cache-fulls of distinct junk, a pool's worth at a time (none shed): each one costs one call, answered inactive
    for (let round = 0; round < (3 * CACHE_ENTRIES) / POOL; round++) {
      const replies = await Promise.all(Array.from({ length: POOL }, () => get(junk())));
      for (const r of replies) expectBearerError(r, 401, 'invalid_token');
    }
    expect(as.requests - before, 'one call per junk token').toBe(3 * CACHE_ENTRIES);
    const ok = await get(good);
    expect(ok.status, ok.text).toBe(200);
    expect(as.requests - before, 'the good token was answered from the cache, not introspected again').toBe(3 * CACHE_ENTRIES);
    // the junk still gets its negative caching in the room good answers leave: a repeat is answered from the cache
    const repeated = junk();
    expectBearerError(await get(repeated), 401, 'invalid_token');
    const calls = as.requests;
    expectBearerError(await get(repeated), 401, 'invalid_token');
    expect(as.requests).toBe(calls);
  });
});
