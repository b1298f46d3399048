// Primary side of the node:cluster bus: the hub. It relays every worker's publish to
// the other workers that subscribe to a matching pattern, delivers to the primary's own
// subscribers, and routes replies back to the requesting worker.
import cluster, { type Worker } from 'node:cluster';
import { subjectMatches } from './subject-match.js';
import { LocalDispatcher } from './local-dispatcher.js';
import { PendingRequests } from './pending-requests.js';
import { fromBase64, inboxOwner, isEnvelope, toBase64, type IpcEnvelope } from './ipc-envelope.js';
import { busError, type IncomingHandler, type Transport, type TransportStatus } from './transport.js';

/** The hub transport of the node:cluster primary. Always connected. */
export class IpcHubTransport implements Transport {
  readonly kind = 'ipc-hub' as const;
  private readonly d = new LocalDispatcher();
  /** worker id → patterns it subscribes to. */
  private readonly remote = new Map<number, Set<string>>();
  private readonly pending = new PendingRequests('hub');
  private closed = false;
  private counters = { bus_published: 0, bus_relayed: 0, bus_received: 0, bus_send_failed: 0 };
  private readonly onMessage = (w: Worker, m: unknown): void => { if (isEnvelope(m)) this.receive(w, m); };
  private readonly onExit = (w: Worker): void => { this.remote.delete(w.id); };

  constructor() {
    if (!cluster.isPrimary) throw new Error('the IPC hub runs in the node:cluster primary');
    cluster.on('message', this.onMessage);
    cluster.on('exit', this.onExit);
    // Workers forked before the hub existed: ask them for their subscriptions.
    for (const w of Object.values(cluster.workers ?? {})) if (w !== undefined) this.send(w, { pcbus: 1, op: 'hello' });
  }

  publish(subject: string, data: Uint8Array): void {
    if (this.closed) return;
    this.counters.bus_published++;
    this.route(subject, data, null, null);
  }

  subscribe(subject: string, handler: IncomingHandler): () => void {
    return this.d.add(subject, handler);
  }

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(busError('BUS_CLOSED', 'transport closed'));
    const inbox = this.pending.nextInbox();
    const p = this.pending.wait(inbox, subject, timeoutMs);
    const n = this.route(subject, data, inbox, null);
    if (n === 0) this.pending.noResponders(inbox, subject);
    return p;
  }

  isConnected(): boolean {
    return !this.closed;
  }

  onStatus(listener: (s: TransportStatus) => void): () => void {
    return this.d.onStatus(listener);
  }

  stats(): Record<string, number> {
    return { ...this.counters, bus_delivered: this.d.delivered, bus_handler_errors: this.d.handlerErrors, bus_ipc_workers: this.remote.size };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    cluster.off('message', this.onMessage);
    cluster.off('exit', this.onExit);
    this.pending.failAll('BUS_CLOSED', 'transport closed');
    this.d.clear();
    this.remote.clear();
  }

  /**
   * Deliver to local subscribers and every worker (except `from`) with a matching
   * pattern; returns the number of receivers. Replies (`_INBOX.<owner>.n`) go to their owner only.
   */
  private route(subject: string, data: Uint8Array, reply: string | null, from: number | null): number {
    const owner = inboxOwner(subject);
    if (owner !== null) {
      if (owner === 'hub') { this.pending.settle(subject, data); return 1; }
      const w = cluster.workers?.[Number(owner.slice(1))];
      if (w !== undefined) this.send(w, { pcbus: 1, op: 'pub', subject, data: toBase64(data), reply: null });
      return 1;
    }
    const respond = reply === null ? null : (d: Uint8Array): void => { this.route(reply, d, null, null); };
    let n = this.d.deliver(subject, data, respond);
    let encoded: string | null = null;
    for (const [id, patterns] of this.remote) {
      if (id === from) continue;
      let match = false;
      for (const p of patterns) if (subjectMatches(p, subject)) { match = true; break; }
      if (!match) continue;
      const w = cluster.workers?.[id];
      if (w === undefined) continue;
      encoded ??= toBase64(data);
      this.send(w, { pcbus: 1, op: 'pub', subject, data: encoded, reply });
      this.counters.bus_relayed++;
      n++;
    }
    return n;
  }

  private receive(w: Worker, e: IpcEnvelope): void {
    if (this.closed) return;
    switch (e.op) {
      case 'sub': {
        let set = this.remote.get(w.id);
        if (set === undefined) { set = new Set(); this.remote.set(w.id, set); }
        set.add(e.subject);
        return;
      }
      case 'unsub': this.remote.get(w.id)?.delete(e.subject); return;
      case 'pub': {
        this.counters.bus_received++;
        const n = this.route(e.subject, fromBase64(e.data), e.reply, w.id);
        if (e.reply !== null && n === 0) this.send(w, { pcbus: 1, op: 'noresp', reply: e.reply });
        return;
      }
      case 'noresp':
      case 'hello': return; // hub → worker only
      default: { const never: never = e; return never; }
    }
  }

  private send(w: Worker, e: IpcEnvelope): void {
    if (!w.isConnected()) { this.counters.bus_send_failed++; return; }
    try {
      w.send(e, undefined, (err: Error | null) => { if (err) this.counters.bus_send_failed++; });
    } catch {
      this.counters.bus_send_failed++;
    }
  }
}
