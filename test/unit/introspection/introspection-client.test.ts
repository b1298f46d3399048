// RFC 7662 client against real authorization servers on port 0: the embedded dev AS for
// behaviour (active, inactive, caching, single-flight, down, slow) and a scripted
// node:http AS for the wire format (client auth encoding) and broken answers.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import type { IntrospectionResult } from '../../../node/contracts/index.js';
import { IntrospectionClient, formEncode, type IntrospectionClientOptions } from '../../../node/introspection/index.js';
import { issuerSchema } from '../../../node/config/index.js';
import type { VerifyOutcome } from '../../../node/pipeline/token-verifier.js';
import { waitFor } from '../../helpers/wait.js';

const ENV = { AS_SECRET: 'portcullis-secret' };
const sha256hex = (t: string): string => createHash('sha256').update(t).digest('hex');

function issuer(endpoint: string, introspection: Record<string, unknown> = {}) {
  return issuerSchema.parse({
    // the dev AS names itself (its origin) as iss in its answers; other endpoints here answer without iss
    issuer: endpoint.endsWith('/introspect') ? new URL(endpoint).origin : 'https://as.example', audiences: ['portcullis-demo'],
    introspection: { endpoint, client_id: 'portcullis', client_secret_env: 'AS_SECRET', ...introspection },
  });
}

const clients: IntrospectionClient[] = [];
function client(endpoint: string, introspection: Record<string, unknown> = {}, opts: Partial<IntrospectionClientOptions> = {}): IntrospectionClient {
  const c = new IntrospectionClient({ name: 'demo', issuer: issuer(endpoint, introspection), env: ENV, ...opts });
  clients.push(c);
  return c;
}
afterEach(async () => { await Promise.all(clients.splice(0).map((c) => c.close())); });

/** A clock the test moves. */
function clock(start = Date.now()) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

