// Durable publishing of revocations under NATS: publish to the stream and wait for its
// ack; on failure publish on core NATS at once (connected members still get it) and
// keep it in an outbox retried every second until the stream has it.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../node/log.js';
import type { MessageBus } from '../protocol/message-bus.js';
import type { RevocationAdded } from '../protocol/messages.js';
import { jsErrorText } from '../transport/index.js';
import type { RevocationStream } from './revocation-stream.js';

/** How the first publish attempt ended: stored (`duplicate` when the stream already had this id), or not yet, and why. */
export type PublishOutcome =
  | { readonly persisted: true; readonly seq: number; readonly duplicate: boolean }
  | { readonly persisted: false; readonly seq: null; readonly error: string };

type OutboxMessage =
  | { readonly type: 'publish.acked'; readonly id: string; readonly seq: number; readonly duplicate: boolean }
  | { readonly type: 'publish.failed'; readonly id: string; readonly error: string };

/** A publish's error while NATS is not connected (retried once it is). */
export const NOT_CONNECTED = 'NATS not connected';

/** Pending revocations not yet acknowledged by the stream. */
/** RevocationOutbox.stats() of a member without a stream (IPC, local): the families still exist. */
export const OUTBOX_ZEROS: Readonly<Record<string, number>> = Object.freeze({
  revocations_persisted_total: 0, revocations_restored_total: 0, revocations_publish_failed_total: 0, revocations_unpersisted: 0,
});

export class RevocationOutbox {
  private readonly pending = new Map<string, RevocationAdded>();
  /** JetStream message ids other than the revocation id (a revocation stored again after the stream lost it). */
  private readonly msgIds = new Map<string, string>();
  private readonly inflight = new Set<string>();
  private readonly waiters = new Map<string, (o: PublishOutcome) => void>();
  /** Callers of `stored` waiting for a pending revocation's ack (after its first attempt failed). */
  private readonly storedWaiters = new Map<string, (o: PublishOutcome) => void>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  persisted = 0;
  /** Revocations the stream had lost, queued to be stored again (`restore`). */
  restored = 0;
  failed = 0;
  /** Given the sealed bytes of each revocation's first attempt, as they go to NATS (the direct push sends the same bytes). */
  onFirstSeal: ((subject: string, sealed: Uint8Array) => void) | null = null;

  constructor(
    private readonly bus: MessageBus,
    /** The stream when connected, else null. */
    private readonly stream: () => RevocationStream | null,
    private readonly timeoutMs: number,
    private readonly logger?: Logger,
  ) {}

  /** Publish; resolves after the first attempt (ack, or failure with the live fallback done). */
  publish(msg: RevocationAdded): Promise<PublishOutcome> {
    const outcome = new Promise<PublishOutcome>((resolve) => this.waiters.set(msg.id, resolve));
    this.pending.set(msg.id, msg);
    this.attempt(msg, true);
    return outcome;
  }

  /**
   * Resolves once the stream acks `id` — the outbox keeps retrying it every second, with the same
   * JetStream message id, so an attempt whose ack was lost is stored once (`duplicate`) — or when the
   * outbox closes (`error: 'closed'`). At once, unpersisted, for an id not pending here.
   */
  stored(id: string): Promise<PublishOutcome> {
    if (!this.pending.has(id) || this.closed) return Promise.resolve({ persisted: false, seq: null, error: this.closed ? 'closed' : 'not pending' });
    return new Promise<PublishOutcome>((resolve) => this.storedWaiters.set(id, resolve));
  }

  /**
   * Store again a revocation the stream lost (no live copy: connected members have it). `tag` names
   * the loss: its message id `<id>~<tag>` gets past the stream's deduplication of the first copy,
   * and members that saw the same loss store one copy. Nothing is done while `msg.id` is pending.
   */
  restore(msg: RevocationAdded, tag: string): void {
    if (this.pending.has(msg.id) || this.closed) return;
    this.pending.set(msg.id, msg);
    this.msgIds.set(msg.id, `${msg.id}~${tag}`);
    this.restored++;
    this.attempt(msg);
  }

