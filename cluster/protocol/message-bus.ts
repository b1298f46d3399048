// Typed messages over a byte transport: encode on the way out, decode and validate on
// the way in (bad messages are dropped and counted by the codec, never delivered). Over
// NATS every message is sealed in an authenticated envelope (bus-auth.ts) and only
// authentic, fresh ones reach a handler; replies are bound to their request.
import type { Incoming, Transport } from '../transport/transport.js';
import { busError } from '../transport/transport.js';
import { envelopeTag, replySubject, type AuthRejectReason, type BusAuth } from './bus-auth.js';
import type { Codec } from './codec.js';
import type { BusMessage } from './messages.js';
import type { Subjects } from './subjects.js';

/** A delivered message as handlers see it. */
export interface BusIncoming extends Incoming {
  /** When the sender signed it, epoch ms; null on an unauthenticated transport (node:cluster IPC, in-process). */
  readonly signedAt: number | null;
  /** The envelope's tag: an answer to this request is bound to it. */
  readonly authTag: Uint8Array | null;
}

/** A decoded message and the means to answer it when it was a request. */
export type MessageHandler = (msg: BusMessage, incoming: BusIncoming) => void;

/** Why the bus refused a message: its envelope (bus-auth.ts), or content that failed the receiver's validation. */
export type BusRejectReason = AuthRejectReason | 'invalid';

/** A message opened from bytes that did not come through `subscribe` (the revocation stream). */
export interface OpenedMessage {
  readonly msg: BusMessage;
  /** Epoch ms when it was signed; null without authentication. */
  readonly signedAt: number | null;
}

/**
 * Told of an authentic message this build cannot read: its subject, when it was signed (null without
 * authentication) and the type it named when its type was readable (a newer version of a known type).
 */
export type UnreadableWatcher = (subject: string, signedAt: number | null, type: string | null) => void;

/** The protocol layer every actor talks to. */
export class MessageBus {
  /** Called for every refused message (for a rate-limited log line); never gets the bytes. */
  onReject: ((reason: BusRejectReason, subject: string, type: string | null) => void) | null = null;
  /**
   * Told of every message that passed authentication (or needed none) but that this build's codec cannot
   * read — a newer build's type or version, or junk under the key (the codec has counted it): each area
   * whose dropped message could let something through it should refuse (revocations, DPoP replay records,
   * cache drops) watches its own subjects. Never gets the bytes.
   */
  private readonly unreadableWatchers = new Set<UnreadableWatcher>();
  private invalid = 0;

  /** `auth` null: messages travel as bare codec bytes (IPC and in-process transports). */
  constructor(readonly transport: Transport, readonly codec: Codec, readonly subjects: Subjects, readonly auth: BusAuth | null = null) {}

  /** Encode and publish (fire and forget); `msgId`: see Transport.publish. */
  publish(subject: string, msg: BusMessage, msgId?: string): void {
    this.transport.publish(subject, this.seal(subject, msg), msgId);
  }

  /** The bytes `publish` would send on `subject` (the JetStream publisher stores exactly these). */
  seal(subject: string, msg: BusMessage): Uint8Array {
    const bytes = this.codec.encode(msg);
    return this.auth === null ? bytes : this.auth.seal(subject, bytes);
  }

  /** Subscribe; only authentic, fresh and valid messages reach `handler`. Returns the unsubscribe function. */
  subscribe(subject: string, handler: MessageHandler): () => void {
    return this.transport.subscribe(subject, (incoming) => {
      let payload = incoming.data;
      let signedAt: number | null = null;
      let authTag: Uint8Array | null = null;
      if (this.auth !== null) {
        const o = this.auth.open(incoming.subject, incoming.data, true);
        if (!o.ok) { this.rejected(o.reason, incoming.subject, null); return; }
        payload = o.payload;
        signedAt = o.signedAt;
        authTag = o.tag;
      }
      const msg = this.codec.decode(payload);
      if (msg === null) { this.unreadable(incoming.subject, signedAt); return; }
      handler(msg, { subject: incoming.subject, data: payload, isRequest: incoming.isRequest, respond: (d) => incoming.respond(d), signedAt, authTag });
    });
  }

