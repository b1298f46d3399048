// A reload that changes an issuer's introspection settings gives it a new client with an empty
// cache: its tokens are judged anew by the authorization server. Regression: the answers this
// member kept as the tokens' cluster owner (for late askers) survived the reload and were handed
// to the new client — a token the server now calls inactive went on passing for the old cache_ttl_s;
// and an answer still on its way at the reload (asked under the old settings, say the old endpoint)
// was kept and handed on the same way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { busSection, clusterMemberConfig, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { reloadWith, type ProxyProcess } from '../../helpers/proxy-process.js';
import { apiStatus, slowWireSections, startSlowWireAs, type SlowWireAs } from './fixtures/slow-wire-as.js';
import { waitFor } from '../../helpers/wait.js';

const TOKEN = 'opaque-token-reload-kept-0123456789abcdef';
const TOKEN2 = 'opaque-token-reload-inflight-0123456789abcdef';
const TOKEN3 = 'opaque-token-reload-readded-0123456789abcdef';

describe('shared introspection: a reload of the issuer\'s introspection settings', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: SlowWireAs;
  let old2: SlowWireAs;
  let new2: SlowWireAs;
  let as3: SlowWireAs;
  let echo: EchoUpstream;
  let member: ProxyProcess;
  const config = (server: SlowWireAs, introspection: Record<string, unknown>): Record<string, unknown> =>
    clusterMemberConfig({ ...slowWireSections(server, echo.url, introspection), cluster: busSection(nats.url, subjectPrefix('ptrk')) });

  beforeAll(async () => {
    [nats, as, old2, new2, as3, echo] = await Promise.all([startNatsServer(), startSlowWireAs(TOKEN), startSlowWireAs(TOKEN2), startSlowWireAs(TOKEN2), startSlowWireAs(TOKEN3), startEchoUpstream()]);
    // one member: it owns every token, so it keeps every answer for the cluster
    [member] = await startMembers(1, config(as, {}), { PT_INTROSPECTION_SECRET: 'portcullis-secret' }) as [ProxyProcess];
  }, 60_000);

  afterAll(async () => {
    await member?.stop();
    await Promise.all([nats?.stop(), as?.close(), old2?.close(), new2?.close(), as3?.close(), echo?.close()]);
  });

  it('asks the authorization server again instead of serving the answer kept under the old settings', async () => {
    expect(await apiStatus(member, TOKEN)).toBe(200);
    expect(as.calls).toBe(1);
    as.active = false; // the token was revoked at the authorization server
    await reloadWith(member, config(as, { cache_ttl_s: 5 }));
    expect(await apiStatus(member, TOKEN)).toBe(401);
    expect(as.calls).toBe(2);
  }, 30_000);

  it('does not keep an answer the replaced client was still waiting for', async () => {
    await reloadWith(member, config(old2, {}));
    old2.delayMs = 1_000; // still on its way when the endpoint changes
    new2.active = false; // the new endpoint calls the token inactive
    const waiting = apiStatus(member, TOKEN2);
    await waitFor('the call at the old endpoint', async () => old2.calls >= 1, 10_000);
    await reloadWith(member, config(old2, { endpoint: new2.endpoint }));
    expect(await waiting).toBe(200); // the request that waited gets the old client's answer (README: Hot reload)
    expect(await apiStatus(member, TOKEN2)).toBe(401);
    expect(new2.calls).toBe(1);
    expect(old2.calls).toBe(1);
  }, 30_000);

  it('does not hand an issuer added back the answers kept before it was taken out', async () => {
    await reloadWith(member, config(as3, {}));
    expect(await apiStatus(member, TOKEN3)).toBe(200);
    as3.active = false;
    const withoutIntrospection = config(as3, {}) as { issuers: { demo: Record<string, unknown> } };
    delete withoutIntrospection.issuers.demo.introspection;
    await reloadWith(member, withoutIntrospection);
    await reloadWith(member, config(as3, {})); // the same settings as before, back again
    expect(await apiStatus(member, TOKEN3)).toBe(401);
    expect(as3.calls).toBe(2);
  }, 30_000);
});