  /** Retry everything pending now (after a reconnect). */
  flush(): void {
    for (const msg of this.pending.values()) this.attempt(msg);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Its counters and gauge for /metrics (flat, `revocations_*`). */
  stats(): Record<string, number> {
    return {
      revocations_persisted_total: this.persisted,
      revocations_restored_total: this.restored,
      revocations_publish_failed_total: this.failed,
      revocations_unpersisted: this.pending.size,
    };
  }

  /** Ids not yet acknowledged by the stream (kept in the snapshot, published again after a restart). */
  pendingIds(): string[] {
    return [...this.pending.keys()];
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    for (const w of [...this.waiters.values(), ...this.storedWaiters.values()]) w({ persisted: false, seq: null, error: 'closed' });
    this.waiters.clear();
    this.storedWaiters.clear();
  }

  private receive(m: OutboxMessage): void {
    if (this.closed) return;
    this.inflight.delete(m.id);
    switch (m.type) {
      case 'publish.acked':
        if (this.pending.delete(m.id)) this.persisted++;
        this.msgIds.delete(m.id);
        this.settle(m.id, { persisted: true, seq: m.seq, duplicate: m.duplicate });
        this.storedWaiters.get(m.id)?.({ persisted: true, seq: m.seq, duplicate: m.duplicate });
        this.storedWaiters.delete(m.id);
        return;
      case 'publish.failed': {
        this.failed++;
        const msg = this.pending.get(m.id);
        if (msg !== undefined && this.waiters.has(m.id)) {
          // First failure: members still connected get it live now; the stream gets it later. The stream
          // captures this copy too (its subjects are the live ones): under the same message id it keeps one
          // — before, a live copy reaching a stream that answered again was stored beside the retry's.
          this.bus.publish(this.bus.subjects.revocation(msg.kind), msg, this.msgIds.get(m.id) ?? m.id);
          this.logger?.warn({ revocation: m.id, err: m.error }, 'revocation not persisted yet; published live, retrying the stream');
          this.settle(m.id, { persisted: false, seq: null, error: m.error });
        }
        this.schedule();
        return;
      }
      default: { const never: never = m; return never; }
    }
  }

  private settle(id: string, o: PublishOutcome): void {
    this.waiters.get(id)?.(o);
    this.waiters.delete(id);
  }

  private attempt(msg: RevocationAdded, first = false): void {
    if (this.inflight.has(msg.id) || this.closed) return;
    const subject = this.bus.subjects.revocation(msg.kind);
    const s = this.bus.transport.isConnected() ? this.stream() : null;
    // sealed per attempt: a retry carries a fresh signing time (the record keeps its own createdAt)
    const sealed = first && this.onFirstSeal !== null ? this.bus.seal(subject, msg) : null;
    if (s === null) {
      this.pushFirst(subject, sealed);
      queueMicrotask(() => this.receive({ type: 'publish.failed', id: msg.id, error: NOT_CONNECTED }));
      return;
    }
    this.inflight.add(msg.id);
    s.publish(subject, sealed ?? this.bus.seal(subject, msg), this.msgIds.get(msg.id) ?? msg.id, this.timeoutMs)
      .then(async (ack) => (ack.duplicate && !(await this.storedCopyIs(s, ack.seq, msg)) ? this.forged(msg, ack.seq) : ack))
      .then(
        (ack) => { if (ack !== null) this.receive({ type: 'publish.acked', id: msg.id, seq: ack.seq, duplicate: ack.duplicate }); },
        // JetStream's description, or "503, no responders" (nats.js says "503" for both)
        (err: Error) => this.receive({ type: 'publish.failed', id: msg.id, error: jsErrorText(err) }),
      );
    // after the stream publish is queued: both leave in this turn, NATS first
    this.pushFirst(subject, sealed);
  }

  /**
   * A `duplicate` ack names the copy stored first under this message id: is it an authentic copy of
   * `msg`? Anyone with NATS credentials can store bytes under a message id they saw or guessed (an
   * event's id is derived from its jti); counting such a copy as stored lost the revocation from replay.
   */
  private async storedCopyIs(s: RevocationStream, seq: number, msg: RevocationAdded): Promise<boolean> {
    const m = await s.get(seq);
    const o = m === null ? null : this.bus.openStored(m.subject, m.data);
    return o !== null && o.msg.type === 'revocation.added' && o.msg.id === msg.id && o.msg.kind === msg.kind && m!.subject === this.bus.subjects.revocation(msg.kind);
  }

  /** The copy stored under `msg`'s message id is not it: store it again at once under a fresh, unguessable message id. */
  private forged(msg: RevocationAdded, seq: number): null {
    this.logger?.error({ revocation: msg.id, stream_seq: seq }, 'the revocation stream holds another copy under this revocation\'s message id, not authentic (someone with NATS credentials but not the bus key?): storing the revocation again under a fresh message id');
    this.msgIds.set(msg.id, `${msg.id}~${randomUUID()}`);
    this.inflight.delete(msg.id);
    this.attempt(msg);
    return null;
  }

  private pushFirst(subject: string, sealed: Uint8Array | null): void {
    if (sealed === null) return;
    try { this.onFirstSeal?.(subject, sealed); } catch (err) { this.logger?.error({ err: String(err) }, 'direct revocation push failed'); }
  }

  private schedule(): void {
    if (this.timer !== null || this.pending.size === 0 || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.bus.transport.isConnected()) this.flush();
      else this.schedule();
    }, 1_000);
    this.timer.unref();
  }
}
