// An internal token the proxy minted for an upstream (forward.token: internal) carries the revocation
// keys of the inbound token it replaced: presented back to the proxy (a route trusting the proxy's
// own issuer), it is refused as soon as the inbound token is revoked — by jti, token hash, a sub
// scoped to the inbound's issuer, sid or kid — not for the rest of its max_ttl_s. And a revocation naming
// the minted token itself (its jti, hash, sub under the proxy's issuer, or the proxy's own signing kid)
// evicts it from the proxy's cache: the next request carries a fresh one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, waitReady } from '../ws/ws-fixtures.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/wait.js';

const SELF = 'https://portcullis.internal';
const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('a minted internal token dies with the inbound token it replaced', () => {
  let as: AuthServer;
  let up: ScriptedUpstream;
  let proxy: ProxyProcess;
  const auths: string[] = [];

  beforeAll(async () => {
    as = await startAuthServer();
    up = await startScriptedUpstream((req, res) => { auths.push(String(req.headers.authorization ?? '')); res.end('ok'); });
    // the proxy's own JWKS is served on its main port: pick the port first so the issuer can name it
    const port = await freePort(); // below the ephemeral range: no port-0 bind beside it takes it first
    proxy = await startProxy({
      server: { listen: { host: '127.0.0.1', port } },
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      issuers: {
        demo: { issuer: as.issuer, audiences: ['portcullis-demo'], clock_skew_s: 0 },
        self: { issuer: SELF, jwks_uri: `http://127.0.0.1:${port}/.well-known/jwks.json`, audiences: ['app'], algorithms: ['ES256'], clock_skew_s: 0, jwks: { unknown_kid_cooldown_s: 0 } },
      },
      internal_tokens: { issuer: SELF, signing: 'inline' },
      upstreams: { app: { targets: [up.url] } },
      routes: [
        { name: 'mint', match: { path: '/mint/*' }, upstream: 'app', auth: { issuers: ['demo'] }, forward: { token: 'internal' } },
        { name: 'svc', match: { path: '/svc/*' }, upstream: 'app', auth: { issuers: ['self'] } },
        { name: 'chain', match: { path: '/chain/*' }, upstream: 'app', auth: { issuers: ['self'] }, forward: { token: 'internal' } },
      ],
      log: { level: 'info' },
      verifier: { pool_size: 1 },
    }, { env: ADMIN_ENV });
    await waitReady(proxy);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([as?.close(), up?.close()]);
  });

  const call = async (path: string, tok: string): Promise<number> => (await fetch(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${tok}` } })).status;

  /** Mint an internal token for a fresh inbound token with `claims`; the internal token works on /svc before anything is revoked. */
  async function minted(claims: Record<string, unknown>): Promise<{ inbound: string; internal: string }> {
    const inbound = await as.issueJwt(claims);
    expect(await call('/mint/x', inbound)).toBe(200);
    const internal = auths.at(-1)!.replace(/^Bearer /, '');
    expect(claimsOf(internal).iss).toBe(SELF);
    expect(await call('/svc/before', internal)).toBe(200);
    return { inbound, internal };
  }

  const kinds: Array<[string, (inbound: string) => Record<string, unknown>]> = [
    ['jti', (t) => ({ kind: 'jti', value: claimsOf(t).jti })],
    ['token', (t) => ({ kind: 'token', value: createHash('sha256').update(t).digest('hex') })],
    ['sub scoped to the inbound issuer', (t) => ({ kind: 'sub', value: claimsOf(t).sub, issuer: as.issuer })],
    ['sid', (t) => ({ kind: 'sid', value: claimsOf(t).sid })],
  ];
  let n = 0;
  for (const [name, revocation] of kinds) {
    it(`revoking the inbound token by ${name} refuses its internal token on another route`, async () => {
      n++;
      const { inbound, internal } = await minted({ sub: `user-${n}`, sid: `session-${n}` });
      const other = await minted({ sub: `other-${n}`, sid: `other-session-${n}` });
      expect((await admin(proxy, 'POST', '/revocations', revocation(inbound))).status).toBe(201);
      expect(await call('/mint/after', inbound)).toBe(401);
      expect(await call('/svc/after', internal)).toBe(401);
      // another inbound token's internal token is untouched
      expect(await call('/svc/after', other.internal)).toBe(200);
    });
  }

  it('an internal token minted from an internal token dies with the first inbound token', async () => {
    // a chain: the upstream calls another route with the internal token it got, which mints again
    const { inbound, internal } = await minted({ sub: 'chain-user' });
    expect(await call('/chain/y', internal)).toBe(200);
    const second = auths.at(-1)!.replace(/^Bearer /, '');
    expect(second).not.toBe(internal);
    expect(await call('/svc/y', second)).toBe(200);
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: claimsOf(inbound).jti })).status).toBe(201);
    expect(await call('/svc/after', internal)).toBe(401);
    expect(await call('/svc/after', second)).toBe(401);
  });

  it('a token whose derived-from claim is malformed is refused', async () => {
    const tok = await as.issueJwt({ sub: 'forged', portcullis_src: 'not-an-object' });
    expect(await call('/mint/forged', tok)).toBe(401);
  });
  /** What the upstream gets for another request with `inbound` on the minting route. */
  async function attached(inbound: string): Promise<string> {
    expect(await call('/mint/again', inbound)).toBe(200);
    return auths.at(-1)!.replace(/^Bearer /, '');
  }
  const kidOf = (jwt: string): string => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;

  const own: Array<[string, (internal: string) => Record<string, unknown>]> = [
    ['its jti', (t) => ({ kind: 'jti', value: claimsOf(t).jti })],
    ['its token hash', (t) => ({ kind: 'token', value: createHash('sha256').update(t).digest('hex') })],
    ['its sub under the proxy\'s issuer', (t) => ({ kind: 'sub', value: claimsOf(t).sub, issuer: SELF })],
  ];
  for (const [name, revocation] of own) {
    it(`revoking a minted token by ${name} stops the proxy attaching it: the next request carries a fresh one`, async () => {
      n++;
      const { inbound, internal } = await minted({ sub: `own-${n}` });
      expect(await attached(inbound)).toBe(internal); // reused from the cache until then
      expect((await admin(proxy, 'POST', '/revocations', revocation(internal))).status).toBe(201);
      expect(await call('/svc/after', internal)).toBe(401);
      // a sub cut covers its whole second: a token minted in that second is refused (503) until the next one
      let next = '';
      await waitFor('a fresh internal token', async () => {
        const st = await call('/mint/again', inbound);
        next = auths.at(-1)!.replace(/^Bearer /, '');
        return st === 200;
      }, 5_000);
      expect(next).not.toBe(internal);
      expect(await call('/svc/fresh', next)).toBe(200);
    });
  }

  it('a user logged out by sub (every issuer) who signs in again is served: the new token mints, and the proxy accepts what it minted', async () => {
    const { inbound, internal } = await minted({ sub: 'relogin' });
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'sub', value: 'relogin' })).status).toBe(201);
    expect(await call('/mint/x', inbound)).toBe(401);
    expect(await call('/svc/after', internal)).toBe(401);
    // the cut covers the second it was made in: the new sign-in comes after it
    const cutS = Math.floor(Date.now() / 1000);
    await waitFor('the next second', async () => Math.floor(Date.now() / 1000) > cutS, 5_000);
    const fresh = await as.issueJwt({ sub: 'relogin' });
    expect(await call('/mint/y', fresh)).toBe(200);
    const next = auths.at(-1)!.replace(/^Bearer /, '');
    expect(next).not.toBe(internal);
    expect(await call('/svc/fresh', next)).toBe(200);
  });

  it('revoking the proxy\'s own signing kid: it leaves the JWKS and a new key signs the next token', async () => {
    const { inbound, internal } = await minted({ sub: 'own-kid' });
    const kid = kidOf(internal);
    const jwksKids = async (): Promise<string[]> => ((await (await fetch(`${proxy.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
    expect(await jwksKids()).toContain(kid);
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'kid', value: kid })).status).toBe(201);
    const next = await attached(inbound);
    expect(kidOf(next)).not.toBe(kid);
    const published = await jwksKids();
    expect(published).not.toContain(kid);
    expect(published).toContain(kidOf(next));
    expect(await call('/svc/after', internal)).toBe(401);
    await waitFor('the new key verifies', async () => (await call('/svc/fresh', next)) === 200, 5_000);
  });

  // last: it revokes the authorization server's signing key, refusing every token it issued so far
  it('revoking the inbound issuer\'s key refuses internal tokens minted from tokens it signed', async () => {
    const { inbound, internal } = await minted({ sub: 'kid-user' });
    const kid = JSON.parse(Buffer.from(inbound.split('.')[0]!, 'base64url').toString()).kid as string;
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'kid', value: kid, issuer: as.issuer })).status).toBe(201);
    expect(await call('/svc/after', internal)).toBe(401);
  });
});
