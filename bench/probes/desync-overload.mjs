// Genuine answers under overload, this build vs others (argv: their dist/cluster/cli/main.js): wrk with
// thousands of keep-alive clients POSTing through one proxy process to a fast node:http upstream; a
// 502 here is an upstream answer the proxy refused as "sent before the request" (stray-byte rule).
// Run: ulimit -n 20000; node bench/probes/desync-overload.mjs /tmp/old/dist/cluster/cli/main.js
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './desync-common.mjs';

const CONNS = Number(process.env.CONNS ?? 3_000), SECONDS = Number(process.env.SECONDS ?? 15), METHOD = process.env.METHOD ?? 'POST';
const dir = mkdtempSync(join(tmpdir(), 'desync-overload-'));
// the upstream in its own process (so that it answers while the proxy is busy), counting requests
const upFile = join(dir, 'up.mjs');
writeFileSync(upFile, `import http from 'node:http';
let n = 0; const s = http.createServer((q, r) => { n++; q.resume(); r.end('ok'); }); s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => process.send(s.address().port)); process.on('message', () => process.send({ n }));
setTimeout(() => process.exit(0), 600000).unref();`);
const lua = join(dir, 'req.lua');
writeFileSync(lua, `wrk.method = "${METHOD}"\n${METHOD === 'POST' ? 'wrk.body = "{\\"q\\":1}"\nwrk.headers["Content-Type"] = "application/json"\n' : ''}`);

async function round(cli) {
  const up = spawn(process.execPath, [upFile], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const upPort = await new Promise((r) => up.once('message', r));
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, `server:\n  listen: { host: 127.0.0.1, port: 0 }\nadmin:\n  listen: { host: 127.0.0.1, port: 0 }\n  token_env: PT_ADMIN\nupstreams:\n  app: { targets: [http://127.0.0.1:${upPort}] }\nroutes:\n  - { name: all, match: { path: /* }, upstream: app, auth: none }\nlog: { level: warn, access: false }\n`);
  const proc = spawn(process.execPath, [cli, 'serve', '--config', cfg], { env: { ...process.env, PT_ADMIN: 'x' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = setTimeout(() => { proc.kill('SIGKILL'); up.kill('SIGKILL'); }, (SECONDS + 60) * 1000);
  let out = '';
  const listening = await new Promise((resolve) => proc.stdout.on('data', (d) => {
    out += d;
    for (const l of out.split('\n')) { try { const j = JSON.parse(l); if (j.msg === 'listening') resolve(j); } catch { /* partial */ } }
  }));
  const port = Number(listening.port);
  const text = await new Promise((resolve) => {
    const w = spawn('wrk', ['-t2', `-c${CONNS}`, `-d${SECONDS}s`, '-s', lua, `http://127.0.0.1:${port}/x`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let t = ''; w.stdout.on('data', (d) => { t += d; }); w.on('exit', () => resolve(t));
  });
  const metrics = await (await fetch(`http://127.0.0.1:${listening.adminPort}/metrics`, { headers: { authorization: 'Bearer x' } })).text();
  const stray = /^portcullis_upstream_stray_bytes_total\{upstream="app"\} (\d+)/m.exec(metrics)?.[1] ?? 'n/a';
  up.send('n');
  const upCount = (await new Promise((r) => up.once('message', r))).n;
  proc.kill('SIGTERM');
  await new Promise((r) => proc.on('exit', r));
  up.kill('SIGTERM');
  clearTimeout(kill);
  const reqs = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const sockErr = /Socket errors:[^\n]*/.exec(text)?.[0] ?? 'Socket errors: none';
  return { reqs, non2xx, upstreamSaw: upCount, sockErr, stray };
}

try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' });
} catch { /* wrk prints its version and exits 1 */ }
for (const cli of [CLI, ...process.argv.slice(2)]) {
  const r = await round(cli);
  console.log(`${cli}: ${METHOD} ${CONNS} conns ${SECONDS}s: ${r.reqs} answered, non-2xx ${r.non2xx}, upstream saw ${r.upstreamSaw}, stray-bytes counter ${r.stray} (${r.sockErr})`);
}
rmSync(dir, { recursive: true, force: true });
