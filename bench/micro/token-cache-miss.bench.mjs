// Micro-measure (not a test): the verified-token cache's miss path at capacity — get (a miss), then set (an insert and
// a CLOCK eviction) of distinct SHA-256 hex keys, cache 1024 — of two builds' TokenCache alternating per block in one process, CPU clock.
// Run (build both first): `taskset -c 1 node bench/micro/token-cache-miss.bench.mjs BASE_ROOT ROOT [ROUNDS]`.
import { hash, randomUUID } from 'node:crypto';
const [A, B] = [process.argv[2], process.argv[3] ?? new URL('../..', import.meta.url).pathname];
if (A === undefined) throw new Error('usage: node bench/micro/token-cache-miss.bench.mjs BASE_ROOT [ROOT] [ROUNDS]');
const mk = async (r) => new (await import(`${r}/dist/node/jwt/token-cache.js`)).TokenCache({ maxEntries: 1024, maxBytes: 1 << 30 });
const caches = { base: await mk(A), this: await mk(B) };
const TOK = 4000; const keys = Array.from({ length: TOK }, () => hash('sha256', randomUUID(), 'hex'));
const v = {}; let k = 0;
const cycle = (c) => { const key = keys[k++ % TOK]; if (c.get(key, 1) === undefined) c.set(key, v, 1e15, 700, 1); };
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
const N = 4000, R = Number(process.argv[4] ?? 400); const res = { base: [], this: [] };
for (let i = 0; i < 20000; i++) { cycle(caches.base); cycle(caches.this); }
for (let r = 0; r < R; r++) for (const n of r % 2 ? ['this', 'base'] : ['base', 'this']) { const t = cpu(); for (let i = 0; i < N; i++) cycle(caches[n]); res[n].push(((cpu() - t) * 1000) / N); }
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
console.log(`TokenCache get-miss + set at capacity 1024: base ${med(res.base).toFixed(1)} ns, this ${med(res.this).toFixed(1)} ns; median of paired differences ${med(res.base.map((x, i) => x - res.this[i])).toFixed(1)} ns saved (${R} rounds × ${N})`);
