// RFC 8936 poll delivery against a hostile transmitter (real `portcullis serve` on a real
// nats-server, a node:http transmitter that records every request): `moreAvailable: true` with
// nothing in it does not make the poller spin, a redirect is not followed (the poll secret never
// reaches another host), an oversized answer is a counted failure and the member stays healthy, an
// answer dripped a byte at a time fails at timeout_ms (a total bound) and the poller polls again;
// stream management whose metadata document drips fails at stream.timeout_ms and says so in /readyz;
// SETs left unacknowledged (their keys could not be refetched) with `moreAvailable` do not make it spin either;
// a valid SET whose revocation is refused as invalid is reported in setErrs, not redelivered for ever; a transmitter
// that ignores acknowledgements (the same SET and moreAvailable every time) is polled every interval_ms, not at once,
// also when beside the SET it acknowledges it hands out one the poller cannot answer yet (keys not refetchable), or
// when it takes turns between two answers; one flooding new SETs (a new id every answer, moreAvailable) is polled at
// most 10 times a second, and what it hands out is still applied.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { CompactSign } from 'jose';
import { jwksOf, makeKey } from '../../fixtures/keys.js';
import { busSection, clusterMemberConfig, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { sleep, waitReady } from '../ws/ws-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const AUD = 'https://proxy.example/ssf';
const AUTH = 'Bearer poll-hostile-secret-0123456789';
const KEY = makeKey('ES256');
const JWKS = JSON.stringify(jwksOf([KEY]));
/** Signs the SET `/stuck` serves: a key rotated in while `/jwks-once` fails (unknown kid, keys not refetchable → 503, left unacknowledged). */
const ROTATED = makeKey('ES256');
/** The one SET `/stuck` answers every poll with (a transmitter redelivers what was not acknowledged), set once the URL is known. */
let stuckSet = '';
let jwksOnce = 0;
/** The SET `/poison` serves until a poll acknowledges or refuses it: signed and valid, but its subject's sub ends in a space (no revocation can name it). */
let poisonSet = '';
/** What the poll that answered for the poison SET said about it: `ack` or its setErrs entry; null while neither. */
let poisonReport: unknown = null;
/** The SET `/deaf` answers every poll with, acknowledged or not, and moreAvailable. */
let deafSet = '';
/** `/mixed`, every poll whatever was acknowledged: a valid SET (acknowledged each time) and one under an unknown kid (503, never answered). */
let mixedSets: Record<string, string> = {};
let jwksOnceMixed = 0;
/** `/turns` hands out these two SETs by turns, one per poll, whatever was acknowledged. */
let turnSets: string[] = [];
let turn = 0;
/** `/flood` answers every poll with a SET never seen before (a new jti and subject), and moreAvailable. */
let floodN = 0;

interface Recorder { readonly url: string; readonly seen: Array<{ path: string; auth: string }>; close(): Promise<void> }

/**
 * A transmitter whose poll endpoints misbehave: `/more` (always moreAvailable, never a SET), `/redirect` (307 to `target`),
 * `/huge` (5 MiB), `/drip` and the SSF metadata document (a 200 head, then one body byte every 50 ms, never ending:
 * every idle timer stays happy); `/stuck` (one SET under an unknown kid, and moreAvailable, every time), whose
 * source's keys come from `/jwks-once` (served once, then 500).
 */
async function startHostile(target: () => string): Promise<Recorder> {
  const seen: Array<{ path: string; auth: string }> = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    seen.push({ path: req.url ?? '', auth: String(req.headers.authorization ?? '') });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/poison') {
        const asked = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { ack?: string[]; setErrs?: Record<string, unknown> };
        if (asked.ack?.includes('poison') === true) poisonReport = 'ack';
        else if (asked.setErrs?.poison !== undefined) poisonReport = asked.setErrs.poison;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ sets: poisonReport === null ? { poison: poisonSet } : {}, moreAvailable: false }));
        return;
      }
      if (req.url === '/jwks') { res.setHeader('content-type', 'application/json'); res.end(JWKS); return; }
      if (req.url === '/jwks-once') { if (jwksOnce++ > 0) { res.writeHead(500); res.end(); } else { res.setHeader('content-type', 'application/json'); res.end(JWKS); } return; }
      if (req.url === '/stuck') { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ sets: { stuck: stuckSet }, moreAvailable: true })); return; }
      if (req.url === '/jwks-once-mixed') { if (jwksOnceMixed++ > 0) { res.writeHead(500); res.end(); } else { res.setHeader('content-type', 'application/json'); res.end(JWKS); } return; }
      if (req.url === '/mixed') { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ sets: mixedSets, moreAvailable: true })); return; }
      if (req.url === '/turns') { res.setHeader('content-type', 'application/json'); const i = turn++ % 2; res.end(JSON.stringify({ sets: { [`turn-${i}`]: turnSets[i] }, moreAvailable: true })); return; }
      if (req.url === '/flood') {
        const n = floodN++;
        const claims = { iss: `http://${String(req.headers.host)}`, aud: AUD, iat: Math.floor(Date.now() / 1000), jti: `flood-${n}`, events: { 'https://schemas.openid.net/secevent/risc/event-type/account-disabled': {} }, sub_id: { format: 'iss_sub', iss: 'https://as.example', sub: `flood-user-${n}` } };
        void new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ alg: 'ES256', kid: KEY.kid, typ: 'secevent+jwt' }).sign(KEY.privateKey)
          .then((set) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ sets: { [`flood-${n}`]: set }, moreAvailable: true })); });
        return;
      }
      if (req.url === '/deaf') { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ sets: { deaf: deafSet }, moreAvailable: true })); return; }
      if (req.url === '/more') { res.setHeader('content-type', 'application/json'); res.end('{"sets":{},"moreAvailable":true}'); return; }
      if (req.url === '/redirect') { res.writeHead(307, { location: `${target()}/stolen` }); res.end(); return; }
      if (req.url === '/drip' || req.url?.startsWith('/.well-known/ssf-configuration') === true) {
        res.writeHead(200, { 'content-type': 'application/json' });
        const t = setInterval(() => res.write(' '), 50);
        res.on('close', () => clearInterval(t));
        return;
      }
      if (req.url === '/huge') { res.setHeader('content-type', 'application/json'); res.end(`{"sets":{"a":"${'x'.repeat(5 * 1024 * 1024)}"}}`); return; }
      res.writeHead(404); res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

