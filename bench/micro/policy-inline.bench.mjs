// Micro-measure (not a test): INLINE_MAX_BYTES (cluster/policy/policy-validate.ts) decided by
// measurement. For policies between 32 and 64 KiB (the bench's 101 routes: 33.7 KB; 190 routes:
// ~63 KB), each version changing one route: checked on the event loop (checkVersionFor, what
// 64 KiB does) against the validation thread's round trip (checkVersionOffThread, what 32 KiB
// does), interleaved in blocks in one process, after a warm-up of both. Per version: wall time
// (what apply latency pays), and the event loop's delay meanwhile (monitorEventLoopDelay at 1 ms
// resolution: what a request waiting behind the check feels), p50/p99/max.
// Build first, then `node bench/micro/policy-inline.bench.mjs` (env N versions per side, default 300; FILLERS, default 100).
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { newEntry, sealEntry } from '../../dist/cluster/policy/policy-messages.js';
import { checkVersionFor, checkVersionOffThread, INLINE_MAX_BYTES } from '../../dist/cluster/policy/policy-validate.js';
import { preparePolicy } from '../../dist/cluster/policy/index.js';
import { localPart, policyFor } from '../../dist/bench/policy-propagation.bench.js';

const N = Number(process.env.N ?? 300);
const FILLERS = Number(process.env.FILLERS ?? 100);
const BLOCK = 20;
process.env.PORTCULLIS_BENCH_ADMIN_TOKEN ??= 'x'.repeat(40);
process.env.PORTCULLIS_BENCH_BUS_KEY ??= 'y'.repeat(48);
const local = localPart('nats://127.0.0.1:4222', 'micro', 'micro-a');
const prepared = (n) => { const p = preparePolicy(local, policyFor(n, 'http://127.0.0.1:1/', 8080, FILLERS)); if (!p.ok) throw new Error(JSON.stringify(p.errors)); return p.policy; };
const payloads = [];
let bytes = 0;
for (let n = 1; n <= 2 * N + 40; n++) { const e = newEntry(prepared(n), n, n - 1, 'micro'); bytes = JSON.stringify(e).length; payloads.push(sealEntry(e, 'B', null)); }
const inline = (p) => { if (bytes > INLINE_MAX_BYTES) throw new Error(`${bytes} bytes is over INLINE_MAX_BYTES (${INLINE_MAX_BYTES}): not inline`); return checkVersionFor(local, p); };
const sides = { inline: { check: inline, wall: [], loopMax: [] }, thread: { check: (p) => checkVersionOffThread(local, p), wall: [], loopMax: [] } };
// a request arriving every ~1 ms (a timer): the loop delay it sees while a version is checked
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
let i = 0;
const one = async (side, record) => {
  h.reset();
  const t0 = performance.now();
  const r = await side.check(payloads[i++]);
  const wall = performance.now() - t0;
  await new Promise((res) => setTimeout(res, 3)); // the histogram's next sample sees a block that ended with the check
  if (r.kind !== 'entry' || !r.verdict.ok) throw new Error('refused');
  if (record) { side.wall.push(wall); side.loopMax.push(h.max / 1e6); }
};
for (let w = 0; w < 20; w++) { await one(sides.inline, false); await one(sides.thread, false); }
for (let b = 0; b < N / BLOCK; b++) for (const side of b % 2 === 0 ? [sides.inline, sides.thread] : [sides.thread, sides.inline]) for (let k = 0; k < BLOCK; k++) await one(side, true);
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2); };
const row = (a) => ({ p50: q(a, 0.5), p99: q(a, 0.99), max: +Math.max(...a).toFixed(2) });
console.log(JSON.stringify({ routes: FILLERS + 1, json_bytes: bytes, versions_per_side: N, inline: { wall_ms: row(sides.inline.wall), loop_delay_max_ms: row(sides.inline.loopMax) }, thread: { wall_ms: row(sides.thread.wall), loop_delay_max_ms: row(sides.thread.loopMax) } }));
process.exit(0);
