// The one primary→worker revocation channel of `serve --workers N` (node:cluster IPC, NATS or not): the
// primary hands each revocation to every worker through a bounded mailbox, and all of them to a worker
// that asks (booting, or told its mailbox overflowed); the worker serves no token until it has them, nor
// while the newest message it has read is older than its lease (primary-lease.ts: ticks every 100 ms).
import cluster, { type Worker } from 'node:cluster';
import { parseWorkerChannel, type RevocationRecord, type WorkerChannelMessage } from '../protocol/messages.js';
import { hostMonoMs, PrimaryLease, TICK_MS } from './primary-lease.js';
import type { RevocationActor } from './revocation-actor.js';
import type { RevocationStore } from './revocation-store.js';
import { toPrimary } from '../transport/index.js';

/** Records per message of a sync. */
const PAGE = 256;
/** Messages handed to one worker and not yet taken by its IPC pipe (a stopped or stuck worker), beyond the OS buffer; past it: overflow. */
const MAILBOX = 256;

/**
 * Primary: hand every revocation applied to `store` that `hands` selects to each worker, and all of
 * them to a worker that asks. A worker whose mailbox is full gets `revocation.overflowed` and nothing
 * more until it asks (its gate answers 503 meanwhile). `close()` stops; `stats()` for /metrics.
 */
export class PrimaryChannel {
  /** worker id → messages not yet taken by its pipe; absent: not asked yet, or overflowed (its next sync brings what it misses). */
  private readonly unsent = new Map<number, { n: number }>();
  private overflows = 0;
  private readonly off: () => void;
  private readonly onMessage = (w: Worker, m: unknown): void => { if (parseWorkerChannel(m)?.type === 'revocation.ask') this.sync(w); };
  private readonly onExit = (w: Worker): void => { this.unsent.delete(w.id); };
  private readonly ticker: NodeJS.Timeout;

  constructor(private readonly store: RevocationStore, private readonly hands: (r: RevocationRecord) => boolean) {
    this.off = store.onRevoked((r) => {
      if (!hands(r)) return;
      const m: WorkerChannelMessage = { type: 'revocation.handed', v: 1, records: [{ ...r }], sync: 'live', at: hostMonoMs() };
      for (const w of Object.values(cluster.workers ?? {})) if (w !== undefined) this.hand(w, m);
    });
    cluster.on('message', this.onMessage);
    cluster.on('exit', this.onExit);
    // the workers' leases: nothing new as of now (a worker's mailbox bounds these as any message)
    this.ticker = setInterval(() => {
      const m: WorkerChannelMessage = { type: 'revocation.tick', v: 1, at: hostMonoMs() };
      for (const w of Object.values(cluster.workers ?? {})) if (w !== undefined) this.hand(w, m);
    }, TICK_MS);
    this.ticker.unref();
  }

  /** `revocations_worker_overflows_total`: times a worker's mailbox was full (it missed revocations and resynced). */
  stats(): Record<string, number> {
    return { revocations_worker_overflows_total: this.overflows };
  }

  close(): void {
    clearInterval(this.ticker);
    this.off();
    cluster.off('message', this.onMessage);
    cluster.off('exit', this.onExit);
  }

  /**
   * Every selected revocation as of now, a page at a time (the next once the pipe took the last: a slow
   * worker holds one page here, not the store), the final page marked; live ones handed meanwhile go as usual.
   */
  private sync(w: Worker): void {
    const box = this.unsent.get(w.id) ?? { n: 0 };
    this.unsent.set(w.id, box);
    const all = this.store.list().filter(this.hands);
    const page = (i: number): void => {
      if (this.unsent.get(w.id) !== box) return; // overflowed since: its next ask starts anew
      const last = i + PAGE >= all.length;
      this.hand(w, { type: 'revocation.handed', v: 1, records: all.slice(i, i + PAGE).map((r) => ({ ...r })), sync: last ? 'last' : 'page', at: hostMonoMs() }, last ? null : () => page(i + PAGE));
    };
    page(0);
  }

  /** Send through the worker's mailbox; a full one overflows (not for a sync's page, `next` set: one at a time): the worker is told, and gets nothing more until it asks. */
  private hand(w: Worker, m: WorkerChannelMessage, next?: (() => void) | null): void {
    const box = this.unsent.get(w.id);
    if (box === undefined || !w.isConnected()) return;
    if (box.n >= MAILBOX && next === undefined) {
      this.overflows++;
      this.unsent.delete(w.id);
      m = { type: 'revocation.overflowed', v: 1 };
    }
    box.n++;
    const taken = (err: Error | null): void => { box.n--; if (err === null) next?.(); };
    try { w.send(m, undefined, taken); } catch { box.n--; /* the worker is leaving: its replacement asks */ }
  }
}

/**
 * Worker: apply what the primary hands over through the actor, and ask for all of it at start and after an
 * overflow (the primary's channel exists before it forks); the actor holds requests (503) until a sync is
 * complete. Every stamped message read renews `lease`. Returns the unsubscribe function.
 */
export function takeFromPrimary(actor: RevocationActor, lease: PrimaryLease): () => void {
  const ask = (): void => { toPrimary({ type: 'revocation.ask', v: 1 } satisfies WorkerChannelMessage); };
  const on = (raw: unknown): void => {
    const m = parseWorkerChannel(raw);
    if (m === null || m.type === 'revocation.ask') return;
    if (m.type === 'revocation.overflowed') { actor.primarySynced(false); ask(); return; }
    if (m.type === 'revocation.handed') {
      actor.receivePrimary(m.records, m.sync !== 'live');
      // a last page after an overflow notice answers an ask made after it: it holds what was dropped
      if (m.sync === 'last') actor.primarySynced(true);
    }
    lease.heard(m.at);
  };
  process.on('message', on);
  ask();
  return () => { process.off('message', on); };
}
