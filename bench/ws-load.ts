// WebSocket load for the websocket-relay scenario: N `ws` client connections to an echo
// endpoint, each message carrying its send (or scheduled) time so its echo gives the round
// trip. Closed loop (one message in flight per connection: messages/s) and a paced open loop
// (fixed total rate, latency from the scheduled send: wrk2-style, stalls are charged).
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import WebSocket from 'ws';
import { cpuSeconds, watchForeignCpu } from './processes.js';
import type { LoadResult } from './stats.js';
import type { SampleOptions } from './load.js';

export interface WsLoadFlags {
  connections: number;
  /** Bytes per message (binary; the first 8 carry the timestamp). */
  messageBytes: number;
  durationS: number;
  warmupS: number;
  path: string;
}

export interface WsRateFlags extends WsLoadFlags {
  /** Messages per second offered, over all connections together. */
  rate: number;
}

export const DEFAULT_WS_LOAD_FLAGS: WsLoadFlags = { connections: 50, messageBytes: 64, durationS: 5, warmupS: 1, path: '/echo' };
export const DEFAULT_WS_RATE_FLAGS: WsRateFlags = { ...DEFAULT_WS_LOAD_FLAGS, warmupS: 2, rate: 5000 };

export interface WsRateResult extends LoadResult {
  offeredRate: number;
}

function histogram(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: 120_000_000, figures: 3 });
}
const recordMs = (h: RecordableHistogram, ms: number): void => h.record(Math.max(1, Math.round(ms * 1000)));
const pct = (h: RecordableHistogram, p: number): number => (h.count === 0 ? Number.NaN : h.percentile(p) / 1000);

/** Open `n` connections to `url` (ws:// or http://); rejects when one fails. */
async function connectAll(url: string, n: number): Promise<WebSocket[]> {
  const target = url.replace(/^http/, 'ws');
  return Promise.all(Array.from({ length: n }, () => new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(target, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  })));
}

async function closeAll(sockets: readonly WebSocket[]): Promise<void> {
  await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) { resolve(); return; }
    ws.once('close', () => resolve());
    ws.close();
    setTimeout(() => { ws.terminate(); resolve(); }, 2_000).unref();
  })));
}

function payload(bytes: number, t: number): Buffer {
  const b = Buffer.allocUnsafe(Math.max(8, bytes));
  b.fill(0x61, 8);
  b.writeDoubleLE(t, 0);
  return b;
}

/** One echo round trip on a fresh connection: true when the payload came back intact. */
export async function probeEcho(url: string): Promise<boolean> {
  const [ws] = await connectAll(url + DEFAULT_WS_LOAD_FLAGS.path, 1);
  const m = payload(64, 1);
  const ok = await new Promise<boolean>((resolve) => {
    ws!.once('message', (d: Buffer) => resolve(d.equals(m)));
    ws!.once('close', () => resolve(false));
    ws!.send(m);
  });
  await closeAll([ws!]);
  return ok;
}

/**
 * Closed loop: every connection sends a message, waits for its echo, sends the next. Warmup
 * first on the same connections; then the measured window counts echoes and their latency.
 */
