// The request thread's side of the revocation receiver thread: starts the thread (restarted
// with capped backoff when it dies), drains the shared ring into the revocation actor — before
// every revocation check (`poll`, one Atomics.load when nothing is pending) and on the thread's
// wake-up message when no request comes — and reports the thread's state and counters.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../node/log.js';
import { REVOCATION_KINDS, type Codec, type RevocationAdded, type Subjects } from '../protocol/index.js';
import type { NatsConfig } from '../transport/index.js';
import type { ReceiverEvent, ReceiverWorkerData } from './revocation-receiver.worker.js';
import { createRing, RingCell, RingReader, type RingRecord } from './revocation-ring.js';
import type { BusAuthSettings } from './revocation-settings.js';

/** First restart delay after the thread died, ms; doubles per death in a row… */
const RESTART_MIN_MS = 100;
/** …up to this, ms. A thread that connects to NATS resets the count. */
const RESTART_MAX_MS = 5_000;

/** What the receiver needs: the member's NATS settings and bus key source (the thread reads the secrets itself), and where verified records go. */
export interface RevocationReceiverOptions {
  readonly nats: NatsConfig;
  readonly auth: BusAuthSettings;
  readonly prefix: string;
  /** NATS connection name of the thread. */
  readonly name: string;
  readonly maxLifetimeS: number;
  readonly codec: Codec;
  readonly subjects: Subjects;
  /** A record the thread verified, decoded again here: the actor applies it (`via: 'thread'`). */
  readonly deliver: (msg: RevocationAdded, subject: string, signedAt: number | null, visibleAt: number) => void;
  readonly logger?: Logger | undefined;
  /** Ring slots, a power of two (default 256). */
  readonly slots?: number;
}

/**
 * The thread's compiled JS. From TypeScript sources (vitest) `import.meta.url` ends in `.ts`
 * and a plain worker thread cannot load TS: the dist/ twin is used (build first).
 */
function workerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/cluster/revocation/revocation-receiver.worker.js', here) : new URL('./revocation-receiver.worker.js', here);
}

/** One per request-serving process; see the file header. */
export class RevocationReceiver {
  private readonly ring: SharedArrayBuffer;
  private readonly reader: RingReader;
  private worker: Worker | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private deathsInARow = 0;
  private draining = false;
  private held = 0;
  /** The running thread's OS id (null: unknown) and the CPU seconds of the threads before it. */
  private tid: number | null = null;
  private cpuBefore = 0;
  private readonly subjectOf: readonly string[];
  private readonly counters = { revocation_receiver_restarts_total: 0, revocation_receiver_drained_total: 0, revocation_receiver_undecodable_total: 0 };

  constructor(private readonly o: RevocationReceiverOptions) {
    this.ring = createRing(o.slots);
    this.reader = new RingReader(this.ring);
    this.subjectOf = REVOCATION_KINDS.map((k) => o.subjects.revocation(k));
  }

  /** Start the thread (returns at once; it connects in the background). */
  start(): void {
    this.spawn();
  }

  /** Before a revocation check: drain when the thread wrote something. One Atomics.load otherwise. */
  poll(): void {
    if (this.reader.pending() && !this.draining && this.held === 0) this.drain();
  }

  /** Run `fn` (a revocation listener) without draining inside it: the record being applied finishes first. */
  hold(fn: () => void): void {
    this.held++;
    try { fn(); } finally { this.held--; }
  }

  /** Apply everything the thread wrote so far; returns how many records. */
  drain(): number {
    if (this.draining) return 0;
    this.draining = true;
    try {
      return this.reader.drain((r) => this.deliver(r));
    } finally {
      this.draining = false;
    }
  }

  /** True while the thread runs and its NATS connection is up. */
  connected(): boolean {
    return this.worker !== null && this.reader.cell(RingCell.connected) === 1;
  }

  /** For /healthz and /readyz: the thread's state (never a failing verdict: the main thread's NATS path keeps revoking). */
  health(): Record<string, unknown> {
    return { thread: this.worker === null ? 'restarting' : 'running', nats_connected: this.connected(), restarts: this.counters.revocation_receiver_restarts_total };
  }

