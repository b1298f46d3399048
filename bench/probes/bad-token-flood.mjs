// Availability probe: what a flood of bad tokens does to legitimate clients. Starts its own issuer
// (JWKS + introspection on 127.0.0.1), an upstream and the built proxy (dist/, as the CLI starts it),
// then for each case measures a steady legitimate client — (a) a cached JWT, (b) a fresh JWT each time,
// (c) a valid opaque token — without and with a bounded flood from a child process (autocannon).
// Usage: node bench/probes/bad-token-flood.mjs [--workers N] [--seconds S] [--cases none,malformed,forged,kid,opaque,huge,h2,h2opaque]
//   [--conns N] [--h2conns N] [--rate R] [--root DIR (a build to run)] [--cpu-prof DIR] [--xff (trust_forwarded: the flood is
//   X-Forwarded-For 192.0.2.1, the legitimate client 198.51.100.9; without it both are 127.0.0.1, one client)]
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { connect } from 'node:http2';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request, Agent } from 'undici';

const ROOT = process.argv.includes('--root') ? process.argv[process.argv.indexOf('--root') + 1] : join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i < 0 ? dflt : args[i + 1]; };
const ISS = 'https://flood-issuer.test';
const AUD = 'api';
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

// ---------- flood child ----------
if (args[0] === '--flood') {
  const [, kind, url, seconds, kid, conns, xff] = args;
  const XFF = xff === '1' ? { 'x-forwarded-for': '192.0.2.1' } : {};
  const autocannon = (await import('autocannon')).default;
  const payload = b64({ iss: ISS, aud: AUD, sub: 'mallory', scope: 'orders:read', exp: Math.floor(Date.now() / 1000) + 3600 });
  const sig = () => randomBytes(256).toString('base64url');
  const words = Array.from({ length: 10_000 }, (_, i) => `w${i}`).join(' ');
  const auds = Array.from({ length: 10_000 }, (_, i) => `a${i}`);
  let nested = '1'; for (let i = 0; i < 5000; i++) nested = `[${nested}]`;
  const hugePayloads = [
    b64({ iss: ISS, aud: AUD, sub: 'm', exp: Math.floor(Date.now() / 1000) + 3600, scope: words }),
    b64({ iss: ISS, aud: auds, sub: 'm', exp: Math.floor(Date.now() / 1000) + 3600 }),
    Buffer.from(`{"iss":"${ISS}","aud":"${AUD}","exp":${Math.floor(Date.now() / 1000) + 3600},"x":${nested}}`).toString('base64url'),
    b64({ iss: ISS, aud: AUD, sub: 'm', exp: Math.floor(Date.now() / 1000) + 3600, pad: 'x'.repeat(11_000) }),
  ];
  let n = 0;
  const token = () => {
    n++;
    switch (kind) {
      case 'forged': return `${b64({ alg: 'RS256', kid, typ: 'at+jwt' })}.${payload}.${sig()}`;
      case 'kid': return `${b64({ alg: 'RS256', kid: randomBytes(8).toString('hex') })}.${payload}.${sig()}`;
      case 'opaque': return randomBytes(24).toString('base64url');
      case 'none': return null;
      case 'malformed': return `${b64({ alg: 'RS256', kid })}.${payload}.${sig()}=`;
      case 'huge': return `${b64({ alg: 'RS256', kid })}.${hugePayloads[n % hugePayloads.length]}.${sig()}`;
      default: throw new Error(kind);
    }
  };
  if (kind === 'h2' || kind === 'h2opaque') {
    // one HTTP/2 connection per "conn", up to 100 streams each, forged JWTs (or opaque tokens)
    const until = Date.now() + Number(seconds) * 1000;
    let done = 0; const statuses = {};
    await Promise.all(Array.from({ length: Number(conns) }, () => new Promise((resolve) => {
      const s = connect(url); s.on('error', () => {});
      let open = 0;
      const fire = () => {
        while (open < 100 && Date.now() < until && !s.destroyed) {
          open++;
          const t = kind === 'h2' ? `${b64({ alg: 'RS256', kid })}.${payload}.${sig()}` : randomBytes(24).toString('base64url');
          const st = s.request({ ':path': '/orders/1', authorization: `Bearer ${t}`, ...XFF });
          st.on('response', (h) => { statuses[h[':status']] = (statuses[h[':status']] ?? 0) + 1; });
          st.on('error', () => {}); st.resume();
          st.on('close', () => { open--; done++; fire(); });
          st.end();
        }
        if (Date.now() >= until && open === 0) { s.close(); resolve(); }
      };
      s.on('connect', fire); s.on('close', resolve);
    })));
    process.stdout.write(JSON.stringify({ requests: done, statuses }) + '\n');
    process.exit(0);
  }
  const inst = autocannon({
    url: `${url}/orders/1`, connections: Number(conns), duration: Number(seconds),
    requests: [{ setupRequest: (r) => { const t = token(); return { ...r, headers: t === null ? { ...XFF } : { authorization: `Bearer ${t}`, ...XFF } }; } }],
  });
  const res = await new Promise((resolve) => inst.on('done', resolve));
  process.stdout.write(JSON.stringify({ requests: res.requests.total, non2xx: res.non2xx, statuses: res.statusCodeStats, errors: res.errors }) + '\n');
  process.exit(0);
}

