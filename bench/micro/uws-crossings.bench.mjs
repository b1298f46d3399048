// Micro-measure (not a test): CPU per call of each uWebSockets.js crossing a proxied HTTP/1.1 request makes
// (request getters, the header walk, the client address, onAborted, cork, writeStatus, tryEnd), each looped inside
// one real request's handler, beside a bare syscall from Node for scale. `taskset -c 1 node bench/micro/uws-crossings.bench.mjs`
import net from 'node:net';
import os from 'node:os';
import uWS from 'uWebSockets.js';

const N = Number(process.env.N ?? 300_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const EMPTY = Buffer.alloc(0);
const dec = new TextDecoder();
const rows = new Map();
let sink = 0;
const headers = [];
const collect = (k, v) => { headers.push(k, v); };
function noop() {}
/** Process CPU per call of `fn`'s loop body, ns. */
function time(label, fn) {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  if (!rows.has(label)) rows.set(label, []);
  rows.get(label).push(((c.user + c.system) * 1000) / N);
}

const app = uWS.App().any('/*', (res, req) => {
  for (let r = 0; r < ROUNDS; r++) {
    time('empty loop', () => { for (let i = 0; i < N; i++) sink++; });
    time('req.getCaseSensitiveMethod()', () => { for (let i = 0; i < N; i++) sink += req.getCaseSensitiveMethod().length; });
    time('req.getUrl()', () => { for (let i = 0; i < N; i++) sink += req.getUrl().length; });
    time('req.getQuery()', () => { for (let i = 0; i < N; i++) sink += (req.getQuery() ?? '').length; });
    time('req.forEach (Host + a 1 KB Authorization)', () => { for (let i = 0; i < N; i++) { headers.length = 0; req.forEach(collect); } });
    time('res.getRemoteAddressAsText() + TextDecoder (node/http/client-address.ts)', () => { for (let i = 0; i < N; i++) sink += dec.decode(res.getRemoteAddressAsText()).length; });
    time('res.getRemoteAddressAsText()', () => { for (let i = 0; i < N; i++) sink += res.getRemoteAddressAsText().byteLength; });
    time('res.getRemoteAddress()', () => { for (let i = 0; i < N; i++) sink += res.getRemoteAddress().byteLength; });
    time('new ArrayBuffer(9) (JS, for scale)', () => { for (let i = 0; i < N; i++) sink += new ArrayBuffer(9).byteLength; });
    time('os.getPriority() (one getpriority syscall through a Node binding, for scale)', () => { for (let i = 0; i < N; i++) sink += os.getPriority(); });
    time('res.onAborted(closure), replacing the last', () => { for (let i = 0; i < N; i++) { const o = i; res.onAborted(() => { sink += o; }); } });
    time('res.cork(noop), nested', () => { for (let i = 0; i < N; i++) res.cork(noop); });
    res.cork(() => {
      time('res.writeStatus("200 OK") (after the first: uWS only checks its flag)', () => { for (let i = 0; i < N; i++) res.writeStatus('200 OK'); });
      time('res.getWriteOffset()', () => { for (let i = 0; i < N; i++) sink += res.getWriteOffset(); });
      time('res.tryEnd(EMPTY, total) (its [ok, done] reply array)', () => { for (let i = 0; i < N; i++) { const [ok, done] = res.tryEnd(EMPTY, 1e12); if (ok && done) sink++; } });
    });
  }
  const lines = [...rows].map(([k, v]) => { const s = [...v].sort((a, b) => a - b); return `| ${k} | ${s[(s.length - 1) >> 1].toFixed(1)} | ${s[0].toFixed(1)}–${s[s.length - 1].toFixed(1)} |`; });
  console.log(`| call (N=${N} per round, ${ROUNDS} rounds, process CPU) | median ns | range |\n|---|---:|---:|\n${lines.join('\n')}`);
  res.close();
  process.exit(0);
});
app.listen('127.0.0.1', 0, (s) => {
  if (!s) throw new Error('cannot listen');
  const token = `eyJ${'a'.repeat(960)}`;
  const c = net.connect(uWS.us_socket_local_port(s), '127.0.0.1', () => c.write(`GET /orders/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer ${token}\r\n\r\n`));
  c.on('error', () => {});
});
