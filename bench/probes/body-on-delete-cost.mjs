// What no reuse after a body on DELETE (h1-client.ts bodyMayBeUnread) costs: proxy CPU per request and
// upstream connections opened, DELETE with a small JSON body vs POST with the same body, 16 keep-alive
// clients through one proxy process to a node:http upstream in its own process. Run by hand.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './desync-common.mjs';

const N = Number(process.env.N ?? 5_000), CONC = 16, BODY = '{"ids":[1,2,3]}';
const dir = mkdtempSync(join(tmpdir(), 'body-delete-'));
const upFile = join(dir, 'up.mjs');
writeFileSync(upFile, `import http from 'node:http';
let conns = 0; const s = http.createServer((q, r) => { q.resume(); q.on('end', () => r.end('ok')); }); s.keepAliveTimeout = 60000;
s.on('connection', () => conns++);
s.listen(0, '127.0.0.1', () => process.send(s.address().port)); process.on('message', () => process.send({ conns }));
setTimeout(() => process.exit(0), 300000).unref();`);
const up = spawn(process.execPath, [upFile], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const upPort = await new Promise((r) => up.once('message', r));
const cfg = join(dir, 'p.yaml');
writeFileSync(cfg, `server:\n  listen: { host: 127.0.0.1, port: 0 }\nadmin:\n  listen: { host: 127.0.0.1, port: 0 }\n  token_env: PT_ADMIN\nupstreams:\n  app: { targets: [http://127.0.0.1:${upPort}] }\nroutes:\n  - { name: all, match: { path: /* }, upstream: app, auth: none }\nlog: { level: warn, access: false }\n`);
const proc = spawn(process.execPath, [CLI, 'serve', '--config', cfg], { env: { ...process.env, PT_ADMIN: 'x' }, stdio: ['ignore', 'pipe', 'inherit'] });
const kill = setTimeout(() => { proc.kill('SIGKILL'); up.kill('SIGKILL'); }, 240_000);
let out = '';
const port = await new Promise((resolve) => proc.stdout.on('data', (d) => { out += d; const m = /"msg":"listening"[^\n]*"port":(\d+)/.exec(out) ?? /"port":(\d+)[^\n]*"msg":"listening"/.exec(out); if (m) resolve(Number(m[1])); }));
const cpuMs = () => { const f = readFileSync(`/proc/${proc.pid}/stat`, 'latin1'); const p = f.slice(f.lastIndexOf(')') + 2).split(' '); return (Number(p[11]) + Number(p[12])) * 10; };
const upConns = async () => { up.send('c'); return (await new Promise((r) => up.once('message', r))).conns; };
const agent = new http.Agent({ keepAlive: true, maxSockets: CONC });
const send = (method) => new Promise((resolve, reject) => {
  const q = http.request({ host: '127.0.0.1', port, path: '/x', method, agent, headers: { 'content-type': 'application/json', 'content-length': BODY.length } }, (r) => { r.resume(); r.on('end', resolve); });
  q.on('error', reject); q.end(BODY);
});
async function round(method) {
  const c0 = cpuMs(), k0 = await upConns();
  let left = N;
  await Promise.all(Array.from({ length: CONC }, async () => { while (left-- > 0) await send(method); }));
  return { us: ((cpuMs() - c0) * 1000) / N, conns: (await upConns()) - k0 };
}
for (let i = 0; i < 300; i++) await send('POST'); // warm
for (let r = 0; r < 3; r++) {
  for (const m of ['POST', 'DELETE']) { const x = await round(m); console.log(`${m} with a ${BODY.length}-byte body: ${x.us.toFixed(1)} µs proxy CPU per request, ${x.conns} upstream connections for ${N}`); }
}
// who closed first keeps the TIME_WAIT: the proxy's side ties up one of its ports to that target for 60 s
const tw = (f) => execFileSync('ss', ['-Htan', 'state', 'time-wait', f], { encoding: 'latin1' }).split('\n').filter(Boolean).length;
console.log(`TIME_WAIT after the rounds: proxy side ${tw(`dport = :${upPort}`)}, upstream side ${tw(`sport = :${upPort}`)}`);
agent.destroy();
proc.kill('SIGTERM'); await new Promise((r) => proc.on('exit', r)); up.kill('SIGTERM'); clearTimeout(kill);
rmSync(dir, { recursive: true, force: true });
