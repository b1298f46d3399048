// `portcullis serve | shipper` where the shipper stops reading, then dies: SIGTERM still ends the
// proxy with its normal exit code (before, sonic-boom's exit flush retried EPIPE every 100 ms
// forever), and the lines the dead reader could not take are counted in portcullis_log_lines_dropped_total.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'undici';
import { CLI, writeConfig, baseConfig, ADMIN_ENV, ADMIN_TOKEN } from '../../helpers/proxy-process.js';

// Reads stdin until the proxy's `listening` line, prints that line, then stops reading: the pipe fills.
const READER = `let b='';const on=(d)=>{b+=d;const i=b.indexOf('"msg":"listening"');const e=b.indexOf('\\n',i);if(i<0||e<0)return;
process.stdin.off('data',on);process.stdin.pause();process.stdout.write(b.slice(b.lastIndexOf('\\n',i)+1,e+1));};process.stdin.on('data',on);setInterval(()=>{},1e9);`;

const started: ChildProcess[] = [];
afterEach(() => { for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); });

/** The proxy with its stdout piped into a reader process that stops reading after `listening`. */
async function proxyIntoStalledReader(): Promise<{ proxy: ChildProcess; reader: ChildProcess; port: number; adminPort: number; exited: Promise<number | null> }> {
  const reader = spawn(process.execPath, ['-e', READER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const proxy = spawn(process.execPath, [CLI, 'serve', '--config', writeConfig(baseConfig('http://127.0.0.1:9'))], {
    env: { ...process.env, ...ADMIN_ENV }, stdio: ['ignore', reader.stdin!, 'pipe'],
  });
  started.push(reader, proxy);
  reader.stdin!.destroy(); // the proxy holds the only write end
  let stderr = '';
  proxy.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<number | null>((resolve) => proxy.on('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    reader.stdout!.on('data', (d) => { out += d; if (out.endsWith('\n')) resolve(out); });
    proxy.on('exit', (code) => reject(new Error(`proxy exited with ${code} before listening:\n${stderr}`)));
  });
  const listening = JSON.parse(line) as { port: number; adminPort: number };
  return { proxy, reader, port: listening.port, adminPort: listening.adminPort, exited };
}

/** Enough 404s (one ~1.2 KB access line each) to fill a 64 KiB pipe several times over. */
async function logLots(port: number): Promise<void> {
  const path = `/nowhere/${'x'.repeat(1000)}`;
  for (let i = 0; i < 8; i++) {
    await Promise.all(Array.from({ length: 50 }, async () => { const r = await request(`http://127.0.0.1:${port}${path}`); await r.body.dump(); }));
  }
}

const reaped = (p: ChildProcess): Promise<void> => new Promise((resolve) => { if (p.exitCode !== null || p.signalCode !== null) resolve(); else p.on('exit', () => resolve()); });

describe('stdout piped to a reader that dies', () => {
  it('SIGTERM while the pipe is full, then the reader is killed: the proxy exits 0', async () => {
    const { proxy, reader, port, exited } = await proxyIntoStalledReader();
    await logLots(port);
    proxy.kill('SIGTERM');
    // the proxy is now stopping with lines pending in a full pipe; then its reader goes
    await new Promise((r) => setTimeout(r, 300));
    reader.kill('SIGKILL');
    await reaped(reader);
    expect(await exited).toBe(0);
  }, 30_000);

  it('the reader killed while the proxy runs: it goes on serving, counts the lines it dropped, and SIGTERM exits 0', async () => {
    const { proxy, reader, port, adminPort, exited } = await proxyIntoStalledReader();
    await logLots(port);
    reader.kill('SIGKILL');
    await reaped(reader);
    await logLots(port);
    const r = await request(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const line = (await r.body.text()).split('\n').find((l) => l.startsWith('portcullis_log_lines_dropped_total{process="proxy"} '));
    // at least the second batch of 400 access lines, written after the reader was gone
    expect(Number(line?.split(' ')[1])).toBeGreaterThanOrEqual(400);
    proxy.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 30_000);
});
