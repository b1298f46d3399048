// What a client can do to the process log through its own requests: a flood while the log reader
// (a shipper) stalls must not grow the proxy by every line (log.buffer_bytes bounds it, the rest is
// counted), and a path with Unicode line separators must not split its access line for readers
// that break lines at them.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { constants, openSync, closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, writeConfig, ADMIN_ENV, ADMIN_TOKEN, CLI, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { waitFor } from '../../helpers/wait.js';
import { reap } from '../../helpers/reaper.js';

const FLOOD = 1_000;

const metric = async (p: ProxyProcess, re: RegExp): Promise<number> => {
  const r = await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return Number(re.exec(await r.body.text())?.[1] ?? NaN);
};
const dropped = (p: ProxyProcess): Promise<number> => metric(p, /^portcullis_log_lines_dropped_total\{process="proxy"\} (\d+)$/m);

/** `n` requests to `p` over 8 keep-alive connections, each answered 200. */
async function flood(p: Pick<ProxyProcess, 'url'>, n: number, path = '/flood/'): Promise<void> {
  const agent = new Agent({ connections: 8 });
  try {
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        const r = await request(`${p.url}${path}${i}`, { dispatcher: agent });
        await r.body.dump();
        expect(r.statusCode).toBe(200);
      }
    }));
  } finally { await agent.close(); }
}

describe('process log under a flood', () => {
  let proxy: ProxyProcess;
  let echo: EchoUpstream;
  beforeAll(async () => {
    echo = await startEchoUpstream();
    proxy = await startProxy(baseConfig(echo.url, { log: { level: 'info', access: true, buffer_bytes: 65_536 } }));
  });
  afterAll(async () => { await proxy?.stop(); await echo?.close(); });

  it('a stalled stdout reader: lines past log.buffer_bytes are dropped and counted, every other line arrives whole', async () => {
    const before = proxy.logs().filter((l) => l.msg === 'request').length;
    proxy.proc.stdout!.pause();
    let lost = NaN;
    try {
      await flood(proxy, FLOOD);
      lost = await dropped(proxy);
    } finally { proxy.proc.stdout!.resume(); }
    // ~330 bytes a line: a 64 KiB pipe and a 64 KiB buffer hold a few hundred of them
    expect(lost).toBeGreaterThan(FLOOD / 4);
    const lines = (): number => proxy.logs().filter((l) => l.msg === 'request').length - before;
    await waitFor('every request logged or counted as dropped', () => lines() + lost === FLOOD, 10_000, { detail: () => `${lines()} lines + ${lost} dropped` });
    expect(proxy.logs().every((l) => Object.keys(l).length > 0)).toBe(true); // every line parsed as JSON
  });

  it('a path with U+2028/U+2029 is written escaped: its access line stays one line for any line splitter', async () => {
    const path = Buffer.concat([Buffer.from('GET /nowhere/a'), Buffer.from('\u2028{}\u2029b', 'utf8'), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]);
    expect((await rawRequest(proxy.port, path)).status).toBe(400);
    await waitFor('the line of the refused path', () => proxy.logs().some((l) => typeof l.path === 'string' && l.path.includes('\u2028')), 5_000);
    expect(proxy.logs().find((l) => typeof l.path === 'string' && l.path.includes('\u2028'))!.path).toBe('/nowhere/a\u2028{}\u2029b');
    expect(proxy.output()).not.toMatch(/[\u2028\u2029]/);
    expect(proxy.output()).toContain('/nowhere/a\\u2028{}\\u2029b');
  });
});

