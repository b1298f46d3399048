// A WebSocket upgrade still being authenticated (a slow introspection call) when the proxy starts
// shutting down: shutdown closes every socket with 1001 and fails handshakes waiting on their
// upstream with 503, so one that finishes its token check during the drain must not open a new
// upstream socket and get a 101 the process then drops without a close frame.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { bearer, handshake, startOpaqueWsProxy, wsUrl } from './ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const SLOW_MS = 1_500;

describe('a WebSocket upgrade whose token check spans the start of a shutdown', () => {
  let as: AuthServer;
  let up: WsEchoUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    [as, up] = await Promise.all([startAuthServer(), startWsEchoUpstream()]);
    proxy = await startOpaqueWsProxy(as.issuer, up.url, { name: 'room', match: { path: '/room/*' }, auth: {} }, { cache_ttl_s: 30, timeout_ms: 5_000 }, 'info');
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  it('is answered 503 and nothing reaches the upstream, not opened and then dropped', async () => {
    const token = as.issueOpaque({ sub: 'rita', aud: 'portcullis-demo' }, 600);
    as.setIntrospection('slow', SLOW_MS);
    const asked = as.counters.introspection;
    const opening = handshake(wsUrl(proxy, '/room/1'), [], bearer(token));
    // the handshake waits at the (slow) introspection endpoint when the stop begins
    await waitFor('as.counters.introspection > asked', () => as.counters.introspection > asked, 10_000, { detail: () => 'the handshake at introspection' });
    const stopped = proxy.stop();
    const h = await opening;
    let closed: unknown = null;
    if (h.kind === 'open') closed = await h.client.waitClosed(15_000).catch((e: Error) => e.message);
    await stopped;
    expect(h.kind === 'open' ? { kind: 'open', closed } : h).toMatchObject({ kind: 'refused', status: 503 });
    expect(up.handshakes.map((x) => x.url)).not.toContain('/room/1');
  });
});
