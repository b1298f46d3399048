// A late introspection answer (it came after its request's timeout_ms) is older than the answer
// another member shared meanwhile — also once that shared answer has left the caches: "inactive" is
// kept `negative_ttl_s` (5 s by default, here 1 s) while a slow call may answer up to 30 s late.
// Regression: the late "active" was then cached and shared for `cache_ttl_s`, and a token the
// authorization server had since called inactive passed again at every member.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { apiStatus, type SlowWireAs, startSlowWirePair, type SlowWirePair } from './fixtures/slow-wire-as.js';
import { metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const TOKEN = 'opaque-token-late-expired-0123456789abcdef';

describe('shared introspection cache: a late answer older than an expired shared one', () => {
  let pair: SlowWirePair;
  let as: SlowWireAs;
  let A: ProxyProcess;
  let B: ProxyProcess;

  beforeAll(async () => {
    pair = await startSlowWirePair(TOKEN, 'ptle', { timeout_ms: 300, negative_ttl_s: 1 }, true);
    ({ as, A, B } = pair);
  }, 60_000);

  afterAll(() => pair?.stop());

  it('the late "active" is neither cached nor shared', async () => {
    as.delayMs = 2_500; // decided "active" now, answered well past timeout_ms and past the "inactive" below
    expect(await apiStatus(B, TOKEN)).toBe(503);
    as.active = false; // revoked at the authorization server
    as.delayMs = 0;
    expect(await apiStatus(A, TOKEN)).toBe(401); // A asks again: inactive, shared with B for 1 s
    await waitFor('B\'s late answer', async () => (await metric(B, 'portcullis_introspection_late_answers_total')) >= 1, 15_000);
    expect(await apiStatus(B, TOKEN)).toBe(401);
    expect(await apiStatus(A, TOKEN)).toBe(401);
  }, 30_000);
});
