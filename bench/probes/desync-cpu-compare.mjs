// Proxy CPU per passthrough request, this build vs another (argv[2]: its dist/cluster/cli/main.js), in
// alternating rounds: what holding a request on an idle connection to the turn's end costs.
// Run: node bench/probes/desync-cpu-compare.mjs /work/main/dist/cluster/cli/main.js
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './desync-common.mjs';

const other = process.argv[2];
const N = Number(process.env.N ?? 20_000), CONC = 16;
const upstream = http.createServer((_q, s) => s.end('ok'));
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const dir = mkdtempSync(join(tmpdir(), 'desync-cpu-'));
const cfg = join(dir, 'p.yaml');
writeFileSync(cfg, `server:\n  listen: { host: 127.0.0.1, port: 0 }\nadmin:\n  listen: { host: 127.0.0.1, port: 0 }\n  token_env: PT_ADMIN\nupstreams:\n  app: { targets: [http://127.0.0.1:${upstream.address().port}] }\nroutes:\n  - { name: all, match: { path: /* }, upstream: app, auth: none }\nlog: { level: warn, access: false }\n`);

function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const p = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(p[11]) + Number(p[12])) * 10; // USER_HZ 100
}

async function round(cli) {
  const proc = spawn(process.execPath, [cli, 'serve', '--config', cfg], { env: { ...process.env, PT_ADMIN: 'x' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = setTimeout(() => proc.kill('SIGKILL'), 120_000);
  let out = '';
  const port = await new Promise((resolve) => proc.stdout.on('data', (d) => { out += d; const m = /"msg":"listening"[^\n]*"port":(\d+)/.exec(out) ?? /"port":(\d+)[^\n]*"msg":"listening"/.exec(out); if (m) resolve(Number(m[1])); }));
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONC });
  const get = () => new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port, path: '/x', agent }, (r) => { r.resume(); r.on('end', resolve); }).on('error', reject));
  for (let i = 0; i < 500; i++) await get(); // warm
  const c0 = cpuMs(proc.pid);
  let left = N;
  await Promise.all(Array.from({ length: CONC }, async () => { while (left-- > 0) await get(); }));
  const us = ((cpuMs(proc.pid) - c0) * 1000) / N;
  agent.destroy();
  proc.kill('SIGTERM');
  await new Promise((r) => proc.on('exit', r));
  clearTimeout(kill);
  return us;
}

const res = { this: [], other: [] };
for (let i = 0; i < 3; i++) {
  res.this.push(await round(CLI));
  res.other.push(await round(other));
}
upstream.close();
const med = (a) => [...a].sort((x, y) => x - y)[1];
console.log(`proxy CPU µs/request (N=${N}, ${CONC} keep-alive clients), rounds:`, JSON.stringify(res, (_k, v) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v)));
console.log(`median this ${med(res.this).toFixed(1)} vs other ${med(res.other).toFixed(1)}`);
