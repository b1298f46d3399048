// A `kid` revocation (every token signed by that key) must refuse a JWT that an issuer's
// introspection judged — its keys not loaded, or never published — at every member: the one
// that called the authorization server and the ones that learnt the answer from its fill.
// A JWT without a `kid` header judged that way cannot be tied to a key: while a `kid` revocation
// of its issuer lives it is refused (closed), opaque tokens are not touched.
// Regression: the introspected principal carried no `kid`, so such JWTs kept passing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBusServers, type BusServers } from '../../helpers/bus-servers.js';
import { busSection, clusterMemberConfig, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { admin, call, metric, revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const headerKid = (t: string): string => JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()).kid as string;

describe('kid revocation of JWTs judged by introspection, across members', () => {
  let servers: BusServers;
  let A: ProxyProcess;
  let B: ProxyProcess;

  beforeAll(async () => {
    servers = await startBusServers();
    const { nats, as, echo } = servers;
    const config = clusterMemberConfig({
      issuers: {
        demo: {
          // the keys never load (nothing listens on port 9): every JWT of this issuer is introspected
          issuer: as.issuer, audiences: ['portcullis-demo'], jwks_uri: 'http://127.0.0.1:9/jwks',
          introspection: { endpoint: as.introspectionEndpoint, client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', cache_ttl_s: 120 },
        },
      },
      upstreams: { echo: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} }],
      cluster: busSection(nats.url, subjectPrefix('ptkid')),
    });
    [A, B] = await startMembers(2, config, { PT_INTROSPECTION_SECRET: 'portcullis-secret' });
    servers.started.push(A, B);
  }, 60_000);

  afterAll(async () => { await servers?.stop(); });

  it('the revoked key\'s JWTs are refused at the calling member and at the member that got the fill', async () => {
    const { as } = servers;
    const token = await as.issueJwt({ sub: 'kid-victim' });
    const kid = headerKid(token);
    expect((await call(A, token)).status).toBe(200); // introspected at A (the keys are not there)
    await waitFor('the fill at B', async () => (await metric(B, 'portcullis_introspection_sync_fills_total', 'direction="received"')) >= 1, 10_000);
    const callsBefore = as.counters.introspection;
    expect((await call(B, token)).status).toBe(200); // from A's fill
    expect(as.counters.introspection).toBe(callsBefore);

    expect((await admin(A, 'POST', '/revocations', { kind: 'kid', value: kid, issuer: as.issuer })).status).toBe(201);
    await waitFor('refused at A', async () => revoked(await call(A, token)), 10_000);
    await waitFor('refused at B', async () => revoked(await call(B, token)), 10_000);
    // another token of the same key, judged for the first time after the revocation
    const other = await as.issueJwt({ sub: 'kid-victim-2' });
    expect(headerKid(other)).toBe(kid);
    expect(revoked(await call(B, other))).toBe(true);
    expect(revoked(await call(A, other))).toBe(true);
  }, 60_000);

  it('while a kid of the issuer is revoked, its JWTs without a kid header are refused (the key that signed them is unknown); opaque tokens still pass', async () => {
    const { as } = servers;
    // runs after the revocation above
    const kidless = await as.issueJwt({ sub: 'kidless' }, { header: { kid: undefined } });
    expect(JSON.parse(Buffer.from(kidless.split('.')[0]!, 'base64url').toString())).not.toHaveProperty('kid');
    expect(revoked(await call(A, kidless))).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // A's fill reaches B
    expect(revoked(await call(B, kidless))).toBe(true);
    const opaque = as.issueOpaque({ sub: 'opaque-user' }, 600);
    expect((await call(B, opaque)).status).toBe(200);
    expect((await call(A, opaque)).status).toBe(200);
  }, 60_000);
});
