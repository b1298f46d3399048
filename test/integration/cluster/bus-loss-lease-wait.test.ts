// DESIGN §4 "bus down: keep serving on local state" for a request caught mid single-flight: one
// member holds the token's introspection lease (its call to the authorization server is slow), the
// other waits for the holder's fill — and the bus dies. The fill can never arrive; the waiter must
// ask the authorization server itself instead of sitting out its timeout_ms and answering 503.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { apiStatus, type SlowWireAs, startSlowWirePair, type SlowWirePair } from './fixtures/slow-wire-as.js';
import { metric } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const TOKEN = 'opaque-token-busloss-0123456789abcdef';

const status = (p: ProxyProcess): Promise<number> => apiStatus(p, TOKEN);

describe('shared introspection: the bus dies while a member waits for another member\'s answer', () => {
  let pair: SlowWirePair;
  let as: SlowWireAs;
  let A: ProxyProcess;
  let B: ProxyProcess;
  let nats: SlowWirePair['nats'];

  beforeAll(async () => {
    // introspection timeout_ms at its default (3 s: the waiter's 503); the server answers each call in 1.5 s
    pair = await startSlowWirePair(TOKEN, 'ptbl', {}, true);
    ({ as, A, B, nats } = pair);
  }, 60_000);

  afterAll(() => pair?.stop());

  it('both members answer 200: the waiter asks the authorization server itself once the bus is gone', async () => {
    as.delayMs = 1_500;
    const atA = status(A); // A takes the lease (from itself or from B, whichever owns the token) and calls
    // waited for, not slept: on a loaded machine A's call (or B's wait) can take longer than a fixed pause
    await waitFor('A\'s call at the authorization server', async () => as.calls >= 1, 10_000);
    const atB = status(B); // B waits for A's answer
    await waitFor('B waiting for A\'s answer', async () => (await metric(B, 'portcullis_introspection_sync_lease_waits_total')) >= 1, 10_000);
    expect(as.calls).toBe(1); // single-flight held: one call so far
    expect(await metric(B, 'portcullis_introspection_sync_lease_waits_total')).toBe(1);
    await nats.kill(); // SIGKILL: the holder's fill will never reach the waiter
    expect(await Promise.all([atA, atB])).toEqual([200, 200]);
    expect(as.calls).toBe(2); // the waiter's own call, after the bus died
    // B stopped waiting because the bus went down — not ~3 s later, when its view dropped A as
    // silent (the only thing that ended the wait before: A's heartbeats stop with the bus)
    const ended = {
      fallback: await metric(B, 'portcullis_introspection_sync_fallback_calls_total'),
      byDeparture: await metric(B, 'portcullis_introspection_sync_owner_failovers_total') + await metric(B, 'portcullis_introspection_sync_holder_failovers_total'),
    };
    expect(ended).toEqual({ fallback: 1, byDeparture: 0 });
  }, 30_000);
});
