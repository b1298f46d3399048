// Micro-measure (not a test): a member's check stage for one pushed version (the watcher's
// checkVersionFor on the event loop: gunzip, parse, digest, combine with the local part,
// validate reusing unchanged routes, environment, freeze) for the bench's 101-route policy,
// each version changing one route, as `bench policy-propagation` pushes them. CPU and wall
// time per version (medians/p99 over N versions, after warm-up).
// Build first: `npx tsc -p tsconfig.json`, then `node bench/micro/policy-check.bench.mjs` (env N, default 2000).
import { performance } from 'node:perf_hooks';
import { newEntry, sealEntry } from '../../dist/cluster/policy/policy-messages.js';
import { checkVersionFor } from '../../dist/cluster/policy/policy-validate.js';
import { localPart, policyFor } from '../../dist/bench/policy-propagation.bench.js';

const N = Number(process.env.N ?? 2_000);
const FILLERS = Number(process.env.FILLERS ?? 100);
process.env.PORTCULLIS_BENCH_ADMIN_TOKEN ??= 'x'.repeat(40);
process.env.PORTCULLIS_BENCH_BUS_KEY ??= 'y'.repeat(48);
const local = localPart('nats://127.0.0.1:4222', 'micro', 'micro-a');
const payloads = [];
for (let n = 1; n <= N + 200; n++) payloads.push(sealEntry(newEntry(policyFor(n, 'http://127.0.0.1:1/', 8080, FILLERS), n, n - 1, 'micro'), 'B', null));
const wall = [];
const cpu = [];
for (let i = 0; i < payloads.length; i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await checkVersionFor(local, payloads[i]);
  const t1 = performance.now();
  const c1 = process.cpuUsage(c0);
  if (r.kind !== 'entry' || !r.verdict.ok) throw new Error(`version ${i + 1} refused: ${JSON.stringify(r.kind === 'entry' ? r.verdict : r)}`);
  if (i >= 200) { wall.push(t1 - t0); cpu.push((c1.user + c1.system) / 1000); }
}
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
console.log(JSON.stringify({ versions: N, routes: FILLERS + 1, wall_ms: { p50: +q(wall, 0.5).toFixed(3), p99: +q(wall, 0.99).toFixed(3) }, cpu_ms: { p50: +q(cpu, 0.5).toFixed(3), p99: +q(cpu, 0.99).toFixed(3) } }));
