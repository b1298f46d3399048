// Where an HTTP/2 request's time goes at a fixed offered load: starts the h2 scenario's upstream,
// the bare node:http2 proxy (bench/h2-bare-proxy.ts: the floor) and Portcullis (h2c → h2c, warm
// RS256, with bench/h2-stream-trace-preload.ts), optionally a second build, and runs h2load --rps
// against each in alternating order: added p50/p99, CPU µs and heap bytes per request (heap is not
// disturbed by other processes), and for Portcullis per-step percentiles of its streams, its GC
// pauses and event-loop stalls. A diagnosis tool, not a scenario: `node dist/bench/h2-stream-trace.js
// [--rounds N] [--seconds S] [--rps R] [--before OTHER_BUILD/dist/cluster/cli/main.js] [--no-trace]
// [--v8-flags=--trace-gc] [--alloc=FILE.heapprofile] [--body BYTES]` (--body: every request a POST
// with a body of that many bytes, the request-body path gRPC calls take) (PORTCULLIS_BENCH_H2_TRACE_OUTPUT=1 prints
// the proxies' non-JSON output, PORTCULLIS_BENCH_H2_TRACE_ALLOC_SURVIVORS=1 samples only what
// survived a scavenge).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuPlan } from './cpu-plan.js';
import { runH2load, type H2LoadFlags } from './h2load.js';
import type { TraceDump } from './h2-stream-trace-preload.js';
import { h2TokenConfigYaml, startBareH2ProxyProcess, startH2UpstreamProcess, startPortcullisH2, waitUntilServingH2 } from './h2-targets.js';
import { heapNote, parseHeapAlloc } from './heap-alloc-preload.js';
import { compiledRoot } from './paths.js';
import { pinPid, pinSelf, type ManagedProcess } from './processes.js';
import { startAuthServerProcess, tokenConfigEnv } from './token-targets.js';

const say = (s: string): void => { process.stdout.write(s + '\n'); };

/** Pure: the q-quantile of xs (sorted copy), NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** Pure: the report of one dump — step percentiles, GC/stall totals, and what the slow streams overlapped. */
export function analyse(d: TraceDump, slowMs: number): string[] {
  const f = (name: string): number => d.fields.indexOf(name as never);
  const steps: Array<[string, string, string]> = [
    ['open → upstream request', 'open', 'request'], ['upstream request → upstream head', 'request', 'upHead'],
    ['upstream head → client head', 'upHead', 'respond'], ['upstream head → upstream end', 'upHead', 'upEnd'],
    ['client head → stream closed', 'respond', 'close'], ['open → stream closed', 'open', 'close'],
  ];
  const out: string[] = [`streams ${d.streams.length}`];
  for (const [label, a, b] of steps) {
    const xs = d.streams.map((r) => (r[f(a)]! >= 0 && r[f(b)]! >= 0 ? r[f(b)]! - r[f(a)]! : Number.NaN)).filter((x) => !Number.isNaN(x));
    out.push(`  ${label.padEnd(34)} n ${String(xs.length).padStart(6)}  p50 ${quantile(xs, 0.5).toFixed(3)}  p99 ${quantile(xs, 0.99).toFixed(3)}  p99.9 ${quantile(xs, 0.999).toFixed(3)}  max ${quantile(xs, 1).toFixed(3)} ms`);
  }
  const gcMax = d.gc.reduce((m, g) => Math.max(m, g[1]), 0);
  out.push(`GC: ${d.gc.length} pauses, ${d.gc.reduce((s, g) => s + g[1], 0).toFixed(1)} ms in all, longest ${gcMax.toFixed(2)} ms`);
  for (const [kind, name] of [[1, 'minor'], [4, 'major'], [8, 'incremental'], [16, 'weak callbacks']] as const) {
    const xs = d.gc.filter((g) => g[2] === kind).map((g) => g[1]);
    if (xs.length > 0) out.push(`  ${name}: ${xs.length}, ${xs.reduce((a, b) => a + b, 0).toFixed(1)} ms, longest ${Math.max(...xs).toFixed(2)} ms`);
  }
  const stalls = [...d.stalls].sort((a, b) => b[1] - a[1]);
  out.push(`loop stalls > 3 ms: ${stalls.length}, ${stalls.reduce((a, s) => a + s[1], 0).toFixed(1)} ms in all; the longest, with the GC pauses inside each:`);
  const KIND: Record<number, string> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weak' };
  for (const [start, dur] of stalls.slice(0, 6)) {
    const inside = d.gc.filter(([gs, gd]) => gs < start + dur + 2 && gs + gd > start);
    out.push(`    ${dur.toFixed(1)} ms: ${inside.length === 0 ? 'no GC' : inside.map(([, gd, k]) => `${KIND[k] ?? k} ${gd.toFixed(1)}`).join(', ')}`);
  }
  const open = f('open');
  const close = f('close');
  const slow = d.streams.filter((r) => r[close]! - r[open]! > slowMs);
  const overlaps = (r: number[], xs: ReadonlyArray<readonly [number, number, ...number[]]>): boolean => xs.some(([s, dur]) => s < r[close]! && s + dur > r[open]!);
  const byGc = slow.filter((r) => overlaps(r, d.gc)).length;
  const byStall = slow.filter((r) => overlaps(r, d.stalls)).length;
  out.push(`streams open > ${slowMs} ms in the proxy: ${slow.length}; overlapping a GC pause ${byGc}, a loop stall ${byStall}`);
  return out;
}

