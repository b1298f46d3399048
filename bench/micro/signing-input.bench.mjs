// Micro-measure (not a test): the signing input's end on a cache miss — `token.lastIndexOf('.')` (a V8 runtime
// call) against the parsed signature's length — on RS256 tokens cut from a fresh `Bearer …` header as uWS hands
// it over (a sliced string), and the two builds' verify.worker `verifyTask` (parse, rules, crypto.verify, claims)
// alternating per block in one process, CPU clock: what the cut saves on the whole authoritative check.
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { pathToFileURL } from 'node:url';

// Run (build both first): `taskset -c 1 node bench/micro/signing-input.bench.mjs BASE_ROOT [ROOT]`; env ROUNDS (blocks per build).
const base = process.argv[2];
const here = process.argv[3] ?? new URL('../..', import.meta.url).pathname;
if (base === undefined) throw new Error('usage: node bench/micro/signing-input.bench.mjs BASE_ROOT [ROOT]');
const ROUNDS = Number(process.env.ROUNDS ?? 200);
const BLOCK = 400;
const TOKENS = 4000;
const median = (xs) => { const s = [...xs].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
const ISS = 'http://127.0.0.1:9/issuer';
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const iat = Math.floor(Date.now() / 1000);
const head = b64({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' });
const tokens = Array.from({ length: TOKENS }, () => {
  const input = `${head}.${b64({ iss: ISS, sub: 'alice', aud: 'portcullis-demo', scope: 'orders:read', client_id: 'demo-client', iat, exp: iat + 3600, jti: randomUUID() })}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
});
// the token as the pipeline gets it: sliced from a fresh flat header string
const cut = (i) => { const h = Buffer.from(`Bearer ${tokens[i % TOKENS]}`, 'latin1').toString('latin1'); return h.slice(7); };

// 1. the two ways to the last dot, alone
let sink = 0;
const sigLen = tokens.map((t) => t.length - t.lastIndexOf('.') - 1);
const ways = {
  'token.lastIndexOf(".")': (t) => t.lastIndexOf('.'),
  'token.length − signature.length − 1': (t, i) => t.length - sigLen[i % TOKENS] - 1,
};
const pre = Array.from({ length: TOKENS }, (_, i) => cut(i));
const wayNs = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++) for (const [k, f] of Object.entries(ways)) {
  const c0 = cpu(); for (let i = 0; i < 20 * BLOCK; i++) sink += f(pre[i % TOKENS], i); wayNs[k].push(((cpu() - c0) * 1000) / (20 * BLOCK));
}
for (const [k, xs] of Object.entries(wayNs)) console.log(`${k.padEnd(40)} ${median(xs).toFixed(1)} ns (median of ${ROUNDS} blocks; ${tokens[0].length}-char token, sliced)`);

// 2. verifyTask of each build, alternating per block
const load = async (root) => (await import(pathToFileURL(`${root}/dist/node/jwt/index.js`).href)).verifyTask;
const builds = { base: await load(base), this: await load(here) };
const policy = Object.freeze({ issuer: ISS, audiences: Object.freeze(['portcullis-demo']), algorithms: Object.freeze(['RS256']), clockSkewS: 60, maxLifetimeS: null, requireTyp: false });
const bundle = { version: 1, policy, keys: [{ id: 'k1', jwk, ref: 'k1#bench' }] };
const run = (verifyTask, name, i) => {
  const r = verifyTask({ token: cut(i), issuer: name, version: 1, now: Date.now() / 1000, install: bundle }, 'node');
  if (r instanceof Promise || !r.ok) throw new Error(`not a success: ${JSON.stringify(r)}`);
  sink += r.claims.exp;
};
for (let i = 0; i < 4000; i++) { run(builds.base, 'b', i); run(builds.this, 't', i); }
const us = { base: [], this: [] };
let at = 0;
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? ['base', 'this'] : ['this', 'base'];
  for (const b of order) { const c0 = cpu(); for (let i = 0; i < BLOCK; i++) run(builds[b], b[0], at + i); us[b].push((cpu() - c0) / BLOCK); }
  at += BLOCK;
}
const diffs = us.base.map((x, i) => x - us.this[i]);
console.log(`verifyTask base ${median(us.base).toFixed(2)} µs, this ${median(us.this).toFixed(2)} µs; median of per-round differences ${(median(diffs) * 1000).toFixed(0)} ns saved (${ROUNDS} rounds × ${BLOCK}, builds alternating; sink ${sink > 0})`);
