// Preloaded by bench/h1-hop-trace.ts (NODE_OPTIONS=--import …, only with PORTCULLIS_BENCH_HOP_TRACE=FILE):
// per request through the HTTP/1.1 hop, arrival in the uWS handler → upstream write → upstream head →
// end, plus GC pauses (kind) and event-loop stalls; in any other Node process (the upstream) only the
// GC pauses and stalls. Written to FILE on every SIGUSR2 (the window since the previous one).
import { writeFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';

/** Per request, ms since process start (performance.now()); -1 where the step did not happen. */
export const HOP_FIELDS = ['handler', 'write', 'upHead', 'end'] as const;

/** What the preload writes; `timeOrigin` (epoch ms) aligns the processes' clocks. GC: [start, ms, kind (1 minor, 4 major, 8 incremental, 16 weak)]; stalls: [start, ms late]. */
export interface HopDump {
  timeOrigin: number;
  requests: number[][];
  gc: Array<[number, number, number]>;
  stalls: Array<[number, number]>;
}

/** A loop tick this many ms late or more is a stall (the ticker runs every TICK_MS). */
export const STALL_MS = 3;
const TICK_MS = 1;

// V8 flags NODE_OPTIONS refuses (--no-parallel-scavenge …), set before the heap grows: PORTCULLIS_BENCH_HOP_TRACE_V8
const V8_FLAGS = process.env.PORTCULLIS_BENCH_HOP_TRACE_V8;
if (V8_FLAGS !== undefined && V8_FLAGS !== '') for (const f of V8_FLAGS.split(' ')) setFlagsFromString(f);
const FILE = process.env.PORTCULLIS_BENCH_HOP_TRACE;
if (FILE !== undefined && FILE !== '') await install(FILE, process.env.PORTCULLIS_BENCH_HOP_TRACE_RELAY);

const IDX: unique symbol = Symbol('hopTraceIndex');
interface RelayLike { start: number; upstreamStart: number; [IDX]?: number }
type Method = (this: RelayLike, ...a: unknown[]) => unknown;

async function install(file: string, relayModule: string | undefined): Promise<void> {
  const MAX = 1_000_000;
  const W = HOP_FIELDS.length;
  const rows = new Float64Array(MAX * W).fill(-1);
  let n = 0;
  if (relayModule !== undefined && relayModule !== '') {
    // the same module instance the proxy loads (one URL), so its prototype is the proxy's
    const { Relay } = await import(relayModule) as { Relay: { prototype: Record<string, Method> } };
    const p = Relay.prototype;
    const forward = p.forward!;
    const onResponseStart = p.onResponseStart!;
    const finish = p.finish!;
    p.forward = function (this: RelayLike, ...a: unknown[]) {
      const r = forward.apply(this, a);
      if (n < MAX && this.upstreamStart > 0) {
        const i = n++;
        this[IDX] = i;
        rows[i * W] = this.start;
        rows[i * W + 1] = this.upstreamStart;
      }
      return r;
    };
    p.onResponseStart = function (this: RelayLike, ...a: unknown[]) {
      const i = this[IDX];
      if (i !== undefined) rows[i * W + 2] = performance.now();
      return onResponseStart.apply(this, a);
    };
    p.finish = function (this: RelayLike, ...a: unknown[]) {
      const i = this[IDX];
      if (i !== undefined && rows[i * W + 3] === -1) rows[i * W + 3] = performance.now();
      return finish.apply(this, a);
    };
  }

  const gc: Array<[number, number, number]> = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gc.push([e.startTime, e.duration, (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0]);
  }).observe({ entryTypes: ['gc'] });
  const stalls: Array<[number, number]> = [];
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last - TICK_MS >= STALL_MS) stalls.push([last, now - last - TICK_MS]);
    last = now;
  }, TICK_MS).unref();

  process.on('SIGUSR2', () => {
    const requests: number[][] = [];
    for (let i = 0; i < Math.min(n, MAX); i++) requests.push(Array.from(rows.subarray(i * W, i * W + W), (x) => Math.round(x * 1000) / 1000));
    const dump: HopDump = { timeOrigin: performance.timeOrigin, requests, gc, stalls };
    writeFileSync(file, JSON.stringify(dump));
    n = 0;
    rows.fill(-1);
    gc.length = 0;
    stalls.length = 0;
  });
}
