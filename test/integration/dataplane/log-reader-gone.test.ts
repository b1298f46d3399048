// `portcullis serve | shipper` where the shipper stops reading, then dies: SIGTERM still ends the
// proxy with its normal exit code (before, sonic-boom's exit flush retried EPIPE every 100 ms
// forever), and the lines the dead reader could not take are counted in portcullis_log_lines_dropped_total.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { CLI, writeConfig, baseConfig, ADMIN_ENV, ADMIN_TOKEN } from '../../helpers/proxy-process.js';

// Reads stdin until the proxy's `listening` line, prints that line, then stops reading: the pipe fills.
const READER = `let b='';const on=(d)=>{b+=d;const i=b.indexOf('"msg":"listening"');const e=b.indexOf('\\n',i);if(i<0||e<0)return;
process.stdin.off('data',on);process.stdin.pause();process.stdout.write(b.slice(b.lastIndexOf('\\n',i)+1,e+1));};process.stdin.on('data',on);setInterval(()=>{},1e9);`;

// Reads 4 KB every 10 ms (a slow shipper) into the file argv[1]; prints the `listening` line once seen.
const SLOW = `const fs=require('fs');const out=[];const b=Buffer.alloc(4096);let told=false;const t=setInterval(()=>{let n;
try{n=fs.readSync(0,b,0,4096,null);}catch(e){if(e.code==='EAGAIN')return;throw e;}
if(n===0){clearInterval(t);fs.writeFileSync(process.argv[1],Buffer.concat(out));return;}out.push(Buffer.from(b.subarray(0,n)));
const all=Buffer.concat(out).toString();const i=all.indexOf('"msg":"listening"');if(!told&&i>=0&&all.indexOf('\\n',i)>0){told=true;
process.stdout.write(all.slice(all.lastIndexOf('\\n',i)+1,all.indexOf('\\n',i)+1));}},10);`;

const started: ChildProcess[] = [];
afterEach(() => { for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); });

/** The proxy with its stdout piped into a reader process that stops reading after `listening`. */
async function proxyIntoStalledReader(readerArgs = ['-e', READER]): Promise<{ proxy: ChildProcess; reader: ChildProcess; port: number; adminPort: number; exited: Promise<number | null> }> {
  const reader = spawn(process.execPath, readerArgs, { stdio: ['pipe', 'pipe', 'inherit'] });
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
async function logLots(port: number, batches = 8): Promise<void> {
  const path = `/nowhere/${'x'.repeat(1000)}`;
  for (let i = 0; i < batches; i++) {
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

  it('a slow reader still alive at SIGTERM gets every line, none cut (before, a batch waiting for its retry was skipped)', async () => {
    const file = `${writeConfig('')}.log`;
    const { proxy, reader, port, exited } = await proxyIntoStalledReader(['-e', SLOW, file]);
    await logLots(port, 20);
    proxy.kill('SIGTERM');
    expect(await exited).toBe(0);
    await reaped(reader);
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
    const parsed = lines.map((l) => { try { return JSON.parse(l) as { msg?: string }; } catch { return { msg: `(cut) ${l.slice(0, 80)}` }; } });
    expect(parsed.filter((l) => l.msg?.startsWith('(cut)'))).toEqual([]);
    expect(parsed.filter((l) => l.msg === 'request')).toHaveLength(1000);
    expect(parsed.at(-1)?.msg).toBe('stopped');
  }, 60_000);
});
