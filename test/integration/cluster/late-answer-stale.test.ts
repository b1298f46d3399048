// A late introspection answer (it came after its request's timeout_ms) is older than what the
// cluster learnt meanwhile: here the token was revoked at the authorization server, another member
// asked again and everyone cached "inactive". The late "active" must not replace that — not at the
// member that made the slow call, nor, through its fill, at the others.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { apiStatus, type SlowWireAs, startSlowWirePair, type SlowWirePair } from './fixtures/slow-wire-as.js';
import { metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const TOKEN = 'opaque-token-late-0123456789abcdef';

const status = (p: ProxyProcess): Promise<number> => apiStatus(p, TOKEN);

describe('shared introspection cache: a late answer older than the cluster\'s', () => {
  let pair: SlowWirePair;
  let as: SlowWireAs;
  let A: ProxyProcess;
  let B: ProxyProcess;

  beforeAll(async () => {
    pair = await startSlowWirePair(TOKEN, 'ptla', { timeout_ms: 1_000 });
    ({ as, A, B } = pair);
  }, 60_000);

  afterAll(() => pair?.stop());

  it('the late "active" does not replace the newer "inactive" anywhere', async () => {
    as.delayMs = 5_000; // well past timeout_ms (1 s) and A's ask below
    expect(await status(B)).toBe(503); // the server decided "active" but is slow: B gives up at timeout_ms
    as.active = false; // revoked at the authorization server
    as.delayMs = 0;
    expect(await status(A)).toBe(401); // A asks again: inactive, shared with B
    await new Promise((r) => setTimeout(r, 300));
    expect(await status(B)).toBe(401);
    // B's old call has answered "active" and B has taken it in (counted before it is judged against the cache)
    await waitFor('B\'s late answer', async () => (await metric(B, 'portcullis_introspection_late_answers_total')) >= 1, 15_000);
    expect(await status(B)).toBe(401);
    expect(await status(A)).toBe(401);
  }, 60_000);
});