  /** Watch authentic messages this build cannot read (see `unreadableWatchers`); returns the unwatch function. */
  watchUnreadable(watcher: UnreadableWatcher): () => void {
    this.unreadableWatchers.add(watcher);
    return () => { this.unreadableWatchers.delete(watcher); };
  }

  /**
   * Open bytes stored earlier on `subject` (the revocation stream): authenticity is checked, freshness
   * is not (stored messages are legitimately old; callers bound the content by `signedAt`). Null when refused or undecodable.
   */
  openStored(subject: string, data: Uint8Array): OpenedMessage | null {
    let payload = data;
    let signedAt: number | null = null;
    if (this.auth !== null) {
      const o = this.auth.open(subject, data, false);
      if (!o.ok) { this.rejected(o.reason, subject, null); return null; }
      payload = o.payload;
      signedAt = o.signedAt;
    }
    const msg = this.codec.decode(payload);
    if (msg === null) { this.unreadable(subject, signedAt); return null; }
    return { msg, signedAt };
  }

  /**
   * Request/reply. With authentication the answer is the first reply that is authentic, fresh, bound
   * to this request and decodable: any other reply (junk, a replayed answer to another request) is
   * refused and counted like any refused message, and the request keeps waiting for its owner's answer
   * within `timeoutMs`. Rejects with a BusError on timeout, no responders or disconnect.
   */
  async request(subject: string, msg: BusMessage, timeoutMs: number): Promise<BusMessage> {
    const sealed = this.seal(subject, msg);
    const auth = this.auth;
    if (auth === null) {
      const reply = this.codec.decode(await this.transport.request(subject, sealed, timeoutMs));
      if (reply === null) { this.unreadable(subject, null); throw busError('BUS_TIMEOUT', `undecodable answer on ${subject}`); }
      return reply;
    }
    const context = envelopeTag(sealed);
    const bound = replySubject(subject);
    let answer: BusMessage | null = null;
    const accept = (bytes: Uint8Array): boolean => {
      const o = auth.open(bound, bytes, true, context);
      if (!o.ok) { this.rejected(o.reason, subject, null); return false; }
      answer = this.codec.decode(o.payload);
      // an authentic answer this build cannot read (a newer owner's verdict): told like any other, or a
      // DPoP owner's "replayed" in a newer build's words would end as a timeout judged locally as fresh
      if (answer === null) this.unreadable(subject, o.signedAt);
      return answer !== null;
    };
    const bytes = await this.transport.request(subject, sealed, timeoutMs, accept);
    // A transport that cannot wait for another reply (IPC, in-process) hands over the first one: judged here.
    if (answer === null && !accept(bytes)) throw busError('BUS_TIMEOUT', `unauthenticated or undecodable answer on ${subject}`);
    return answer!;
  }

  /** Answer a request received by a handler (bound to that request when authenticated). */
  respond(incoming: BusIncoming, msg: BusMessage): void {
    const bytes = this.codec.encode(msg);
    incoming.respond(this.auth === null ? bytes : this.auth.seal(replySubject(incoming.subject), bytes, incoming.authTag));
  }

  /** A receiver's validation refused a message's content (over-long lifetime, time in the future, bad size…): counted as `invalid`. */
  rejectInvalid(subject: string, type: string): void {
    this.invalid++;
    this.rejected('invalid', subject, type);
  }

  /** Refused messages by reason (envelope and content), for metrics. */
  rejections(): Record<BusRejectReason, number> {
    const a = this.auth?.stats();
    return {
      unsigned: a?.rejected_unsigned ?? 0, bad_mac: a?.rejected_bad_mac ?? 0, unknown_key: a?.rejected_unknown_key ?? 0, stale: a?.rejected_stale ?? 0, invalid: this.invalid,
    };
  }

  private unreadable(subject: string, signedAt: number | null): void {
    for (const w of this.unreadableWatchers) {
      try { w(subject, signedAt, this.codec.lastDropType); } catch { /* a watcher must not break delivery */ }
    }
  }

  private rejected(reason: BusRejectReason, subject: string, type: string | null): void {
    try { this.onReject?.(reason, subject, type); } catch { /* a listener must not break delivery */ }
  }
}
