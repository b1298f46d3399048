// gRPC unary load from the bench process with @grpc/grpc-js (one channel per run, raw-bytes
// method: no protobuf cost): closed loop (N calls in flight) or a fixed offered rate (calls sent on
// a 1 ms timer, latency from each call's scheduled send, so a stall is not hidden). CPU per call of
// the watched processes and foreign CPU are sampled around the measured window.
import { createHistogram, performance } from 'node:perf_hooks';
import type * as grpcNs from '@grpc/grpc-js';
import { cpuSeconds, watchForeignCpu } from './processes.js';
import type { H2LoadResult } from './h2load.js';

export interface GrpcLoadFlags {
  /** Calls in flight (closed loop), or the cap on calls in flight (fixed rate). */
  concurrency: number;
  /** Fixed offered load in calls per second; absent: closed loop. */
  rate?: number;
  durationS: number;
  /** Unmeasured calls before the window (same channel), seconds. */
  warmupS: number;
  /** Per-call deadline, ms. */
  deadlineMs: number;
  /** Request message size, bytes. */
  messageBytes: number;
}

type Grpc = typeof grpcNs;
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };

/** Load @grpc/grpc-js (a devDependency: bench runs from a checkout after npm ci). */
export async function loadGrpc(): Promise<Grpc> {
  try {
    return await import('@grpc/grpc-js');
  } catch {
    throw new Error('@grpc/grpc-js is missing: the gRPC bench runs from a checkout after "npm ci" (it is a devDependency)');
  }
}

/** One call; resolves with its status code (0 OK). */
export function unary(grpc: Grpc, client: grpcNs.Client, path: string, msg: Buffer, md: grpcNs.Metadata, deadlineMs: number): Promise<number> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, raw.serialize, raw.deserialize, msg, md, { deadline: Date.now() + deadlineMs }, (err) => resolve(err === null ? grpc.status.OK : (err as grpcNs.ServiceError).code));
  });
}

/** Run one load against `address` (host:port, h2c). `watch`: name → pid whose CPU per call is recorded (first = the hop). */
export async function runGrpcLoad(address: string, path: string, metadata: Record<string, string>, f: GrpcLoadFlags, opts: { watch: Record<string, number>; ownPids: readonly number[] }): Promise<H2LoadResult> {
  const grpc = await loadGrpc();
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  const msg = Buffer.alloc(f.messageBytes, 0x61);
  try {
    // warmup: connect and run the same shape unmeasured
    await phase(grpc, client, path, msg, md, f, f.warmupS, null);
    const hist = createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 });
    const cpu0 = Object.fromEntries(Object.entries(opts.watch).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const foreign = watchForeignCpu(opts.ownPids);
    const c = await phase(grpc, client, path, msg, md, f, f.durationS, hist);
    const foreignCores = foreign();
    const cpuUsPerReqOf: Record<string, number> = {};
    for (const [k, pid] of Object.entries(opts.watch)) {
      const a = cpu0[k];
      const b = cpuSeconds(pid);
      if (a !== undefined && b !== undefined && c.ok > 0) cpuUsPerReqOf[k] = ((b - a) * 1e6) / (c.ok + c.failed);
    }
    const pct = (q: number): number => (hist.count === 0 ? Number.NaN : hist.percentile(q) / 1000);
    const first = Object.keys(opts.watch)[0];
    return {
      rps: c.ok / c.elapsedS, p50: pct(50), p99: pct(99), p999: pct(99.9), errors: c.failed, non2xx: 0, requests: c.ok, durationS: c.elapsedS, cpuUsPerReqOf,
      ...(first !== undefined && cpuUsPerReqOf[first] !== undefined ? { cpuUsPerReq: cpuUsPerReqOf[first] } : {}),
      ...(foreignCores !== undefined ? { foreignCores } : {}),
      ...(f.rate !== undefined ? { offeredRps: f.rate } : {}),
    };
  } finally {
    client.close();
  }
}

/** Calls for `seconds`; latencies (µs) into `hist` when given. Waits for calls in flight at the end. */
async function phase(grpc: Grpc, client: grpcNs.Client, path: string, msg: Buffer, md: grpcNs.Metadata, f: GrpcLoadFlags, seconds: number, hist: ReturnType<typeof createHistogram> | null): Promise<{ ok: number; failed: number; elapsedS: number }> {
  let ok = 0;
  let failed = 0;
  let inFlight = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const one = (scheduled: number): Promise<void> => {
    inFlight++;
    return unary(grpc, client, path, msg, md, f.deadlineMs).then((code) => {
      inFlight--;
      if (code === grpc.status.OK) ok++; else failed++;
      hist?.record(Math.max(1, Math.round((performance.now() - scheduled) * 1000)));
    });
  };
  if (f.rate === undefined) {
    const worker = async (): Promise<void> => { while (performance.now() < end) await one(performance.now()); };
    await Promise.all(Array.from({ length: f.concurrency }, worker));
  } else {
    const interval = 1000 / f.rate;
    let sent = 0;
    let skipped = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        const due = Math.floor((Math.min(now, end) - start) / interval);
        while (sent < due) {
          const scheduled = start + sent * interval;
          sent++;
          // over the cap the call counts as failed: the target could not keep up with the rate
          if (inFlight >= f.concurrency) { skipped++; continue; }
          void one(scheduled);
        }
        if (now >= end) { clearInterval(timer); resolve(); }
      }, 1);
    });
    failed += skipped;
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 5));
  }
  return { ok, failed, elapsedS: (performance.now() - start) / 1000 };
}