async function metric(p: ProxyProcess, source: string, result: string): Promise<number> {
  const text = await (await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
  const m = new RegExp(`portcullis_idp_events_total\\{source="${source}",type="poll",result="${result}"\\} (\\d+)`).exec(text);
  return m === null ? 0 : Number(m[1]);
}

async function eventMetric(p: ProxyProcess, source: string, type: string, result: string): Promise<number> {
  const text = await (await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
  const m = new RegExp(`portcullis_idp_events_total\\{source="${source}",type="${type}",result="${result}"\\} (\\d+)`).exec(text);
  return m === null ? 0 : Number(m[1]);
}

// Side by side (describe.concurrent): every source is polled from the start by its own poller, and each
// case counts only its own path's polls or its own source's metrics. The five 2 s windows that count polls
// ran one after another (~10 s of the file's ~14 s in CI); together, each window still spans 2 s of its
// source's polling, which a loop re-polling at once fills with tens to hundreds.
describe.concurrent('SSF poll against a hostile transmitter', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let tx: Recorder;
  let other: Recorder;
  let P: ProxyProcess;

  beforeAll(async () => {
    nats = await startNatsServer();
    other = await startHostile(() => '');
    tx = await startHostile(() => other.url);
    const claims = { iss: tx.url, aud: AUD, iat: Math.floor(Date.now() / 1000), jti: 'stuck', events: { 'https://schemas.openid.net/secevent/caep/event-type/session-revoked': { subject: { format: 'iss_sub', iss: 'https://as.example', sub: 'u1' } } } };
    stuckSet = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ alg: 'ES256', kid: ROTATED.kid, typ: 'secevent+jwt' }).sign(ROTATED.privateKey);
    const poison = { ...claims, jti: 'poison', events: { 'https://schemas.openid.net/secevent/risc/event-type/account-disabled': {} }, sub_id: { format: 'iss_sub', iss: 'https://as.example', sub: 'kim ' } };
    poisonSet = await new CompactSign(new TextEncoder().encode(JSON.stringify(poison))).setProtectedHeader({ alg: 'ES256', kid: KEY.kid, typ: 'secevent+jwt' }).sign(KEY.privateKey);
    const deaf = { ...poison, jti: 'deaf', sub_id: { format: 'iss_sub', iss: 'https://as.example', sub: 'deaf-user' } };
    deafSet = await new CompactSign(new TextEncoder().encode(JSON.stringify(deaf))).setProtectedHeader({ alg: 'ES256', kid: KEY.kid, typ: 'secevent+jwt' }).sign(KEY.privateKey);
    const mixedOk = { ...poison, jti: 'mixed-ok', sub_id: { format: 'iss_sub', iss: 'https://as.example', sub: 'mixed-user' } };
    mixedSets = {
      'mixed-ok': await new CompactSign(new TextEncoder().encode(JSON.stringify(mixedOk))).setProtectedHeader({ alg: 'ES256', kid: KEY.kid, typ: 'secevent+jwt' }).sign(KEY.privateKey),
      'mixed-stuck': await new CompactSign(new TextEncoder().encode(JSON.stringify({ ...claims, jti: 'mixed-stuck' }))).setProtectedHeader({ alg: 'ES256', kid: ROTATED.kid, typ: 'secevent+jwt' }).sign(ROTATED.privateKey),
    };
    turnSets = await Promise.all([0, 1].map((i) => new CompactSign(new TextEncoder().encode(JSON.stringify({ ...poison, jti: `turn-${i}`, sub_id: { format: 'iss_sub', iss: 'https://as.example', sub: `turn-user-${i}` } })))
      .setProtectedHeader({ alg: 'ES256', kid: KEY.kid, typ: 'secevent+jwt' }).sign(KEY.privateKey)));
    const src = (path: string): Record<string, unknown> => ({
      issuer: tx.url, audiences: [AUD], jwks_uri: `${tx.url}/jwks`, poll: { endpoint: `${tx.url}${path}`, authorization_env: 'PT_SSF_POLL', interval_ms: 1_000 },
    });
    const config = clusterMemberConfig({
      issuers: { demo: { issuer: 'https://as.example', audiences: ['x'], jwks_uri: `${tx.url}/jwks` } },
      event_sources: {
        more: src('/more'), poison: src('/poison'), deaf: src('/deaf'), stuck: { ...src('/stuck'), jwks_uri: `${tx.url}/jwks-once` },
        mixed: { ...src('/mixed'), jwks_uri: `${tx.url}/jwks-once-mixed` }, turns: src('/turns'), flood: src('/flood'), redirect: src('/redirect'), huge: src('/huge'),
        drip: { ...src('/drip'), poll: { ...(src('/drip').poll as object), interval_ms: 100, timeout_ms: 300 } },
        managed: { ...src('/drip'), issuer: `${tx.url}/managed`, stream: { authorization_env: 'PT_SSF_POLL', delivery: 'poll', timeout_ms: 300 } },
      },
      upstreams: { echo: { targets: ['http://127.0.0.1:9'] } },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} }],
      cluster: busSection(nats.url, subjectPrefix('pthost')),
    });
    P = await startProxy(config, { env: { ...ADMIN_ENV, ...BUS_ENV, PT_SSF_POLL: AUTH } });
    await waitReady(P);
  });

  afterAll(async () => {
    await P?.stop();
    await Promise.all([nats?.stop(), tx?.close(), other?.close()]);
  });

  it('moreAvailable with no SETs waits interval_ms like an empty answer (no hot loop against the transmitter)', async () => {
    await waitFor('first poll of /more', async () => (await metric(P, 'more', 'ok')) > 0, 10_000);
    const before = tx.seen.filter((s) => s.path === '/more').length;
    await sleep(2_000);
    const during = tx.seen.filter((s) => s.path === '/more').length - before;
    // interval_ms 1000: about 2 polls in 2 s; a loop that re-polls at once makes hundreds
    expect(during).toBeLessThanOrEqual(5);
  });

  it('a SET left unacknowledged (its kid unknown while the JWKS refetch fails: 503) with moreAvailable waits interval_ms too (before: polled again at once, without end)', async () => {
    await waitFor('first poll of /stuck', async () => tx.seen.some((s) => s.path === '/stuck'), 10_000);
    await waitFor('the refetch of /jwks-once failed', async () => jwksOnce >= 2, 10_000);
    const before = tx.seen.filter((s) => s.path === '/stuck').length;
    await sleep(2_000);
    const during = tx.seen.filter((s) => s.path === '/stuck').length - before;
    expect(during).toBeLessThanOrEqual(5);
    expect(during).toBeGreaterThan(0); // still polled: the SET comes again once the keys can be fetched
  });

  it('a valid SET whose revocation is refused (sub ending in a space) is reported in setErrs as invalid_request; before, it was neither acknowledged nor reported and came again every poll', async () => {
    await waitFor('the poison SET acknowledged or refused', async () => poisonReport !== null, 10_000);
    expect(poisonReport).toMatchObject({ err: 'invalid_request', description: expect.stringContaining('a space or tab at an end') });
    expect(await eventMetric(P, 'poison', 'ssf_account_disabled', 'invalid_revocation')).toBe(1);
    expect(P.output()).toMatch(/identity-provider event not applied/);
  });

  it('a transmitter ignoring acknowledgements (the same SET, moreAvailable) is polled every interval_ms; before, again at once, the SET republished each time', async () => {
    await waitFor('the deaf SET applied', async () => (await eventMetric(P, 'deaf', 'ssf_account_disabled', 'accepted')) > 0, 10_000);
    const before = tx.seen.filter((s) => s.path === '/deaf').length;
    await sleep(2_000);
    const during = tx.seen.filter((s) => s.path === '/deaf').length - before;
    expect(during).toBeLessThanOrEqual(5);
    expect(during).toBeGreaterThan(0);
  });

  it('a transmitter ignoring acknowledgements whose answer also holds a SET left unanswered (unknown kid, keys not refetchable), or that takes turns between two answers, is polled every interval_ms; before, again at once without end', async () => {
    await waitFor('the valid SET of /mixed applied', async () => (await eventMetric(P, 'mixed', 'ssf_account_disabled', 'accepted')) > 0, 10_000);
    await waitFor('the refetch of /jwks-once-mixed failed', async () => jwksOnceMixed >= 2, 10_000);
    await waitFor('both SETs of /turns applied', async () => (await eventMetric(P, 'turns', 'ssf_account_disabled', 'accepted')) >= 2, 10_000);
    const polls = (path: string): number => tx.seen.filter((s) => s.path === path).length;
    const before = { mixed: polls('/mixed'), turns: polls('/turns') };
    await sleep(2_000);
    // interval_ms 1000: about 2 polls in 2 s each; polled at once it is hundreds
    for (const path of ['mixed', 'turns'] as const) {
      const during = polls(`/${path}`) - before[path];
      expect(during, path).toBeLessThanOrEqual(5);
      expect(during, path).toBeGreaterThan(0);
    }
  });

  it('a transmitter flooding new SETs (a new id in every answer, moreAvailable) is polled at most 10 times a second, and what it hands out is applied; before, again at once without end', async () => {
    await waitFor('flood SETs applied', async () => (await eventMetric(P, 'flood', 'ssf_account_disabled', 'accepted')) > 0, 10_000);
    const polls = (): number => tx.seen.filter((s) => s.path === '/flood').length;
    const before = { polls: polls(), applied: await eventMetric(P, 'flood', 'ssf_account_disabled', 'accepted') };
    await sleep(2_000);
    const during = polls() - before.polls;
    // 10 a second: about 20 in 2 s (one budget's worth more at the edges); back to back it is hundreds
    expect(during).toBeLessThanOrEqual(30);
    expect(during).toBeGreaterThan(2); // faster than interval_ms: a real backlog still drains
    // every SET handed out is still applied (a revocation per new id), throttled or not
    await waitFor('the SETs of those polls applied', async () => (await eventMetric(P, 'flood', 'ssf_account_disabled', 'accepted')) - before.applied >= during - 1, 10_000);
    expect(await metric(P, 'flood', 'throttled')).toBeGreaterThan(0);
  });

  it('a redirect is not followed: the poll secret never reaches another host; the poll is a counted failure', async () => {
    await waitFor('failed redirect poll counted', async () => (await metric(P, 'redirect', 'failed')) > 0, 10_000);
    expect(other.seen).toEqual([]);
    expect(tx.seen.filter((s) => s.path === '/redirect').every((s) => s.auth === AUTH)).toBe(true);
  });

  it('an answer over the size limit is a counted failure; the member keeps serving', async () => {
    await waitFor('failed huge poll counted', async () => (await metric(P, 'huge', 'failed')) > 0, 10_000);
    const r = await request(`${P.url}/api/x`);
    await r.body.dump();
    expect(r.statusCode).toBe(401);
  });

  it('an answer dripped forever fails at timeout_ms (whole exchange) and is polled again: the loop never hangs', async () => {
    await waitFor('second failed drip poll counted', async () => (await metric(P, 'drip', 'failed')) >= 2, 10_000);
  });

  it('stream management whose metadata drips forever fails at stream.timeout_ms and reports it in /readyz (the loop retries)', async () => {
    let seen: unknown = null;
    await waitFor('the stream reports the timeout', async () => {
      const r = await request(`${P.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const body = await r.body.json() as { event_streams?: Record<string, { error: string | null }> };
      seen = body.event_streams?.managed?.error ?? null;
      return typeof seen === 'string' && seen.includes('no complete answer within 300 ms');
    }, 10_000);
    expect(seen).toMatch(/ssf-configuration\/managed: no complete answer/);
  });
});
