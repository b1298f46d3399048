// Shared introspection when the holder's answer cannot be cached: `negative_ttl_s: 0` (an
// `active: false` is never kept — the same for `cache_ttl_s: 0`, or an answer whose `exp` has
// passed). The holder has nothing to broadcast, so it must end its lease at once: the member waiting
// for it then asks the authorization server itself. Regression: the holder sent neither a fill nor a
// release, and the waiter sat out the whole lease (10 s) before it could even ask.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { apiStatus, type SlowWireAs, startSlowWirePair, type SlowWirePair } from './fixtures/slow-wire-as.js';
import { metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const TOKEN = 'opaque-token-uncached-0123456789abcdef';

describe('shared introspection: an answer that is not cached ends the holder\'s lease', () => {
  let pair: SlowWirePair;
  let as: SlowWireAs;
  let A: ProxyProcess;
  let B: ProxyProcess;

  beforeAll(async () => {
    pair = await startSlowWirePair(TOKEN, 'ptuc', { negative_ttl_s: 0 }, true);
    ({ as, A, B } = pair);
  }, 60_000);

  afterAll(() => pair?.stop());

  it('the waiting member answers as soon as it has asked the server itself, not after the lease ran out', async () => {
    as.active = false;
    as.delayMs = 1_000; // every call is answered 1 s after it arrives
    const atA = apiStatus(A, TOKEN); // A takes the lease and calls
    // waited for, not slept: on a loaded machine A's call (or B's wait) can take longer than a fixed pause
    await waitFor('A\'s call at the authorization server', async () => as.calls >= 1, 10_000);
    const atB = apiStatus(B, TOKEN).then((s) => ({ who: 'waiter', s })); // B waits for A's answer
    await waitFor('B waiting for A\'s answer', async () => (await metric(B, 'portcullis_introspection_sync_lease_waits_total')) >= 1, 10_000);
    expect(as.calls).toBe(1); // single-flight held so far
    expect(await metric(B, 'portcullis_introspection_sync_lease_waits_total')).toBe(1);
    expect(await atA).toBe(401);
    // From A's answer on: the waiter needs one call of its own (1 s); the yardstick two in a row
    // (2 s), at the same member. Before, the waiter came after both (its wait ended with the lease).
    const yardstick = (async () => {
      await apiStatus(B, 'opaque-yardstick-one-0123456789abcdef');
      await apiStatus(B, 'opaque-yardstick-two-0123456789abcdef');
      return { who: 'yardstick', s: 0 };
    })();
    expect(await Promise.race([atB, yardstick])).toEqual({ who: 'waiter', s: 401 });
    await yardstick;
    // the holder told the cluster its lease was over (nothing else could end the wait)
    expect(await metric(A, 'portcullis_introspection_sync_leases_released_total')).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
