// The real edges of the decision suites, started from the files operators copy:
// deploy/edge/nginx.conf and deploy/edge/haproxy.cfg (+ portcullis-auth.lua), with only the
// addresses replaced; and a recording upstream that answers with what reached it.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { startNginx, type Nginx } from '../../helpers/nginx.js';
import { ROOT } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';

export const EDGE_DIR = join(ROOT, 'deploy', 'edge');
const HAPROXY = '/usr/sbin/haproxy';

/** `text` with each [from, to] replaced; throws when a `from` is missing (the file changed shape). */
function substitute(file: string, text: string, pairs: ReadonlyArray<readonly [string, string]>): string {
  let out = text;
  for (const [from, to] of pairs) {
    if (!out.includes(from)) throw new Error(`${file}: expected to find ${JSON.stringify(from)} to replace`);
    out = out.split(from).join(to);
  }
  return out;
}

/** nginx running deploy/edge/nginx.conf on `port`, deciding at Portcullis's unix socket `decisionSocket` (server.decision.unix_socket), forwarding to `appPort`. */
export function startNginxEdge(port: number, decisionSocket: string, appPort: number): Promise<Nginx> {
  const file = join(EDGE_DIR, 'nginx.conf');
  const conf = substitute(file, readFileSync(file, 'utf8'), [
    ['server unix:/run/portcullis/decision.sock;', `server unix:${decisionSocket};`],
    ['server 127.0.0.1:3000;', `server 127.0.0.1:${appPort};`],
    ['listen 80;', `listen 127.0.0.1:${port};`],
  ]);
  return startNginx(conf, [port]);
}

export interface Haproxy { errors(): string; stop(): Promise<void> }

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** HAProxy running deploy/edge/haproxy.cfg + portcullis-auth.lua; fails naming the install command when missing. */
export async function startHaproxyEdge(port: number, proxyPort: number, appPort: number): Promise<Haproxy> {
  if (!existsSync(HAPROXY)) throw new Error(`haproxy not found at ${HAPROXY}: install it with apt-get install -y haproxy`);
  const dir = tempDir('portcullis-haproxy-');
  const file = join(EDGE_DIR, 'haproxy.cfg');
  const cfg = substitute(file, readFileSync(file, 'utf8'), [
    ['lua-load portcullis-auth.lua', `lua-load ${join(dir, 'portcullis-auth.lua')}`],
    ['http://127.0.0.1:8080/_portcullis/auth', `http://127.0.0.1:${proxyPort}/_portcullis/auth`],
    ['server app1 127.0.0.1:3000', `server app1 127.0.0.1:${appPort}`],
    ['bind :80', `bind 127.0.0.1:${port}`],
  ]);
  writeFileSync(join(dir, 'haproxy.cfg'), cfg);
  copyFileSync(join(EDGE_DIR, 'portcullis-auth.lua'), join(dir, 'portcullis-auth.lua'));
  const proc = spawn(HAPROXY, ['-f', join(dir, 'haproxy.cfg'), '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const end = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited at start:\n${out}`);
    if (await portOpen(port)) break;
    if (Date.now() > end) { proc.kill('SIGKILL'); throw new Error(`haproxy did not listen within 10 s:\n${out}`); }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    errors: () => out,
    async stop() { if (proc.exitCode === null) { proc.kill('SIGTERM'); await exited; } },
  };
}

/** An upstream answering 200 with the request's headers as JSON; `seen` records every request. */
export function startRecordingUpstream(): Promise<ScriptedUpstream> {
  return startScriptedUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    });
  });
}

/** An app behind an edge that records each request head as bytes arrived (a raw server: Node's parser refuses `get`). */
export interface RawApp { readonly port: number; readonly heads: string[]; close(): Promise<void> }

/** Start a RawApp on 127.0.0.1 port 0: every request (head, no body) answered `200 ok`, keep-alive. */
export function startRawApp(): Promise<RawApp> {
  const heads: string[] = [];
  const server = createServer((sock) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        heads.push(buf.slice(0, end));
        buf = buf.slice(end + 4);
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }
    });
    sock.on('error', () => { /* the edge closed */ });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as { port: number }).port, heads,
    close: () => new Promise<void>((r) => server.close(() => r())),
  })));
}

/** The response head to `text` written as is on a new connection to `base`, read until its blank line (or the close). */
export function rawHeadOf(base: string, text: string): Promise<string> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname, () => sock.write(text));
    let buf = '';
    sock.on('data', (d: Buffer) => { buf += d.toString('latin1'); const end = buf.indexOf('\r\n\r\n'); if (end !== -1) { sock.destroy(); resolve(buf.slice(0, end)); } });
    sock.on('error', reject);
    sock.on('close', () => resolve(buf));
  });
}

/** The response head to a GET written by hand (undici refuses `Connection: Upgrade`). */
export function rawHead(base: string, path: string, headers: Record<string, string>): Promise<string> {
  const host = new URL(base).host;
  return rawHeadOf(base, `GET ${path} HTTP/1.1\r\nhost: ${host}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
}