export async function runWsClosedLoop(url: string, f: WsLoadFlags = DEFAULT_WS_LOAD_FLAGS, opts: SampleOptions = {}): Promise<LoadResult> {
  const sockets = await connectAll(url + f.path, f.connections);
  const h = histogram();
  let measuring = false;
  let running = true;
  let count = 0;
  let errors = 0;
  for (const ws of sockets) {
    ws.on('message', (d: Buffer) => {
      const now = performance.now();
      if (measuring) { count++; recordMs(h, now - d.readDoubleLE(0)); }
      if (running && ws.readyState === WebSocket.OPEN) ws.send(payload(f.messageBytes, performance.now()));
    });
    ws.on('close', () => { if (running) errors++; });
    ws.send(payload(f.messageBytes, performance.now()));
  }
  await new Promise((r) => setTimeout(r, f.warmupS * 1000));
  const cpu0 = opts.cpuPid !== undefined ? cpuSeconds(opts.cpuPid) : undefined;
  const foreign = opts.ownPids !== undefined ? watchForeignCpu(opts.ownPids) : undefined;
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, f.durationS * 1000));
  measuring = false;
  const durationS = (performance.now() - t0) / 1000;
  const cpu1 = opts.cpuPid !== undefined ? cpuSeconds(opts.cpuPid) : undefined;
  const foreignCores = foreign?.();
  running = false;
  await closeAll(sockets);
  const out: LoadResult = { rps: count / durationS, p50: pct(h, 50), p99: pct(h, 99), p999: pct(h, 99.9), errors, non2xx: 0, requests: count, durationS };
  if (cpu0 !== undefined && cpu1 !== undefined && count > 0) out.cpuUsPerReq = ((cpu1 - cpu0) * 1e6) / count;
  if (foreignCores !== undefined) out.foreignCores = foreignCores;
  return out;
}

/**
 * Open loop at `rate` messages/s over all connections (round robin). Each message carries its
 * scheduled send time; latency counts from there. Warmup at the same rate on the same sockets.
 */
export async function runWsFixedRate(url: string, f: WsRateFlags = DEFAULT_WS_RATE_FLAGS, opts: SampleOptions = {}): Promise<WsRateResult> {
  const sockets = await connectAll(url + f.path, f.connections);
  const h = histogram();
  let errors = 0;
  let running = true;
  let measureFrom = Number.POSITIVE_INFINITY;
  let count = 0;
  for (const ws of sockets) {
    ws.on('message', (d: Buffer) => {
      const due = d.readDoubleLE(0);
      if (due >= measureFrom) { count++; recordMs(h, performance.now() - due); }
    });
    ws.on('close', () => { if (running) errors++; });
  }
  const intervalMs = 1000 / f.rate;
  const start = performance.now();
  const warmEnd = start + f.warmupS * 1000;
  const end = warmEnd + f.durationS * 1000;
  let sent = 0;
  let next = 0;
  let cpu0: number | undefined;
  let foreign: (() => number | undefined) | undefined;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      if (measureFrom === Number.POSITIVE_INFINITY && now >= warmEnd) {
        measureFrom = start + Math.ceil((warmEnd - start) / intervalMs) * intervalMs;
        cpu0 = opts.cpuPid !== undefined ? cpuSeconds(opts.cpuPid) : undefined;
        foreign = opts.ownPids !== undefined ? watchForeignCpu(opts.ownPids) : undefined;
      }
      const due = Math.min(Math.floor((Math.min(now, end) - start) / intervalMs) + 1, Math.round((end - start) / intervalMs));
      while (sent < due) {
        const ws = sockets[next]!;
        next = (next + 1) % sockets.length;
        if (ws.readyState === WebSocket.OPEN) ws.send(payload(f.messageBytes, start + sent * intervalMs));
        sent++;
      }
      if (now < end) setImmediate(tick);
      else resolve();
    };
    tick();
  });
  // late echoes of the last messages: give them up to 2 s
  const expected = Math.round((end - measureFrom) / intervalMs);
  const settleBy = performance.now() + 2_000;
  while (count < expected && performance.now() < settleBy) await new Promise((r) => setTimeout(r, 5));
  const durationS = (end - measureFrom) / 1000;
  const cpu1 = opts.cpuPid !== undefined ? cpuSeconds(opts.cpuPid) : undefined;
  const foreignCores = foreign?.();
  running = false;
  await closeAll(sockets);
  const out: WsRateResult = {
    rps: count / durationS, p50: pct(h, 50), p99: pct(h, 99), p999: pct(h, 99.9),
    errors: errors + Math.max(0, expected - count), non2xx: 0, requests: count, durationS, offeredRate: f.rate,
  };
  if (cpu0 !== undefined && cpu1 !== undefined && count > 0) out.cpuUsPerReq = ((cpu1 - cpu0) * 1e6) / count;
  if (foreignCores !== undefined) out.foreignCores = foreignCores;
  return out;
}
