// An email subject (RFC 9493) spelled in another case than the user's tokens carry it, through real
// processes: two `portcullis serve` members on a real nats-server, the demo authorization server's
// tokens, a reference transmitter pushing SETs. Before, `Heidi@Example.COM` against a token's
// `heidi@example.com` revoked nothing and was answered 202; a `sub` holding `@` is now folded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { busSection, clusterMemberConfig, startMembers, subjectPrefix } from '../../helpers/cluster-members.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import type { ProxyProcess } from '../../helpers/proxy-process.js';
import { CAEP, RISC, startTransmitter, type Transmitter } from '../../helpers/ssf-transmitter.js';
import { bearer, open, wsUrl } from '../ws/ws-fixtures.js';
import { revoked } from './proxy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const PATH = '/ssf/events';
const AUD = 'https://proxy.example/ssf';
const SECRET = 'Bearer ssf-email-case-0123456789';

async function get(p: ProxyProcess, token: string): Promise<{ status: number; challenge: string }> {
  const r = await request(`${p.url}/api/x`, { headers: bearer(token) });
  await r.body.dump();
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? '') };
}

describe('SSF email subjects in another case', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let as: AuthServer;
  let up: WsEchoUpstream;
  let echo: EchoUpstream;
  let tx: Transmitter;
  let A: ProxyProcess;
  let B: ProxyProcess;
  const email = (e: string): Record<string, unknown> => ({ sub_id: { format: 'email', email: e } });

  beforeAll(async () => {
    [nats, as, up, echo, tx] = await Promise.all([startNatsServer(), startAuthServer(), startWsEchoUpstream(), startEchoUpstream(), startTransmitter(AUD)]);
    const config = clusterMemberConfig({
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
      event_sources: {
        idp: { issuer: tx.issuer, audiences: [AUD], push: { path: PATH, authorization_env: 'PT_SSF_PUSH' }, token_issuer: as.issuer, subjects: { email: 'sub' } },
      },
      upstreams: { ws: { targets: [up.url] }, echo: { targets: [echo.url] } },
      routes: [
        { name: 'chat', match: { path: '/chat/*' }, upstream: 'ws', websocket: true, auth: {} },
        { name: 'api', match: { path: '/api/*' }, upstream: 'echo', auth: {} },
      ],
      cluster: busSection(nats.url, subjectPrefix('ptssfcase')),
    });
    [A, B] = await startMembers(2, config, { PT_SSF_PUSH: SECRET });
  });

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await Promise.all([nats?.stop(), as?.close(), up?.close(), echo?.close(), tx?.close()]);
  });

  it('an event for Heidi@Example.COM revokes the tokens of heidi@example.com at every member (cached ones too) and closes their WebSocket', async () => {
    const tok = await as.issueJwt({ sub: 'heidi@example.com' });
    const neighbour = await as.issueJwt({ sub: 'heidi2@example.com' });
    expect((await get(B, tok)).status).toBe(200); // cached at B before the event
    const ws = await open(wsUrl(B, '/chat/1'), [], bearer(tok));
    expect((await ws.roundTrip('hi')).data.toString()).toBe('hi');
    const r = await tx.push(`${A.url}${PATH}`, await tx.set(`${RISC}account-disabled`, {}, email('Heidi@Example.COM')), SECRET);
    expect(r.status).toBe(202);
    expect(await ws.waitClosed(5_000)).toMatchObject({ code: 1008, reason: 'token revoked' });
    await waitFor('heidi revoked at A', async () => revoked(await get(A, tok)), 5_000);
    await waitFor('heidi revoked at B', async () => revoked(await get(B, tok)), 5_000);
    expect((await get(B, neighbour)).status).toBe(200);
  });

  it('an event for judy@exämple.com (lower case, NFC) revokes a token whose sub is JUDY@EXÄMPLE.COM written decomposed', async () => {
    const tok = await as.issueJwt({ sub: 'JUDY@EXA\u0308MPLE.COM' });
    expect((await get(A, tok)).status).toBe(200);
    const r = await tx.push(`${A.url}${PATH}`, await tx.set(`${CAEP}credential-change`, { credential_type: 'password', change_type: 'update' }, email('judy@ex\u00e4mple.com')), SECRET);
    expect(r.status).toBe(202);
    await waitFor('judy revoked at B', async () => revoked(await get(B, tok)), 5_000);
    await waitFor('judy revoked at A', async () => revoked(await get(A, tok)), 5_000);
  });
});
