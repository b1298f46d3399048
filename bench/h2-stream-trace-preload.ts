// Preloaded into a proxy by bench/h2-stream-trace.ts (NODE_OPTIONS=--import …, only with
// PORTCULLIS_BENCH_H2_TRACE=FILE): timestamps every HTTP/2 stream through the proxy — opened on the
// listener, upstream stream requested, upstream head, first data, end, client response head and
// close — plus GC pauses and event-loop stalls, and writes them to FILE on SIGUSR2. Streams are
// tied to their upstream call through an AsyncLocalStorage (the pool opens it on a later tick).
import { AsyncLocalStorage } from 'node:async_hooks';
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';

/** Per stream, ms since process start (performance.now()); NaN where the step did not happen. */
export const TRACE_FIELDS = ['open', 'request', 'upHead', 'upData', 'upEnd', 'respond', 'close'] as const;
export type TraceField = (typeof TRACE_FIELDS)[number];

/** What the preload writes: one row per stream (TRACE_FIELDS order), GC pauses as [start ms, duration ms, kind (perf_hooks constants: 1 minor, 4 major, 8 incremental, 16 weak callbacks)], loop stalls as [start ms, duration ms]. */
export interface TraceDump {
  fields: readonly TraceField[];
  streams: number[][];
  gc: Array<[number, number, number]>;
  stalls: Array<[number, number]>;
}

// V8 flags NODE_OPTIONS refuses (--trace-gc), set at run time: PORTCULLIS_BENCH_H2_TRACE_V8
const V8_FLAGS = process.env.PORTCULLIS_BENCH_H2_TRACE_V8;
if (V8_FLAGS !== undefined && V8_FLAGS !== '') setFlagsFromString(V8_FLAGS);
const FILE = process.env.PORTCULLIS_BENCH_H2_TRACE;
if (FILE !== undefined && FILE !== '') install(FILE);
const ALLOC_FILE = process.env.PORTCULLIS_BENCH_H2_TRACE_ALLOC;
if (ALLOC_FILE !== undefined && ALLOC_FILE !== '') sampleAllocations(ALLOC_FILE, process.env.PORTCULLIS_BENCH_H2_TRACE_ALLOC_SURVIVORS === '1');

/**
 * Sampling heap profile of everything allocated between two SIGUSR2s — objects a GC has collected
 * since included (node --heap-prof keeps only the live ones): where the bytes per request go.
 * `survivors`: only what a scavenge did not free (promoted to the old generation, or still live).
 */
function sampleAllocations(file: string, survivors: boolean): void {
  const session = new Session();
  session.connect();
  let on = false;
  process.on('SIGUSR2', () => {
    if (!on) {
      on = true;
      session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !survivors } as object);
      return;
    }
    on = false;
    session.post('HeapProfiler.stopSampling', (err, r) => { if (err === null) writeFileSync(file, JSON.stringify((r as { profile: unknown }).profile)); });
  });
}

function install(file: string): void {
  const MAX = 400_000;
  const W = TRACE_FIELDS.length;
  const rows = new Float64Array(MAX * W).fill(Number.NaN);
  let n = 0;
  const als = new AsyncLocalStorage<number>();
  const at = (i: number, f: number): void => { if (i < MAX && Number.isNaN(rows[i * W + f]!)) rows[i * W + f] = performance.now(); };

  const createServer = http2.createServer;
  (http2 as { createServer: unknown }).createServer = function (...args: Parameters<typeof createServer>) {
    const server = createServer.apply(http2, args);
    server.prependListener('stream', (stream) => {
      const i = n++;
      at(i, 0);
      const respond = stream.respond;
      stream.respond = function (...a: Parameters<typeof respond>) { at(i, 5); return respond.apply(stream, a); };
      stream.once('close', () => at(i, 6));
      als.enterWith(i);
    });
    return server;
  } as typeof createServer;

  const connect = http2.connect;
  (http2 as { connect: unknown }).connect = function (...args: Parameters<typeof connect>) {
    const session = connect.apply(http2, args);
    const request = session.request;
    session.request = function (...a: Parameters<typeof request>) {
      const i = als.getStore();
      const s = request.apply(session, a);
      if (i !== undefined) {
        at(i, 1);
        s.once('response', () => at(i, 2));
        s.once('data', () => at(i, 3));
        s.once('end', () => at(i, 4));
      }
      return s;
    };
    return session;
  } as typeof connect;

  const gc: Array<[number, number, number]> = [];
  new PerformanceObserver((list) => { for (const e of list.getEntries()) gc.push([e.startTime, e.duration, ((e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0)]); }).observe({ entryTypes: ['gc'] });
  // a 2 ms ticker: a tick more than 3 ms late is a stall (the loop was busy or the process not running)
  const stalls: Array<[number, number]> = [];
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > 5) stalls.push([last, now - last - 2]);
    last = now;
  }, 2).unref();

  process.on('SIGUSR2', () => {
    const streams: number[][] = [];
    for (let i = 0; i < Math.min(n, MAX); i++) streams.push(Array.from(rows.subarray(i * W, i * W + W), (x) => (Number.isNaN(x) ? -1 : Math.round(x * 1000) / 1000)));
    const dump: TraceDump = { fields: TRACE_FIELDS, streams, gc, stalls };
    writeFileSync(file, JSON.stringify(dump));
    n = 0;
    rows.fill(Number.NaN);
    gc.length = 0;
    stalls.length = 0;
  });
}
