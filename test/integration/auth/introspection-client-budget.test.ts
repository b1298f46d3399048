// Introspection places shared between clients: with no cap a flooder's queued junk makes room for another
// client's fresh token and a lone client's burst keeps every place; with `per_client_max` a flooder holds at
// most that many (late calls included) — one share per client over uWS, HTTP/2 and decision endpoints.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { SECRET_ENV, bearer, call, expectBearerError, expectUnavailable, waitReady, type Reply } from './tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';

/** An AS that answers known good tokens at once (unless `holdGood`) and holds every other answer until released. */
interface HoldingAs {
  url: string;
  hold: boolean;
  holdGood: boolean;
  good: Set<string>;
  /** Introspection calls for tokens not in `good`. */
  junkCalls: number;
  release(): void;
  close(): Promise<void>;
}

async function startHoldingAs(): Promise<HoldingAs> {
  const held: Array<() => void> = [];
  const state = { url: '', hold: true, holdGood: false, good: new Set<string>(), junkCalls: 0 } as HoldingAs;
  state.release = () => { for (const answer of held.splice(0)) answer(); };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token') ?? '';
      const isGood = state.good.has(token);
      const body = isGood ? { active: true, sub: 'alice', scope: 'orders:read', exp: Math.floor(Date.now() / 1000) + 600 } : { active: false };
      const answer = (): void => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)); };
      if (isGood && !(state.hold && state.holdGood)) return answer();
      if (!isGood) state.junkCalls++;
      if (state.hold) held.push(answer);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => { state.release(); server.close(() => resolve()); server.closeAllConnections(); });
  return state;
}

const CONNECTIONS = 4;
const PENDING = 4;
/** The `slow` issuer's hard cap (the default before the fair queue: a quarter of connections + max_pending). */
const PER_CLIENT = 2;
const FLOOD = 40;

let as: HoldingAs;
/** The AS of the `fair` issuer (no cap, said explicitly) and of the `burst` one (every default). */
let fairAs: HoldingAs;
let burstAs: HoldingAs;
let jwks: Server;
let echo: EchoUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  [as, fairAs, burstAs] = await Promise.all([startHoldingAs(), startHoldingAs(), startHoldingAs()]);
  const jwksUri = (): string => `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
  const introspected = (at: HoldingAs, more: Record<string, unknown>) => ({
    issuer: `${at.url}/`, discovery: false, jwks_uri: jwksUri(), audiences: ['api'],
    introspection: {
      endpoint: `${at.url}/introspect`, client_id: 'portcullis', client_secret_env: 'PORTCULLIS_TEST_INTROSPECTION_SECRET',
      timeout_ms: 10_000, connections: CONNECTIONS, max_pending: PENDING, ...more,
    },
  });
  jwks = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}'); });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    // behind a trusted front proxy; access log off and X-Forwarded-For kept: the peer address is read only for the budget
    server: {
      listen: { host: '127.0.0.1', port: 0 }, trust_forwarded: true, forwarded: { x_forwarded_for: 'keep' },
      decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'nginx' }] },
      http2: { listen: { host: '127.0.0.1', port: 0 } },
    },
    log: { level: 'info', access: false },
    issuers: {
      slow: {
        issuer: 'https://slow-as.test', discovery: false, jwks_uri: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`, audiences: ['api'],
        introspection: {
          endpoint: `${as.url}/introspect`, client_id: 'portcullis', client_secret_env: 'PORTCULLIS_TEST_INTROSPECTION_SECRET',
          // the flooder's calls time out for their waiters but stay on the wire (and hold their places) until released
          timeout_ms: 1_000, late_answer_ms: 60_000, connections: CONNECTIONS, max_pending: PENDING, per_client_max: PER_CLIENT,
        },
      },
      fair: introspected(fairAs, { per_client_max: 0 }),
      burst: introspected(burstAs, {}),
    },
    routes: [
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { issuers: ['slow'], scopes: { all: ['orders:read'] } } },
      { name: 'fair', match: { path: '/fair/*' }, upstream: 'app', auth: { issuers: ['fair'], scopes: { all: ['orders:read'] } } },
      { name: 'burst', match: { path: '/burst/*' }, upstream: 'app', auth: { issuers: ['burst'], scopes: { all: ['orders:read'] } } },
    ],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  jwks?.closeAllConnections();
  await Promise.all([as?.close(), fairAs?.close(), burstAs?.close(), echo?.close(), new Promise((resolve) => jwks?.close(resolve))]);
});

