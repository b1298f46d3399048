// The pipeline without any listener: a real config snapshot (schema-validated config, route
// table, upstream pools, the real auth side against a live JWKS server) driven through
// createPipeline().run() with a plain-object sink — what an HTTP/2 listener would do. Proves the
// order of stages, the denials a client would get, what the upstream would receive, and that a
// warm token passes synchronously (no promise on the hot path).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import pino from 'pino';
import { validateConfig, type Config } from '../../../node/config/index.js';
import { createAuth, type Auth } from '../../../node/auth/index.js';
import { createPipeline, type Pipeline, type PipelineSink, type RequestContext, type Snapshot, type UpstreamRequest, type CompiledRoute } from '../../../node/pipeline/index.js';
import type { ProxyError } from '../../../node/errors.js';
import { readingsOf, RouteTable } from '../../../node/routing/route-table.js';
import { UpstreamPool } from '../../../node/upstream/upstream-pool.js';
import { makeKey, type FixtureKey } from '../../fixtures/keys.js';
import { makeToken } from '../../fixtures/tokens.js';
import { startJwksServer, type JwksServer } from '../jwt/jwks-server.js';

const AUD = 'api://orders';

/** Everything the pipeline told the transport, in order. */
class RecordingSink implements PipelineSink {
  closed = false;
  readonly events: string[] = [];
  denied: ProxyError | null = null;
  forwarded: UpstreamRequest | null = null;
  decision(reason: string | null): void { this.events.push(`decision:${reason ?? 'allow'}`); }
  deny(error: ProxyError): void { this.events.push(`deny:${error.code}`); this.denied = error; }
  forward(req: UpstreamRequest): void { this.events.push('forward'); this.forwarded = req; }
}

/** Header values of `name` in a flat list. */
const values = (h: readonly string[], name: string): string[] => h.flatMap((v, i) => (i % 2 === 0 && v === name ? [h[i + 1]!] : []));

