// A lookup's wait ends at the deadline its request brings (the route's), also while a cluster owner
// holds the token's lease (the wait is in `coordinate`, before any call): 503 `introspection_deadline`,
// the resolution goes on, one per token, and its answer is cached for the lookups after it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import type { IntrospectionResult } from '../../../node/contracts/index.js';
import { issuerSchema } from '../../../node/config/index.js';
import { IntrospectionClient } from '../../../node/introspection/index.js';

describe('introspection lookup: the request\'s deadline', () => {
  let as: AuthServer;
  const clients: IntrospectionClient[] = [];
  beforeAll(async () => { as = await startAuthServer(); });
  afterAll(async () => { await as.close(); });
  afterEach(async () => { await Promise.all(clients.splice(0).map((c) => c.close())); as.resetCounters(); });

  it('ends a wait on the cluster owner at the deadline; the resolution goes on and fills the cache', async () => {
    let ownerAnswers: () => void = () => {};
    const owner = new Promise<void>((resolve) => { ownerAnswers = resolve; });
    let resolutions = 0;
    const c = new IntrospectionClient({
      name: 'demo', env: { AS_SECRET: 'portcullis-secret' },
      issuer: issuerSchema.parse({
        issuer: as.issuer, audiences: ['portcullis-demo'],
        introspection: { endpoint: as.introspectionEndpoint, client_id: 'portcullis', client_secret_env: 'AS_SECRET', timeout_ms: 1_000 },
      }),
      // a peer holds the token's lease: its owner answers only when the test says so, then this member calls
      coordinate: async (_key, call): Promise<IntrospectionResult> => { resolutions++; await owner; return call(); },
    });
    clients.push(c);
    const token = as.issueOpaque({ sub: 'grace' }, 600);
    // a deadline past the call's own timeout_ms counts too: nothing else bounds the wait on the owner
    // (1 s for the call itself: this host under a full suite once took over 100 ms to answer it)
    const first = c.lookup(token, 1_200);
    const joined = c.lookup(token, 30_000);
    expect(await first).toMatchObject({ ok: false, reason: 'introspection_deadline', error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE', retryAfter: 1 } });
    expect(c.stats()).toMatchObject({ lookups_deadline: 1, singleflight_waits: 1, cache_entries: 0 });
    ownerAnswers();
    // the request that joined the resolution gets its answer
    expect(await joined).toMatchObject({ ok: true });
    // cached: the next lookup answers synchronously, with no timer and no second resolution
    const hit = c.lookup(token, 50);
    expect(hit).not.toBeInstanceOf(Promise);
    expect(hit).toMatchObject({ ok: true, principal: { claims: { sub: 'grace' } } });
    expect(resolutions).toBe(1);
    expect(as.counters.introspection).toBe(1);
  });
});