/** GET `path` from `localAddress` (any 127/8 address is this host), optionally naming a client in X-Forwarded-For. */
function get(token: string, from: { localAddress?: string; forwardedFor?: string } = {}, path = '/orders/1'): Promise<Reply> {
  const u = new URL(`${proxy.url}${path}`);
  const headers: Record<string, string> = { ...bearer(token), ...(from.forwardedFor !== undefined ? { 'x-forwarded-for': from.forwardedFor } : {}) };
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, headers, localAddress: from.localAddress ?? '127.0.0.1', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> | null = null;
        try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const junk = (): string => randomBytes(24).toString('base64url');
/** nginx auth_request from the edge (this host), naming the client in X-Forwarded-For. */
const decide = (token: string, client: string): Promise<Reply> =>
  call(`${proxy.url}/_portcullis/auth`, { headers: { ...bearer(token), 'x-original-uri': '/orders/1', 'x-original-method': 'GET', 'x-forwarded-for': client } });
const FLOODER = { forwardedFor: '203.0.113.7' };
const LIMITED = 'too many introspections waiting for this client';

/** The introspection counters of /cache/stats (summed over the issuers). */
async function stats(): Promise<Record<string, number>> {
  return (await call(`${proxy.adminUrl}/cache/stats`, { headers: bearer(ADMIN_TOKEN) })).json as Record<string, number>;
}

describe('introspection: the authorization server\'s places shared between clients', () => {
  it('no cap: a client\'s fresh good token makes room in a queue another client\'s junk fills, and is answered 200', async () => {
    const before = await stats();
    const flood = Promise.all(Array.from({ length: FLOOD }, () => get(junk(), FLOODER, '/fair/1')));
    // every connection holds a junk call, the queue is full of junk, the rest of the flood refused
    await waitFor('the flood filled the places', async () => fairAs.junkCalls === CONNECTIONS
      && (await stats())['introspection.calls_queue_full'] - before['introspection.calls_queue_full']! === FLOOD - CONNECTIONS - PENDING, 10_000);

    const fresh = junk();
    fairAs.good.add(fresh);
    const good = get(fresh, { forwardedFor: '198.51.100.9' }, '/fair/1');
    await waitFor('the good token was looked up', async () => (await stats())['introspection.cache_misses']! - before['introspection.cache_misses']! === FLOOD + 1, 10_000);
    // the AS answers the junk: the next connection goes to the next client in rotation
    fairAs.hold = false;
    fairAs.release();
    const answered = await good;
    expect(answered.status, answered.text).toBe(200);

    const replies = await flood;
    const by = (message: string) => replies.filter((r) => r.status === 503 && r.json?.message === message).length;
    expect(by('introspection queue full'), 'refused at once, the queue full').toBe(FLOOD - CONNECTIONS - PENDING);
    expect(by(LIMITED), 'the flooder\'s newest waiting call made room').toBe(1);
    expect(replies.filter((r) => r.status === 401).length, 'the rest asked the AS').toBe(CONNECTIONS + PENDING - 1);
    const metrics = (await call(`${proxy.adminUrl}/metrics`, { headers: bearer(ADMIN_TOKEN) })).text;
    expect(metrics).toMatch(/^portcullis_introspection_preempted_total 1$/m);
  });

  it('every default: one client (a front proxy without trust_forwarded) bursting fresh tokens gets every place — connections + max_pending, all 200', async () => {
    const before = (await stats())['introspection.cache_misses']!;
    const tokens = Array.from({ length: CONNECTIONS + PENDING }, () => junk());
    for (const t of tokens) burstAs.good.add(t);
    burstAs.holdGood = true;
    const burst = Promise.all(tokens.map((t) => get(t, {}, '/burst/1')));
    await waitFor('every token of the burst is on the wire or waiting', async () => (await stats())['introspection.cache_misses']! - before === tokens.length, 10_000);
    burstAs.hold = false;
    burstAs.release();
    const replies = await burst;
    expect(replies.map((r) => r.status)).toEqual(tokens.map(() => 200));
  });

  it('per_client_max: a client flooding distinct junk tokens holds at most per_client_max places; other clients\' fresh good tokens get 200 while it floods', async () => {
    // the flooder's own good token, cached before the flood
    const cached = junk();
    as.good.add(cached);
    expect((await get(cached, FLOODER)).status).toBe(200);

    const flood = Promise.all(Array.from({ length: FLOOD }, () => get(junk(), FLOODER)));
    await waitFor('the flooder\'s calls reached the AS', () => as.junkCalls >= PER_CLIENT, 10_000);

    // another address on this host (the connection's peer), and a client the trusted front proxy names
    const fresh = junk();
    as.good.add(fresh);
    const other = await get(fresh, { localAddress: '127.0.0.2' });
    expect(other.status, other.text).toBe(200);
    const named = junk();
    as.good.add(named);
    const forwarded = await get(named, { forwardedFor: '198.51.100.9' });
    expect(forwarded.status, forwarded.text).toBe(200);
    // a cached token is never refused for its client's budget
    expect((await get(cached, FLOODER)).status).toBe(200);

    const replies = await flood;
    for (const r of replies) expectUnavailable(r);
    const limited = replies.filter((r) => r.json?.message === LIMITED).length;
    expect(limited, 'refused at once for the client\'s budget').toBe(FLOOD - PER_CLIENT);
    expect(as.junkCalls, 'junk calls that reached the AS').toBe(PER_CLIENT);

    // its calls timed out for their waiters but are still on the wire: the flood goes on refused, the AS sees no more of it
    const more = await Promise.all(Array.from({ length: 10 }, () => get(junk(), FLOODER)));
    for (const r of more) { expectUnavailable(r); expect(r.json?.message).toBe(LIMITED); }
    expect(as.junkCalls).toBe(PER_CLIENT);
    // so does the HTTP/2 listener (h2c): one share per client, whichever door it uses
    const h2 = (token: string, client: string) => h2Fetch(`http://127.0.0.1:${http2PortOf(proxy.logs())}`, {
      ':method': 'GET', ':path': '/orders/1', authorization: `Bearer ${token}`, 'x-forwarded-for': client,
    });
    const overH2 = await h2(junk(), FLOODER.forwardedFor);
    expect(overH2.status).toBe(503);
    expect(overH2.json?.message).toBe(LIMITED);
    const h2Good = junk();
    as.good.add(h2Good);
    expect((await h2(h2Good, '198.51.100.21')).status).toBe(200);
    // a decision endpoint charges the client the edge names: the flooder's share is spent there too, another's is not
    const viaEdge = await decide(junk(), FLOODER.forwardedFor);
    expectUnavailable(viaEdge);
    expect(viaEdge.json?.message).toBe(LIMITED);
    const edgeGood = junk();
    as.good.add(edgeGood);
    const allowed = await decide(edgeGood, '198.51.100.20');
    expect(allowed.status, allowed.text).toBe(200);
    const metrics = (await call(`${proxy.adminUrl}/metrics`, { headers: bearer(ADMIN_TOKEN) })).text;
    expect(metrics).toMatch(new RegExp(`^portcullis_introspection_client_limited_total ${FLOOD - PER_CLIENT + 12}$`, 'm'));

    // the AS answers: the calls leave the wire and give their places back; nothing refused was cached
    as.hold = false;
    as.release();
    await waitFor('the late answers arrived', async () => {
      const s = (await call(`${proxy.adminUrl}/cache/stats`, { headers: bearer(ADMIN_TOKEN) })).json as Record<string, number>;
      return s['introspection.calls_late'] >= PER_CLIENT;
    }, 10_000);
    const again = await Promise.all(Array.from({ length: PER_CLIENT }, () => get(junk(), FLOODER)));
    for (const r of again) expectBearerError(r, 401, 'invalid_token');
  });
});