describe('audit trail on standard output under a flood', () => {
  let proxy: ProxyProcess;
  let echo: EchoUpstream;
  beforeAll(async () => {
    echo = await startEchoUpstream();
    proxy = await startProxy(baseConfig(echo.url));
  });
  afterAll(async () => { await proxy?.stop(); await echo?.close(); });

  it('an audit record on stdout waits in the log queue while the reader stalls: nothing blocks, nothing is lost or cut', async () => {
    const before = await dropped(proxy);
    proxy.proc.stdout!.pause();
    try {
      // ~600 KB of access lines: more than the socket pair of spawn's stdout holds (~200 KB)
      await flood(proxy, 2_000);
      // no admin token: an audit record (outcome unauthorized), which a synchronous write held the
      // event loop for while the pipe stayed full (2 s) and then lost
      expect((await request(`${proxy.adminUrl}/reload`, { method: 'POST' })).statusCode).toBe(401);
    } finally { proxy.proc.stdout!.resume(); }
    await waitFor('the audit record', () => proxy.logs().some((l) => l.name === 'portcullis-audit' && l.action === 'config.reload'), 5_000);
    expect(await dropped(proxy)).toBe(before);
    expect(await metric(proxy, /^portcullis_audit_lines_lost_total (\d+)$/m)).toBe(0);
    expect(proxy.output()).not.toContain('audit trail write failed');
    expect(proxy.logs().every((l) => Object.keys(l).length > 0)).toBe(true);
  });

  it('an audit record with U+2028/U+2029 is one escaped line on stdout (escaped once, by the log destination)', async () => {
    const r = await request(`${proxy.adminUrl}/revocations`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'jti', value: 'jti\u2028flood\u2029audit' }),
    });
    expect(r.statusCode).toBe(201);
    await r.body.dump();
    const record = (): Record<string, any> | undefined => proxy.logs().find((l) => l.name === 'portcullis-audit' && l.action === 'revocation.add');
    await waitFor('the revocation\'s audit record', () => record() !== undefined, 5_000);
    expect(JSON.stringify(record()!.detail)).toContain('"jti\u2028flood\u2029audit"');
    expect(proxy.output()).not.toMatch(/[\u2028\u2029]/);
    expect(proxy.output()).toContain('jti\\u2028flood\\u2029audit');
  });
});

describe('serve --workers 2 into a pipe', () => {
  let echo: EchoUpstream;
  beforeAll(async () => { echo = await startEchoUpstream(); });
  afterAll(async () => { await echo?.close(); });

  it('lines of the processes sharing stdout are never cut into each other, however slowly the pipe is read', async () => {
    // a real pipe (spawn's 'pipe' is a socket pair): a FIFO, read with pauses as a busy shipper would
    const fifo = join(tempDir('portcullis-log-pipe-'), 'stdout');
    execFileSync('mkfifo', [fifo]);
    // the read end first, non-blocking: opening the write end then does not wait for a reader
    const reader = new Socket({ fd: openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
    const fd = openSync(fifo, 'w');
    const proc = reap(spawn(process.execPath, [CLI, 'serve', '--config', writeConfig(baseConfig(echo.url)), '--workers', '2'], { env: { ...process.env, ...ADMIN_ENV }, stdio: ['ignore', fd, 'inherit'] }));
    closeSync(fd);
    let out = '';
    reader.on('data', (d) => { out += d; });
    const slow = setInterval(() => { if (reader.isPaused()) reader.resume(); else reader.pause(); }, 30);
    try {
      await waitFor('listening', () => out.includes('"msg":"listening"'), 30_000);
      const listening = JSON.parse(out.split('\n').find((l) => l.includes('"msg":"listening"'))!) as { port: number };
      // ~3.3 KB lines: a 16 KiB write holds a few, and a pipe takes any write over 4 KiB in part
      await flood({ url: `http://127.0.0.1:${listening.port}` }, 2_000, `/${'p'.repeat(3_000)}/`);
      reader.resume();
      clearInterval(slow);
      const accessLines = (): string[] => out.split('\n').filter((l) => l.includes('/pppp'));
      // each line's start, cut or not
      const starts = (): number => out.split('"path":"/pppp').length - 1;
      await waitFor('2000 access lines', () => starts() >= 2_000, 10_000, { detail: () => `${starts()}` });
      const cut = accessLines().filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
      expect(cut.map((l) => `${l.slice(0, 60)}…${l.slice(-60)}`)).toEqual([]);
      expect(accessLines()).toHaveLength(2_000);
    } finally {
      clearInterval(slow);
      proc.kill('SIGTERM');
      if (proc.exitCode === null) await new Promise((r) => proc.once('exit', r));
      reader.destroy();
    }
  });
});