describe('introspection against the dev authorization server', () => {
  let as: AuthServer;
  beforeAll(async () => { as = await startAuthServer(); });
  afterAll(async () => { await as.close(); });
  afterEach(() => { as.setIntrospection('normal'); as.resetCounters(); });

  for (const auth_method of ['client_secret_basic', 'client_secret_post'] as const) {
    it(`turns an active token into an opaque principal (${auth_method})`, async () => {
      const token = as.issueOpaque({ sub: 'carol', scope: 'orders:read orders:write', tenant: 'acme' }, 600);
      const c = client(as.introspectionEndpoint, { auth_method });
      const r = await c.lookup(token);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const p = r.principal;
      expect(p).toMatchObject({ issuer: 'demo', kind: 'opaque', scopes: ['orders:read', 'orders:write'] });
      expect(p.claims).toMatchObject({ sub: 'carol', tenant: 'acme', iss: as.issuer });
      expect(p.claims).not.toHaveProperty('active');
      expect(p.exp).toBeGreaterThan(Date.now() / 1000 + 590);
      expect(p.validUntil).toBe(p.exp + 60); // exp + clock_skew_s: the instant HTTP and live connections refuse it
      expect(p.fingerprint).toBe(sha256hex(token).slice(0, 16));
      expect(Object.isFrozen(p.claims)).toBe(true);
      // second lookup: synchronous, from the cache
      expect(c.lookup(token)).toBe(r);
      expect(as.counters.introspection).toBe(1);
      expect(c.stats()).toMatchObject({ calls_ok: 1, cache_hits: 1, cache_misses: 1, latency_count: 1 });
    });
  }

  it('answers an unknown or revoked token with 401 invalid_token and caches that for negative_ttl_s', async () => {
    const t = clock();
    const c = client(as.introspectionEndpoint, { negative_ttl_s: 5 }, { now: t.now });
    const token = as.issueOpaque({}, 600);
    expect((await c.lookup(token)).ok).toBe(true);
    as.revokeOpaque(token);
    c.evict(sha256hex(token));
    const r = await c.lookup(token);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('PORTCULLIS_ERR_AUTH_INVALID_TOKEN');
    expect(r.reason).toBe('inactive');
    expect(as.counters.introspection).toBe(2);
    t.advance(4_000);
    expect(c.lookup(token)).toBe(r);
    expect(as.counters.introspection).toBe(2);
    t.advance(1_000);
    expect(await c.lookup(token)).toMatchObject({ ok: false, reason: 'inactive' });
    expect(as.counters.introspection).toBe(3);
    expect(c.stats()).toMatchObject({ calls_ok: 1, calls_inactive: 2 });
  });

  it('never caches a positive answer past the token exp, nor past cache_ttl_s', async () => {
    const t = clock();
    const c = client(as.introspectionEndpoint, { cache_ttl_s: 60 }, { now: t.now });
    const short = as.issueOpaque({}, 3); // expires in 3 s, well before the 60 s TTL
    await c.lookup(short);
    t.advance(1_500);
    expect(c.lookup(short)).not.toBeInstanceOf(Promise);
    t.advance(2_000);
    const again = c.lookup(short);
    expect(again).toBeInstanceOf(Promise); // exp passed: asked again
    await again;
    expect(as.counters.introspection).toBe(2);

    const t2 = clock();
    const c2 = client(as.introspectionEndpoint, { cache_ttl_s: 10 }, { now: t2.now });
    const long = as.issueOpaque({}, 3600);
    await c2.lookup(long);
    t2.advance(9_900);
    expect(c2.lookup(long)).not.toBeInstanceOf(Promise);
    t2.advance(200);
    await c2.lookup(long);
    expect(as.counters.introspection).toBe(4);
  });

  it('makes one call for 100 concurrent lookups of the same token', async () => {
    as.setIntrospection('slow', 100);
    const c = client(as.introspectionEndpoint);
    const token = as.issueOpaque({ sub: 'dave' }, 600);
    const results = await Promise.all(Array.from({ length: 100 }, () => c.lookup(token)));
    expect(as.counters.introspection).toBe(1);
    expect(results.every((r) => r.ok && r.principal.claims.sub === 'dave')).toBe(true);
    expect(c.stats()).toMatchObject({ singleflight_waits: 99, calls_ok: 1 });
    // distinct tokens are not coalesced
    const others = [as.issueOpaque({}, 600), as.issueOpaque({}, 600)];
    await Promise.all(others.map((o) => c.lookup(o)));
    expect(as.counters.introspection).toBe(3);
  });

  it('answers 503 with Retry-After when the AS is down, and never caches the failure', async () => {
    const c = client(as.introspectionEndpoint, {}, { retryAfterS: 5 });
    const token = as.issueOpaque({}, 600);
    as.setIntrospection('down');
    const r = await c.lookup(token);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE', retryAfter: 5 });
    expect(r.reason).toBe('introspection_http_error');
    expect(await c.lookup(token)).toMatchObject({ ok: false, reason: 'introspection_http_error' });
    expect(as.counters.introspection).toBe(2);
    as.setIntrospection('normal');
    expect((await c.lookup(token)).ok).toBe(true);
    expect(c.stats()).toMatchObject({ calls_failed: 2, calls_ok: 1 });
  });

  it('times out a slow AS at timeout_ms with 503, not cached', async () => {
    as.setIntrospection('slow', 2_000);
    const c = client(as.introspectionEndpoint, { timeout_ms: 200 });
    const token = as.issueOpaque({}, 600);
    const started = Date.now();
    const r = await c.lookup(token);
    const elapsed = Date.now() - started;
    // the AS answers after 2 s: a timeout reason (not its answer) means timeout_ms cut the call
    expect(r).toMatchObject({ ok: false, reason: 'introspection_timeout', error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' } });
    expect(elapsed).toBeGreaterThanOrEqual(190);
    as.setIntrospection('normal');
    expect((await c.lookup(token)).ok).toBe(true);
  });

  it('answers 503 when the AS refuses connections', async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const c = client(`http://127.0.0.1:${port}/introspect`);
    expect(await c.lookup('abc')).toMatchObject({ ok: false, reason: 'introspection_network_error', error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE', retryAfter: 5 } });
  });

  it('reports answers through onResult keyed by SHA-256 hex, and a primed result is served synchronously', async () => {
    const seen: Array<[string, IntrospectionResult]> = [];
    const c = client(as.introspectionEndpoint, {}, { onResult: (h, r) => seen.push([h, r]) });
    const token = as.issueOpaque({ sub: 'erin' }, 600);
    await c.lookup(token);
    expect(seen).toHaveLength(1);
    const [key, result] = seen[0]!;
    expect(key).toBe(sha256hex(token));
    expect(result).toMatchObject({ active: true, claims: { sub: 'erin' } });
    expect(JSON.stringify(seen)).not.toContain(token);

    const other = client(as.introspectionEndpoint);
    expect(other.prime(key, result)).toBe(true);
    const hit = other.lookup(token);
    expect(hit).not.toBeInstanceOf(Promise);
    expect((hit as VerifyOutcome).ok && (hit as { principal: { claims: Record<string, unknown> } }).principal.claims.sub).toBe('erin');
    expect(as.counters.introspection).toBe(1);
    expect(other.prime('not-a-hash', result)).toBe(false);
  });

  it('does not cache an answer that was evicted while in flight (revocation race)', async () => {
    as.setIntrospection('slow', 100);
    const c = client(as.introspectionEndpoint);
    const token = as.issueOpaque({}, 600);
    const pending = c.lookup(token);
    c.evict(sha256hex(token));
    expect((await pending).ok).toBe(true);
    expect(c.lookup(token)).toBeInstanceOf(Promise);
    await c.lookup(token);
  });

  it('keeps at most maxEntries cached tokens (LRU)', async () => {
    const c = client(as.introspectionEndpoint, {}, { maxEntries: 2 });
    const [a, b, d] = [as.issueOpaque({}, 600), as.issueOpaque({}, 600), as.issueOpaque({}, 600)];
    await c.lookup(a);
    await c.lookup(b);
    c.lookup(a); // a is now the most recent
    await c.lookup(d); // evicts b
    expect(c.lookup(a)).not.toBeInstanceOf(Promise);
    expect(c.lookup(b)).toBeInstanceOf(Promise);
    expect(c.stats()).toMatchObject({ cache_entries: 2 });
    await c.lookup(b);
  });

  it('lets a coordinator answer for the AS (cluster owner) and counts a failing one as unavailable', async () => {
    const remote: IntrospectionResult = { active: true, claims: { sub: 'frank', scope: 'x' }, expiresAt: Date.now() + 60_000 };
    const c = client(as.introspectionEndpoint, {}, { coordinate: async () => remote });
    const r = await c.lookup('tok-from-elsewhere');
    expect(r.ok && r.principal.claims.sub).toBe('frank');
    expect(as.counters.introspection).toBe(0);
    const broken = client(as.introspectionEndpoint, {}, { coordinate: async () => { throw new Error('bus down'); } });
    expect(await broken.lookup('t')).toMatchObject({ ok: false, error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' } });
  });

  it('answers 503 after close, and aborts calls in flight', async () => {
    as.setIntrospection('slow', 1_000);
    const c = new IntrospectionClient({ name: 'demo', issuer: issuer(as.introspectionEndpoint), env: ENV });
    const pending = c.lookup(as.issueOpaque({}, 600));
    await new Promise((r) => setTimeout(r, 50));
    await c.close();
    expect(await pending).toMatchObject({ ok: false, reason: 'introspection_closed' });
    expect(c.lookup('x')).toMatchObject({ ok: false, reason: 'introspection_closed' });
  });

  it('retired by a reload: a lookup already waiting gets the AS answer, then the client closes', async () => {
    as.setIntrospection('slow', 300);
    const c = new IntrospectionClient({ name: 'demo', issuer: issuer(as.introspectionEndpoint), env: ENV });
    const pending = c.lookup(as.issueOpaque({ sub: 'dave' }, 600));
    await new Promise((r) => setTimeout(r, 50));
    c.retire();
    const r = await pending;
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(c.stats().cache_entries).toBe(1);
    // closing drops the cache: wait for that without starting lookups that would keep it busy
    await waitFor('c.stats().cache_entries === 0', () => c.stats().cache_entries === 0, 3_000, { detail: () => 'retired client never closed' });
    expect(c.lookup('x')).toMatchObject({ ok: false, reason: 'introspection_closed' });
  });

  it('retired with nothing waiting: closes at once', async () => {
    const c = new IntrospectionClient({ name: 'demo', issuer: issuer(as.introspectionEndpoint), env: ENV });
    c.retire();
    await new Promise((r) => setImmediate(r));
    expect(c.lookup('x')).toMatchObject({ ok: false, reason: 'introspection_closed' });
  });
});

/** A scripted AS: records requests and answers with whatever the test sets. */
interface Recorded { headers: IncomingMessage['headers']; body: string }
function scriptedAs(): Promise<{ url: string; seen: Recorded[]; reply: (res: ServerResponse, req: Recorded) => void; server: Server; setReply(f: (res: ServerResponse, req: Recorded) => void): void }> {
  return new Promise((resolve) => {
    const state = {
      url: '', seen: [] as Recorded[], server: null as unknown as Server,
      reply: (res: ServerResponse, _req: Recorded): void => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"active":false}'); },
      setReply(f: (res: ServerResponse, req: Recorded) => void) { state.reply = f; },
    };
    state.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        state.seen.push(r);
        state.reply(res, r);
      });
    });
    state.server.listen(0, '127.0.0.1', () => {
      state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/introspect`;
      resolve(state);
    });
  });
}

describe('introspection wire format and broken answers (scripted AS)', () => {
  let as: Awaited<ReturnType<typeof scriptedAs>>;
  beforeAll(async () => { as = await scriptedAs(); });
  afterAll(async () => { as.server.closeAllConnections(); await new Promise<void>((r) => as.server.close(() => r())); });
  afterEach(() => { as.seen.length = 0; });

  const json = (status: number, body: string) => (res: ServerResponse): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  };

  it('form-encodes client id and secret before Basic (RFC 6749 §2.3.1) and posts token + hint', async () => {
    as.setReply(json(200, '{"active":false}'));
    const env = { S: 'p@ss:w/rd+ü %' };
    const c = new IntrospectionClient({
      name: 'x', env,
      issuer: issuerSchema.parse({ issuer: 'i', audiences: ['a'], introspection: { endpoint: as.url, client_id: 'my client:1', client_secret_env: 'S' } }),
    });
    clients.push(c);
    await c.lookup('tok+/en==');
    const req = as.seen[0]!;
    const basic = Buffer.from(req.headers.authorization!.slice(6), 'base64').toString('utf8');
    expect(basic).toBe('my+client%3A1:p%40ss%3Aw%2Frd%2B%C3%BC+%25');
    const [id, secret] = basic.split(':').map((s) => decodeURIComponent(s.replace(/\+/g, ' ')));
    expect([id, secret]).toEqual(['my client:1', 'p@ss:w/rd+ü %']);
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new URLSearchParams(req.body);
    expect(form.get('token')).toBe('tok+/en==');
    expect(form.get('token_type_hint')).toBe('access_token');
    expect(form.has('client_secret')).toBe(false);
  });

  it('sends client_secret_post credentials in the body and no Authorization header', async () => {
    as.setReply(json(200, '{"active":false}'));
    const c = client(as.url, { auth_method: 'client_secret_post' });
    await c.lookup('t1');
    const req = as.seen[0]!;
    expect(req.headers.authorization).toBeUndefined();
    const form = new URLSearchParams(req.body);
    expect([form.get('client_id'), form.get('client_secret'), form.get('token')]).toEqual(['portcullis', 'portcullis-secret', 't1']);
  });

  it('lets a timed-out call finish on its connection: the late answer fills the cache, unless the token was evicted meanwhile', async () => {
    const held: ServerResponse[] = [];
    as.setReply((res) => { held.push(res); });
    const c = client(as.url, { timeout_ms: 100, connections: 2 });
    const [kept, evicted] = ['late-kept', 'late-evicted'];
    const [a, b] = await Promise.all([c.lookup(kept), c.lookup(evicted)]);
    expect(a).toMatchObject({ ok: false, reason: 'introspection_timeout' });
    expect(b).toMatchObject({ ok: false, reason: 'introspection_timeout' });
    c.evict(sha256hex(evicted));
    // both calls stay on the wire after their waiters' timeouts (on a loaded machine they may reach the AS only now)
    await waitFor('held.length === 2', () => held.length === 2, 10_000);
    for (const res of held) { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"active":true,"sub":"late"}'); }
    await waitFor('c.stats().calls_late === 2', () => c.stats().calls_late === 2, 10_000);
    expect(c.stats()).toMatchObject({ calls_late: 2, calls_failed: 2 });
    const hit = c.lookup(kept);
    expect(hit).not.toBeInstanceOf(Promise);
    expect((hit as VerifyOutcome).ok && (hit as Extract<VerifyOutcome, { ok: true }>).principal.claims.sub).toBe('late');
    as.setReply((res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"active":false}'); });
    const again = c.lookup(evicted);
    expect(again).toBeInstanceOf(Promise);
    expect(await again).toMatchObject({ ok: false, reason: 'inactive' });
    expect(as.seen).toHaveLength(3);
  });

  it('keeps at most `connections` calls on the wire and `max_pending` waiting; the rest is refused at once and a queued call that times out is never sent', async () => {
    const held: ServerResponse[] = [];
    as.setReply((res) => { held.push(res); });
    const c = client(as.url, { timeout_ms: 150, connections: 1, max_pending: 1 });
    const lookups = ['q1', 'q2', 'q3', 'q4'].map((t) => c.lookup(t));
    const answers = await Promise.all(lookups);
    expect(answers.map((x) => (x.ok ? 'ok' : x.reason))).toEqual(['introspection_timeout', 'introspection_timeout', 'introspection_queue_full', 'introspection_queue_full']);
    expect(answers[2]).toMatchObject({ error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE', message: 'introspection queue full', retryAfter: 5 } });
    expect(c.stats()).toMatchObject({ calls_queue_full: 2 });
    // q1's call ends: had q2 stayed queued it would go out now, before q5 on the one connection
    await waitFor('held.length === 1', () => held.length === 1, 10_000);
    held[0]!.writeHead(200, { 'content-type': 'application/json' }).end('{"active":false}');
    await waitFor('c.stats().calls_late === 1', () => c.stats().calls_late === 1, 10_000);
    as.setReply(json(200, '{"active":false}'));
    expect(await c.lookup('q5')).toMatchObject({ ok: false, reason: 'inactive' });
    expect(as.seen.map((r) => new URLSearchParams(r.body).get('token'))).toEqual(['q1', 'q5']); // q2 timed out waiting and was never sent
  });

  it('treats non-200, non-JSON, a non-boolean active and oversized answers as 503, never cached', async () => {
    const cases: Array<[(res: ServerResponse) => void, string]> = [
      [json(500, '{"active":true}'), 'introspection_http_error'],
      [json(401, '{"error":"invalid_client"}'), 'introspection_http_error'],
      [json(200, '<html>'), 'introspection_bad_response'],
      [json(200, '{"active":"true"}'), 'introspection_bad_response'],
      [json(200, '[true]'), 'introspection_bad_response'],
      // JSON in the body is not enough: an answer that is not application/json is not an answer
      [(res) => { res.writeHead(200, { 'content-type': 'text/html' }).end('{"active":true}'); }, 'introspection_bad_response'],
      [(res) => { res.writeHead(200).end('{"active":true}'); }, 'introspection_bad_response'],
      [json(200, `{"active":true,"pad":"${'x'.repeat(300_000)}"}`), 'introspection_bad_response'],
    ];
    for (const [reply, reason] of cases) {
      as.setReply(reply);
      as.seen.length = 0;
      const c = client(as.url);
      expect(await c.lookup('tok'), reason).toMatchObject({ ok: false, reason, error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' } });
      await c.lookup('tok');
      expect(as.seen).toHaveLength(2);
    }
  });

  it('refuses active answers that are expired or name only foreign audiences', async () => {
    const now = Math.floor(Date.now() / 1000);
    as.setReply(json(200, JSON.stringify({ active: true, sub: 'a', exp: now - 600 })));
    expect(await client(as.url).lookup('t')).toMatchObject({ ok: false, reason: 'expired', error: { code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' } });
    as.setReply(json(200, JSON.stringify({ active: true, sub: 'a', aud: ['other-api'], exp: now + 600 })));
    expect(await client(as.url).lookup('t')).toMatchObject({ ok: false, reason: 'wrong_audience' });
    // an aud that is neither a string nor an array of strings is malformed, ours among the members or not (as for a JWT)
    for (const aud of [[null, 'portcullis-demo'], ['portcullis-demo', 42], 42, { 0: 'portcullis-demo' }]) {
      as.setReply(json(200, JSON.stringify({ active: true, sub: 'a', aud, exp: now + 600 })));
      expect(await client(as.url).lookup('t'), JSON.stringify(aud)).toMatchObject({ ok: false, reason: 'malformed_claims' });
    }
    as.setReply(json(200, JSON.stringify({ active: true, sub: 'a', aud: ['other-api', 'portcullis-demo'] })));
    const ok = await client(as.url, { cache_ttl_s: 30 }).lookup('t');
    expect(ok.ok).toBe(true);
    // no exp in the answer: trusted until the cached answer expires
    if (ok.ok) expect(ok.principal.exp).toBeLessThanOrEqual(now + 31);
  });
});

describe('construction', () => {
  it('names the missing secret variable without revealing anything else', () => {
    expect(() => new IntrospectionClient({ name: 'corp', issuer: issuer('http://127.0.0.1:1/i', { client_secret_env: 'CORP_SECRET' }), env: {} }))
      .toThrow(/issuers\.corp\.introspection\.client_secret_env: environment variable CORP_SECRET is not set/);
  });

  it('reads the secret from process.env by default', () => {
    process.env.PORTCULLIS_TEST_INTROSPECTION_SECRET = 's';
    try {
      const c = new IntrospectionClient({ name: 'd', issuer: issuer('http://127.0.0.1:1/i', { client_secret_env: 'PORTCULLIS_TEST_INTROSPECTION_SECRET' }) });
      clients.push(c);
      expect(c.ready()).toBe(true);
    } finally {
      delete process.env.PORTCULLIS_TEST_INTROSPECTION_SECRET;
    }
  });

  it('waits for a discovered endpoint when the config has none (503 until then)', async () => {
    const cfg = issuerSchema.parse({ issuer: 'i', audiences: ['a'], introspection: { client_id: 'c', client_secret_env: 'AS_SECRET' } });
    const c = new IntrospectionClient({ name: 'd', issuer: cfg, env: ENV });
    clients.push(c);
    expect(c.ready()).toBe(false);
    expect(await c.lookup('t')).toMatchObject({ ok: false, reason: 'introspection_no_endpoint' });
    c.setEndpoint('http://127.0.0.1:1/introspect');
    expect(c.ready()).toBe(true);
    expect(() => c.setEndpoint('ftp://x')).toThrow(/issuers\.d\.introspection\.endpoint/);
  });

  it('form-encodes like application/x-www-form-urlencoded', () => {
    expect(formEncode("a b+c*~!'()")).toBe('a+b%2Bc*%7E%21%27%28%29');
  });
});