// ---------- issuer, upstream, proxy ----------
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const KID = 'k1';
const NEW_KID = 'k2';
const second = generateKeyPairSync('rsa', { modulusLength: 2048 });
let publishSecond = false;
const jwk = (k, kid) => ({ ...k.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' });
const mint = (key = privateKey, kid = KID) => {
  const input = `${b64({ alg: 'RS256', kid, typ: 'at+jwt' })}.${b64({ iss: ISS, aud: AUD, sub: 'alice', scope: 'orders:read', jti: randomBytes(8).toString('hex'), exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
};
const GOOD_OPAQUE = `good-${randomBytes(16).toString('base64url')}`;
const asStats = { jwks: 0, introspect: 0, open: 0, maxOpen: 0 };
const as = createServer((req, res) => {
  if (req.url === '/jwks') {
    asStats.jwks++;
    const keys = [jwk(publicKey, KID)]; if (publishSecond) keys.push(jwk(second.publicKey, NEW_KID));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    return;
  }
  asStats.introspect++; asStats.open++; asStats.maxOpen = Math.max(asStats.maxOpen, asStats.open);
  const chunks = []; req.on('data', (c) => chunks.push(c));
  req.on('end', () => setTimeout(() => {
    asStats.open--;
    const t = new URLSearchParams(Buffer.concat(chunks).toString()).get('token') ?? '';
    const body = t.startsWith('good-') ? { active: true, sub: 'alice', scope: 'orders:read', aud: AUD, exp: Math.floor(Date.now() / 1000) + 600 } : { active: false };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }, 5));
});
await new Promise((r) => as.listen(0, '127.0.0.1', r));
const asUrl = `http://127.0.0.1:${as.address().port}`;
const up = createServer((_q, s) => s.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
await new Promise((r) => up.listen(0, '127.0.0.1', r));

const dir = mkdtempSync(join(tmpdir(), 'flood-probe-'));
const cfg = join(dir, 'c.yaml');
const workers = Number(opt('workers', '1'));
writeFileSync(cfg, JSON.stringify({
  server: { listen: { host: '127.0.0.1', port: 0 }, trust_forwarded: args.includes('--xff'), http2: { listen: { host: '127.0.0.1', port: 0 } } },
  admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PROBE_ADMIN' },
  issuers: { main: { issuer: ISS, discovery: false, jwks_uri: `${asUrl}/jwks`, audiences: [AUD], algorithms: ['RS256'],
    introspection: { endpoint: `${asUrl}/introspect`, client_id: 'p', client_secret_env: 'PROBE_SECRET', connections: 8, negative_ttl_s: 30 } } },
  upstreams: { app: { targets: [`http://127.0.0.1:${up.address().port}`] } },
  routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }],
  log: { level: 'warn', access: false },
}));
const profDir = opt('cpu-prof', null);
const proxy = spawn(process.execPath, [...(profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), join(ROOT, 'dist/cluster/cli/main.js'), 'serve', '--config', cfg, ...(workers > 1 ? ['--workers', String(workers)] : [])],
  { env: { ...process.env, PROBE_ADMIN: 'adm', PROBE_SECRET: 's' }, stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
const [port, h2port] = await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(out)), 30_000);
  const on = (d) => { out += d; const m = /"port":(\d+),"adminPort".*?"http2Port":(\d+)/.exec(out); if (m) { clearTimeout(t); resolve([Number(m[1]), Number(m[2])]); } };
  proxy.stdout.on('data', on); proxy.stderr.on('data', on);
});
proxy.stdout.on('data', () => {}); // keep draining
const base = `http://127.0.0.1:${port}`;
const agent = new Agent({ connections: 256 }) // enough that a slower answer never queues a legit request behind another;
for (let i = 0; i < 100; i++) { try { const r = await request(`${base}/orders/1`, { headers: { authorization: `Bearer ${mint()}` }, dispatcher: agent }); await r.body.dump(); if (r.statusCode === 200) break; } catch {} await new Promise((r) => setTimeout(r, 100)); }

