// Where the closed-loop passthrough tail comes from: the cheap upstream, Portcullis (this build, with
// bench/h1-hop-trace-preload.ts), optionally a variant with other Node flags and another build, and
// HAProxy, loaded in turn (order rotated each round) by autocannon with the passthrough scenario's CPU
// split. Per round and target: the client-side distribution and its shape (h1-hop-trace-report.ts),
// CPU µs/req of the proxy and of the upstream, foreign CPU, and the proxy's per-step times, GC pauses and
// loop stalls. A diagnosis tool, not a scenario: `node dist/bench/h1-hop-trace.js [--rounds N]
// [--seconds S] [--connections C] [--slow MS] [--variant="NODE FLAGS"] [--variant-v8="V8 FLAGS set at start"] [--before OTHER/dist/cluster/cli/main.js]
// [--body BYTES]` (--body: every request a POST with a body of that many bytes, the request-body path). Per proxy
// round also heap B/req, scavenges and the bytes they promoted (bench/heap-alloc-preload.ts).
import { readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuPlan } from './cpu-plan.js';
import { startHaproxy } from './haproxy.js';
import type { HopDump } from './h1-hop-trace-preload.js';
import { heapNote, parseHeapAlloc } from './heap-alloc-preload.js';
import { roundReport, quantile, type ClientSample } from './h1-hop-trace-report.js';
import { loadAutocannon } from './load.js';
import { cheapUpstreamPath, cliPath, compiledRoot } from './paths.js';
import { cpuSeconds, jsonLine, pinSelf, startProcess, watchForeignCpu, type ManagedProcess } from './processes.js';
import { schedDelta, threadStats } from './sched-stats.js';
import { passthroughConfigYaml, startPortcullis } from './targets.js';

const say = (s: string): void => { process.stdout.write(s + '\n'); };
const pause = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

interface Hop { name: string; url: string; proc: ManagedProcess | null; traceFile: string | null }

/** One autocannon run; with `record`, every 2xx response as a ClientSample. */
async function closedLoop(url: string, connections: number, durationS: number, record: ClientSample[] | null, body: Buffer | null): Promise<{ ok: number; durationS: number }> {
  const autocannon = await loadAutocannon();
  const inst = autocannon({ url: url + '/', connections, pipelining: 1, duration: durationS, timeout: 10, ...(body !== null ? { method: 'POST', body } : {}) });
  if (record !== null) {
    const ids = new Map<unknown, number>();
    const origin = performance.timeOrigin;
    inst.on('response', (client: unknown, status: number, _b: number, ms: number) => {
      if (status < 200 || status >= 300) return;
      let id = ids.get(client);
      if (id === undefined) { id = ids.size; ids.set(client, id); }
      record.push({ end: origin + performance.now(), ms, client: id });
    });
  }
  const r = await inst;
  return { ok: r['2xx'], durationS: r.duration > 0 ? r.duration : durationS };
}

