// Replies to this process's NATS requests that carry a validator: one wildcard inbox subscription,
// a table of pending requests, and the rule that a request settles on the first reply its validator
// accepts. Anything else on its inbox (junk, a forged status, an answer replayed from another
// request) is ignored and counted; it never ends the request (README, Bus threat model).
import type { Msg, NatsConnection, Subscription } from 'nats';
import { nats } from './nats-module.js';
import { busError } from './transport.js';

/** True when `data` answers the request (authentic and bound to it); counts its own refusals. Must not throw. */
export type ReplyValidator = (data: Uint8Array) => boolean;

/** Inbox messages ignored, by why: refused by the validator, a status message (e.g. 503), or no request waiting. */
export interface ReplyInboxStats {
  bus_replies_ignored_refused: number;
  bus_replies_ignored_status: number;
  bus_replies_ignored_late: number;
}

interface Pending {
  readonly token: string;
  readonly subject: string;
  readonly timeoutMs: number;
  readonly accept: ReplyValidator;
  readonly resolve: (data: Uint8Array) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** A "no responders" status arrived: unauthenticated, so only the error code on timeout. */
  noResponders: boolean;
}

/**
 * Requests whose reply must pass a validator. A status message cannot be authenticated (anyone who
 * may publish to the inbox can forge one), so a "no responders" only names the timeout's error code:
 * a request to a member that is really gone fails after `timeoutMs`, not at once.
 */
export class ReplyInbox {
  private readonly base: string;
  private readonly pending = new Map<string, Pending>();
  private next = 0;
  private sub: Subscription | null = null;
  private readonly counters: ReplyInboxStats = { bus_replies_ignored_refused: 0, bus_replies_ignored_status: 0, bus_replies_ignored_late: 0 };
  private readonly onTimeout = (token: string): void => {
    const p = this.pending.get(token);
    if (p === undefined) return;
    this.pending.delete(token);
    p.reject(p.noResponders
      ? busError('BUS_NO_RESPONDERS', `no responders on ${p.subject}`)
      : busError('BUS_TIMEOUT', `no answer on ${p.subject} within ${p.timeoutMs} ms`));
  };

  /** `prefix`: the connection's inbox prefix (nats.js default `_INBOX`), so NATS permissions on reply subjects still apply. */
  constructor(prefix: string | undefined) {
    this.base = `${nats().createInbox(prefix)}.`;
  }

  /** Subscribe the inbox on `nc` (once; nats.js keeps it across reconnects). */
  attach(nc: NatsConnection): void {
    if (this.sub !== null) return;
    this.sub = nc.subscribe(`${this.base}*`, { callback: (err, m) => { if (err === null) this.deliver(m); } });
  }

  /** Publish `data` on `subject` and settle on the first reply `accept` takes; BUS_TIMEOUT / BUS_NO_RESPONDERS otherwise. */
  request(nc: NatsConnection, subject: string, data: Uint8Array, timeoutMs: number, accept: ReplyValidator): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const token = (this.next++).toString(36);
      const timer = setTimeout(this.onTimeout, timeoutMs, token);
      this.pending.set(token, { token, subject, timeoutMs, accept, resolve, reject, timer, noResponders: false });
      try {
        nc.publish(subject, data, { reply: this.base + token });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(token);
        reject(busError('BUS_DISCONNECTED', `request on ${subject} failed: ${(err as Error).message}`));
      }
    });
  }

  /** Fail every waiting request with BUS_CLOSED and drop the subscription. */
  close(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(busError('BUS_CLOSED', 'transport closed'));
    }
    this.pending.clear();
    this.sub?.unsubscribe();
    this.sub = null;
  }

  /** A copy of the counters. */
  stats(): ReplyInboxStats {
    return { ...this.counters };
  }

  private deliver(m: Msg): void {
    const p = this.pending.get(m.subject.slice(this.base.length));
    if (p === undefined) { this.counters.bus_replies_ignored_late++; return; }
    if (m.data.byteLength === 0 && m.headers?.hasError === true) {
      this.counters.bus_replies_ignored_status++;
      if (m.headers.code === 503) p.noResponders = true;
      return;
    }
    let ok = false;
    try { ok = p.accept(m.data); } catch { ok = false; }
    if (!ok) { this.counters.bus_replies_ignored_refused++; return; }
    this.pending.delete(p.token);
    clearTimeout(p.timer);
    p.resolve(m.data);
  }
}
