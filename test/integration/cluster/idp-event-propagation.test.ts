// The figure for identity-provider events (README: Identity-provider events; bench/RESULTS.md):
// from the start of a back-channel logout POST at member A to the first 401 for that session's
// token at member B, polled back to back. Printed as p50/p99 over the rounds; the test asserts
// only what a user notices (every round ends refused at B), never a timing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startBusServers, type BusServers } from '../../helpers/bus-servers.js';
import { busSection, clusterMemberConfig, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';

const PATH = '/oidc/backchannel-logout';
const ROUNDS = 40;

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

describe('identity-provider event propagation (back-channel logout at A → 401 at B)', () => {
  let servers: BusServers;
  let A: ProxyProcess;
  let B: ProxyProcess;

  beforeAll(async () => {
    servers = await startBusServers();
    const { nats, as, echo } = servers;
    const config = clusterMemberConfig({
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], backchannel_logout: { path: PATH, client_id: 'rp' } } },
      upstreams: { echo: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} }],
      cluster: busSection(nats.url, subjectPrefix('ptprop')),
    });
    [A, B] = await startMembers(2, config);
    servers.started.push(A, B);
  });

  afterAll(async () => { await servers?.stop(); });

  it(`every one of ${ROUNDS} logouts at A is enforced at B (delays printed)`, async () => {
    const { as } = servers;
    const toB: number[] = [];
    const answered: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const sid = `prop-${i}`;
      const tok = await as.issueJwt({ sub: `p${i}`, sid });
      const status = async (): Promise<number> => {
        const r = await request(`${B.url}/api/x`, { headers: { authorization: `Bearer ${tok}` } });
        await r.body.dump();
        return r.statusCode;
      };
      expect(await status()).toBe(200); // warm: verified and cached at B
      const lt = await as.issueJwt({ aud: 'rp', sid, scope: undefined, client_id: undefined, exp: undefined, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } }, { typ: 'logout+jwt' });
      const t0 = performance.now();
      const post = request(`${A.url}${PATH}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${lt}` })
        .then(async (r) => { await r.body.dump(); answered.push(performance.now() - t0); return r.statusCode; });
      let refusedAt = -1;
      while (performance.now() - t0 < 5_000) {
        if ((await status()) === 401) { refusedAt = performance.now() - t0; break; }
      }
      expect(await post).toBe(200);
      expect(refusedAt).toBeGreaterThanOrEqual(0);
      toB.push(refusedAt);
    }
    const f = (xs: number[]): string => `p50 ${quantile(xs, 0.5).toFixed(2)} ms, p99 ${quantile(xs, 0.99).toFixed(2)} ms, max ${Math.max(...xs).toFixed(2)} ms`;
    // eslint-disable-next-line no-console
    console.log(`idp-event-propagation (${ROUNDS} rounds, 2 members, 1 nats-server): logout POST at A → first 401 at B: ${f(toB)}; A's 200 answer: ${f(answered)}`);
  });
});
