// The piscina pool that runs verify.worker.js off the event loop. Tokens wait here, one lane per
// client taken in turn (a flood of forged tokens from one client does not sit in front of another's),
// while every worker slot is busy, and travel as one batch per free slot, so batches grow with load and
// piscina's own queue stays empty. A token whose worker crashed is retried once alone, then answered
// pool_failure (503); past maxInFlight waiting tokens it answers pool_overloaded at once (or, when its client
// holds fewer than the heaviest, that client's newest is answered so instead); a token still unanswered
// taskTimeoutMs after run() is answered pool_timeout (503) and a thread stuck on a batch that long is
// terminated and replaced. Never rejects; close() is bounded even while workers crash.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { FairQueue } from '../fair-queue.js';
import { threadExecArgv } from './worker-exec-argv.js';
import type { VerifyBatch, VerifyEngine, VerifyResult, VerifyTask } from './types.js';

export type PoolResult = VerifyResult | { readonly ok: false; readonly code: 'pool_failure' | 'pool_overloaded' | 'pool_timeout'; readonly message: string };

export interface VerifierPoolOptions {
  /** Worker threads; 'auto' = os.availableParallelism(). */
  size: number | 'auto';
  /** Signature engine in the workers; default 'node'. */
  engine?: VerifyEngine;
  /** Worker module (file URL or path); default: the compiled verify.worker.js next to this file. */
  filename?: string;
  /** Tokens waiting for a thread (all clients together) before pool_overloaded; default 1024 per thread. Running batches come on top (≤ slots × maxBatch). */
  maxInFlight?: number;
  /** Batches one worker holds at once; default 1 (a crash then loses exactly one batch). */
  concurrentTasksPerWorker?: number;
  /** Largest batch, tokens; default 32. 1 disables batching. */
  maxBatch?: number;
  /** How long close() lets running batches finish before it terminates the workers, ms; default 5_000 (5 s). */
  closeGraceMs?: number;
  /**
   * Deadline of one token from run(), ms; default 5_000 (5 s). Past it the token is answered
   * pool_timeout; a batch running that long has its thread terminated (piscina starts a new one).
   * Checked by one shared timer every min(250, deadline / 4) ms, so answers come up to that much later.
   */
  taskTimeoutMs?: number;
}

interface Pending {
  readonly task: VerifyTask;
  /** The client key it waits under ('' when not known): one lane of the fair queue. */
  readonly client: string;
  readonly resolve: (r: PoolResult) => void;
  readonly t0: number;
  retried: boolean;
  /** Answered (result, failure or deadline): later answers for it are dropped. */
  settled: boolean;
}

/** A batch on a thread: its tokens, when it was sent, and the abort that terminates its thread. */
interface Running {
  readonly items: Pending[];
  readonly sentAt: number;
  readonly abort: AbortController;
  /** Aborted by the deadline sweep: its tokens are not retried (one stuck thread per token is enough). */
  stuck: boolean;
}

const OVERLOADED: PoolResult = Object.freeze({ ok: false, code: 'pool_overloaded', message: 'verifier queue is full' });
const PUSHED_OUT: PoolResult = Object.freeze({ ok: false, code: 'pool_overloaded', message: 'verifier queue is full: a client holding fewer waiting tokens took this one\'s place' });
const FAILED: PoolResult = Object.freeze({ ok: false, code: 'pool_failure', message: 'verifier worker failed' });
const TIMED_OUT: PoolResult = Object.freeze({ ok: false, code: 'pool_timeout', message: 'verification did not finish in time' });
const LOST: PoolResult = Object.freeze({ ok: false, code: 'internal', message: 'verifier returned no result' });

/**
 * The worker's compiled JS. Running from TypeScript sources (vitest), `import.meta.url` ends
 * in `.ts` and a plain worker thread cannot load TS: use the dist/ twin (build first).
 */
export function defaultWorkerFilename(): string {
  const here = import.meta.url;
  return (here.endsWith('.ts')
    ? new URL('../../dist/node/jwt/verify.worker.js', here)
    : new URL('./verify.worker.js', here)).href;
}

/**
 * piscina loads the worker with require() first. In Node 20, require() of an ES module whose
 * thread is terminated mid-load (close(), or the replacement of a crashed worker) can abort the
 * whole process (V8 "IsGraphAsync must be used on an instantiated module"). Workers therefore
 * run with require(esm) off, so piscina falls back to import() at once. The process's own flags
 * go along only where a thread accepts them (worker-exec-argv.ts).
 */
const REQUIRE_ESM_OFF: readonly string[] = process.allowedNodeEnvironmentFlags.has('--no-experimental-require-module')
  ? ['--no-experimental-require-module']
  : [];

