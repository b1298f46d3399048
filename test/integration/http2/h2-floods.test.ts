// The HTTP/2 attack classes against a running proxy, sent as raw frames (no client library sends
// them): rapid reset (CVE-2023-44487), its server-side twin MadeYouReset (CVE-2025-8671), empty
// DATA frames (CVE-2019-9518), CONTINUATION flood, SETTINGS flood, PING flood, HPACK bomb. Each attacking session is closed with GOAWAY (or its stream refused, for the bomb), the
// process keeps serving other clients, and its memory stays bounded.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Fetch, http2PortOf, publicH2Config } from '../../helpers/h2-client.js';
import { FLAG, FRAME, frame, getBlock, H2_ENHANCE_YOUR_CALM, indexed, indexedLiteral, literal, rawSession } from '../../helpers/h2-frames.js';
import { rssBytes } from '../../helpers/upstreams.js';
import { bearer, call, waitReady } from '../auth/tokens-helpers.js';

let echo: EchoUpstream;
let proxy: ProxyProcess;
let port: number;

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(publicH2Config(echo.url), { env: ADMIN_ENV });
  await waitReady(proxy);
  port = http2PortOf(proxy.logs());
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

/** Another client is still served normally. */
async function stillServing(): Promise<void> {
  const r = await h2Fetch(`http://127.0.0.1:${port}`, { ':method': 'GET', ':path': '/public/ok' });
  expect(r.status, r.text).toBe(200);
}

async function closedSessions(reason: string): Promise<number> {
  const m = await call(`${proxy.adminUrl}/metrics`, { headers: bearer(ADMIN_TOKEN) });
  const x = new RegExp(`portcullis_http2_sessions_closed_total\\{reason="${reason}"\\} (\\d+)`).exec(m.text);
  return x === null ? 0 : Number(x[1]);
}

const headers = (id: number, path: string): Buffer => frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, getBlock(path));
const rst = (id: number, code = 0x8 /* CANCEL */): Buffer => frame(FRAME.RST_STREAM, 0, id, Buffer.from([0, 0, 0, code]));

