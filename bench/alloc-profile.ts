// Issue 13's per-request allocation account: Portcullis (workers 1, access log as the default
// config has it) in front of the cheap upstream, wrk -c64 for a fixed time, and a sampling heap
// profile of that window (bench/alloc-profile-preload.ts) beside the exact bytes (heap-alloc-preload):
// bytes per response by allocation site (function file:line) and by the nearest frame of our code.
// Run: `node dist/bench/alloc-profile.js [--scenario passthrough|jwt-warm] [--seconds 4] [--access off] [--cli OTHER/dist/cluster/cli/main.js]`.
// `--ab OTHER/dist/cluster/cli/main.js --rounds N`: no sampling; N rounds alternating that build and this one (order
// swapped every round), each its own proxy (`--ab-node-args="FLAGS"`: node flags for the base build only, e.g. the same
// build with a V8 flag), CPU µs/resp of the proxy (every thread, /proc), heap B/resp, rps and the
// CPU other processes used meanwhile (foreign cores: disturbed when > 0).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseHeapAlloc } from './heap-alloc-preload.js';
import { compiledRoot } from './paths.js';
import { cpuSeconds, watchForeignCpu } from './processes.js';
import { passthroughConfigYaml, startPortcullis, startUpstreamProcess } from './targets.js';
import { startAuthServerProcess, tokenConfigEnv, tokenConfigYaml } from './token-targets.js';
import { WRK_BIN, parseWrk } from './wrk-load.js';

interface Frame { functionName: string; url: string; lineNumber: number }
interface Node { callFrame: Frame; selfSize: number; children: Node[] }

