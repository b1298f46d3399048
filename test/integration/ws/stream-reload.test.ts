// A hot reload re-judges streamed responses (SSE) still flowing to clients, as it does open
// WebSockets: a stream whose route the new config no longer allows for its request (a scope
// taken away, `auth: none` tightened to a token, the route removed) is cut — the client sees
// it stop without its last chunk — and streams still allowed go on.
import { writeFileSync } from 'node:fs';
import type { ClientHttp2Session } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Connect, http2PortOf } from '../../helpers/h2-client.js';
import { admin, bearer, sleep, sseEvents, stream, waitReady, wsMetric, type Stream } from './ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

/** GET `path` over an open HTTP/2 session and read the body as it streams (SSE); same shape as `stream`. */
function h2Stream(session: ClientHttp2Session, path: string, headers: Record<string, string>): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'GET', ':path': path, accept: 'text/event-stream', ...headers });
    let body = '';
    let complete = false;
    req.setEncoding('utf8');
    req.on('data', (d: string) => { body += d; });
    req.on('end', () => { complete = true; });
    req.on('error', () => { /* close follows */ });
    // complete: the body's END_STREAM arrived and the stream was not reset (a cut is RST_STREAM CANCEL)
    const ended = new Promise<{ complete: boolean; at: number }>((done) => req.on('close', () => done({ complete: complete && req.rstCode === 0, at: performance.now() })));
    req.on('response', (h) => resolve({ status: Number(h[':status']), text: () => body, ended, destroy: () => req.close() }));
    req.on('error', reject);
  });
}

function config(as: AuthServer, up: string, feedScope: string, openAuth: unknown, withGone: boolean): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { echo: { targets: [up] } },
    routes: [
      { name: 'feed', match: { path: '/feed/*' }, upstream: 'echo', auth: { scopes: { all: [feedScope] } } },
      { name: 'open', match: { path: '/open/*' }, upstream: 'echo', auth: openAuth },
      ...(withGone ? [{ name: 'gone', match: { path: '/gone/*' }, upstream: 'echo', auth: {} }] : []),
    ],
    log: { level: 'info', access: true },
    verifier: { pool_size: 1 },
  };
}

/** Resolves with the end of `s`, or null when it is still open after `ms`. */
const endedWithin = (s: Stream, ms: number): Promise<{ complete: boolean } | null> => Promise.race([s.ended, sleep(ms).then(() => null)]);

describe('reload and streamed responses', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  let proxy: ProxyProcess;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
    proxy = await startProxy(config(as, echo.url, 'feed:read', 'none', true), { env: ADMIN_ENV });
    await waitReady(proxy);
    session = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
  });

  afterAll(async () => {
    session?.close();
    await proxy?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  it('cuts the SSE streams the new policy refuses, keeps the others', async () => {
    const [reader, admin2] = await Promise.all([as.issueJwt({ scope: 'feed:read' }), as.issueJwt({ scope: 'feed:read feed:admin' })]);
    const narrowed = await stream(`${proxy.url}/feed/sse`, bearer(reader));
    const kept = await stream(`${proxy.url}/feed/sse`, bearer(admin2));
    const anonymous = await stream(`${proxy.url}/open/sse`, {});
    const removed = await stream(`${proxy.url}/gone/sse`, bearer(reader));
    // the same over one HTTP/2 session (h2c): a scope taken away, and a stream still allowed
    const h2Narrowed = await h2Stream(session, '/feed/sse', bearer(reader));
    const h2Kept = await h2Stream(session, '/feed/sse', bearer(admin2));
    const all = [narrowed, kept, anonymous, removed, h2Narrowed, h2Kept];
    try {
      for (const s of all) expect(s.status).toBe(200);
      await waitFor('all.every((s) => sseEvents(s) >= 1)', () => all.every((s) => sseEvents(s) >= 1), 10_000, { detail: () => 'every stream has its first event' });

      writeFileSync(proxy.configPath, stringify(config(as, echo.url, 'feed:admin', {}, false)));
      const r = await admin(proxy, 'POST', '/reload');
      expect(r.status, JSON.stringify(r.body)).toBe(200);

      for (const [name, s] of [['scope taken away', narrowed], ['auth: none → token required', anonymous], ['route removed', removed], ['h2: scope taken away', h2Narrowed]] as const) {
        const ended = await endedWithin(s, 10_000);
        expect(ended, `${name}: the stream still flows 10 s after the reload`).not.toBeNull();
        expect(ended!.complete, `${name}: cut, not a clean end`).toBe(false);
      }
      const [n, n2] = [sseEvents(kept), sseEvents(h2Kept)];
      await waitFor('sseEvents(kept) > n', () => sseEvents(kept) > n, 10_000, { detail: () => 'a stream the new config still allows goes on' });
      await waitFor('sseEvents(h2Kept) > n2', () => sseEvents(h2Kept) > n2, 10_000, { detail: () => 'an HTTP/2 stream the new config still allows goes on' });
      expect(await wsMetric(proxy, 'streams_ended_policy_changed_total')).toBe(4);
      // the access lines of the cut streams come over the proxy's stdout, after the cuts
      const cut = (): Array<Record<string, unknown>> => proxy.logs().filter((l) => l.deny === 'stream_policy_changed');
      await waitFor('cut().length >= 4', () => cut().length >= 4, 10_000);
      expect(cut().map((l) => l.path).sort()).toEqual(['/feed/sse', '/feed/sse', '/gone/sse', '/open/sse']);
    } finally {
      for (const s of all) s.destroy();
    }
  });
});
