// Outstanding requests of one process: reply subject → resolver with its timeout.
import { busError } from './transport.js';

interface Pending {
  resolve(d: Uint8Array): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  localResponders: number;
}

/** Tracks requests awaiting the first reply. */
export class PendingRequests {
  private readonly pending = new Map<string, Pending>();
  private seq = 0;

  constructor(private readonly owner: string) {}

  /** A fresh reply subject for this process. */
  nextInbox(): string {
    return `_INBOX.${this.owner}.${++this.seq}`;
  }

  /** Register `inbox`; the promise settles on the first reply, on timeout or on `fail`. */
  wait(inbox: string, subject: string, timeoutMs: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(inbox);
        reject(busError('BUS_TIMEOUT', `no answer on ${subject} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(inbox, { resolve, reject, timer, localResponders: 0 });
    });
  }

  /** Remember that `n` subscribers in this process also received the request. */
  setLocalResponders(inbox: string, n: number): void {
    const p = this.pending.get(inbox);
    if (p !== undefined) p.localResponders = n;
  }

  /** Deliver a reply; false when nobody waits for it (late or duplicate). */
  settle(inbox: string, data: Uint8Array): boolean {
    const p = this.pending.get(inbox);
    if (p === undefined) return false;
    this.pending.delete(inbox);
    clearTimeout(p.timer);
    p.resolve(data);
    return true;
  }

  /** The hub saw no remote subscriber: fail unless a local one may still answer. */
  noResponders(inbox: string, subject: string): void {
    const p = this.pending.get(inbox);
    if (p === undefined || p.localResponders > 0) return;
    this.pending.delete(inbox);
    clearTimeout(p.timer);
    p.reject(busError('BUS_NO_RESPONDERS', `no responders on ${subject}`));
  }

  /** Fail everything (disconnect, close). */
  failAll(code: 'BUS_DISCONNECTED' | 'BUS_CLOSED', message: string): void {
    for (const [k, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(busError(code, message));
      this.pending.delete(k);
    }
  }
}
