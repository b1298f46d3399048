// What the pinned uWebSockets.js build (20.30) does with requests it cannot parse or serve,
// first against a bare uWS app (test/fixtures/uws-bare.mjs: no proxy code at all), then
// against the proxy: each row of README "Limitations" is asserted here as it behaves today,
// so a uWS upgrade that changes one (for the better or the worse) fails this file.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { ADMIN_ENV, ADMIN_TOKEN, ROOT, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, type RawResponse } from '../../helpers/raw-http.js';
import { waitFor } from '../../helpers/wait.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';

/** n header lines after the request line, Host included. */
const withHeaderLines = (n: number): string => {
  const lines = ['GET /h HTTP/1.1', 'Host: x'];
  for (let i = 1; i < n; i++) lines.push(`X-H${i}: v`);
  return lines.join('\r\n') + '\r\n\r\n';
};

/** Requests uWS drops without an answer once its ~10 s timer fires (8–12 s: 4 s ticks). */
const SILENT_TIMEOUT: Array<[string, string]> = [
  ['HTTP/1.0 request (curl --http1.0, HAProxy option httpchk)', 'GET /h HTTP/1.0\r\nHost: x\r\n\r\n'],
  ['HTTP/1.0 request without Host', 'GET /h HTTP/1.0\r\n\r\n'],
  ['49 header lines', withHeaderLines(49)],
  ['header name with _', 'GET /h HTTP/1.1\r\nHost: x\r\nX_Forwarded: 1\r\n\r\n'],
  ['header name with .', 'GET /h HTTP/1.1\r\nHost: x\r\nX.Trace: 1\r\n\r\n'],
  ['header name with ~', 'GET /h HTTP/1.1\r\nHost: x\r\nX~Tilde: 1\r\n\r\n'],
  ['header name with another RFC 9110 token symbol (+)', 'GET /h HTTP/1.1\r\nHost: x\r\nX+Plus: 1\r\n\r\n'],
  ['absolute-form target', 'GET http://x/h HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['authority-form target (CONNECT)', 'CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n'],
  ['asterisk-form target (OPTIONS *)', 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['whitespace between a header name and its colon (Transfer-Encoding : chunked)', 'POST /h HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'],
  ['bare CR in a header value', 'GET /h HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n'],
  ['obs-fold continuation line', 'GET /h HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n'],
  ['bare LF line ends', 'GET /h HTTP/1.1\nHost: x\n\n'],
  ['NUL in a header value', 'GET /h HTTP/1.1\r\nHost: x\r\nX-A: 1\u00002\r\n\r\n'],
  ['request headers never completed (slowloris)', 'GET /h HTTP/1.1\r\nHost: x\r\nX-A: 1'],
  ['request line and no header line at all', 'GET /h HTTP/1.1\r\n\r\n'],
];

/** An 8 KiB header block, written in two pieces (two reads at the server) or at once. */
const BIG_HEADERS = `GET /h HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`;

/** Requests uWS closes as soon as it reads them, without an answer. */
const SILENT_AT_ONCE: Array<[string, string | string[]]> = [
  ['HTTP/1.1 request with header lines but no Host', 'GET /h HTTP/1.1\r\nAccept: */*\r\n\r\n'],
  ['header block over 4 KiB that arrives in more than one read', [BIG_HEADERS.slice(0, 3000), BIG_HEADERS.slice(3000)]],
  ['a method not in upper case (get)', 'get /h HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a method in mixed case (Get)', 'Get /h HTTP/1.1\r\nHost: x\r\n\r\n'],
  // only GET HEAD POST PUT DELETE PATCH OPTIONS TRACE CONNECT reach a handler
  ['a method outside RFC 9110 §9 (WebDAV PROPFIND)', 'PROPFIND /h HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a method outside RFC 9110 §9 (TRACK)', 'TRACK /h HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a method outside RFC 9110 §9 (QUERY)', 'QUERY /h HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'],
];

/** Controls that must keep working: the boundary of the header count, a plain request. */
const ANSWERED: Array<[string, string | string[]]> = [
  ['48 header lines', withHeaderLines(48)],
  ['the same 8 KiB header block in one read', BIG_HEADERS],
  ['a plain HTTP/1.1 request', 'GET /h HTTP/1.1\r\nHost: x\r\n\r\n'],
];

/** After Host: a line with an empty name, then lines a front proxy that passed it would still read. */
const EMPTY_NAME_TAIL = ': a\r\nX-After: 1\r\nAuthorization: Bearer not-checked\r\nX-After-2: 2\r\n\r\n';

interface Probe { name: string; r: RawResponse; ms: number }

async function probeAll(port: number, cases: Array<[string, string | string[]]>): Promise<Probe[]> {
  return Promise.all(cases.map(async ([name, data]) => {
    const t0 = performance.now();
    // pieces 500 ms apart, so that the server reads them separately even on a loaded machine
    const r = await rawRequest(port, data, { waitClose: true, timeoutMs: 20_000, gapMs: 500 });
    return { name, r, ms: Math.round(performance.now() - t0) };
  }));
}

function expectSilentClose(results: Probe[], minMs: number): void {
  for (const { name, r, ms } of results) {
    expect(r.raw, `${name}: nothing written`).toBe('');
    expect(r.closed, `${name}: connection closed (within 20 s)`).toBe(true);
    expect(ms, `${name}: closed after ${ms} ms`).toBeGreaterThanOrEqual(minMs);
  }
}

// The two suites share nothing (their own processes, ports and event logs) and each waits ~10 s
// on uWS's timer: they run side by side (describe.concurrent). In the bare suite the two cases that
// wait out the timer run side by side too (the slow body's events are those of its own path, /up);
// the pipelined cases read the event log from where it stood, so they run alone (it.sequential).
describe.concurrent('the bare uWebSockets.js build', () => {
  let proc: ChildProcess;
  let port = 0;
  let out = '';
  const events = (): Array<{ ev: string; url: string; headers?: number }> =>
    out.split('\n').filter((l) => l.startsWith('{"ev"')).map((l) => JSON.parse(l) as { ev: string; url: string });
  /** The events of the slow-body case, the only request to /up. */
  const upEvents = (): Array<{ ev: string; url: string }> => events().filter((e) => e.url === '/up');

  beforeAll(async () => {
    proc = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'uws-bare.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    port = await new Promise<number>((resolve, reject) => {
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /\{"port":(\d+)\}/.exec(out);
        if (m !== null) resolve(Number(m[1]));
      });
      proc.on('exit', (code) => reject(new Error(`uws-bare exited with ${code}`)));
    });
  });

  afterAll(() => { proc?.kill(); });

  // beside the probes (each waits out the same timer): its events are told apart by its path
  it('cuts a request body slower than 16 KiB/s 8–12 s after its headers, with no answer', async () => {
    const t0 = performance.now();
    const chunks = ['POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n', ...Array.from({ length: 200 }, () => 'x'.repeat(100))];
    const r = await rawRequest(port, chunks, { gapMs: 100, waitClose: true, timeoutMs: 20_000 }); // 1 KB/s
    const ms = performance.now() - t0;
    expect(r.raw).toBe('');
    expect(r.closed).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(7_500);
    // the bare server's events arrive on its stdout after the client saw the close: a bound, not a speed (was a fixed 2 s)
    await waitFor('the request and its abort to reach the bare server\'s handler', () => upEvents().length >= 2, 10_000, { detail: () => JSON.stringify(upEvents()) });
    expect(upEvents().map((e) => e.ev)).toEqual(['request', 'aborted']);
  }, 30_000);

  it('drops each malformed or unsupported request without a status, 8–12 s later, before any handler runs', async () => {
    const [slow, atOnce, answered] = await Promise.all([probeAll(port, SILENT_TIMEOUT), probeAll(port, SILENT_AT_ONCE), probeAll(port, ANSWERED)]);
    console.log('bare uWS:', [...slow, ...atOnce, ...answered].map((p) => `${p.name}: ${p.r.status || 'no answer'} after ${p.ms} ms`).join('; '));
    // uWS's HTTP timer: 10 s in 4 s ticks, so never before 8 s
    expectSilentClose(slow, 7_500);
    expectSilentClose(atOnce, 0);
    for (const { name, r } of answered) expect(r.status, name).toBe(200);
    // only the answered requests ever reached JavaScript
    expect(events().filter((e) => e.ev === 'request' && e.url !== '/up').map((e) => e.headers).sort((a, b) => a! - b!)).toEqual([1, 2, 48]);
  }, 40_000);

  it.sequential('closes the connection and loses the pending response when a pipelined request arrives before it', async () => {
    const before = events().length;
    const r = await rawRequest(port, ['GET /slow HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n'], { gapMs: 100, waitClose: true, timeoutMs: 5_000 });
    expect(r.raw).toBe('');
    expect(r.closed).toBe(true);
    // the first request reached the handler (a proxy has forwarded it by then) and was aborted
    await waitFor('the request and its abort to reach the handler', () => events().length - before >= 2, 10_000, { detail: () => JSON.stringify(events().slice(before)) });
    expect(events().slice(before)).toEqual([{ ev: 'request', url: '/slow', headers: 1 }, { ev: 'aborted', url: '/slow' }]);
  });

  it.sequential('a client that half-closes after its request (FIN, as nc -N does) loses a response not written at once: uWS aborts the handler', async () => {
    const before = events().length;
    const r = await rawRequest(port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n', { halfClose: true, waitClose: true, timeoutMs: 5_000 });
    expect(r.raw).toBe('');
    expect(r.closed).toBe(true);
    await waitFor('the request and its abort to reach the handler', () => events().length - before >= 2, 10_000, { detail: () => JSON.stringify(events().slice(before)) });
    expect(events().slice(before)).toEqual([{ ev: 'request', url: '/slow', headers: 1 }, { ev: 'aborted', url: '/slow' }]);
  });

  it.sequential('a header line with an empty name (": a") hides every header line after it from JavaScript, and the request is served', async () => {
    const before = events().length;
    const r = await rawRequest(port, `GET /empty-name HTTP/1.1\r\nHost: x\r\n${EMPTY_NAME_TAIL}`, { timeoutMs: 5_000 });
    expect(r.status).toBe(200);
    await waitFor('the request to reach the handler', () => events().length > before, 10_000);
    // Host only: uWS ends its header list at an empty name, so the three lines after it are gone
    expect(events().slice(before)).toEqual([{ ev: 'request', url: '/empty-name', headers: 1 }]);
  });

  it.sequential('answers pipelined requests that are answered synchronously, in order', async () => {
    const r = await rawRequest(port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { waitClose: true, timeoutMs: 5_000 });
    expect(r.raw.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
  });
});