function readDump(file: string | null): HopDump | null {
  if (file === null) return null;
  try { return JSON.parse(readFileSync(file, 'utf8')) as HopDump; } catch { return null; }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' }, slow: { type: 'string' }, variant: { type: 'string' }, 'variant-v8': { type: 'string' }, before: { type: 'string' }, 'no-haproxy': { type: 'boolean' }, body: { type: 'string' } }, strict: true });
  const rounds = Number(values.rounds ?? 4);
  const durationS = Number(values.seconds ?? 5);
  const connections = Number(values.connections ?? 50);
  const slowMs = Number(values.slow ?? 10);
  const body = values.body !== undefined ? Buffer.alloc(Number(values.body), 0x61) : null;
  const plan = cpuPlan(availableParallelism());
  const preload = pathToFileURL(join(compiledRoot(), 'bench', 'h1-hop-trace-preload.js')).href;
  const files: string[] = [];
  const traceFile = (name: string): string => { const f = join(tmpdir(), `portcullis-hop-trace-${process.pid}-${name}.json`); files.push(f); return f; };
  const heapPreload = pathToFileURL(join(compiledRoot(), 'bench', 'heap-alloc-preload.js')).href;
  const traceEnv = (file: string, relay?: string): Record<string, string> => ({
    NODE_OPTIONS: `--import ${preload}`, PORTCULLIS_BENCH_HOP_TRACE: file,
    ...(relay !== undefined ? { PORTCULLIS_BENCH_HOP_TRACE_RELAY: relay, NODE_OPTIONS: `--import ${preload} --import ${heapPreload}`, PORTCULLIS_BENCH_HEAP_ALLOC_PRELOAD: '1' } : {}),
  });
  const relayOf = (cli: string): string => pathToFileURL(join(dirname(cli), '..', '..', 'node', 'http', 'relay.js')).href;
  const stops: Array<() => Promise<void> | void> = [];
  const restore = pinSelf(plan.loader);
  try {
    const upFile = traceFile('upstream');
    const up = await startProcess({
      name: 'cheap-upstream', command: process.execPath, args: [cheapUpstreamPath()], env: traceEnv(upFile),
      ready: jsonLine<{ port: number }>((o) => typeof o.port === 'number'), cpus: plan.upstream,
    });
    stops.push(() => up.process.stop());
    const upstreamUrl = `http://127.0.0.1:${up.ready.port}`;
    const yaml = passthroughConfigYaml(up.ready.port);
    const hops: Hop[] = [];
    const addPortcullis = async (name: string, cli: string, nodeFlags: string, v8Flags = ''): Promise<void> => {
      const file = traceFile(name);
      const env = traceEnv(file, relayOf(cli));
      const pc = await startPortcullis(yaml, plan.proxy, { ...env, NODE_OPTIONS: `${env.NODE_OPTIONS} ${nodeFlags}`.trim(), PORTCULLIS_BENCH_HOP_TRACE_V8: v8Flags }, cli);
      stops.push(() => pc.stop());
      hops.push({ name, url: pc.url, proc: pc.process, traceFile: file });
    };
    await addPortcullis('portcullis', cliPath(), '');
    if (values.variant !== undefined || values['variant-v8'] !== undefined) await addPortcullis('variant', cliPath(), values.variant ?? '', values['variant-v8'] ?? '');
    if (values.before !== undefined) await addPortcullis('before', values.before, '');
    if (values['no-haproxy'] !== true) {
      const hp = await startHaproxy({ upstream: { host: '127.0.0.1', port: up.ready.port }, nbthread: plan.proxy.length, cpus: plan.proxy });
      if (!hp.skipped) {
        stops.push(() => hp.stop());
        hops.push({ name: 'haproxy', url: hp.url, proc: hp.process, traceFile: null });
      }
    }
    say(`closed loop: autocannon ${connections} connections${body !== null ? `, POST ${body.length} B bodies` : ''}, ${durationS} s (+1 s warmup) per target and round, ${rounds} rounds, order rotated; ${plan.note}; variant: ${values.variant ?? ''} ${values['variant-v8'] ?? ''}; slow = ≥ ${slowMs} ms`);
    const own = [up.process.pid, ...hops.map((h) => h.proc?.pid ?? 0).filter((p) => p > 0)];
    const p99s: Record<string, number[]> = {};
    for (let r = 0; r < rounds; r++) {
      const order = hops.map((_, i) => hops[(i + r) % hops.length]!);
      for (const h of order) {
        await closedLoop(h.url, connections, 1, null, body);
        if (h.traceFile !== null) h.proc!.proc.kill('SIGUSR2');
        up.process.proc.kill('SIGUSR2');
        await pause(150);
        const samples: ClientSample[] = [];
        const pid = h.proc?.pid;
        const cpu0 = pid !== undefined ? cpuSeconds(pid) : undefined;
        const upCpu0 = cpuSeconds(up.process.pid);
        const s0 = pid !== undefined ? threadStats(pid) : [];
        const u0 = threadStats(up.process.pid);
        const foreign = watchForeignCpu(own);
        const res = await closedLoop(h.url, connections, durationS, samples, body);
        const fc = foreign();
        const s1 = pid !== undefined ? threadStats(pid) : [];
        const u1 = threadStats(up.process.pid);
        const cpu1 = pid !== undefined ? cpuSeconds(pid) : undefined;
        const upCpu1 = cpuSeconds(up.process.pid);
        if (h.traceFile !== null) h.proc!.proc.kill('SIGUSR2');
        up.process.proc.kill('SIGUSR2');
        await pause(600);
        const us = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '?' : (((b - a) * 1e6) / res.ok).toFixed(1));
        say(`\n## round ${r + 1} · ${h.name} · ${(res.ok / res.durationS).toFixed(0)} rps · CPU µs/req proxy ${us(cpu0, cpu1)} upstream ${us(upCpu0, upCpu1)} · foreign CPU ${fc?.toFixed(2) ?? '?'}`);
        if (pid !== undefined) say(`  proxy ${schedDelta(pid, s0, s1, res.ok)}`);
        if (h.traceFile !== null) say(`  proxy ${heapNote(parseHeapAlloc(h.proc!.output()), res.ok)}`);
        say(`  upstream ${schedDelta(up.process.pid, u0, u1, res.ok)}`);
        for (const line of roundReport(samples, { proxy: readDump(h.traceFile), upstream: readDump(upFile) }, slowMs)) say('  ' + line);
        if (process.env.PORTCULLIS_BENCH_HOP_TRACE_OUTPUT === '1' && h.proc !== null) say(h.proc.output().split('\n').filter((l) => !l.startsWith('{')).slice(-40).join('\n'));
        (p99s[h.name] ??= []).push(quantile(samples.map((s) => s.ms), 0.99));
      }
    }
    say(`\np99 per round (ms): ${Object.entries(p99s).map(([k, v]) => `${k} ${v.map((x) => x.toFixed(1)).join(' / ')}`).join(' · ')}`);
    say(`upstream direct: ${upstreamUrl}`);
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
    for (const f of files) rmSync(f, { force: true });
    restore();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => { process.stderr.write(`h1-hop-trace: ${String((err as Error).stack ?? err)}\n`); process.exit(1); });
}
