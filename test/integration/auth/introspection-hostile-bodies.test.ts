// Introspection answers shaped to break the reader rather than to lie: JSON nested tens of
// thousands of levels deep (which JSON.parse accepts, and which overflowed every recursive walk
// after it — arriving after timeout_ms it ended the process), and a redirect that must not be
// followed with our client secret. The proxy answers 503, stays up and keeps serving.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import {
  SECRET_ENV, asIssuer, bearer, call, echoed, expectUnavailable, introspection, notForwarded,
  sleep, startRecorder, waitReady, type Recorder, type Reply,
} from './tokens-helpers.js';

const TIMEOUT_MS = 300;
let as: AuthServer;
let echo: EchoUpstream;
let fake: Recorder;
let elsewhere: Recorder;
let proxy: ProxyProcess;
/** token → how the fake introspection endpoint answers it (default: inactive). */
const answers = new Map<string, (res: ServerResponse) => void>();

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  elsewhere = await startRecorder((_req, _body, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"active":true,"sub":"mallory"}'); });
  fake = await startRecorder((_req, body, res) => {
    const answer = answers.get(new URLSearchParams(body).get('token') ?? '');
    if (answer !== undefined) answer(res);
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"active":false}');
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as, { introspection: introspection({ endpoint: `${fake.url}/introspect`, timeout_ms: TIMEOUT_MS }) }) },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), fake?.close(), elsewhere?.close()]);
});

const claims = (): string => `"sub":"bob","scope":"orders:read","iss":"${as.issuer}","exp":${Math.floor(Date.now() / 1000) + 300}`;
/** An active answer with one claim nested `depth` arrays deep (~2 bytes a level). */
const deep = (depth: number): string => `{"active":true,${claims()},"x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
const json = (text: string, delayMs = 0) => (res: ServerResponse): void => {
  setTimeout(() => { if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end(text); }, delayMs);
};
function tokenAnswering(answer: (res: ServerResponse) => void): string {
  const t = randomBytes(32).toString('base64url');
  answers.set(t, answer);
  return t;
}
const get = (token: string): Promise<Reply> => call(`${proxy.url}/orders/1`, { headers: bearer(token) });
const refused = (token: string): Promise<Reply> => notForwarded(() => echo.requests, () => get(token));
const stillServing = async (): Promise<void> => {
  expect(proxy.proc.exitCode, proxy.output().slice(-2000)).toBeNull();
  expect(echoed(await get(tokenAnswering(json(`{"active":true,${claims()}}`)))).headers['x-auth-subject']).toBe('bob');
};

describe('introspection answers built to break the reader', () => {
  it('control: a shallow active answer → 200', async () => {
    await stillServing();
  });

  it('an answer nested 20 000 levels deep → 503 (not an answer), the proxy keeps serving', async () => {
    expectUnavailable(await refused(tokenAnswering(json(deep(20_000)))));
    await stillServing();
  });

  it('the same answer arriving after timeout_ms: 503 at the deadline, and the late body neither ends the process nor fills the cache', async () => {
    const token = tokenAnswering(json(deep(20_000), TIMEOUT_MS + 400));
    expectUnavailable(await refused(token));
    await sleep(TIMEOUT_MS + 900); // the late answer has arrived and been read
    await stillServing();
    // asked again, the token is introspected again (nothing was cached from the late body)
    const before = fake.hits.length;
    answers.set(token, json(`{"active":false}`));
    expect((await refused(token)).status).toBe(401);
    expect(fake.hits.length).toBe(before + 1);
  });

  it('a 3xx from the introspection endpoint is not followed: 503, and the other server never sees the token or our secret', async () => {
    const token = tokenAnswering((res) => res.writeHead(307, { location: `${elsewhere.url}/introspect` }).end());
    expectUnavailable(await refused(token));
    expect(elsewhere.hits).toEqual([]);
  });
});

describe('large answers are bounded by verifier.cache_bytes, not only by cache_entries', () => {
  let small: ProxyProcess;
  beforeAll(async () => {
    small = await startProxy(baseConfig(echo.url, {
      issuers: { demo: asIssuer(as, { introspection: introspection({ endpoint: `${fake.url}/introspect`, cache_ttl_s: 300 }) }) },
      routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: {} }],
      verifier: { pool_size: 1, cache_bytes: 1024 * 1024 },
    }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
    await waitReady(small);
  });
  afterAll(async () => { await small?.stop(); });

  it('30 active answers of ~100 KiB each: at most ~1 MiB of them stay cached; the oldest token is introspected again', async () => {
    const pad = 'g'.repeat(100 * 1024);
    const tokens = Array.from({ length: 30 }, () => tokenAnswering(json(`{"active":true,${claims()},"groups":"${pad}"}`)));
    for (const t of tokens) expect((await call(`${small.url}/orders/1`, { headers: bearer(t) })).status).toBe(200);
    const st = (await call(`${small.adminUrl}/cache/stats`, { headers: bearer(ADMIN_TOKEN) })).json as Record<string, number>;
    expect(st['introspection.cache_entries']).toBeLessThanOrEqual(10);
    expect(st['introspection.cache_evictions']).toBeGreaterThanOrEqual(20);
    const before = fake.hits.length;
    expect((await call(`${small.url}/orders/1`, { headers: bearer(tokens[0]!) })).status).toBe(200);
    expect(fake.hits.length).toBe(before + 1);
  });
});