describe.concurrent('the proxy in front of the same build', () => {
  let app: ScriptedUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    app = await startScriptedUpstream((req, res) => {
      // /slow: the upstream acts on the request and answers 300 ms later
      const delay = req.url === '/slow' ? 300 : 0;
      req.resume();
      req.on('end', () => setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`done ${req.url}`); }, delay));
    });
    proxy = await startProxy(baseConfig(app.url), { env: ADMIN_ENV });
  });

  afterAll(async () => {
    await proxy?.stop();
    await app?.close();
  });

  const status499 = async (): Promise<number> => {
    const r = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const line = (await r.body.text()).split('\n').find((l) => l.startsWith('portcullis_requests_total{') && l.includes('status="499"'));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };

  it.sequential('drops the same requests without a status, and none reaches the upstream', async () => {
    const seen = app.seen.length;
    const [slow, atOnce, answered] = await Promise.all([probeAll(proxy.port, SILENT_TIMEOUT), probeAll(proxy.port, SILENT_AT_ONCE), probeAll(proxy.port, ANSWERED)]);
    console.log('proxy:', [...slow, ...atOnce, ...answered].map((p) => `${p.name}: ${p.r.status || 'no answer'} after ${p.ms} ms`).join('; '));
    expectSilentClose(slow, 7_500);
    expectSilentClose(atOnce, 0);
    for (const { name, r } of answered) expect(r.status, name).toBe(200);
    expect(app.seen.length - seen).toBe(ANSWERED.length);
    expect(proxy.proc.exitCode).toBeNull();
  }, 40_000);

  it.sequential('a header line with an empty name: the request is forwarded without it and without every header line after it', async () => {
    const seen = app.seen.length;
    const r = await rawRequest(proxy.port, `GET /empty-name HTTP/1.1\r\nHost: x\r\n${EMPTY_NAME_TAIL}`, { timeoutMs: 5_000 });
    expect(r.status).toBe(200);
    const got = app.seen.slice(seen);
    expect(got.map((s) => s.url)).toEqual(['/empty-name']);
    // neither the proxy nor the upstream sees X-After, the Authorization or X-After-2 (README Limitations)
    expect(Object.keys(got[0]!.headers).filter((k) => k.startsWith('x-after') || k === 'authorization')).toEqual([]);
  });

  it.sequential('HTTP/1.0 health checks are answered by the admin listener (node:http) instead', async () => {
    const r = await rawRequest(proxy.adminPort, 'GET /healthz HTTP/1.0\r\n\r\n', { waitClose: true });
    expect(r.status).toBe(200);
  });

  it.sequential('a client that half-closes after its request: the upstream executed it, the client gets nothing, the metrics count a 499', async () => {
    expect((await rawRequest(proxy.port, 'GET /warm HTTP/1.1\r\nHost: x\r\n\r\n')).status).toBe(200);
    const seen = app.seen.length;
    const aborted = await status499();
    const r = await rawRequest(proxy.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n', { halfClose: true, waitClose: true, timeoutMs: 5_000 });
    expect(r.raw).toBe('');
    expect(r.closed).toBe(true);
    await waitFor('the upstream to see the request', () => app.seen.length > seen, 5_000);
    expect(app.seen.slice(seen).map((s) => s.url)).toEqual(['/slow']);
    await waitFor('the 499 to be counted', async () => (await status499()) === aborted + 1, 5_000);
  });

  it.sequential('a pipelined request that arrives while the first waits for the upstream: the upstream executed the first, the client gets nothing, the metrics count a 499', async () => {
    // a request first, so the pool holds an idle upstream connection and /slow is written at once
    expect((await rawRequest(proxy.port, 'GET /warm HTTP/1.1\r\nHost: x\r\n\r\n')).status).toBe(200);
    const seen = app.seen.length;
    const aborted = await status499();
    const r = await rawRequest(proxy.port, ['GET /slow HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /second HTTP/1.1\r\nHost: x\r\n\r\n'], { gapMs: 100, waitClose: true, timeoutMs: 5_000 });
    expect(r.raw).toBe('');
    expect(r.closed).toBe(true);
    expect(app.seen.slice(seen).map((s) => s.url)).toEqual(['/slow']);
    expect(await status499()).toBe(aborted + 1);
  });
});
