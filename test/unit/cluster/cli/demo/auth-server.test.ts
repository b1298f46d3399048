// Behaviour of the embedded authorization server as a real HTTP peer: discovery,
// JWKS, token grants, introspection, failure modes and counters.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { startAuthServer, type AuthServer } from '../../../../../cluster/cli/demo/auth-server.js';

const basic = (id: string, secret: string): string => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('auth-server', () => {
  let as: AuthServer;
  beforeAll(async () => { as = await startAuthServer(); });
  afterAll(async () => { await as.close(); });

  const post = (url: string, body: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(url, { method: 'POST', headers: { ...FORM, ...headers }, body: new URLSearchParams(body).toString() });
  const introspect = async (token: string): Promise<Record<string, unknown>> => {
    const r = await post(as.introspectionEndpoint, { token }, { authorization: basic('portcullis', 'portcullis-secret') });
    expect(r.status).toBe(200);
    return (await r.json()) as Record<string, unknown>;
  };

  it('publishes discovery whose JWKS verifies an issued RS256 and ES256 JWT', async () => {
    const meta = (await (await fetch(`${as.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(meta.issuer).toBe(as.issuer);
    expect(meta.jwks_uri).toBe(as.jwksUri);
    expect(meta.grant_types_supported).toEqual(expect.arrayContaining(['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange']));
    const rfc8414 = (await (await fetch(`${as.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(rfc8414.token_endpoint).toBe(as.tokenEndpoint);

    const jwks = createRemoteJWKSet(new URL(String(meta.jwks_uri)));
    for (const alg of ['RS256', 'ES256']) {
      const token = await as.issueJwt({ tenant: 'acme' }, { alg });
      const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: as.issuer, audience: 'portcullis-demo', typ: 'at+jwt' });
      expect(protectedHeader.alg).toBe(alg);
      expect(protectedHeader.kid).toBe(`${alg.toLowerCase()}-1`);
      expect(payload).toMatchObject({ sub: 'alice', scope: 'orders:read', client_id: 'demo-client', tenant: 'acme' });
      expect(typeof payload.jti).toBe('string');
      expect(payload.exp! - payload.iat!).toBe(3600);
    }
  });

  it('serves only public keys with kid/alg/use and a cache lifetime', async () => {
    const r = await fetch(as.jwksUri);
    expect(r.headers.get('cache-control')).toBe('max-age=300');
    const { keys } = (await r.json()) as { keys: Array<Record<string, unknown>> };
    expect(keys.map((k) => k.kid).sort()).toEqual(['es256-1', 'rs256-1']);
    for (const k of keys) {
      expect(k.use).toBe('sig');
      expect(k.d).toBeUndefined();
    }
  });

  it('issues client_credentials tokens with client_secret_basic and client_secret_post', async () => {
    const jwks = createRemoteJWKSet(new URL(as.jwksUri));
    const viaBasic = await post(as.tokenEndpoint, { grant_type: 'client_credentials', scope: 'orders:write', audience: 'billing' },
      { authorization: basic('demo-client', 'demo-secret') });
    expect(viaBasic.status).toBe(200);
    const b = (await viaBasic.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(b.token_type).toBe('Bearer');
    expect(b.expires_in).toBe(3600);
    const { payload } = await jwtVerify(b.access_token, jwks, { issuer: as.issuer, audience: 'billing' });
    expect(payload).toMatchObject({ sub: 'demo-client', client_id: 'demo-client', scope: 'orders:write' });

    const viaPost = await post(as.tokenEndpoint, { grant_type: 'client_credentials', client_id: 'portcullis', client_secret: 'portcullis-secret' });
    expect(viaPost.status).toBe(200);
    const p = (await viaPost.json()) as { access_token: string };
    const v = await jwtVerify(p.access_token, jwks, { issuer: as.issuer, audience: 'portcullis-demo' });
    expect(v.payload.sub).toBe('portcullis');
  });

  it('rejects a wrong secret with 401 invalid_client and bad requests with 400', async () => {
    const wrong = await post(as.tokenEndpoint, { grant_type: 'client_credentials' }, { authorization: basic('demo-client', 'nope') });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: string }).error).toBe('invalid_client');
    const none = await post(as.tokenEndpoint, { grant_type: 'client_credentials' });
    expect(none.status).toBe(401);
    const grant = await post(as.tokenEndpoint, { grant_type: 'password' }, { authorization: basic('demo-client', 'demo-secret') });
    expect(grant.status).toBe(400);
    expect(((await grant.json()) as { error: string }).error).toBe('unsupported_grant_type');
    const json = await fetch(as.tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    expect(json.status).toBe(400);
    const huge = await post(as.tokenEndpoint, { grant_type: 'client_credentials', pad: 'x'.repeat(70_000) });
    expect(huge.status).toBe(413);
  });

  it('exchanges a subject token for one with the new audience and an act claim', async () => {
    const subject = await as.issueJwt({ sub: 'carol', scope: 'orders:read orders:write' });
    const r = await post(as.tokenEndpoint, {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subject,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', audience: 'inventory',
    }, { authorization: basic('portcullis', 'portcullis-secret') });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { access_token: string; issued_token_type: string };
    expect(body.issued_token_type).toBe('urn:ietf:params:oauth:token-type:access_token');
    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(as.jwksUri)), { audience: 'inventory' });
    expect(payload).toMatchObject({ sub: 'carol', scope: 'orders:read orders:write', act: { sub: 'portcullis' } });

    const forged = await post(as.tokenEndpoint, {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subject + 'x',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    }, { authorization: basic('portcullis', 'portcullis-secret') });
    expect(forged.status).toBe(400);
    expect(((await forged.json()) as { error: string }).error).toBe('invalid_grant');
  });

  it('introspects opaque, revoked opaque, signed and expired JWTs', async () => {
    const opaque = as.issueOpaque({ sub: 'bob', scope: 'orders:write' });
    expect(opaque).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await introspect(opaque)).toMatchObject({ active: true, sub: 'bob', scope: 'orders:write', iss: as.issuer, token_type: 'Bearer' });
    expect(as.revokeOpaque(opaque)).toBe(true);
    expect(await introspect(opaque)).toEqual({ active: false });

    const jwt = await as.issueJwt({ sub: 'dave' });
    expect(await introspect(jwt)).toMatchObject({ active: true, sub: 'dave', iss: as.issuer });
    expect(await introspect(await as.issueJwt({}, { ttlSeconds: -60 }))).toEqual({ active: false });
    expect(await introspect(await as.issueJwt({}, { alg: 'none' }))).toEqual({ active: false });
    expect(await introspect('garbage')).toEqual({ active: false });

    const anon = await post(as.introspectionEndpoint, { token: jwt });
    expect(anon.status).toBe(401);
  });

  it('rotates keys: new kid signs, old kid stays published unless dropped', async () => {
    const before = await as.issueJwt();
    await as.rotateKeys();
    const after = await as.issueJwt();
    expect(decodeProtectedHeader(after).kid).toBe('rs256-2');
    const jwks = createRemoteJWKSet(new URL(as.jwksUri), { cacheMaxAge: 0 });
    await jwtVerify(before, jwks);
    await jwtVerify(after, jwks);
    await as.rotateKeys({ dropOld: true });
    const { keys } = (await (await fetch(as.jwksUri)).json()) as { keys: Array<{ kid: string }> };
    expect(keys.map((k) => k.kid).sort()).toEqual(['es256-3', 'rs256-3']);
    expect(await introspect(before)).toEqual({ active: false });
  });

  it('counts requests per endpoint and simulates down and slow endpoints', async () => {
    as.resetCounters();
    await fetch(as.jwksUri);
    await fetch(`${as.url}/.well-known/openid-configuration`);
    await introspect(as.issueOpaque());
    expect(as.counters).toEqual({ jwks: 1, introspection: 1, token: 0, discovery: 1 });

    as.setIntrospection('down');
    const down = await post(as.introspectionEndpoint, { token: 'x' }, { authorization: basic('portcullis', 'portcullis-secret') });
    expect(down.status).toBe(503);
    expect(as.counters.introspection).toBe(2);
    as.setJwks('down');
    expect((await fetch(as.jwksUri)).status).toBe(503);
    as.setJwks('slow', 150);
    const t0 = Date.now();
    expect((await fetch(as.jwksUri)).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    as.setJwks('normal');
    as.setIntrospection('normal');
  });

  it('honours issuerPath and custom algorithms', async () => {
    const other = await startAuthServer({ issuerPath: 'realms/demo', algorithms: ['PS256', 'EdDSA'], tokenTtlSeconds: 60 });
    try {
      expect(other.issuer).toBe(`${other.url}/realms/demo`);
      const meta = (await (await fetch(`${other.issuer}/.well-known/openid-configuration`)).json()) as { issuer: string };
      expect(meta.issuer).toBe(other.issuer);
      const jwks = createRemoteJWKSet(new URL(other.jwksUri));
      for (const alg of ['PS256', 'EdDSA']) {
        const { payload } = await jwtVerify(await other.issueJwt({}, { alg }), jwks, { issuer: other.issuer });
        expect(payload.exp! - payload.iat!).toBe(60);
      }
      await expect(other.issueJwt({}, { alg: 'RS256' })).rejects.toThrow(/no signing key/);
    } finally {
      await other.close();
    }
  });
});
