// An internal token the proxy minted for an upstream (forward.token: internal) carries the revocation
// keys of the inbound token it replaced: presented back to the proxy (a route trusting the proxy's
// own issuer), it is refused as soon as the inbound token is revoked — by jti, token hash, a sub
// scoped to the inbound's issuer, sid or kid — not for the rest of its max_ttl_s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { ADMIN_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, waitReady } from '../ws/ws-fixtures.js';
import { freePort } from '../../helpers/ports.js';

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
        self: { issuer: SELF, jwks_uri: `http://127.0.0.1:${port}/.well-known/jwks.json`, audiences: ['app'], algorithms: ['ES256'], clock_skew_s: 0 },
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
  // last: it revokes the authorization server's signing key, refusing every token it issued so far
  it('revoking the inbound issuer\'s key refuses internal tokens minted from tokens it signed', async () => {
    const { inbound, internal } = await minted({ sub: 'kid-user' });
    const kid = JSON.parse(Buffer.from(inbound.split('.')[0]!, 'base64url').toString()).kid as string;
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'kid', value: kid, issuer: as.issuer })).status).toBe(201);
    expect(await call('/svc/after', internal)).toBe(401);
  });
});
