// In-process subscription table with NATS wildcard matching, shared by the local and
// IPC transports. Delivery is deferred to a microtask so a handler never runs inside
// the publisher's call stack.
import { subjectMatches } from './subject-match.js';
import type { Incoming, IncomingHandler, TransportStatus } from './transport.js';

interface Sub {
  readonly pattern: string;
  readonly handler: IncomingHandler;
}

/** Subscriptions of one process plus status listeners. */
export class LocalDispatcher {
  private readonly subs = new Set<Sub>();
  private readonly statusListeners = new Set<(s: TransportStatus) => void>();
  delivered = 0;
  handlerErrors = 0;

  /** Add a subscription; returns the function removing it. */
  add(pattern: string, handler: IncomingHandler): () => void {
    const sub: Sub = { pattern, handler };
    this.subs.add(sub);
    return () => { this.subs.delete(sub); };
  }

  /** Subscriptions whose pattern matches `subject`. */
  matching(subject: string): Sub[] {
    const out: Sub[] = [];
    for (const s of this.subs) if (subjectMatches(s.pattern, subject)) out.push(s);
    return out;
  }

  /** Every distinct pattern subscribed (for telling a hub). */
  patterns(): string[] {
    return [...new Set([...this.subs].map((s) => s.pattern))];
  }

  /** Deliver to matching subscribers on a microtask; returns how many matched. */
  deliver(subject: string, data: Uint8Array, respond: ((d: Uint8Array) => void) | null): number {
    const targets = this.matching(subject);
    if (targets.length === 0) return 0;
    queueMicrotask(() => {
      for (const s of targets) {
        if (!this.subs.has(s)) continue;
        const msg: Incoming = { subject, data, isRequest: respond !== null, respond: respond ?? noop };
        this.delivered++;
        try { s.handler(msg); } catch { this.handlerErrors++; }
      }
    });
    return targets.length;
  }

  onStatus(listener: (s: TransportStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => { this.statusListeners.delete(listener); };
  }

  emitStatus(status: TransportStatus): void {
    for (const l of this.statusListeners) {
      try { l(status); } catch { /* listeners must not break the transport */ }
    }
  }

  clear(): void {
    this.subs.clear();
    this.statusListeners.clear();
  }
}

function noop(): void {}
