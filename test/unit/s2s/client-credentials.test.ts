// Client-credentials sources against a scripted token endpoint: client authentication and
// form, single-flight, refresh ahead of exp while the current token keeps being served,
// a failed refresh served from the still-valid token, and 503 once nothing valid is left; a token
// the upstream refused dropped (once per cool-down), never served again.
// Also the exchange error mapping.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { validateConfig, type Config } from '../../../node/config/index.js';
import { createLogger } from '../../../node/log.js';
import { ClientCredentialsSource, ccKey, ccSchedule } from '../../../node/s2s/client-credentials.js';
import { EndpointDirectory, tokenAgent } from '../../../node/s2s/token-endpoint.js';
import { exchangeDenial } from '../../../node/s2s/token-exchanger.js';

interface Hit { auth: string | undefined; body: URLSearchParams }
let server: Server;
let url = '';
const hits: Hit[] = [];
let answer: { status: number; body: unknown; delayMs?: number } = { status: 200, body: {} };
let n = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      hits.push({ auth: req.headers.authorization, body: new URLSearchParams(body) });
      const a = answer;
      const send = (): void => { res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body)); };
      if (a.delayMs) setTimeout(send, a.delayMs); else send();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});
afterAll(async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); });

const logger = createLogger({ level: 'silent', format: 'json' });
const agent = tokenAgent();
const endpoints = new EndpointDirectory(agent);

