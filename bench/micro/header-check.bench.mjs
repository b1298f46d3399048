// Micro-measure (not a test): checkHeader's cost per JWT cache miss, per build, in one process — a miss checks the
// shared frozen header twice (the main thread's pre-check, then verify.worker's authoritative check) under its
// issuer's frozen policy. Also the worst case for a one-entry memo: two issuers' tokens alternating.
import { pathToFileURL } from 'node:url';

// Run (build both first): `taskset -c 1 node bench/micro/header-check.bench.mjs BASE_ROOT [ROOT]`; env ROUNDS, N.
const N = Number(process.env.N ?? 200_000);
const ROUNDS = Number(process.env.ROUNDS ?? 21);
const roots = [process.argv[2], process.argv[3] ?? new URL('../..', import.meta.url).pathname];
if (roots[0] === undefined) throw new Error('usage: node bench/micro/header-check.bench.mjs BASE_ROOT [ROOT]');
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const policyOf = (issuer) => Object.freeze({ issuer, audiences: Object.freeze(['api']), algorithms: Object.freeze(['RS256', 'ES256']), clockSkewS: 30, maxLifetimeS: null, requireTyp: false });
const builds = [];
for (const root of roots) {
  const rules = await import(pathToFileURL(`${root}/dist/node/jwt/token-rules.js`).href);
  const parse = await import(pathToFileURL(`${root}/dist/node/jwt/token-parse.js`).href);
  // headers as parseCompact hands them over: frozen, one object per header segment
  const headerOf = (h) => { const r = parse.parseCompact(`${b64(h)}.${b64({ sub: 'a' })}.c2ln`); if (!r.ok) throw new Error('parse'); return r.header; };
  builds.push({ root, check: rules.checkHeader, h1: headerOf({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' }), h2: headerOf({ alg: 'ES256', typ: 'at+jwt', kid: 'k2' }), p1: policyOf('https://a.test'), p2: policyOf('https://b.test') });
}
const cpuNs = () => { const c = process.cpuUsage(); return (c.user + c.system) * 1000; };
let sink = 0;
const oneIssuer = (b) => { const { check, h1, p1 } = b; for (let i = 0; i < N; i++) { if (check(h1, p1) === null) sink++; if (check(h1, p1) === null) sink++; } };
const twoIssuers = (b) => { const { check, h1, h2, p1, p2 } = b; for (let i = 0; i < N; i++) { const odd = (i & 1) === 1; const h = odd ? h2 : h1, p = odd ? p2 : p1; if (check(h, p) === null) sink++; if (check(h, p) === null) sink++; } };
const median = (xs) => { const s = [...xs].sort((x, y) => x - y); return s[s.length >> 1]; };
for (const [name, run] of [['one issuer', oneIssuer], ['two issuers alternating', twoIssuers]]) {
  const per = builds.map(() => []);
  for (const b of builds) run(b); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    for (const k of order) { const t0 = cpuNs(); run(builds[k]); per[k].push((cpuNs() - t0) / N); }
  }
  const [a, b] = per.map(median);
  console.log(`${name}: checkHeader ×2 per miss, ns (median of ${ROUNDS} alternating rounds × ${N}): base ${a.toFixed(1)}, this ${b.toFixed(1)}, saved ${(a - b).toFixed(1)} ns per miss`);
}
console.log(`base ${roots[0]}, this ${roots[1]} (sink ${sink})`);
