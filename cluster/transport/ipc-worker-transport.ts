// Worker side of the node:cluster bus: local subscribers get messages at once, every
// publish also goes to the primary, which relays it to the other workers. Connected
// while the IPC channel to the primary is open.
import cluster from 'node:cluster';
import { LocalDispatcher } from './local-dispatcher.js';
import { PendingRequests } from './pending-requests.js';
import { fromBase64, inboxOwner, isEnvelope, toBase64, type IpcEnvelope } from './ipc-envelope.js';
import { busError, type IncomingHandler, type Transport, type TransportStatus } from './transport.js';

/** The IPC transport of a cluster worker (requires `process.send`, i.e. a forked worker). */
export class IpcWorkerTransport implements Transport {
  readonly kind = 'ipc-worker' as const;
  private readonly d = new LocalDispatcher();
  private readonly refs = new Map<string, number>();
  private readonly owner: string;
  private readonly pending: PendingRequests;
  private closed = false;
  private counters = { bus_published: 0, bus_received: 0, bus_dropped_disconnected: 0 };
  private readonly onMessage = (m: unknown): void => { if (isEnvelope(m)) this.receive(m); };
  private readonly onDisconnect = (): void => {
    this.pending.failAll('BUS_DISCONNECTED', 'IPC channel to the primary closed');
    this.d.emitStatus('disconnected');
  };

  constructor() {
    if (typeof process.send !== 'function') throw new Error('IPC transport needs a process forked with an IPC channel (node:cluster worker)');
    this.owner = `w${cluster.worker?.id ?? process.pid}`;
    this.pending = new PendingRequests(this.owner);
    process.on('message', this.onMessage);
    process.on('disconnect', this.onDisconnect);
  }

  publish(subject: string, data: Uint8Array): void {
    if (this.closed) return;
    this.counters.bus_published++;
    this.d.deliver(subject, data, this.responder(null));
    this.send({ pcbus: 1, op: 'pub', subject, data: toBase64(data), reply: null });
  }

  subscribe(subject: string, handler: IncomingHandler): () => void {
    const remove = this.d.add(subject, handler);
    const n = (this.refs.get(subject) ?? 0) + 1;
    this.refs.set(subject, n);
    if (n === 1) this.send({ pcbus: 1, op: 'sub', subject });
    let done = false;
    return () => {
      if (done) return;
      done = true;
      remove();
      const left = (this.refs.get(subject) ?? 1) - 1;
      if (left > 0) { this.refs.set(subject, left); return; }
      this.refs.delete(subject);
      this.send({ pcbus: 1, op: 'unsub', subject });
    };
  }

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(busError('BUS_CLOSED', 'transport closed'));
    if (!this.isConnected()) return Promise.reject(busError('BUS_DISCONNECTED', 'IPC channel to the primary closed'));
    const inbox = this.pending.nextInbox();
    const p = this.pending.wait(inbox, subject, timeoutMs);
    this.pending.setLocalResponders(inbox, this.d.deliver(subject, data, this.responder(inbox)));
    this.send({ pcbus: 1, op: 'pub', subject, data: toBase64(data), reply: inbox });
    return p;
  }

  isConnected(): boolean {
    return !this.closed && process.connected === true;
  }

  onStatus(listener: (s: TransportStatus) => void): () => void {
    return this.d.onStatus(listener);
  }

  stats(): Record<string, number> {
    return { ...this.counters, bus_delivered: this.d.delivered, bus_handler_errors: this.d.handlerErrors };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const s of this.refs.keys()) this.send({ pcbus: 1, op: 'unsub', subject: s });
    this.closed = true;
    process.off('message', this.onMessage);
    process.off('disconnect', this.onDisconnect);
    this.pending.failAll('BUS_CLOSED', 'transport closed');
    this.d.clear();
  }

  /** A respond function: local inbox → settle here, otherwise send through the hub. */
  private responder(inbox: string | null): ((d: Uint8Array) => void) | null {
    if (inbox === null) return null;
    return (d) => {
      if (inboxOwner(inbox) === this.owner) this.pending.settle(inbox, d);
      else this.send({ pcbus: 1, op: 'pub', subject: inbox, data: toBase64(d), reply: null });
    };
  }

  private receive(e: IpcEnvelope): void {
    if (this.closed) return;
    switch (e.op) {
      case 'pub': {
        this.counters.bus_received++;
        const data = fromBase64(e.data);
        if (inboxOwner(e.subject) === this.owner) { this.pending.settle(e.subject, data); return; }
        const reply = e.reply;
        this.d.deliver(e.subject, data, reply === null ? null : (d) => this.send({ pcbus: 1, op: 'pub', subject: reply, data: toBase64(d), reply: null }));
        return;
      }
      case 'noresp': this.pending.noResponders(e.reply, e.reply); return;
      case 'hello': for (const s of this.refs.keys()) this.send({ pcbus: 1, op: 'sub', subject: s }); return;
      case 'sub':
      case 'unsub': return; // only workers send these
      default: { const never: never = e; return never; }
    }
  }

  private send(e: IpcEnvelope): void {
    if (this.closed || process.connected !== true || process.send === undefined) { this.counters.bus_dropped_disconnected++; return; }
    try {
      process.send(e, undefined, undefined, (err) => { if (err) this.counters.bus_dropped_disconnected++; });
    } catch {
      this.counters.bus_dropped_disconnected++;
    }
  }
}
