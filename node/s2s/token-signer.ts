// Where internal tokens are signed: one worker thread (sign.worker.ts, batches gathered
// per event-loop turn) or inline on the event loop. Both answer the base64url signature
// or null on failure; a crashed worker's batch is retried once (the worker is restarted), then null.
import { Worker } from 'node:worker_threads';
import { signJws } from './jws-sign.js';
import type { RingKey } from './key-ring.js';
import type { SignItem } from './sign.worker.js';

export interface TokenSigner {
  /** Signature of `input` with `key`: a string inline, a Promise from the worker; null = failed. */
  sign(key: RingKey, input: string): string | null | Promise<string | null>;
  stats(): Record<string, number>;
  /** A reload replaced this signer: what it was already asked to sign is still signed, then it closes. */
  retire(): void;
  close(): Promise<void>;
}

/** Signs on the calling thread (~20–60 µs per token, see bench/RESULTS.md internal-token). */
export class InlineSigner implements TokenSigner {
  #signed = 0;
  #failed = 0;
  #cpuMs = 0;

  sign(key: RingKey, input: string): string | null {
    const t0 = performance.now();
    try {
      const s = signJws(key.alg, key.privateKey, input);
      this.#signed++;
      return s;
    } catch {
      this.#failed++;
      return null;
    } finally {
      this.#cpuMs += performance.now() - t0;
    }
  }

  stats(): Record<string, number> {
    return { signed: this.#signed, sign_failures: this.#failed, sign_ms_sum: Math.round(this.#cpuMs * 1000) / 1000 };
  }

  retire(): void {}

  async close(): Promise<void> {}
}

/** The worker's compiled JS; from TypeScript sources (vitest) the dist/ twin (build first). */
export function signWorkerFilename(): string {
  const here = import.meta.url;
  return (here.endsWith('.ts') ? new URL('../../dist/node/s2s/sign.worker.js', here) : new URL('./sign.worker.js', here)).href;
}

interface Pending {
  readonly item: SignItem;
  readonly resolve: (s: string | null) => void;
  retried: boolean;
}

/** Largest batch sent to the worker at once. */
const MAX_BATCH = 64;
/** Restart delay after a worker crash: 50 ms doubling to 5 s (reset after a good batch). */
const RESTART_FIRST_MS = 50;
const RESTART_MAX_MS = 5_000;

/**
 * One worker thread signs batches: what one event-loop turn asks for travels as one message.
 * A plain worker_thread rather than piscina: measured on the 2-core VM, a lone ES256 mint costs
 * the event loop ~44 µs through a bare MessagePort but ~99 µs through piscina (inline: ~50 µs);
 * a burst of 2000 costs ~9 µs each either way (inline: ~49 µs). See bench/RESULTS.md.
 */
export class ThreadSigner implements TokenSigner {
  readonly #filename: string;
  #worker: Worker | null = null;
  #inFlight: Pending[] | null = null;
  #pending: Pending[] = [];
  /** Items of a crashed batch, each sent alone: one that kills the worker cannot take others down twice. */
  #retry: Pending[] = [];
  #scheduled = false;
  #closed = false;
  /** Replaced by a reload: closes once nothing waits on it (close() answered the waiting mints null: 503). */
  #retired = false;
  #restartMs = RESTART_FIRST_MS;
  #restartTimer: NodeJS.Timeout | null = null;
  #signed = 0;
  #failed = 0;
  #batches = 0;
  #failovers = 0;
  #restarts = 0;
  #wallMs = 0;
  #sentAt = 0;

  constructor(opts: { filename?: string } = {}) {
    this.#filename = opts.filename ?? signWorkerFilename();
    this.#spawn();
  }

  sign(key: RingKey, input: string): Promise<string | null> {
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#pending.push({ item: { kid: key.kid, alg: key.alg, pkcs8: key.pkcs8, input }, resolve, retried: false });
      if (!this.#scheduled && this.#inFlight === null) {
        this.#scheduled = true;
        setImmediate(this.#flush); // gather what this event-loop turn asks for
      }
    });
  }

  #spawn(): void {
    const w = new Worker(new URL(this.#filename));
    w.unref(); // never keeps the process alive; close() terminates it
    w.on('message', (sigs: (string | null)[]) => {
      const batch = this.#inFlight;
      if (batch === null || w !== this.#worker) return;
      this.#inFlight = null;
      this.#wallMs += performance.now() - this.#sentAt;
      this.#restartMs = RESTART_FIRST_MS;
      for (let i = 0; i < batch.length; i++) {
        const s = sigs[i] ?? null;
        if (s === null) this.#failed++; else this.#signed++;
        batch[i]!.resolve(s);
      }
      this.#flush();
    });
    w.on('error', () => {}); // followed by 'exit', handled there
    w.on('exit', () => {
      if (w !== this.#worker) return;
      this.#worker = null;
      const batch = this.#inFlight ?? [];
      this.#inFlight = null;
      for (const p of batch) {
        if (p.retried || this.#closed) { this.#failed++; p.resolve(null); continue; }
        p.retried = true;
        this.#failovers++;
        this.#retry.push(p);
      }
      if (this.#closed) return;
      this.#restarts++;
      this.#restartTimer = setTimeout(() => { this.#restartTimer = null; if (!this.#closed) { this.#spawn(); this.#flush(); } }, this.#restartMs);
      this.#restartTimer.unref();
      this.#restartMs = Math.min(this.#restartMs * 2, RESTART_MAX_MS);
    });
    this.#worker = w;
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const w = this.#worker;
    if (w === null || this.#inFlight !== null || this.#closed) return;
    let batch: Pending[];
    if (this.#retry.length > 0) batch = [this.#retry.shift()!];
    else if (this.#pending.length === 0) { if (this.#retired) void this.close(); return; }
    else batch = this.#pending.length <= MAX_BATCH ? this.#pending.splice(0) : this.#pending.splice(0, MAX_BATCH);
    this.#inFlight = batch;
    this.#batches++;
    this.#sentAt = performance.now();
    w.postMessage(batch.map((p) => p.item));
  };

  stats(): Record<string, number> {
    return {
      signed: this.#signed, sign_failures: this.#failed, sign_batches: this.#batches, sign_failovers: this.#failovers,
      sign_worker_restarts: this.#restarts, sign_queue: this.#pending.length + this.#retry.length, sign_wall_ms_sum: Math.round(this.#wallMs * 1000) / 1000,
    };
  }

  /** Sign what was asked (a crashed batch still gets its one retry), then close. */
  retire(): void {
    if (this.#closed || this.#retired) return;
    this.#retired = true;
    if (!this.#scheduled) this.#flush(); // idle: closes now; else when the last batch answers
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#restartTimer !== null) clearTimeout(this.#restartTimer);
    for (const p of [...(this.#inFlight ?? []), ...this.#retry.splice(0), ...this.#pending.splice(0)]) p.resolve(null);
    this.#inFlight = null;
    const w = this.#worker;
    this.#worker = null;
    if (w !== null) await w.terminate().catch(() => 0);
  }
}
