// Shared pieces of the desync probes (bench/probes/desync-*.mjs, run by hand against dist/, not in CI):
// start the built proxy with a config, a raw recording upstream, a raw client connection that reads
// every response it gets, and a bounded stop for all of them. 127.0.0.1 and port 0 only.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'cluster', 'cli', 'main.js');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Start `serve` with a YAML text config; resolves { proc, port, h2port, stop }. Killed after `lifeMs` whatever happens. */
export async function startProxy(yamlText, lifeMs = 120_000) {
  const dir = mkdtempSync(join(tmpdir(), 'desync-probe-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(file, yamlText);
  const proc = spawn(process.execPath, [CLI, 'serve', '--config', file], { env: { ...process.env, PT_ADMIN: 'probe-admin-token' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const life = setTimeout(() => proc.kill('SIGKILL'), lifeMs);
  life.unref();
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const listening = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no listening line:\n${out}`)), 30_000);
    const check = () => {
      for (const l of out.split('\n')) {
        if (!l.startsWith('{')) continue;
        try { const j = JSON.parse(l); if (j.msg === 'listening') { clearTimeout(t); resolve(j); return; } } catch { /* partial */ }
      }
    };
    proc.stdout.on('data', check);
    proc.on('exit', (c) => reject(new Error(`exited ${c}:\n${out}`)));
  });
  return {
    proc, port: Number(listening.port), listening, output: () => out,
    async stop() {
      clearTimeout(life);
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGCONT');
        proc.kill('SIGTERM');
        const k = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await new Promise((r) => proc.on('exit', r));
        clearTimeout(k);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A config: public /pub/* (no auth) and protected /admin/* (a JWT from an issuer that is never reachable) to `upstreamUrl`. */
export function probeConfig(upstreamUrl, extra = '') {
  return `server:
  listen: { host: 127.0.0.1, port: 0 }
${extra}
admin:
  listen: { host: 127.0.0.1, port: 0 }
  token_env: PT_ADMIN
issuers:
  nowhere:
    issuer: https://issuer.invalid
    jwks_uri: http://127.0.0.1:9/jwks
    audiences: [api]
upstreams:
  app:
    targets: [${upstreamUrl}]
    pool: { connections: 1 }
routes:
  - { name: pub, match: { path: /pub/* }, upstream: app, auth: none }
  - { name: admin, match: { path: /admin/* }, upstream: app, auth: {} }
log: { level: warn, access: false }
`;
}

/**
 * A raw upstream: records every byte per connection and answers each request by `answer(line, conn)`
 * (a string written at once, or null for none). Request framing is read by Content-Length /
 * chunked (strict), or by `lenient(line)` returning 'ignore-body' to read no body whatever the head says.
 */
export async function rawUpstream(answer, lenient = () => null) {
  const conns = [];
  const server = net.createServer((s) => {
    const c = { raw: '', requests: [], sock: s };
    conns.push(c);
    let buf = '';
    s.on('error', () => {});
    s.on('data', (d) => {
      c.raw += d.toString('latin1');
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end);
        const line = head.split('\r\n')[0];
        let len = end + 4;
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        const chunked = /\r\ntransfer-encoding: *chunked/i.test(head);
        if (lenient(line) !== 'ignore-body') {
          if (cl) { len += Number(cl[1]); if (buf.length < len) return; }
          else if (chunked) {
            const z = buf.indexOf('\r\n0\r\n\r\n', end + 2);
            if (z < 0) return;
            len = z + 7;
          }
        }
        buf = buf.slice(len);
        c.requests.push(line);
        const a = answer(line, c);
        if (a !== null && !s.destroyed) s.write(a);
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { conns, url: `http://127.0.0.1:${server.address().port}`, close: () => { for (const c of conns) c.sock.destroy(); return new Promise((r) => server.close(r)); } };
}

/** A kept-alive raw client connection: `send(bytes)`, `text()` so far, `closed`. */
export async function rawClient(port) {
  const s = net.connect(port, '127.0.0.1');
  const st = { text: '', closed: false, s, send: (b) => s.write(b), close: () => s.destroy() };
  s.on('data', (d) => { st.text += d.toString('latin1'); });
  s.on('close', () => { st.closed = true; });
  s.on('error', () => {});
  await new Promise((r) => s.on('connect', r));
  return st;
}

/** Wait until `cond()` or `ms` passed; returns whether it held. */
export async function until(cond, ms = 3_000) {
  const t0 = Date.now();
  while (!cond()) { if (Date.now() - t0 > ms) return false; await sleep(10); }
  return true;
}