interface Hop { name: string; url: string; proc: ManagedProcess; traced: boolean }

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, seconds: { type: 'string' }, rps: { type: 'string' }, before: { type: 'string' }, slow: { type: 'string' }, 'v8-flags': { type: 'string' }, 'no-trace': { type: 'boolean' }, 'node-options': { type: 'string' }, alloc: { type: 'string' }, body: { type: 'string' } }, strict: true });
  const rounds = Number(values.rounds ?? 2);
  const durationS = Number(values.seconds ?? 5);
  const rps = Number(values.rps ?? 2000);
  const slowMs = Number(values.slow ?? 5);
  const plan = cpuPlan(availableParallelism());
  const stops: Array<() => Promise<void> | void> = [];
  const restore = pinSelf(plan.loader);
  try {
    const as = await startAuthServerProcess();
    stops.push(() => as.stop());
    pinPid(as.process.pid, plan.loader);
    const [token] = await as.mint({ kind: 'jwt', alg: 'RS256', count: 1 });
    const auth = { authorization: `Bearer ${token}` };
    const upstream = await startH2UpstreamProcess('h2c', plan.upstream);
    stops.push(() => upstream.stop());
    const file = join(tmpdir(), `portcullis-h2-trace-${process.pid}.json`);
    stops.push(() => rmSync(file, { force: true }));
    const preload = pathToFileURL(join(compiledRoot(), 'bench', 'h2-stream-trace-preload.js')).href;
    const heapPreload = pathToFileURL(join(compiledRoot(), 'bench', 'heap-alloc-preload.js')).href;
    const heapEnv = { NODE_OPTIONS: `--import ${heapPreload}`, PORTCULLIS_BENCH_HEAP_ALLOC_PRELOAD: '1' };
    const { env } = tokenConfigEnv();
    const yaml = h2TokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: ['RS256'] });
    const hops: Hop[] = [];
    const bare = await startBareH2ProxyProcess(upstream.port, plan.proxy, heapEnv);
    stops.push(() => bare.stop());
    hops.push({ name: 'floor', url: bare.url, proc: bare.process, traced: false });
    const pc = await startPortcullisH2(yaml, plan.proxy,
      { ...env, ...heapEnv, NODE_OPTIONS: `--import ${preload} --import ${heapPreload} ${values['node-options'] ?? ''}`, ...(values.alloc !== undefined ? { PORTCULLIS_BENCH_H2_TRACE_ALLOC: values.alloc } : {}), PORTCULLIS_BENCH_H2_TRACE_V8: values['v8-flags'] ?? '', ...(values['no-trace'] === true ? {} : { PORTCULLIS_BENCH_H2_TRACE: file }) });
    stops.push(() => pc.stop());
    hops.push({ name: 'portcullis', url: pc.h2url, proc: pc.process, traced: values['no-trace'] !== true });
    if (values.before !== undefined) {
      const pb = await startPortcullisH2(yaml, plan.proxy, { ...env, ...heapEnv }, values.before);
      stops.push(() => pb.stop());
      hops.push({ name: 'before', url: pb.h2url, proc: pb.process, traced: false });
    }
    await waitUntilServingH2('direct', upstream.url + '/', auth);
    for (const h of hops) await waitUntilServingH2(h.name, h.url + '/', auth);
    let dataFile: string | undefined;
    if (values.body !== undefined) {
      dataFile = join(tmpdir(), `portcullis-h2-trace-body-${process.pid}`);
      writeFileSync(dataFile, Buffer.alloc(Number(values.body), 0x61));
      const f = dataFile;
      stops.push(() => rmSync(f, { force: true }));
    }
    const flags: H2LoadFlags = { clients: 10, streams: 10, rpsPerClient: rps / 10, path: '/', durationS, warmupS: 0, headers: auth, ...(dataFile !== undefined ? { dataFile } : {}) };
    const ownPids = [as.process.pid, upstream.process.pid, ...hops.map((h) => h.proc.pid)];
    const pause = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));
    for (let r = 0; r < rounds; r++) {
      const d = await runH2load(upstream.url, { ...flags, warmupS: 1 }, { cpus: plan.loader, watch: { upstream: upstream.process.pid }, ownPids });
      say(`round ${r + 1} direct      ${d.rps.toFixed(0)} rps  p50 ${d.p50.toFixed(3)}  p99 ${d.p99.toFixed(3)}  p99.9 ${d.p999.toFixed(3)} ms  foreign CPU ${d.foreignCores?.toFixed(2) ?? '?'}`);
      for (const h of r % 2 === 0 ? hops : [...hops].reverse()) {
        // warm up, then bracket only the measured run with the dump signals
        await runH2load(h.url, { ...flags, durationS: 1 }, { cpus: plan.loader, watch: {}, ownPids });
        h.proc.proc.kill('SIGUSR2');
        await pause(200);
        const p = await runH2load(h.url, flags, { cpus: plan.loader, watch: { hop: h.proc.pid, upstream: upstream.process.pid }, ownPids });
        h.proc.proc.kill('SIGUSR2');
        await pause(500);
        const heap = parseHeapAlloc(h.proc.output());
        say(`round ${r + 1} ${h.name.padEnd(11)} ${p.rps.toFixed(0)} rps  p50 ${p.p50.toFixed(3)}  p99 ${p.p99.toFixed(3)}  p99.9 ${p.p999.toFixed(3)} ms  CPU ${p.cpuUsPerReq?.toFixed(1) ?? '?'} µs/req  heap ${heap === null ? '?' : (heap.bytes / p.requests / 1024).toFixed(1)} KiB/req (${heap?.gcs ?? '?'} GCs, ${heap?.gcMs.toFixed(1) ?? '?'} ms; ${heapNote(heap, p.requests)})  foreign CPU ${p.foreignCores?.toFixed(2) ?? '?'}  → added p50 ${(p.p50 - d.p50).toFixed(3)} p99 ${(p.p99 - d.p99).toFixed(3)} ms`);
        if (h.traced) for (const line of analyse(JSON.parse(readFileSync(file, 'utf8')) as TraceDump, slowMs)) say('  ' + line);
        if (process.env.PORTCULLIS_BENCH_H2_TRACE_OUTPUT === '1') say(h.proc.output().split('\n').filter((l) => !l.startsWith('{')).slice(-60).join('\n'));
      }
    }
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    restore();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => { process.stderr.write(`h2-stream-trace: ${String((err as Error).stack ?? err)}\n`); process.exit(1); });
}