export function resolvePoolSize(size: number | 'auto'): number {
  return size === 'auto' ? Math.max(1, availableParallelism()) : Math.max(1, Math.floor(size));
}

export class VerifierPool {
  readonly size: number;
  readonly engine: VerifyEngine;
  readonly #pool: Piscina<VerifyBatch, VerifyResult[]>;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  /** Batches a worker may hold × workers. */
  readonly #slots: number;
  #busy = 0;
  #inFlight = 0;
  /** Tokens waiting for a free slot, per client, served round robin. */
  readonly #queue: FairQueue<Pending>;
  /** Tokens of a crashed batch, each sent alone. */
  #retry: Pending[] = [];
  #scheduled = false;
  #tasks = 0;
  #batches = 0;
  #taskMsSum = 0;
  #failovers = 0;
  #failures = 0;
  #overloaded = 0;
  #preempted = 0;
  #timeouts = 0;
  #stuckThreads = 0;
  readonly #running = new Set<Running>();
  readonly #taskTimeoutMs: number;
  readonly #sweepTimer: NodeJS.Timeout;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** Set while close() waits for running batches; called when the last one settles. */
  #drained: (() => void) | null = null;
  readonly #closeGraceMs: number;

  constructor(opts: VerifierPoolOptions) {
    this.size = resolvePoolSize(opts.size);
    this.engine = opts.engine ?? 'node';
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 32);
    this.#maxInFlight = Math.max(1, opts.maxInFlight ?? 1024 * this.size);
    this.#queue = new FairQueue<Pending>(this.#maxInFlight);
    this.#closeGraceMs = Math.max(0, opts.closeGraceMs ?? 5_000);
    this.#taskTimeoutMs = Math.max(1, opts.taskTimeoutMs ?? 5_000);
    const perWorker = Math.max(1, opts.concurrentTasksPerWorker ?? 1);
    this.#slots = perWorker * this.size;
    this.#pool = new Piscina<VerifyBatch, VerifyResult[]>({
      filename: opts.filename ?? defaultWorkerFilename(),
      minThreads: this.size,
      maxThreads: this.size,
      // workers hold imported keys: never retire them for idleness
      idleTimeout: 2 ** 31 - 1,
      // bounded by #maxInFlight in tokens; piscina's own queue counts batches
      concurrentTasksPerWorker: perWorker,
      execArgv: [...threadExecArgv(REQUIRE_ESM_OFF)],
    });
    // a crashed worker also emits 'error' on the pool; the batch promise carries it to #send
    this.#pool.on('error', () => {});
    // one coarse timer for every deadline (no timer per token or batch); returns at once while idle
    this.#sweepTimer = setInterval(this.#sweep, Math.max(5, Math.min(250, Math.floor(this.#taskTimeoutMs / 4))));
    this.#sweepTimer.unref();
  }

  /**
   * Verify on a worker; at most one failover after a worker crash. `client`: the requesting client's key
   * ('' = one anonymous client): its token waits in that client's lane, and with maxInFlight tokens waiting it
   * is refused pool_overloaded unless it takes the place of the newest token of a client holding at least two
   * more (FairQueue.admits; that token is answered pool_overloaded instead, counted in pool_preempted).
   */
  run(task: VerifyTask, client = ''): Promise<PoolResult> {
    if (this.#closed) return Promise.resolve(FAILED);
    if (!this.#queue.admits(client)) {
      this.#overloaded++;
      return Promise.resolve(OVERLOADED);
    }
    this.#inFlight++;
    this.#tasks++;
    return new Promise((resolve) => {
      const out = this.#queue.push({ task, client, resolve, t0: performance.now(), retried: false, settled: false });
      if (out !== null) {
        this.#overloaded++;
        this.#preempted++;
        this.#done(out, PUSHED_OUT);
      }
      if (!this.#scheduled && this.#busy < this.#slots) {
        // gather what this event-loop turn submits; runs right after the poll phase
        this.#scheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  /** Fill free worker slots: retries first (alone), then the waiting tokens spread over the free slots. */
  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#closed) return;
    while (this.#busy < this.#slots && this.#retry.length > 0) this.#send([this.#retry.shift()!]);
    const free = this.#slots - this.#busy;
    const queue = this.#queue;
    if (free <= 0 || queue.size === 0) return;
    const chunk = Math.min(this.#maxBatch, Math.ceil(queue.size / free));
    for (let n = 0; n < free && queue.size > 0; n++) {
      // one token per client in turn: a client's hundred queued tokens fill a batch only when nobody else waits
      const items: Pending[] = [];
      while (items.length < chunk) {
        const p = queue.shift();
        if (p === undefined) break;
        items.push(p);
      }
      this.#send(items);
    }
  };

  #send(items: Pending[]): void {
    this.#busy++;
    this.#batches++;
    const run: Running = { items, sentAt: performance.now(), abort: new AbortController(), stuck: false };
    this.#running.add(run);
    this.#pool.run({ engine: this.engine, tasks: items.map((p) => p.task) }, { signal: run.abort.signal }).then(
      (results) => {
        this.#busy--;
        this.#running.delete(run);
        for (let i = 0; i < items.length; i++) this.#done(items[i]!, results[i] ?? LOST);
        if (this.#busy === 0) this.#drained?.();
        this.#flush();
      },
      () => {
        this.#busy--;
        this.#running.delete(run);
        if (this.#busy === 0) this.#drained?.();
        for (const p of items) {
          if (p.settled) continue; // answered at its deadline already
          if (run.stuck) { this.#timeouts++; this.#done(p, TIMED_OUT); continue; }
          if (p.retried || this.#closed) { this.#failures++; this.#done(p, FAILED); continue; }
          // alone, so a token that kills its worker cannot take its batch-mates down twice
          p.retried = true;
          this.#failovers++;
          this.#retry.push(p);
        }
        if (!this.#closed) this.#flush();
      },
    );
  }

  #done(p: Pending, r: PoolResult): void {
    if (p.settled) return;
    p.settled = true;
    this.#inFlight--;
    this.#taskMsSum += performance.now() - p.t0;
    p.resolve(r);
  }

  /**
   * The deadline: tokens waiting (gathering, retry) or running for taskTimeoutMs since run() are
   * answered pool_timeout; a batch on its thread that long is aborted, which makes piscina
   * terminate that thread and start a replacement (its tokens are answered in #send, not retried).
   */
  readonly #sweep = (): void => {
    if (this.#inFlight === 0 || this.#closed) return;
    const now = performance.now();
    const limit = this.#taskTimeoutMs;
    for (const run of this.#running) {
      if (!run.stuck && now - run.sentAt >= limit) {
        run.stuck = true;
        this.#stuckThreads++;
        run.abort.abort();
        continue;
      }
      for (const p of run.items) if (!p.settled && now - p.t0 >= limit) this.#expire(p);
    }
    if (this.#queue.size > 0) for (const p of this.#queue.takeOld((q) => now - q.t0 >= limit)) this.#expire(p);
    if (this.#retry.length > 0) this.#retry = this.#unexpired(this.#retry, now, limit);
  };

  /** `list` without its expired tokens (answered here); the same array when none expired. */
  #unexpired(list: Pending[], now: number, limit: number): Pending[] {
    let i = 0;
    while (i < list.length && now - list[i]!.t0 < limit) i++;
    if (i === list.length) return list;
    const keep = list.slice(0, i);
    for (; i < list.length; i++) {
      const p = list[i]!;
      if (now - p.t0 >= limit) this.#expire(p);
      else keep.push(p);
    }
    return keep;
  }

  #expire(p: Pending): void {
    this.#timeouts++;
    this.#done(p, TIMED_OUT);
  }

  /** Counters: queue depth (tokens gathering + batches waiting), tokens in flight, tokens and batches run, summed wall time per token. */
  stats(): Record<string, number> {
    return {
      pool_size: this.size,
      pool_queue: this.#queue.size + this.#retry.length,
      pool_in_flight: this.#inFlight,
      pool_tasks: this.#tasks,
      pool_batches: this.#batches,
      pool_task_ms_sum: Math.round(this.#taskMsSum * 1000) / 1000,
      pool_failovers: this.#failovers,
      pool_failures: this.#failures,
      pool_overloaded: this.#overloaded,
      pool_preempted: this.#preempted,
      pool_timeouts: this.#timeouts,
      pool_stuck_threads: this.#stuckThreads,
      pool_utilization: this.#pool.utilization,
    };
  }

  /**
   * Stop the workers: tokens still gathering are answered pool_failure at once, running batches get
   * closeGraceMs to finish (else pool_failure), then every worker thread is terminated. Resolves
   * once all threads have exited; every call returns the same promise. Never rejects.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    const left = [...this.#retry, ...this.#queue.takeOld(() => true)];
    this.#retry = [];
    for (const p of left) this.#done(p, FAILED);
    // Our own drain, not piscina's close(): piscina 5 counts a worker as flushed only when it
    // finishes a task, so a worker that dies holding one after close() began stalls close() for
    // its whole closeTimeout (30 s). A batch promise settles on a result and on a crash alike.
    if (this.#busy > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#closeGraceMs);
        this.#drained = () => { clearTimeout(timer); resolve(); };
      });
    }
    // answers what still runs (pool_failure via #send) and waits for every thread's exit
    await this.#pool.destroy().catch(() => {});
  }
}
