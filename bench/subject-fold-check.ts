// What a held `@` sub revocation costs the revocation check of a token whose own `sub` holds `@` (review rev52c
// of atk52f): one store holding only a non-`@` sub revocation vs one also holding an `@` one, same process, alternating.
// Run: `node dist/bench/subject-fold-check.js [--rounds 6] [--checks 2000000]`.
import { RevocationStore } from '../cluster/revocation/revocation-store.js';
import type { RevocationRecord } from '../cluster/protocol/index.js';
import type { TokenFacts } from '../node/contracts/index.js';

const arg = (name: string, def: number): number => { const i = process.argv.indexOf(name); return i < 0 ? def : Number(process.argv[i + 1]); };
const rounds = arg('--rounds', 6);
const checks = arg('--checks', 2_000_000);
const nowS = Math.floor(Date.now() / 1000);
const rec = (id: string, value: string): RevocationRecord => ({ id, kind: 'sub', value, issuer: null, before: nowS - 100, expiresAt: nowS + 3600, reason: null, createdAt: Date.now(), origin: 'bench' });

const plain = new RevocationStore();
plain.apply(rec('r1', 'someone-else'));
const folding = new RevocationStore();
folding.apply(rec('r1', 'someone-else'));
folding.apply(rec('r2', 'Other.User@Example.com'));
// a live token of a user not revoked: every lookup misses, the folded one included (the common case)
const facts: TokenFacts[] = ['heidi@example.com', 'Heidi@Example.COM', 'zoë.müller@example.org'].map((sub, i) => ({ tokenHash: `h${i}`.padEnd(64, '0'), sub, iss: 'https://idp.example', iat: nowS, jti: `j${i}` }) as TokenFacts);

function run(store: RevocationStore): number {
  const t0 = process.hrtime.bigint();
  let hits = 0;
  for (let i = 0; i < checks; i++) if (store.isRevoked(facts[i % facts.length]!)) hits++;
  if (hits !== 0) throw new Error('a live token was refused');
  return Number(process.hrtime.bigint() - t0) / checks;
}

run(plain); run(folding); // warm-up
const rows: string[] = [];
for (let r = 0; r < rounds; r++) {
  let a: number, b: number;
  if (r % 2 === 0) { a = run(plain); b = run(folding); } else { b = run(folding); a = run(plain); }
  rows.push(`round ${r + 1}: without @ revocation ${a.toFixed(1)} ns/check, with one ${b.toFixed(1)} ns/check, ratio ${(b / a).toFixed(2)}`);
}
const os = await import('node:os');
console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${checks} checks per run, 3 subs holding @ (one non-ASCII)`);
for (const l of rows) console.log(l);