function source(cc: Record<string, unknown>): ClientCredentialsSource {
  const r = validateConfig({
    upstreams: { billing: { targets: ['http://127.0.0.1:1'], client_credentials: { issuer: 'https://as.example', token_endpoint: url, client_id: 'svc a', client_secret_env: 'CC_SECRET', ...cc } } },
    routes: [{ name: 'b', match: { path: '/*' }, upstream: 'billing', auth: 'none' }],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const c: Config = r.config;
  const spec = c.upstreams.billing!.client_credentials!;
  return new ClientCredentialsSource(ccKey(c, spec, 'billing'), c, spec, 'billing', { CC_SECRET: 's:3cr&t' }, endpoints, agent, logger, 'upstreams.billing.client_credentials');
}

const tokenAnswer = (ttl: number | undefined): typeof answer => ({ status: 200, body: { access_token: `tok-${++n}`, token_type: 'Bearer', ...(ttl !== undefined ? { expires_in: ttl } : {}) } });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('client credentials', () => {
  it('schedules the refresh refresh_before_s ahead (at most half the lifetime) and stops using the token just before exp', () => {
    expect(ccSchedule(0, 3600, 60)).toEqual({ refreshAt: 3_540_000, useUntil: 3_595_000 });
    expect(ccSchedule(0, 4, 60)).toEqual({ refreshAt: 2_000, useUntil: 3_600 });
  });

  it('reuses a token at most an hour, whatever expires_in says (10^12 s would pin it for the life of the process)', () => {
    expect(ccSchedule(0, 1e12, 60)).toEqual({ refreshAt: 3_540_000, useUntil: 3_595_000 });
    expect(ccSchedule(0, 86_400, 60)).toEqual(ccSchedule(0, 3_600, 60));
  });

  it('authenticates with Basic (form-encoded id and secret), asks for audience and scope, and calls once for concurrent requests', async () => {
    hits.length = 0;
    answer = { ...tokenAnswer(3600), delayMs: 50 };
    const s = source({ scopes: ['billing:write', 'billing:read', 'billing:write'] });
    const all = await Promise.all(Array.from({ length: 25 }, () => s.authorization()));
    expect(new Set(all)).toEqual(new Set([`Bearer tok-${n}`]));
    expect(hits).toHaveLength(1);
    expect(hits[0]!.auth).toBe(`Basic ${Buffer.from('svc+a:s%3A3cr%26t').toString('base64')}`);
    expect(Object.fromEntries(hits[0]!.body)).toEqual({ grant_type: 'client_credentials', audience: 'billing', scope: 'billing:write billing:read' });
    expect(s.authorization()).toBe(all[0]); // synchronous from now on
    expect(s.stats()).toMatchObject({ calls_ok: 1, cache_misses: 1, singleflight_waits: 24, cache_hits: 1 });
  });

  it('drops a token the upstream refused (once per 5 s), and never serves it again when the new fetch fails', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    try {
      hits.length = 0;
      answer = tokenAnswer(3600);
      const s = source({});
      const first = await s.authorization();
      expect(s.refused(first as string, true)).toBe(true);
      answer = tokenAnswer(3600);
      const second = await s.authorization();
      expect(second).not.toBe(first);
      expect(s.refused(first as string, true)).toBe(true); // already replaced: kept, retried with the new one
      expect(s.authorization()).toBe(second);
      vi.advanceTimersByTime(4_999);
      expect(s.refused(second as string, false)).toBe(false); // inside the cool-down: kept
      expect(s.authorization()).toBe(second);
      expect(hits).toHaveLength(2);
      vi.advanceTimersByTime(1);
      answer = { status: 500, body: {} };
      expect(s.refused(second as string, false)).toBe(true);
      expect(await s.authorization()).toMatchObject({ kind: 'deny', reason: 'client_credentials_failed' });
      expect(s.stats()).toMatchObject({ upstream_refusals_evicted: 2, upstream_refusals_replaced: 1, upstream_refusals_throttled: 1, upstream_refusals_retried: 2 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('shared by two upstreams: a refusal drops the token for the refusing one only, each has its own cool-down', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    try {
      hits.length = 0;
      answer = tokenAnswer(3600);
      const s = source({});
      const first = await s.authorization('honest');
      expect(s.refused(first as string, false, 'hostile')).toBe(true);
      // the token endpoint now fails: the honest upstream keeps the token it accepts, the hostile one gets the 503
      answer = { status: 500, body: {} };
      expect(s.authorization('honest')).toBe(first);
      expect(await s.authorization('hostile')).toMatchObject({ kind: 'deny', reason: 'client_credentials_failed' });
      expect(s.authorization('honest')).toBe(first);
      expect(hits).toHaveLength(2);
      // the endpoint back: the new token serves both
      vi.advanceTimersByTime(1_000);
      answer = tokenAnswer(3600);
      const second = await s.authorization('hostile');
      expect(second).not.toBe(first);
      expect(s.authorization('honest')).toBe(second);
      // the hostile one is inside its cool-down; the honest one's own refusal is not
      expect(s.refused(second as string, false, 'hostile')).toBe(false);
      expect(s.refused(second as string, false, 'honest')).toBe(true);
      expect(s.stats()).toMatchObject({ upstream_refusals_evicted: 2, upstream_refusals_throttled: 1 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('the 5 s cool-down is measured on the monotonic clock: a wall clock stepped back an hour does not keep a refused token', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    try {
      answer = tokenAnswer(3600);
      const s = source({});
      const first = await s.authorization();
      expect(s.refused(first as string, false)).toBe(true);
      answer = tokenAnswer(3600);
      const second = await s.authorization();
      vi.setSystemTime(Date.now() - 3_600_000); // NTP steps the wall clock back (performance.now() goes on)
      vi.advanceTimersByTime(5_000);
      // before: 'throttled' for the hour the step put back — the upstream's every 401 kept the token
      expect(s.refused(second as string, false)).toBe(true);
      expect(s.stats()).toMatchObject({ upstream_refusals_evicted: 2, upstream_refusals_throttled: 0 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('expires_in runs on the monotonic clock: a wall clock stepped back an hour neither keeps an expired token attached nor holds its refresh', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    try {
      answer = tokenAnswer(600);
      const s = source({});
      const first = await s.authorization();
      vi.setSystemTime(Date.now() - 3_600_000); // NTP steps the wall clock back (performance.now() goes on)
      vi.advanceTimersByTime(600_000); // the token's 600 s have passed in real time
      answer = tokenAnswer(600);
      const next = s.authorization();
      // before: the expired token, synchronously, for the hour the step put back (and no refresh ahead of it)
      expect(next).toBeInstanceOf(Promise);
      expect(await next).toBe(`Bearer tok-${n}`);
      expect(await next).not.toBe(first);
    } finally {
      vi.useRealTimers();
    }
  });

  it('client_secret_post puts the credentials in the body', async () => {
    hits.length = 0;
    answer = tokenAnswer(3600);
    await source({ auth_method: 'client_secret_post' }).authorization();
    expect(hits[0]!.auth).toBeUndefined();
    expect(hits[0]!.body.get('client_id')).toBe('svc a');
    expect(hits[0]!.body.get('client_secret')).toBe('s:3cr&t');
  });

  it('refreshes ahead of exp while serving the current token; a failed refresh keeps serving it; nothing valid left → 503', async () => {
    hits.length = 0;
    answer = tokenAnswer(4); // 4 s lifetime: refresh after 2 s, stop using it after 3.6 s
    const s = source({ refresh_before_s: 60 });
    const first = await s.authorization();
    await sleep(2_300);
    answer = tokenAnswer(4);
    const during = s.authorization();
    expect(during).toBe(first); // still served while the refresh runs
    await sleep(300);
    const second = s.authorization();
    expect(second).not.toBe(first);
    expect(typeof second).toBe('string');
    expect(hits).toHaveLength(2);
    expect(s.stats()).toMatchObject({ refreshes_ahead: 1 });

    answer = { status: 503, body: { error: 'temporarily_unavailable' } };
    await sleep(2_100);
    expect(s.authorization()).toBe(second); // refresh starts and fails behind it
    await sleep(200);
    expect(s.authorization()).toBe(second);
    expect(s.stats()).toMatchObject({ calls_failed: 1 });
    await sleep(1_500); // past useUntil
    const r = await s.authorization();
    expect(r).toMatchObject({ kind: 'deny', reason: 'client_credentials_failed', error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' } });
  }, 20_000);

  it('refuses an answer without a Bearer access token', async () => {
    answer = { status: 200, body: { access_token: 'x', token_type: 'DPoP', expires_in: 60 } };
    expect(await source({ client_id: 'other' }).authorization()).toMatchObject({ kind: 'deny' });
    answer = { status: 200, body: { token_type: 'Bearer' } };
    expect(await source({ client_id: 'other2' }).authorization()).toMatchObject({ kind: 'deny' });
  });

  it('names the unset secret variable', () => {
    const r = validateConfig({
      upstreams: { b: { targets: ['http://127.0.0.1:1'], client_credentials: { issuer: 'https://as', client_id: 'x', client_secret_env: 'NOPE_UNSET' } } },
      routes: [{ name: 'b', match: { path: '/*' }, upstream: 'b', auth: 'none' }],
    });
    if (!r.ok) throw new Error('config');
    const spec = r.config.upstreams.b!.client_credentials!;
    expect(() => new ClientCredentialsSource('k', r.config, spec, 'b', {}, endpoints, agent, logger, 'upstreams.b.client_credentials'))
      .toThrow('upstreams.b.client_credentials.client_secret_env: environment variable NOPE_UNSET is not set');
  });
});

describe('token exchange errors', () => {
  const fail = (failure: 'refused' | 'http_error' | 'timeout', oauthError: string | null) => ({ ok: false as const, failure, detail: '', status: 400, oauthError });
  it.each([
    ['refused', 'invalid_grant', 401, 'exchange_refused'],
    ['refused', 'invalid_target', 403, 'exchange_refused'],
    ['refused', 'invalid_scope', 403, 'exchange_refused'],
    ['refused', 'invalid_client', 503, 'exchange_failed'],
    ['http_error', null, 503, 'exchange_failed'],
    ['timeout', null, 503, 'exchange_failed'],
  ] as const)('%s %s → %i', (failure, oauthError, status, reason) => {
    const d = exchangeDenial(fail(failure, oauthError));
    expect(d.reason).toBe(reason);
    expect({ 401: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN', 403: 'PORTCULLIS_ERR_AUTH_FORBIDDEN', 503: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' }[status]).toBe(d.error.code);
  });
});