describe('HTTP/2 attack classes: the attacking session is closed, the process goes on', () => {
  // RST_STREAM NO_ERROR before the proxy's answer ended is a reset too (before: never counted, the session stayed open)
  it.each([
    ['CANCEL', 0x8],
    ['NO_ERROR', 0x0],
  ])('rapid reset (CVE-2023-44487) with RST_STREAM %s: streams opened and cancelled at once → GOAWAY ENHANCE_YOUR_CALM', async (_name, code) => {
    const before = await closedSessions('rapid_reset');
    const s = await rawSession(port);
    const frames: Buffer[] = [];
    for (let i = 0; i < 1000; i++) frames.push(headers(1 + 2 * i, '/public/hang'), rst(1 + 2 * i, code));
    s.send(...frames);
    const end = await s.ended(30_000); // resolves when the session closes; the bound only matters when it never does
    expect(end.goaway).toBe(H2_ENHANCE_YOUR_CALM);
    expect(end.closed).toBe(true);
    expect(await closedSessions('rapid_reset')).toBe(before + 1);
    await stillServing();
  });

  it('MadeYouReset (CVE-2025-8671): DATA on streams the client already half-closed → GOAWAY at the first, nothing more goes upstream', async () => {
    const upstreamBefore = echo.requests;
    const s = await rawSession(port);
    const frames: Buffer[] = [];
    for (let i = 0; i < 1000; i++) frames.push(headers(1 + 2 * i, '/public/x'), frame(FRAME.DATA, 0, 1 + 2 * i, Buffer.from('x')));
    s.send(...frames);
    // nghttp2 answers the first such DATA with GOAWAY STREAM_CLOSED and reads nothing after it;
    // the socket itself stays open until server.http2.idle_timeout_ms (node emits no event for it)
    const end = await s.ended(1_000);
    expect(end.goaway).toBe(0x5);
    expect(echo.requests - upstreamBefore).toBeLessThanOrEqual(1);
    s.socket.destroy();
    await stillServing();
  });

  it('empty DATA frames (CVE-2019-9518) on an open request body → the session is closed', async () => {
    const s = await rawSession(port);
    const post = Buffer.concat([literal(':method', 'POST'), literal(':scheme', 'http'), literal(':path', '/public/x'), literal(':authority', 'localhost')]);
    const frames = [frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, post)];
    for (let i = 0; i < 100_000; i++) frames.push(frame(FRAME.DATA, 0, 1));
    s.send(...frames);
    const end = await s.ended(30_000); // resolves when the session closes; the bound only matters when it never does
    expect(end.goaway).not.toBeNull();
    expect(end.closed).toBe(true);
    await stillServing();
  });

  it('CONTINUATION flood: a header block that never ends → the session is closed', async () => {
    const s = await rawSession(port);
    const frames = [frame(FRAME.HEADERS, 0, 1, getBlock('/public/x'))];
    for (let i = 0; i < 10_000; i++) frames.push(frame(FRAME.CONTINUATION, 0, 1, literal(`x-c${i}`, 'v'.repeat(16))));
    s.send(...frames);
    const end = await s.ended(30_000); // resolves when the session closes; the bound only matters when it never does
    expect(end.goaway).not.toBeNull();
    expect(end.closed).toBe(true);
    await stillServing();
  });

  it('SETTINGS flood → GOAWAY ENHANCE_YOUR_CALM', async () => {
    const before = await closedSessions('settings_flood');
    const s = await rawSession(port);
    const frames: Buffer[] = [];
    for (let i = 0; i < 1000; i++) frames.push(frame(FRAME.SETTINGS, 0, 0));
    s.send(...frames);
    const end = await s.ended(30_000); // resolves when the session closes; the bound only matters when it never does
    expect(end.goaway).toBe(H2_ENHANCE_YOUR_CALM);
    expect(end.closed).toBe(true);
    expect(await closedSessions('settings_flood')).toBe(before + 1);
    await stillServing();
  });

  it('PING flood → GOAWAY ENHANCE_YOUR_CALM', async () => {
    const before = await closedSessions('ping_flood');
    const s = await rawSession(port);
    const frames: Buffer[] = [];
    for (let i = 0; i < 1000; i++) frames.push(frame(FRAME.PING, 0, 0, Buffer.alloc(8, i & 0xff)));
    s.send(...frames);
    const end = await s.ended(30_000); // resolves when the session closes; the bound only matters when it never does
    expect(end.goaway).toBe(H2_ENHANCE_YOUR_CALM);
    expect(end.closed).toBe(true);
    expect(await closedSessions('ping_flood')).toBe(before + 1);
    await stillServing();
  });

  it('HPACK bomb: 4 KiB in the dynamic table referenced thousands of times → the stream is refused, nothing forwarded, memory bounded', async () => {
    const rssBefore = rssBytes(proxy.proc.pid!);
    const upstreamBefore = echo.requests;
    const s = await rawSession(port);
    for (let n = 0; n < 20; n++) {
      const id = 1 + 2 * n;
      // each block: one 4 KiB entry, then 4000 one-byte references to it (~16 MiB decoded)
      const refs = Buffer.alloc(4000, indexed(62)[0]!);
      const block = Buffer.concat([getBlock('/public/bomb'), indexedLiteral('x-bomb', 'b'.repeat(4000)), refs]);
      const chunks: Buffer[] = [];
      for (let o = 0; o < block.length; o += 16_000) chunks.push(block.subarray(o, o + 16_000));
      s.send(...chunks.map((c, i) => frame(i === 0 ? FRAME.HEADERS : FRAME.CONTINUATION, i === chunks.length - 1 ? FLAG.END_HEADERS | FLAG.END_STREAM : 0, id, c)));
    }
    const end = await s.ended(3_000);
    // every bomb stream was refused (RST_STREAM) or the session closed; none became a request
    expect(end.goaway !== null || s.resets.size > 0, `goaway ${end.goaway}, resets ${s.resets.size}`).toBe(true);
    expect(s.responses.size).toBe(0);
    expect(echo.requests).toBe(upstreamBefore);
    expect(rssBytes(proxy.proc.pid!) - rssBefore).toBeLessThan(100 * 1024 * 1024);
    s.socket.destroy();
    await stillServing();
  });
});
