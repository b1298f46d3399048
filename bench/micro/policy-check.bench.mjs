// Micro-measure (not a test): a member's check stage for one pushed version (the watcher's
// checkVersionFor on the event loop: gunzip, parse, digest, combine with the local part,
// validate reusing unchanged routes, environment, freeze — or the validation thread's round
// trip when the entry is larger than INLINE_MAX_BYTES) for the bench's 101-route policy (FILLERS),
// each version changing one route, as `bench policy-propagation` pushes them. CPU and wall
// time per version (p50/p99 over N versions, after WARM versions of warm-up).
// Build first: `npx tsc -p tsconfig.json`, then `node bench/micro/policy-check.bench.mjs` (env N, default 2000).
import { performance } from 'node:perf_hooks';
import { newEntry, sealEntry } from '../../dist/cluster/policy/policy-messages.js';
import { checkVersionFor, INLINE_MAX_BYTES } from '../../dist/cluster/policy/policy-validate.js';
import { preparePolicy } from '../../dist/cluster/policy/index.js';
import { localPart, policyFor } from '../../dist/bench/policy-propagation.bench.js';

const N = Number(process.env.N ?? 2_000);
/** Versions checked before measuring (WARM=0: a fresh member's first N versions, as in the bench's 100 pushes). */
const WARM = Number(process.env.WARM ?? 200);
const FILLERS = Number(process.env.FILLERS ?? 100);
process.env.PORTCULLIS_BENCH_ADMIN_TOKEN ??= 'x'.repeat(40);
process.env.PORTCULLIS_BENCH_BUS_KEY ??= 'y'.repeat(48);
const local = localPart('nats://127.0.0.1:4222', 'micro', 'micro-a');
const payloads = [];
// as `policy push` stores it: the validated policy with every default filled in (~330 bytes of JSON per route)
const prepared = (n) => { const p = preparePolicy(local, policyFor(n, 'http://127.0.0.1:1/', 8080, FILLERS)); if (!p.ok) throw new Error(JSON.stringify(p.errors)); return p.policy; };
let bytes = 0;
for (let n = 1; n <= N + WARM; n++) {
  const entry = newEntry(prepared(n), n, n - 1, 'micro');
  bytes = JSON.stringify(entry).length;
  payloads.push(sealEntry(entry, 'B', null));
}
const wall = [];
const cpu = [];
for (let i = 0; i < payloads.length; i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await checkVersionFor(local, payloads[i]);
  const t1 = performance.now();
  const c1 = process.cpuUsage(c0);
  if (r.kind !== 'entry' || !r.verdict.ok) throw new Error(`version ${i + 1} refused: ${JSON.stringify(r.kind === 'entry' ? r.verdict : r)}`);
  if (i >= WARM) { wall.push(t1 - t0); cpu.push((c1.user + c1.system) / 1000); }
}
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
console.log(JSON.stringify({ versions: N, routes: FILLERS + 1, json_bytes: bytes, on_event_loop: bytes <= INLINE_MAX_BYTES, wall_ms: { p50: +q(wall, 0.5).toFixed(3), p99: +q(wall, 0.99).toFixed(3) }, cpu_ms: { p50: +q(cpu, 0.5).toFixed(3), p99: +q(cpu, 0.99).toFixed(3) } }));
