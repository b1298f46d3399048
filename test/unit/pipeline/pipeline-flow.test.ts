// The token stages end to end against the dev authorization server: extract →
// authenticate (real JwtVerifier and IntrospectionClient) → authorize → mutate, as the
// listener runs them, for JWT and opaque tokens on routes with different policies.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import pino from 'pino';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { JwtVerifier } from '../../../node/jwt/index.js';
import { IntrospectionClient } from '../../../node/introspection/index.js';
import { issuerSchema } from '../../../node/config/index.js';
import {
  authorize, createAuthenticator, extract, mutate, type Authenticate, type CompiledPolicy, type StageResult, type TokenVerifier,
} from '../../../node/pipeline/index.js';
import { compiled, ctxFor, route } from './pipeline-helpers.js';

describe('pipeline flow', () => {
  let as: AuthServer;
  let jwt: JwtVerifier;
  let introspection: IntrospectionClient;
  let authenticate: Authenticate;

  beforeAll(async () => {
    as = await startAuthServer();
    const issuer = issuerSchema.parse({
      issuer: as.issuer, audiences: ['portcullis-demo'],
      introspection: { endpoint: as.introspectionEndpoint, client_id: 'portcullis', client_secret_env: 'DEV_AS_SECRET' },
    });
    jwt = new JwtVerifier({ issuers: { dev: issuer }, poolSize: 1, cacheEntries: 100, cacheBytes: 1 << 20, logger: pino({ level: 'silent' }) });
    jwt.start();
    expect(await jwt.whenReady(5000)).toBe(true);
    introspection = new IntrospectionClient({ name: 'dev', issuer, env: { DEV_AS_SECRET: 'portcullis-secret' } });
    const verifier: TokenVerifier = jwt; // JwtVerifier satisfies the pipeline's contract
    authenticate = createAuthenticator({ jwt: verifier, introspection: { dev: introspection } });
  });
  afterAll(async () => {
    await introspection.close();
    await jwt.close();
    await as.close();
  });

  const readRoute = compiled(route({ scopes: { all: ['orders:read'] } }), 0);
  const writeRoute = compiled(route({ scopes: { any: ['orders:write', 'admin'] } }, { forward: { authorization: 'strip' } }), 1);
  const tenantRoute = compiled(route({ claims: [{ claim: 'tenant', equals_param: 'tenant' }] }, {}, '/tenants/:tenant/*'), 2);

  /** The listener's order; returns the final verdict and the identity headers mutate added. */
  async function pass(r: typeof readRoute, headers: string[], params: Record<string, string> | null = null): Promise<{ result: StageResult; added: string[] }> {
    const ctx = ctxFor(r, { headers, params });
    const x = extract(ctx, (r.policy as CompiledPolicy).sources);
    if (x.kind === 'deny') return { result: x, added: [] };
    const a = await authenticate(ctx);
    if (a.kind === 'deny') return { result: a, added: [] };
    const z = authorize(ctx);
    const added: string[] = [];
    if (z.kind === 'continue') mutate(ctx, added);
    return { result: z, added };
  }
  const bearer = (t: string): string[] => ['authorization', `Bearer ${t}`];
  const reason = (r: StageResult): string => (r.kind === 'deny' ? r.reason : 'continue');

  it('allows a JWT on the route its scopes fit and refuses it on the other', async () => {
    const token = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
    const ok = await pass(readRoute, bearer(token));
    expect(ok.result.kind).toBe('continue');
    expect(ok.added).toEqual(expect.arrayContaining(['x-auth-subject', 'alice', 'x-auth-scopes', 'orders:read']));
    const denied = await pass(writeRoute, bearer(token));
    expect(denied.result.kind === 'deny' && denied.result.error).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE', scope: 'orders:write admin' });
  });

  it('does the same for an opaque token through introspection, with one AS call across routes', async () => {
    as.resetCounters();
    const token = as.issueOpaque({ sub: 'bob', scope: 'orders:read', tenant: 'acme' }, 600);
    expect((await pass(readRoute, bearer(token))).result.kind).toBe('continue');
    expect(reason((await pass(writeRoute, bearer(token))).result)).toBe('insufficient_scope');
    expect((await pass(tenantRoute, bearer(token), { tenant: 'acme' })).result.kind).toBe('continue');
    expect(reason((await pass(tenantRoute, bearer(token), { tenant: 'globex' })).result)).toBe('claim_mismatch:tenant');
    expect(as.counters.introspection).toBe(1);
  });

  it('single-flights concurrent requests with one unseen opaque token', async () => {
    as.resetCounters();
    as.setIntrospection('slow', 50);
    try {
      const token = as.issueOpaque({ scope: 'orders:read' }, 600);
      const results = await Promise.all(Array.from({ length: 50 }, () => pass(readRoute, bearer(token))));
      expect(results.every((r) => r.result.kind === 'continue')).toBe(true);
      expect(as.counters.introspection).toBe(1);
    } finally {
      as.setIntrospection('normal');
    }
  });

  it('answers 401 without a token, 401 invalid_token for a forged JWT, 503 when the AS is down', async () => {
    const none = await pass(readRoute, []);
    expect(none.result.kind === 'deny' && none.result.error.code).toBe('PORTCULLIS_ERR_AUTH_MISSING');
    const forged = await as.issueJwt({}, { alg: 'none' });
    const bad = await pass(readRoute, bearer(forged));
    expect(bad.result.kind === 'deny' && bad.result.error.code).toBe('PORTCULLIS_ERR_AUTH_INVALID_TOKEN');
    as.setIntrospection('down');
    try {
      const down = await pass(readRoute, bearer(as.issueOpaque({}, 600)));
      expect(down.result.kind === 'deny' && down.result.error).toMatchObject({ code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE', retryAfter: 5 });
    } finally {
      as.setIntrospection('normal');
    }
  });
});
