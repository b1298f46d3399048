// A late introspection answer (it came after its request's timeout_ms) is older than any answer a
// later call for the same token got. Regression: when that newer answer was not in the cache any more
// — `active: false` kept only `negative_ttl_s` (5 s by default, here 0), while a slow call may answer
// up to 30 s late — the late "active" was cached for `cache_ttl_s`, and a token the authorization
// server had since called inactive passed again (of two calls late at once, only the newer one was held back).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { clusterMemberConfig } from '../../helpers/cluster-members.js';
import { startProxy, waitReady, type ProxyProcess } from '../../helpers/proxy-process.js';
import { apiStatus, slowWireSections, startSlowWireAs, type SlowWireAs } from '../cluster/fixtures/slow-wire-as.js';
import { metric } from '../cluster/proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const TOKEN = 'opaque-token-late-superseded-0123456789abcdef';

describe('introspection: a late answer older than a later call\'s', () => {
  let as: SlowWireAs;
  let echo: EchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, echo] = await Promise.all([startSlowWireAs(TOKEN), startEchoUpstream()]);
    proxy = await startProxy(clusterMemberConfig(slowWireSections(as, echo.url, { timeout_ms: 300, negative_ttl_s: 0 })), { env: { PT_INTROSPECTION_SECRET: 'portcullis-secret' } });
    await waitReady(proxy);
  }, 30_000);

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  it('is not cached once the server has said "inactive" since', async () => {
    as.delayMs = 1_500; // the server decides "active" now but answers well past timeout_ms
    expect(await apiStatus(proxy, TOKEN)).toBe(503);
    expect(await apiStatus(proxy, TOKEN)).toBe(503); // a second slow call beside the first
    as.active = false; // revoked at the authorization server
    as.delayMs = 0;
    expect(await apiStatus(proxy, TOKEN)).toBe(401); // a new call: inactive (not cached: negative_ttl_s 0)
    await waitFor('both late answers', async () => (await metric(proxy, 'portcullis_introspection_late_answers_total')) >= 2, 15_000);
    expect(await apiStatus(proxy, TOKEN)).toBe(401);
    expect(as.calls).toBe(4);
  }, 30_000);
});
