// Micro-measure (not a test): what `cluster.revocation.receiver: thread` adds to every revocation
// check when nothing is pending — the wired TokenState.isRevoked with the receiver's poll (one
// Atomics.load of the ring's write sequence) against the plain store lookup, on a store with
// 1000 entries and a token it does not revoke. CPU ns per check (process.cpuUsage), A/B rounds
// interleaved. Build first: `npx tsc -p tsconfig.json`, then `node bench/micro/revocation-poll.bench.mjs` (env N, ROUNDS).
import { Codec, RevocationReceiver, RevocationStore, subjects } from '../../dist/cluster/index.js';
import { tokenFacts } from '../../dist/node/contracts/index.js';

const N = Number(process.env.N ?? 5_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 6);
const store = new RevocationStore(Date.now, { maxEntries: 10_000 });
const nowS = Math.floor(Date.now() / 1000);
for (let i = 0; i < 1000; i++) store.apply({ id: `r${i}`, kind: 'jti', value: `j${i}`, issuer: null, before: null, expiresAt: nowS + 3600, reason: null, createdAt: Date.now(), origin: 'm' });
const facts = tokenFacts('hash-of-token', { sub: 'alice', jti: 'not-revoked', client_id: 'c', iat: nowS }, 'k1', 'https://as.example');
// never started: no thread, an empty ring — the state of every check between two revocations
const receiver = new RevocationReceiver({
  nats: { servers: ['nats://127.0.0.1:1'] }, auth: { mode: 'none', keyEnv: null, keyFile: null, previousKeyEnv: null, previousKeyFile: null, maxAgeMs: 30_000 },
  prefix: 'micro', name: 'micro', maxLifetimeS: 86_400, codec: new Codec(), subjects: subjects('micro'), deliver: () => {},
});
const plain = (f) => store.isRevoked(f);
const polled = (f) => { receiver.poll(); return store.isRevoked(f); };

function run(check) {
  let hits = 0;
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) if (check(facts)) hits++;
  const c = process.cpuUsage(c0);
  if (hits !== 0) throw new Error('the token must not be revoked');
  return ((c.user + c.system) * 1000) / N;
}
for (let i = 0; i < 2; i++) { run(plain); run(polled); } // warm both call sites
const rows = [];
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? [['main', plain], ['thread', polled]] : [['thread', polled], ['main', plain]];
  const out = {};
  for (const [name, f] of order) out[name] = run(f);
  rows.push(out);
  console.log(`round ${r + 1}: main ${out.main.toFixed(2)} ns/check, thread (poll + check) ${out.thread.toFixed(2)} ns/check, ratio ${(out.thread / out.main).toFixed(3)}`);
}
const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`median: main ${med(rows.map((r) => r.main)).toFixed(2)} ns, thread ${med(rows.map((r) => r.thread)).toFixed(2)} ns, added ${(med(rows.map((r) => r.thread - r.main))).toFixed(2)} ns/check`);
