// RFC 7662 client against a scripted node:http authorization server on port 0: the wire format
// (client authentication encoding, token + hint), late answers, connection and queue bounds, and
// broken or hostile answers (non-200, non-JSON, non-boolean active, oversized, expired, foreign aud).
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import type { ServerResponse } from 'node:http';
import { IntrospectionClient } from '../../../node/introspection/index.js';
import { issuerSchema } from '../../../node/config/index.js';
import type { VerifyOutcome } from '../../../node/pipeline/token-verifier.js';
import { waitFor } from '../../helpers/wait.js';
import { client, clients, closeClients, scriptedAs, sha256hex } from './client-fixtures.js';

afterEach(closeClients);

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
