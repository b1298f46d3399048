// Micro-measure (not a test): does an in-flight container with one add and one delete per request
// keep finished requests alive through scavenges? A long-lived container holds W requests in flight
// (each a ~3.5 KB object graph, about what a proxied request allocates); every step ends the oldest
// (delete) and starts a new one (add), the listener's and pools' pattern. Compares a Set with
// SlotRegistry (node/slot-registry.ts), each in a fresh child process, alternating rounds. Reports
// per 1 000 requests: scavenges, their pause, bytes they promoted to old space, mark-compacts, CPU µs;
// GC counts and promoted bytes do not depend on other load on the machine; CPU does, hence the
// foreign CPU column (other processes' cores during the run).
// Build first: `npx tsc -p tsconfig.json`, then `node bench/micro/inflight-set.bench.mjs`
// (env N requests per round, default 1 000 000; W in flight, default 50; ROUNDS, default 4).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { machineBusySeconds } from '../../dist/bench/processes.js';

const N = Number(process.env.N ?? 1_000_000);
const W = Number(process.env.W ?? 50);
const ROUNDS = Number(process.env.ROUNDS ?? 4);

/** One request's garbage: a context with headers, a response and a few buffers' worth of strings. */
function request(i) {
  const headers = [];
  for (let h = 0; h < 12; h++) headers.push(`x-header-${h}`, `value-${i}-${h}`);
  return { id: i, slot: -1, headers, ctx: { path: `/p/${i}`, method: 'GET', route: { name: 'r' } }, res: { status: 200, chunks: [new Uint8Array(1024), new Uint8Array(1024)] } };
}

const oldUsed = (spaces) => spaces.filter((s) => s.spaceName === 'old_space').reduce((a, s) => a + s.spaceUsedSize, 0);

async function child(kind) {
  const { SlotRegistry } = await import('../../dist/node/slot-registry.js');
  const c = kind === 'set' ? new Set() : new SlotRegistry('slot');
  const ring = new Array(W);
  for (let i = 0; i < W; i++) { ring[i] = request(i); c.add(ring[i]); }
  // warm up past the first promotions (the Set's own table must be old, as a listener's is)
  for (let i = W; i < 200_000; i++) { const k = i % W; c.delete(ring[k]); ring[k] = request(i); c.add(ring[k]); }
  const profiler = new v8.GCProfiler();
  profiler.start();
  const busy0 = machineBusySeconds();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 200_000; i < 200_000 + N; i++) { const k = i % W; c.delete(ring[k]); ring[k] = request(i); c.add(ring[k]); }
  const cpu = process.cpuUsage(cpu0);
  const busy1 = machineBusySeconds();
  const wallS = (performance.now() - t0) / 1000;
  // other processes' CPU in cores over the run (the parent waits, blocked, in execFileSync)
  const foreign = busy0 === undefined || busy1 === undefined ? null : Math.max(0, (busy1 - busy0 - (cpu.user + cpu.system) / 1e6) / wallS);
  const { statistics } = profiler.stop();
  const out = { kind, scavenges: 0, scavengeMs: 0, maxMs: 0, promoted: 0, markCompacts: 0, cpuUs: cpu.user + cpu.system, foreign, size: c.size };
  for (const s of statistics) {
    if (s.gcType === 'Scavenge' || s.gcType.startsWith('Minor')) {
      out.scavenges++;
      out.scavengeMs += s.cost / 1000;
      out.maxMs = Math.max(out.maxMs, s.cost / 1000);
      out.promoted += Math.max(0, oldUsed(s.afterGC.heapSpaceStatistics) - oldUsed(s.beforeGC.heapSpaceStatistics));
    } else if (s.gcType === 'MarkSweepCompact') out.markCompacts++;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

function main() {
  const self = fileURLToPath(import.meta.url);
  process.stdout.write(`inflight-set: ${N} requests per round, ${W} in flight, ${ROUNDS} rounds alternating; per 1 000 requests\n`);
  process.stdout.write('round kind          scavenges  pause ms  longest ms  promoted KiB  mark-compacts  CPU µs/req  foreign CPU\n');
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of r % 2 === 0 ? ['set', 'slots'] : ['slots', 'set']) {
      const o = JSON.parse(execFileSync(process.execPath, [self, '--child', kind], { encoding: 'utf8', env: { ...process.env } }));
      const k = 1000 / N;
      process.stdout.write(`${String(r + 1).padEnd(6)}${(kind === 'set' ? 'Set' : 'SlotRegistry').padEnd(14)}${(o.scavenges * k).toFixed(2).padStart(9)}${(o.scavengeMs * k).toFixed(2).padStart(10)}${o.maxMs.toFixed(2).padStart(12)}${(o.promoted * k / 1024).toFixed(1).padStart(14)}${(o.markCompacts * k).toFixed(3).padStart(15)}${(o.cpuUs / N).toFixed(2).padStart(12)}${(o.foreign === null ? '?' : o.foreign.toFixed(2)).padStart(13)}\n`);
    }
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]);
else main();