describe('pipeline driven without a listener', () => {
  let jwks: JwksServer;
  let key: FixtureKey;
  let auth: Auth;
  let snap: Snapshot;
  let pipeline: Pipeline;
  const upstreams = new Map<string, UpstreamPool>();

  beforeAll(async () => {
    key = makeKey('ES256', 'k1');
    jwks = await startJwksServer([key]);
    const r = validateConfig({
      issuers: { main: { issuer: jwks.issuer, audiences: [AUD] } },
      upstreams: { app: { targets: ['http://127.0.0.1:9'], path_prefix: '/v1' } },
      routes: [
        { name: 'open', match: { path: '/open/*' }, upstream: 'app', auth: 'none', strip_prefix: '/open' },
        { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { issuers: ['main'], scopes: { all: ['orders:read'] } } },
      ],
      // on the pool, so a cold token's verification is pending (auto would check it inline on this idle loop)
      verifier: { mode: 'pool' },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const config: Config = r.config;
    auth = createAuth(config, pino({ level: 'silent' }));
    for (const [name, uc] of Object.entries(config.upstreams)) upstreams.set(name, new UpstreamPool(name, uc));
    const routes: CompiledRoute[] = config.routes.map((rc, index) => ({ index, name: rc.name, config: rc, policy: auth.compilePolicy(rc) }));
    snap = {
      version: 1, config, table: new RouteTable(routes, readingsOf(config.server.paths)), upstreams, auth: auth.stages, realm: 'portcullis',
      outbound: routes.map(() => null), wellKnown: null, policyLabel: 'config-1 sha256:000000000000', policyHeader: null, tracer: null,
    };
    pipeline = createPipeline(snap, { logger: pino({ level: 'silent' }) });
  });
  afterAll(async () => {
    await auth.close();
    for (const u of upstreams.values()) u.destroy();
    await jwks.close();
  });

  function ctxFor(method: string, path: string, headers: string[], query = ''): RequestContext {
    const m = snap.table.resolve(method, 'api.example', path);
    if (m === null || typeof m !== 'object' || !('route' in m)) throw new Error(`no route for ${path}`);
    return {
      method, path, query, host: 'api.example', headers: ['host', 'api.example', ...headers], remoteAddress: '10.0.0.7', secure: true,
      connection: values(headers, 'connection').join(',') || null,
      route: m.route, params: m.params, token: null, tokenSource: null, principal: null, denyReason: null,
    };
  }

  /** Run one request; resolves once the sink got its outcome. */
  async function run(ctx: RequestContext, sink = new RecordingSink()): Promise<RecordingSink> {
    pipeline.run(ctx, sink);
    for (let i = 0; i < 500 && sink.denied === null && sink.forwarded === null; i++) await new Promise((r) => setTimeout(r, 10));
    return sink;
  }

  it('a route without auth goes straight to forward: hop-by-hop and spoofed forwarding headers dropped, path rewritten, X-Forwarded-* ours', async () => {
    const ctx = ctxFor('GET', '/open/items', [
      'connection', 'keep-alive, x-secret-hop', 'keep-alive', 'timeout=5', 'te', 'trailers', 'upgrade', 'h2c', 'x-secret-hop', '1',
      'x-forwarded-for', '1.2.3.4', 'x-forwarded-proto', 'http', 'x-real-ip', '6.6.6.6', 'x-auth-subject', 'admin', 'accept', 'text/plain',
    ], 'a=1');
    const sink = new RecordingSink();
    pipeline.run(ctx, sink);
    // nothing asynchronous on this route: the outcome is there before run() returns
    expect(sink.events).toEqual(['forward']);
    const req = sink.forwarded!;
    expect(req.upstream.name).toBe('app');
    expect(req.path).toBe('/v1/items?a=1');
    const names = req.headers.filter((_, i) => i % 2 === 0);
    for (const gone of ['connection', 'keep-alive', 'te', 'upgrade', 'x-secret-hop', 'x-real-ip', 'x-auth-subject']) expect(names).not.toContain(gone);
    expect(values(req.headers, 'accept')).toEqual(['text/plain']);
    expect(values(req.headers, 'x-forwarded-for')).toEqual(['1.2.3.4, 10.0.0.7']);
    expect(values(req.headers, 'x-forwarded-proto')).toEqual(['https']);
    expect(values(req.headers, 'x-forwarded-host')).toEqual(['api.example']);
    expect(values(req.headers, 'host')).toHaveLength(1);
  });

  it('no token on an auth route: 401 with the reason counted as a decision, nothing forwarded', async () => {
    expect(await auth.whenReady(5000)).toBe(true);
    const ctx = ctxFor('GET', '/orders/1', []);
    const sink = await run(ctx);
    expect(sink.events).toEqual(['decision:no_token', 'deny:PORTCULLIS_ERR_AUTH_MISSING']);
    expect(ctx.denyReason).toBe('no_token');
    expect(sink.forwarded).toBeNull();
  });

  it('a valid token: verified (first time off the event loop), authorized, identity headers added, client Authorization kept; warm, the same request completes synchronously', async () => {
    expect(await auth.whenReady(5000)).toBe(true);
    const token = makeToken(key, { claims: { sub: 'alice', scope: 'orders:read' } }, jwks.issuer, AUD);
    const first = await run(ctxFor('GET', '/orders/1', ['authorization', `Bearer ${token}`, 'x-auth-subject', 'mallory']));
    expect(first.events).toEqual(['decision:allow', 'forward']);
    expect(values(first.forwarded!.headers, 'x-auth-subject')).toEqual(['alice']);
    expect(values(first.forwarded!.headers, 'authorization')).toEqual([`Bearer ${token}`]);

    const warm = new RecordingSink();
    pipeline.run(ctxFor('GET', '/orders/2', ['authorization', `Bearer ${token}`]), warm);
    expect(warm.events).toEqual(['decision:allow', 'forward']);
  });

  it('a valid token without the scope: 403 insufficient_scope', async () => {
    const token = makeToken(key, { claims: { sub: 'bob', scope: 'profile' } }, jwks.issuer, AUD);
    const sink = await run(ctxFor('GET', '/orders/1', ['authorization', `Bearer ${token}`]));
    expect(sink.events).toEqual(['decision:insufficient_scope', 'deny:PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE']);
  });

  it('a transport that closed while the token was being verified hears nothing more', async () => {
    const token = makeToken(key, { claims: { sub: 'carol', scope: 'orders:read' } }, jwks.issuer, AUD);
    const sink = new RecordingSink();
    pipeline.run(ctxFor('GET', '/orders/3', ['authorization', `Bearer ${token}`]), sink);
    expect(sink.events).toEqual([]); // a cold token: verification is pending
    sink.closed = true;
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.events).toEqual([]);
  });
});
