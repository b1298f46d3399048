// Tracing of the identity-provider event endpoints (back-channel logout), answered before
// routing and only once their body has arrived: the request span must belong to the trace the
// event's own request sent, never to the trace of whichever request the proxy handled in
// between (a raw socket holds the logout body back while another client's request goes through).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect, type Socket } from 'node:net';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startOtlpCollector, type OtlpCollector } from '../../helpers/otlp-collector.js';
import { asIssuer, call, waitReady } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

const PATH = '/oidc/backchannel-logout';
const EVENT_TRACE = '1111111111111111111111111111111e';
const OTHER_TRACE = '2222222222222222222222222222222f';
const PARENT = '00f067aa0ba902b7';

let as: AuthServer;
let echo: EchoUpstream;
let collector: OtlpCollector;
let proxy: ProxyProcess;

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  collector = await startOtlpCollector();
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as, { backchannel_logout: { path: PATH, client_id: 'portcullis-web' } }) },
    routes: [{ name: 'open', match: { path: '/open/*' }, upstream: 'app', auth: 'none' }],
    tracing: { enabled: true, endpoint: collector.url, batch: { max_spans: 64, interval_ms: 50 } },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await collector?.close();
  await echo?.close();
  await as?.close();
});

/** Read from `s` until `done(text)` or the socket ends; the text read. */
function readUntil(s: Socket, done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const finish = (): void => { s.off('data', onData); resolve(text); };
    const onData = (d: Buffer): void => { text += d.toString('latin1'); if (done(text)) finish(); };
    s.on('data', onData);
    s.once('close', finish);
  });
}

describe('identity-provider event endpoints under tracing', () => {
  it('records a logout answered after its body in its own trace, not in the trace of a request served meanwhile', async () => {
    const body = 'logout_token=not-a-jwt';
    const s = connect(proxy.port, '127.0.0.1');
    await new Promise<void>((r) => s.once('connect', () => r()));
    const answer = readUntil(s, (t) => t.includes('\r\n\r\n') && t.includes('}'));
    // the head and the first byte of the body: the proxy waits for the rest
    s.write(`POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/x-www-form-urlencoded\r\n`
      + `content-length: ${body.length}\r\ntraceparent: 00-${EVENT_TRACE}-${PARENT}-01\r\n\r\n${body.slice(0, 1)}`);
    // another client's request, with its own trace, goes through meanwhile
    const other = await call(`${proxy.url}/open/x`, { headers: { traceparent: `00-${OTHER_TRACE}-${PARENT}-01` } });
    expect(other.status).toBe(200);
    s.write(body.slice(1));
    const text = await answer;
    s.destroy();
    expect(text.startsWith('HTTP/1.1 400'), text).toBe(true);

    const logoutSpan = (): boolean => collector.spans.some((sp) => sp.name.endsWith('(idp-event)'));
    await waitFor('logoutSpan', logoutSpan, 10_000, { detail: () => 'the logout request span was exported' });
    const spans = collector.spans.filter((sp) => sp.name.endsWith('(idp-event)'));
    expect(spans.map((sp) => sp.traceId), 'the logout span is in the trace its request sent').toEqual([EVENT_TRACE]);
    expect(spans[0]!.parentSpanId).toBe(PARENT);
    // the other client's trace holds its own request's spans only
    expect(collector.spans.filter((sp) => sp.traceId === OTHER_TRACE).map((sp) => sp.name).filter((n) => n.includes('idp-event'))).toEqual([]);
  });
});
