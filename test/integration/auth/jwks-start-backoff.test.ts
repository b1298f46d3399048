// An issuer whose keys never loaded (JWKS down at start) is retried at most every 10 s however long
// the outage lasts: the instance answers 503 for that issuer and /readyz says 503 until a fetch
// succeeds, and a load balancer sends it no traffic meanwhile, so nothing else would wake it. Once
// keys are loaded, a failing refresh backs off up to max_refresh_s as before (the keys stay in use).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { type ProxyProcess } from '../../helpers/proxy-process.js';
import { asIssuer, bearer, call, echoed } from './tokens-helpers.js';
import { startWithJwksDown, type JwksDownStart } from './tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let as: AuthServer;
let proxy: ProxyProcess;
let started: JwksDownStart | undefined;

beforeAll(async () => {
  started = await startWithJwksDown([{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: {} }]);
  ({ as, proxy } = started);
});

afterAll(async () => {
  await started?.stop();
});

/** The proxy's own word on when it tries again, per failed fetch of a never-loaded set. */
const failedRetries = (): number[] => proxy.logs()
  .filter((l) => l.msg === 'jwks fetch failed' && l.keepingKeys === false)
  .map((l) => Number(l.retryInMs));

describe('JWKS down at start for longer than the first backoff steps', () => {
  it('never waits more than 10 s between tries while no keys are loaded; ready once the JWKS answers', async () => {
    // five failures take 1 + 2 + 4 + 8 s (×0.8–1): before, the fifth scheduled the next try ~16 s out,
    // doubling up to max_refresh_s (an hour) — an instance started in an outage stayed unready that long after it
    await waitFor('failedRetries().length >= 5', () => failedRetries().length >= 5, 25_000, { detail: () => `failures logged: ${failedRetries().join(', ')}` });
    const retries = failedRetries();
    expect(Math.max(...retries), retries.join(', ')).toBeLessThanOrEqual(10_000);
    expect(retries[0]!).toBeLessThanOrEqual(1_000); // still starts at 1 s

    as.setJwks('normal');
    // the next scheduled try loads the keys, with no request needed to wake it
    await waitFor('(await call(`${proxy.adminUrl}/readyz`)).status === 200', async () => (await call(`${proxy.adminUrl}/readyz`)).status === 200, 15_000);
    expect(echoed(await call(`${proxy.url}/orders/1`, { headers: bearer(await as.issueJwt()) })).headers['x-auth-subject']).toBe('alice');
  }, 50_000);
});