/** Pure: bytes by leaf site and by the nearest frame under `ours` (a URL substring), largest first. */
export function attribute(head: Node, ours: (url: string) => boolean): { total: number; sites: Map<string, number>; ourFrames: Map<string, number> } {
  const sites = new Map<string, number>(), ourFrames = new Map<string, number>();
  let total = 0;
  const short = (f: Frame): string => `${f.functionName === '' ? '(anonymous)' : f.functionName} ${f.url.replace(/^.*\/dist\//, '').replace(/^file:\/\//, '')}:${f.lineNumber + 1}`;
  const walk = (n: Node, our: string): void => {
    const here = ours(n.callFrame.url) ? short(n.callFrame) : our;
    if (n.selfSize > 0) {
      total += n.selfSize;
      const k = short(n.callFrame);
      sites.set(k, (sites.get(k) ?? 0) + n.selfSize);
      ourFrames.set(here, (ourFrames.get(here) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, here);
  };
  walk(head, '(no frame of ours)');
  return { total, sites, ourFrames };
}

function table(title: string, m: Map<string, number>, requests: number, top: number): string {
  const rows = [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return `${title}\n${rows.map(([k, v]) => `${(v / requests).toFixed(0).padStart(7)} B  ${k}`).join('\n')}\n`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `pids`: wrk's pid is added (its CPU is ours, not foreign). */
function wrk(url: string, seconds: number, headers: Record<string, string>, pids: number[] = []): Promise<ReturnType<typeof parseWrk>> {
  const args = ['-t2', '-c64', `-d${seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  const p = spawn(WRK_BIN, [...args, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  if (p.pid !== undefined) pids.push(p.pid);
  let out = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve, reject) => p.on('close', (code) => (code === 0 ? resolve(parseWrk(out)) : reject(new Error(`wrk exited ${code}: ${out}`)))));
}

if (process.argv[1]?.endsWith('alloc-profile.js') === true) {
  const { values } = parseArgs({ options: { scenario: { type: 'string', default: 'passthrough' }, seconds: { type: 'string', default: '4' }, access: { type: 'string', default: 'on' }, cli: { type: 'string' }, top: { type: 'string', default: '25' }, ab: { type: 'string' }, 'ab-node-args': { type: 'string', default: '' }, rounds: { type: 'string', default: '4' } } });
  const jwt = values.scenario === 'jwt-warm';
  const dir = mkdtempSync(join(tmpdir(), 'alloc-profile-'));
  const file = join(dir, 'profile.heapprofile');
  const stops: Array<() => Promise<void>> = [];
  try {
    const upstream = await startUpstreamProcess([1]);
    stops.push(() => upstream.stop());
    let yaml = passthroughConfigYaml(upstream.port);
    let headers: Record<string, string> = {};
    let env: Record<string, string> = {};
    if (jwt) {
      const as = await startAuthServerProcess();
      stops.push(() => as.stop());
      const [token] = await as.mint({ kind: 'jwt', alg: 'RS256', count: 1 });
      headers = { authorization: `Bearer ${token!}` };
      env = tokenConfigEnv().env;
      yaml = tokenConfigYaml({ upstreamPort: upstream.port, issuer: as.issuer, algorithms: ['RS256'], poolSize: 1, cacheEntries: 100_000 });
    }
    // the default config logs every request; --access off keeps the bench configs' `access: false`
    if (values.access !== 'off') yaml = yaml.replace(/, access: false \}/, ' }');
    const bench = join(compiledRoot(), 'bench');
    if (values.ab !== undefined) {
      const heapEnv = { ...env, NODE_OPTIONS: `--import ${join(bench, 'heap-alloc-preload.js')}`, PORTCULLIS_BENCH_HEAP_ALLOC_PRELOAD: '1' };
      const baseArgs = values['ab-node-args'] === '' ? [] : values['ab-node-args']!.split(' ');
      process.stdout.write(`scenario ${values.scenario} · access log ${values.access} · A/B ${values.ab}${baseArgs.length > 0 ? ` with node ${baseArgs.join(' ')}` : ''} (base) vs this tree · wrk -t2 -c64 ${values.seconds} s per row\n`);
      for (let round = 0; round < Number(values.rounds); round++) {
        const order: Array<[string, string | undefined]> = round % 2 === 0 ? [['base', values.ab], ['this', undefined]] : [['this', undefined], ['base', values.ab]];
        for (const [name, cli] of order) {
          const pc = await startPortcullis(yaml, [0], heapEnv, cli, name === 'base' ? baseArgs : []);
          try {
            await wrk(pc.url + '/', 1, headers);
            process.kill(pc.process.pid, 'SIGUSR2');
            // CPU and foreign CPU over the load's window but its last 0.3 s (read while wrk still runs: its pid must exist)
            const pids = [pc.process.pid, upstream.process.pid];
            const running = wrk(pc.url + '/', Number(values.seconds), headers, pids);
            await sleep(200);
            const t0 = performance.now(), cpu0 = cpuSeconds(pc.process.pid) ?? Number.NaN;
            const foreign = watchForeignCpu(pids);
            await sleep(Number(values.seconds) * 1000 - 500);
            const cpu1 = cpuSeconds(pc.process.pid) ?? Number.NaN, windowS = (performance.now() - t0) / 1000;
            const fc = foreign();
            const w = await running;
            process.kill(pc.process.pid, 'SIGUSR2');
            await sleep(300);
            const heap = parseHeapAlloc(pc.process.output());
            process.stdout.write(`round ${round} ${name}: ${w.rps.toFixed(0)} rps · ${(((cpu1 - cpu0) * 1e6) / (w.rps * windowS)).toFixed(1)} CPU µs/resp · heap ${heap === null ? '?' : (heap.bytes / w.requests).toFixed(0)} B/resp · foreign ${fc === undefined ? '?' : fc.toFixed(2)} cores\n`);
          } finally { await pc.stop(); }
        }
      }
      process.exit(0);
    }
    const preloads = `--import ${join(bench, 'heap-alloc-preload.js')} --import ${join(bench, 'alloc-profile-preload.js')}`;
    const pc = await startPortcullis(yaml, [0], { ...env, NODE_OPTIONS: preloads, PORTCULLIS_BENCH_HEAP_ALLOC_PRELOAD: '1', PORTCULLIS_BENCH_ALLOC_PROFILE: file }, values.cli);
    stops.push(() => pc.stop());
    await wrk(pc.url + '/', 2, headers); // warm: JIT, the token cache, the pools
    process.kill(pc.process.pid, 'SIGUSR2');
    await sleep(50);
    const w = await wrk(pc.url + '/', Number(values.seconds), headers);
    process.kill(pc.process.pid, 'SIGUSR2');
    for (let i = 0; i < 100 && !existsSync(file); i++) await sleep(100);
    await sleep(300);
    const heap = parseHeapAlloc(pc.process.output());
    const prof = JSON.parse(readFileSync(file, 'utf8')) as { head: Node };
    const a = attribute(prof.head, (u) => u.includes('/dist/node/') || u.includes('/dist/cluster/'));
    const n = w.requests;
    process.stdout.write(`scenario ${values.scenario} · access log ${values.access} · cli ${values.cli ?? 'this tree'} · ${n} responses (${w.rps.toFixed(0)} rps, non-2xx ${w.non2xx}, errors ${w.errors})\n`);
    process.stdout.write(`heap (GCProfiler, exact) ${heap === null ? '?' : (heap.bytes / n).toFixed(0)} B/resp · sampled ${(a.total / n).toFixed(0)} B/resp\n\n`);
    process.stdout.write(table('by allocation site (B/resp):', a.sites, n, Number(values.top)) + '\n');
    process.stdout.write(table('by nearest frame of ours (B/resp):', a.ourFrames, n, Number(values.top)));
  } finally {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
