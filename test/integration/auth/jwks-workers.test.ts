// DESIGN §4's JWKS rows under `serve --workers 2`: keys unreachable at start → /readyz 503 and
// every worker answers 503 temporarily_unavailable with Retry-After, nothing forwarded; once the
// JWKS answers, both workers load keys and serve without a restart. A JWKS that dies later keeps
// the last good keys on every worker, and a flood of one unknown kid costs one fetch per worker
// (answered 503: with the JWKS down the kid may be a fresh rotation, not a bad token).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Client } from 'undici';
import type { AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import type { EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { asIssuer, bearer, call } from './tokens-helpers.js';
import { startWithJwksDown, type JwksDownStart } from './tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
let started: JwksDownStart | undefined;

beforeAll(async () => {
  started = await startWithJwksDown([{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: {} }], { args: ['--workers', '2'], timeoutMs: 40_000 });
  ({ as, echo, proxy } = started);
});

afterAll(async () => {
  await started?.stop();
});

interface Answer { status: number; retryAfter: string | undefined; body: string; challenge: string | undefined }

/** One request on a fresh connection, so SO_REUSEPORT spreads them over both workers. */
async function once(token: string): Promise<Answer> {
  const c = new Client(proxy.url);
  try {
    const r = await c.request({ path: '/orders/1', method: 'GET', headers: { connection: 'close', ...bearer(token) } });
    const h = (k: string): string | undefined => (r.headers[k] === undefined ? undefined : String(r.headers[k]));
    return { status: r.statusCode, retryAfter: h('retry-after'), challenge: h('www-authenticate'), body: await r.body.text() };
  } finally {
    await c.close().catch(() => undefined);
  }
}

const readyz = (): ReturnType<typeof call> => call(`${proxy.adminUrl}/readyz`, { headers: bearer(ADMIN_TOKEN) });

describe('serve --workers 2 with the JWKS down at start', () => {
  it('/readyz 503 with no worker ready; every request 503 with Retry-After, nothing forwarded; both workers serve once the JWKS answers', async () => {
    const r0 = await readyz();
    expect(r0.status).toBe(503);
    expect(r0.json).toMatchObject({ ready: false, workers: 2, workers_ready: 0, keys_loaded: false });
    const token = await as.issueJwt();
    const before = echo.requests;
    for (let i = 0; i < 8; i++) {
      const a = await once(token);
      expect(a.status, a.body).toBe(503);
      expect(a.retryAfter).toMatch(/^[1-9]\d*$/);
      expect(JSON.parse(a.body)).toMatchObject({ error: 'temporarily_unavailable', code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' });
    }
    expect(echo.requests).toBe(before);

    as.setJwks('normal');
    await waitFor('/readyz 200', async () => (await readyz()).status === 200, 15_000);
    expect((await readyz()).json).toMatchObject({ ready: true, workers_ready: 2, keys_loaded: true });
    for (let i = 0; i < 8; i++) expect((await once(token)).status).toBe(200);
  }, 25_000);

  it('the JWKS dies later: both workers keep their keys; 50 parallel requests with an unknown kid → 503, at most one fetch per worker', async () => {
    as.setJwks('down');
    try {
      // the workers' last unknown-kid refetch is ≥ 10 s (the cool-down) in the past: none happened yet
      as.resetCounters();
      const rotated = await as.issueJwt({}, { kid: 'rotated-in' });
      const answers = await Promise.all(Array.from({ length: 50 }, () => once(rotated)));
      for (const a of answers) {
        expect(a.status, a.body).toBe(503);
        expect(a.retryAfter).toBe('5');
        expect(a.body).toContain('temporarily_unavailable');
      }
      expect(as.counters.jwks).toBeGreaterThanOrEqual(1);
      expect(as.counters.jwks).toBeLessThanOrEqual(2);
      const good = await as.issueJwt({ sub: 'zoe' });
      for (let i = 0; i < 6; i++) expect((await once(good)).status).toBe(200);
      expect((await readyz()).status).toBe(200);
    } finally {
      as.setJwks('normal');
    }
  });
});