  /** Flat counters for /metrics. */
  stats(): Record<string, number> {
    const c = (x: number): number => this.reader.cell(x);
    return {
      ...this.counters,
      revocation_receiver_threads_up: this.worker === null ? 0 : 1,
      revocation_receiver_cpu_seconds_total: this.cpuBefore + this.threadCpu(),
      revocation_receiver_connected: this.connected() ? 1 : 0,
      revocation_receiver_dropped_full_total: c(RingCell.droppedFull),
      revocation_receiver_dropped_oversized_total: c(RingCell.droppedOversized),
      revocation_receiver_refused_unsigned_total: c(RingCell.refusedUnsigned),
      revocation_receiver_refused_bad_mac_total: c(RingCell.refusedBadMac),
      revocation_receiver_refused_unknown_key_total: c(RingCell.refusedUnknownKey),
      revocation_receiver_refused_stale_total: c(RingCell.refusedStale),
      revocation_receiver_refused_invalid_total: c(RingCell.refusedInvalid),
    };
  }

  /** Stop the thread (lets it close its NATS connection, then terminates it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const w = this.worker;
    this.worker = null;
    if (w === null) return;
    w.postMessage('close');
    const ended = new Promise<void>((r) => w.once('exit', () => r()));
    const t = setTimeout(() => void w.terminate(), 1_000);
    await ended;
    clearTimeout(t);
  }

  /** For tests and failure drills: end the thread as a crash would (it is restarted). */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  /** The running thread's user + system CPU, s (0 when unknown): /proc/self/task/<tid>/stat, clock ticks of 10 ms. */
  private threadCpu(): number {
    if (this.tid === null) return 0;
    try {
      const stat = readFileSync(`/proc/self/task/${this.tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return 0;
    }
  }

  private deliver(r: RingRecord): void {
    this.counters.revocation_receiver_drained_total++;
    const msg = this.o.codec.decode(r.payload);
    const subject = this.subjectOf[r.kind];
    if (msg === null || msg.type !== 'revocation.added' || subject === undefined) { this.counters.revocation_receiver_undecodable_total++; return; }
    try {
      this.o.deliver(msg, subject, r.signedAt, r.visibleAt);
    } catch (err) {
      this.o.logger?.error({ err: String(err), id: msg.id }, 'revocation from the receiver thread could not be applied (the NATS path still delivers it)');
    }
  }

  private spawn(): void {
    if (this.closed) return;
    const data: ReceiverWorkerData = { ring: this.ring, nats: this.o.nats, auth: this.o.auth, prefix: this.o.prefix, name: this.o.name, maxLifetimeS: this.o.maxLifetimeS };
    let w: Worker;
    try {
      // execArgv inherited, not passed: given explicitly, a V8 or process-wide flag of the process (--trace-gc, heap sizes) makes the constructor throw
      w = new Worker(workerUrl(), { workerData: data, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    } catch (err) {
      this.o.logger?.error({ err: String(err) }, 'revocation receiver thread cannot start, retrying (the main thread\'s NATS path keeps revoking)');
      this.restartLater();
      return;
    }
    this.worker = w;
    w.unref();
    w.on('message', (e: ReceiverEvent) => this.event(e));
    w.on('error', (err) => this.o.logger?.error({ err: String(err) }, 'revocation receiver thread failed'));
    w.once('exit', (code) => {
      if (this.worker !== w) return;
      this.worker = null;
      this.cpuBefore += this.threadCpu();
      this.tid = null;
      this.reader.clearConnected();
      if (this.closed) return;
      // whatever it wrote before dying is still applied
      this.drain();
      this.o.logger?.warn({ code }, 'revocation receiver thread ended, restarting (the main thread\'s NATS path keeps revoking)');
      this.restartLater();
    });
  }

  /** Spawn again after the capped backoff (100 ms doubling to 5 s; reset once a thread connects). */
  private restartLater(): void {
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** this.deathsInARow);
    this.deathsInARow++;
    this.counters.revocation_receiver_restarts_total++;
    this.timer = setTimeout(() => { this.timer = null; this.spawn(); }, delay);
    this.timer.unref();
  }

  private event(e: ReceiverEvent): void {
    switch (e.type) {
      case 'wake':
        this.drain();
        return;
      case 'tid':
        this.tid = e.tid;
        return;
      case 'status':
        if (e.connected) this.deathsInARow = 0;
        this.o.logger?.info({ connected: e.connected }, 'revocation receiver thread NATS connection');
        return;
      case 'log':
        this.o.logger?.[e.level]({ component: 'revocation-receiver', ...e.obj }, e.msg);
        return;
      default: { const never: never = e; return never; }
    }
  }
}
