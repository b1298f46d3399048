// An IdP's token-claims-change (`drop_cache`) lands while a member's introspection call for that
// subject is on the wire: the authorization server already wrote its answer (the old claims) and
// the network delivers it after the drop. That late answer must not go back into the cache — at the
// member that made the call, nor at the others through its fill: the next request is introspected again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { busSection, clusterMemberConfig, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { metric } from './proxy-fixtures.js';
import { CAEP, startTransmitter, type Transmitter } from '../../helpers/ssf-transmitter.js';
import { startSlowWireAs, type SlowWireAs } from './fixtures/slow-wire-as.js';
import { waitFor } from '../../helpers/wait.js';

const PATH = '/ssf/events';
const AUD = 'https://proxy.example/ssf';
const SECRET = 'Bearer ssf-push-secret-0123456789';
const TOKEN = 'opaque-token-of-ivan-0123456789abcdef';

async function status(p: ProxyProcess): Promise<number> {
  const r = await request(`${p.url}/api/x`, { headers: { authorization: `Bearer ${TOKEN}`, connection: 'close' } });
  await r.body.dump();
  return r.statusCode;
}

/** `cache.subject_dropped` messages `p` took from a peer. */
const drops = (p: ProxyProcess): Promise<number> => metric(p, 'portcullis_introspection_sync_subject_drops_total', 'direction="received"');

describe('shared introspection cache: a drop_cache during an introspection call', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: SlowWireAs;
  let echo: EchoUpstream;
  let tx: Transmitter;
  let A: ProxyProcess;
  let B: ProxyProcess;

  beforeAll(async () => {
    [nats, as, echo, tx] = await Promise.all([startNatsServer(), startSlowWireAs(TOKEN), startEchoUpstream(), startTransmitter(AUD)]);
    const config = clusterMemberConfig({
      issuers: {
        demo: {
          issuer: as.issuer, audiences: ['portcullis-demo'], jwks_uri: 'http://127.0.0.1:9/jwks', // opaque tokens only: no keys needed
          introspection: { endpoint: as.endpoint, client_id: 'portcullis', client_secret_env: 'PT_INTROSPECTION_SECRET', cache_ttl_s: 120, negative_ttl_s: 1, timeout_ms: 9_000 },
        },
      },
      event_sources: { idp: { issuer: tx.issuer, audiences: [AUD], push: { path: PATH, authorization_env: 'PT_SSF_PUSH' }, token_issuer: as.issuer } },
      upstreams: { echo: { targets: [echo.url] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} }],
      cluster: busSection(nats.url, subjectPrefix('ptdc')),
    });
    [A, B] = await startMembers(2, config, { PT_SSF_PUSH: SECRET, PT_INTROSPECTION_SECRET: 'portcullis-secret' });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await Promise.all([nats?.stop(), as?.close(), echo?.close(), tx?.close()]);
  });

  it('the answer delivered after the drop is not cached at the calling member nor shared with the others', async () => {
    as.hold = true; // the answer lands only once B has the drop
    const inFlight = status(B); // B calls the authorization server, which decides "active" now
    await waitFor('the call at the authorization server', async () => as.calls >= 1, 5_000);

    // the subject's claims change (here: the token is no longer active); the IdP tells A
    as.active = false;
    const dropsAtB = await drops(B);
    const set = await tx.set(`${CAEP}token-claims-change`, { claims: { role: 'guest' } }, { sub_id: { format: 'iss_sub', iss: as.issuer, sub: 'ivan' } });
    expect(await tx.push(`${A.url}${PATH}`, set, SECRET)).toMatchObject({ status: 202 });
    await waitFor('the drop at B', async () => (await drops(B)) > dropsAtB, 10_000);
    as.release();
    await inFlight; // judged by the answer the server wrote before the change (the request began before it)
    // a marker after B's fill, if it sent one: B's own drop of another subject, on the same bus subject from
    // the same connection (kept in order), taken at A after anything B published before it
    const dropsAtA = await drops(A);
    const marker = await tx.set(`${CAEP}token-claims-change`, { claims: { role: 'guest' } }, { sub_id: { format: 'iss_sub', iss: as.issuer, sub: 'marker' } });
    expect(await tx.push(`${B.url}${PATH}`, marker, SECRET)).toMatchObject({ status: 202 });
    await waitFor('B\'s marker drop at A', async () => (await drops(A)) > dropsAtA, 10_000);
    const callsBefore = as.calls;
    expect(await status(B)).toBe(401);
    expect(await status(A)).toBe(401);
    expect(as.calls).toBeGreaterThan(callsBefore); // introspected again, not served the old answer
  }, 60_000);

  it('a drop the bus delivers after the answer it should have stopped: the member the IdP told refuses the token again, not for the cache TTL', async () => {
    await new Promise((r) => setTimeout(r, 1_200)); // the negative result above (negative_ttl_s: 1) runs out
    as.active = true;
    as.hold = true; // B's answer lands only after A has dropped the subject
    const calls = as.calls;
    const fillsAtA = (): Promise<number> => metric(A, 'portcullis_introspection_sync_fills_total', 'direction="received"');
    const fills = await fillsAtA();
    const inFlight = status(B);
    await waitFor('the call at the authorization server', async () => as.calls > calls, 10_000);
    // a frozen nats-server holds A's drop until B has its answer and has shared it (B's fill is signed after A's drop)
    nats.pause();
    try {
      as.active = false;
      const set = await tx.set(`${CAEP}token-claims-change`, { claims: { role: 'guest' } }, { sub_id: { format: 'iss_sub', iss: as.issuer, sub: 'ivan' } });
      expect(await tx.push(`${A.url}${PATH}`, set, SECRET)).toMatchObject({ status: 202 });
      as.release();
      expect(await inFlight).toBe(200); // answered before the drop reached B
    } finally {
      as.release();
      nats.resume();
    }
    await waitFor('B\'s fill at A', async () => (await fillsAtA()) > fills, 15_000);
    // before: A kept B's fill (signed after A's drop) and served it until its TTL (120 s), and lent it to B as owner
    await waitFor('A to refuse the token once the bus delivers', async () => (await status(A)) === 401, 15_000);
    await waitFor('B to refuse the token', async () => (await status(B)) === 401, 15_000);
    expect(await status(A)).toBe(401);
  }, 60_000);
});