const CACHED = mint();
async function legit(kind, ms, ratePerS) {
  const lat = []; const st = {};
  const end = Date.now() + ms;
  const inflight = [];
  while (Date.now() < end) {
    const token = kind === 'cached' ? CACHED : kind === 'fresh' ? mint() : kind === 'newkid' ? mint(second.privateKey, NEW_KID) : GOOD_OPAQUE;
    const t0 = performance.now();
    inflight.push(request(`${base}/orders/1`, { headers: { authorization: `Bearer ${token}`, ...(args.includes('--xff') ? { 'x-forwarded-for': '198.51.100.9' } : {}) }, dispatcher: agent, headersTimeout: 20_000 })
      .then(async (r) => { await r.body.dump(); st[r.statusCode] = (st[r.statusCode] ?? 0) + 1; lat.push(performance.now() - t0); },
        (e) => { st[e.code ?? 'err'] = (st[e.code ?? 'err'] ?? 0) + 1; lat.push(performance.now() - t0); }));
    await new Promise((r) => setTimeout(r, 1000 / ratePerS));
  }
  await Promise.all(inflight);
  lat.sort((a, b) => a - b);
  const q = (p) => lat.length === 0 ? NaN : +lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2);
  return { n: lat.length, ok: st[200] ?? 0, statuses: st, p50: q(0.5), p99: q(0.99), max: q(1) };
}
const RATE = Number(opt('rate', '10'));
const three = (ms) => Promise.all([legit('cached', ms, RATE), legit('fresh', ms, RATE), legit('opaque', ms, RATE)]);
const adminPort = () => Number(/"adminPort":(\d+)/.exec(out)[1]);
async function stats() {
  const r = await request(`http://127.0.0.1:${adminPort()}/cache/stats`, { headers: { authorization: 'Bearer adm' }, dispatcher: agent });
  const j = await r.body.json();
  const pick = {};
  for (const [k, v] of Object.entries(j)) if (/pool_(overloaded|timeouts|tasks)|verify_(inline|pool|failed)|queue_full|preempted|calls_made|cache_hits$/.test(k)) pick[k] = v;
  return pick;
}
// proxy CPU (all its processes: the primary and its workers, threads included), ms
const cpuMs = () => {
  let ms = 0;
  const pids = [proxy.pid, ...readFileSync(`/proc/${proxy.pid}/task/${proxy.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)];
  for (const pid of pids) { try { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); ms += (Number(f[11]) + Number(f[12])) * 10; } catch {} }
  return ms;
};
const diff = (a, b) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]).filter(([, v]) => v !== 0));
const seconds = Number(opt('seconds', '10'));
const cases = opt('cases', 'forged,kid,opaque,huge,h2').split(',');
const conns = opt('conns', '64');
const report = { workers, seconds, conns, loadavgStart: loadavg() };
console.log(JSON.stringify(report));
for (const c of cases) {
  const before = await three(4000);
  const a0 = { ...asStats };
  const s0 = await stats();
  const cpu0 = cpuMs();
  publishSecond = c === 'kid';
  const flood = spawn(process.execPath, [fileURLToPath(import.meta.url), '--flood', c, c.startsWith('h2') ? `http://127.0.0.1:${h2port}` : base, String(seconds), KID, c.startsWith('h2') ? opt('h2conns', '4') : conns, args.includes('--xff') ? '1' : '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let fout = ''; flood.stdout.on('data', (d) => { fout += d; });
  await new Promise((r) => setTimeout(r, 1000));
  const during = c === 'kid'
    ? await Promise.all([legit('cached', (seconds - 2) * 1000, RATE), legit('newkid', (seconds - 2) * 1000, RATE), legit('opaque', (seconds - 2) * 1000, RATE)])
    : await three((seconds - 2) * 1000);
  await new Promise((r) => flood.on('exit', r));
  const la = loadavg();
  const s1 = await stats();
  const cpuUsed = cpuMs() - cpu0;
  const fj = JSON.parse(fout || '{}');
  console.log(JSON.stringify({ case: c, load1: la[0].toFixed(2), proxyCpuUsPerFloodReq: +((cpuUsed * 1000) / (fj.requests ?? 1)).toFixed(1), proxy: diff(s0, s1), flood: JSON.parse(fout || '{}'), as: { jwks: asStats.jwks - a0.jwks, introspect: asStats.introspect - a0.introspect, maxOpen: asStats.maxOpen },
    before: { cached: before[0], fresh: before[1], opaque: before[2] },
    during: { cached: during[0], [c === 'kid' ? 'newkid' : 'fresh']: during[1], opaque: during[2] } }));
  asStats.maxOpen = 0;
}
proxy.kill('SIGTERM');
await new Promise((r) => proxy.on('exit', r));
as.close(); as.closeAllConnections(); up.close(); up.closeAllConnections();
await agent.close();
