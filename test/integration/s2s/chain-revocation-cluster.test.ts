// A user's request chain across two members of one cluster (real nats-server, the same key_file):
// hop 1 at one member mints a token for service a, which calls b at the other member (--workers 2),
// which calls c. A revocation of the user's token made at the first member — by jti, sub, sid or
// client_id — stops every hop at the other member, whatever its workers have cached.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { busSection, clusterMemberConfig, subjectPrefix, waitReadyWithMembers } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { freePort } from '../../helpers/ports.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';
import { ADMIN_ENV } from '../../helpers/proxy-process.js';
import { adminPost, ecPem } from './s2s-fixtures.js';

const SELF = 'https://portcullis.internal';
const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('a request chain across members after the user\'s token is revoked', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let up: ScriptedUpstream;
  let m1: ProxyProcess;
  let m2: ProxyProcess;
  const got = new Map<string, string>(); // path → bearer token the service received

  beforeAll(async () => {
    [nats, as] = await Promise.all([startNatsServer(), startAuthServer()]);
    up = await startScriptedUpstream((req, res) => { got.set(String(req.url), String(req.headers.authorization ?? '').replace(/^Bearer /, '')); res.end('ok'); });
    const keyFile = join(tempDir(), 'internal.pem');
    writeFileSync(keyFile, ecPem(), { mode: 0o600 });
    const prefix = subjectPrefix('ptchain');
    const member = (port: number, workers: number): Record<string, unknown> => {
      const self = { issuer: SELF, jwks_uri: `http://127.0.0.1:${port}/.well-known/jwks.json`, algorithms: ['ES256'], clock_skew_s: 0 };
      return clusterMemberConfig({
        server: { listen: { host: '127.0.0.1', port }, workers },
        issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], clock_skew_s: 0 }, from_a: { ...self, audiences: ['a'] }, from_b: { ...self, audiences: ['b'] } },
        upstreams: { a: { targets: [up.url] }, b: { targets: [up.url] }, c: { targets: [up.url] } },
        routes: [
          { name: 'a', match: { path: '/a/*' }, upstream: 'a', auth: {}, forward: { token: 'internal' } },
          { name: 'b', match: { path: '/b/*' }, upstream: 'b', auth: { issuers: ['from_a'] }, forward: { token: 'internal' } },
          { name: 'c', match: { path: '/c/*' }, upstream: 'c', auth: { issuers: ['from_b'] }, forward: { token: 'internal' } },
        ],
        internal_tokens: { issuer: SELF, key_file: keyFile, signing: 'inline' },
        cluster: busSection(nats.url, prefix),
      });
    };
    const [p1, p2] = [await freePort(), await freePort()];
    [m1, m2] = await Promise.all([
      startProxy(member(p1, 1), { env: { ...BUS_ENV, ...ADMIN_ENV } }),
      startProxy(member(p2, 2), { env: { ...BUS_ENV, ...ADMIN_ENV } }),
    ]);
    await Promise.all([waitReadyWithMembers(m1, 2), waitReadyWithMembers(m2, 2)]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([m1?.stop(), m2?.stop()]);
    await Promise.all([nats?.stop(), as?.close(), up?.close()]);
  });

  const hop = async (p: ProxyProcess, path: string, tok: string): Promise<number> => {
    const r = await fetch(`${p.url}${path}`, { headers: { authorization: `Bearer ${tok}` } });
    await r.arrayBuffer();
    return r.status;
  };
  /** Six requests (both workers of m2 see some): every status. */
  const six = async (p: ProxyProcess, path: string, tok: string): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < 6; i++) out.push(await hop(p, path, tok));
    return out;
  };

  const kinds: Array<[string, (user: string) => Record<string, unknown>]> = [
    ['jti', (u) => ({ kind: 'jti', value: claimsOf(u).jti })],
    ['sub of the user\'s issuer', (u) => ({ kind: 'sub', value: claimsOf(u).sub, issuer: as.issuer })],
    ['sid', (u) => ({ kind: 'sid', value: claimsOf(u).sid })],
    ['client_id', (u) => ({ kind: 'client_id', value: claimsOf(u).client_id, issuer: as.issuer })],
  ];
  let n = 0;
  for (const [name, revocation] of kinds) {
    it(`revoked by ${name} at one member: hops b and c at the other member refuse the chain`, async () => {
      n++;
      const user = await as.issueJwt({ sub: `chain-${n}`, sid: `sess-${n}`, client_id: `client-${n}` });
      expect(await hop(m1, `/a/${n}`, user)).toBe(200);
      const forA = got.get(`/a/${n}`)!;
      expect(await six(m2, `/b/${n}`, forA)).toEqual([200, 200, 200, 200, 200, 200]); // m2's workers cache their token for b
      const forB = got.get(`/b/${n}`)!;
      expect(await six(m2, `/c/${n}`, forB)).toEqual([200, 200, 200, 200, 200, 200]);
      got.clear();
      expect((await adminPost(m1, '/revocations', revocation(user))).status).toBe(201);
      await waitFor('m2 refuses the first hop\'s token', async () => (await hop(m2, `/b/${n}`, forA)) === 401, 10_000);
      expect(await six(m2, `/b/${n}`, forA)).toEqual([401, 401, 401, 401, 401, 401]);
      expect(await six(m2, `/c/${n}`, forB)).toEqual([401, 401, 401, 401, 401, 401]);
      expect(await hop(m1, `/c/${n}`, forB)).toBe(401);
      expect(await hop(m1, `/a/${n}`, user)).toBe(401);
      expect([...got.keys()]).toEqual([]); // nothing reached a service after the revocation
    });
  }
});
