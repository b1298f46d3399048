// Follows the JetStream revocation stream for the revocation actor: on every (re)connect
// it reads the leader's last sequence, replays from the last applied one with an
// ordered consumer, and reports when it has reached that sequence. A watchdog recreates a
// consumer that stalls (placed on a dead server, or on a replica that is behind) and
// reads the gap from the stream leader. Stored messages are authenticated like live ones
// (freshness aside: they are legitimately old), and carry their signing time onwards. What the
// stream lost is stream-losses.ts's to report; which stream it is, stream-identity.ts's to tell.
import type { Logger } from '../../node/log.js';
import type { OpenedMessage } from '../protocol/message-bus.js';
import type { RevocationAdded } from '../protocol/messages.js';
import { isNotFound, type RevocationStream, type StreamPosition } from './revocation-stream.js';
import { StreamIdentity } from './stream-identity.js';
import { StreamLosses } from './stream-losses.js';
import { GapReadLog, readGap } from './stream-gap.js';
import type { FollowerEvents } from './follower-events.js';

type FollowerMessage =
  | { readonly type: 'stream.positioned'; readonly gen: number; readonly position: StreamPosition; readonly identified?: boolean }
  | { readonly type: 'stream.identified'; readonly gen: number; readonly position: StreamPosition; readonly same: boolean }
  | { readonly type: 'stream.holes'; readonly gen: number; readonly position: StreamPosition; readonly seqs: readonly number[] }
  | { readonly type: 'stream.failed'; readonly gen: number; readonly error: string }
  | { readonly type: 'stream.message'; readonly consumer: number; readonly seq: number; readonly subject: string; readonly msg: RevocationAdded | null; readonly signedAt: number | null; readonly data: Uint8Array | null }
  | { readonly type: 'stream.consuming'; readonly consumer: number; readonly handle: { stop(): void } }
  | { readonly type: 'stream.checked'; readonly gen: number; readonly position: StreamPosition | null; readonly seqBefore: number; readonly missing?: boolean };

/** While catching up: check progress against the stream this often, ms. */
const CATCH_UP_CHECK_MS = 500;
/** While live: check the consumer is not behind the stream this often, ms. */
const LIVE_CHECK_MS = 3_000;

/** While catching up: a consumer quiet this long is stalled, ms (one 500 ms check flagged 22 of 39 worker starts under load). */
const CATCH_UP_STALL_MS = 2_000;
export { FOLLOWER_ZEROS } from './follower-events.js';

/** The stream side of the revocation actor (NATS mode only). */
export class StreamFollower {
  /** Stream sequence of the last message delivered to `record`. */
  lastSeq = 0;
  /** The leader's last sequence this catch-up must reach. */
  targetSeq = 0;
  restarts = 0;
  /** Periodic checks whose answer (or failure) this follower judged: tests wait on it to know a verdict was reached. */
  checks = 0;
  private gen = 0;
  private active = false;
  private catchingUp = false;
  private consumer: { stop(): void } | null = null;
  private consumerId = 0;
  private failures = 0;
  private checking = false;
  // lastCheck and progressAt: performance.now() ms — on the wall clock, one stepped back (NTP) stopped every check for the step
  private lastCheck = -Infinity;
  private lagTicks = 0;
  private progressAt = 0; // when the current consumer started or last delivered
  private filling = false;
  /** Epoch ms the stream last answered (positioned, checked); 0 before the first answer. */
  private confirmedAt = 0;
  /** Two checks in a row failed: the stream is unreachable though the connection is up. */
  private lost = false;
  private failedChecks = 0;
  /** 'missing: creating it again' was logged since the stream last answered. */
  private missingLogged = false;
  private retry: NodeJS.Timeout | null = null;
  /** Which stream `lastSeq` counts in (stream-identity.ts). */
  private readonly identity = new StreamIdentity();
  /** What the stream must still hold, and the losses found (stream-losses.ts). */
  private readonly losses: StreamLosses;
  /** A check saw harmful settings and this member tried to restore them; cleared when a check sees them right. */
  private drifted = false;
  /** The store's linger when the stream was last read whole or followed under it, s. */
  private lingerSeen: number;
  private readonly gapLog: GapReadLog;

  constructor(
    private readonly stream: () => RevocationStream | null,
    /** Authenticate and decode stored bytes (MessageBus.openStored). */
    private readonly open: (subject: string, data: Uint8Array) => OpenedMessage | null,
    private readonly events: FollowerEvents,
    private readonly logger?: Logger,
    /**
     * Seconds the store keeps an entry past its expiry (RevocationStore.lingerS): the stream must hold it as
     * long, and when it rises (a reload raised an issuer's clock_skew_s) the whole stream is read again.
     */
    private readonly lingerS: (() => number) | null = null,
  ) {
    this.losses = new StreamLosses(events, logger, lingerS);
    this.gapLog = new GapReadLog(logger);
    // from the start: a policy version applied after the first replay began (a start config without
    // the cluster's issuers) raises it, and that replay dropped what the new linger needs
    this.lingerSeen = lingerS?.() ?? 0;
  }

  /** Connected: find the leader's position and replay from `lastSeq + 1`; `complete` fires when reached. */
  follow(): void {
    this.gen++;
    this.active = true;
    this.catchingUp = true;
    this.stopConsumer();
    this.position(this.gen);
  }

  /** Disconnected or closing: drop the consumer and ignore whatever is in flight. */
  stop(): void {
    this.gen++;
    this.active = false;
    this.stopConsumer();
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
  }

  /**
   * Has the store's linger risen since the last tick? Then read the stream again from its first
   * message, live (requests are not held): a revocation this member dropped after the old linger is
   * needed again for the longer skew, and the stream keeps it long enough (STREAM_AGE_MARGIN_S); the
   * store ignores what it holds. After a catch-up under way, not during it.
   */
  private lingerRaised(): boolean {
    const l = this.lingerS?.() ?? 0;
    // during a catch-up: once it is over (it reads only what follows its start)
    if (l <= this.lingerSeen || this.catchingUp) return false;
    this.lingerSeen = l;
    this.logger?.info({ linger_s: l, stream_seq: this.lastSeq }, 'revocation linger raised (an issuer\'s clock_skew_s): reading the revocation stream again from its start');
    this.lastSeq = 0;
    this.follow();
    return true;
  }

  /** Messages still to replay in the current catch-up. */
  lag(): number {
    return this.catchingUp ? Math.max(0, this.targetSeq - this.lastSeq) : 0;
  }

  /** Revocations whose presence in the stream this member watches (the refill's memory). */
  watched(): number {
    return this.losses.size;
  }

  /** Its position, restarts and the refill's memory for /metrics (flat). */
  stats(): Record<string, number> {
    return { revocation_stream_seq: this.lastSeq, revocation_consumer_restarts_total: this.restarts, revocation_stream_watched: this.losses.size, revocation_stream_created_changed_total: this.identity.createdChanged, revocation_stream_checks_total: this.checks };
  }

  /** Periodic check (the actor's watchdog timer): is the consumer keeping up with the leader? */
  tick(): void {
    const s = this.stream();
    if (!this.active || this.checking || s === null) return;
    if (this.lingerRaised()) return;
    const now = performance.now();
    if (now - this.lastCheck < (this.catchingUp || this.lost ? CATCH_UP_CHECK_MS : LIVE_CHECK_MS)) return;
    this.lastCheck = now;
    this.checking = true;
    const gen = this.gen;
    const seqBefore = this.lastSeq;
    s.position().then(
      (position) => this.receive({ type: 'stream.checked', gen, position, seqBefore }),
      (err: unknown) => this.receive({ type: 'stream.checked', gen, position: null, seqBefore, missing: isNotFound(err) }),
    );
  }

  private receive(m: FollowerMessage): void {
    switch (m.type) {
      case 'stream.positioned':
        if (m.gen !== this.gen) return;
        this.failures = 0;
        this.failedChecks = 0;
        this.missingLogged = false;
        this.confirmedAt = Date.now();
        this.lost = false;
        if (m.identified !== true && this.identity.onlyCreatedChanged(this.lastSeq, m.position)) { this.identify(m.gen, m.position); return; }
        if (this.identity.renewed(this.lastSeq, m.position)) {
          // The stream was deleted and made anew (a nats-server restarted without its store, an
          // operator's `stream rm`): its sequences restarted, so "after lastSeq" would skip every
          // revocation stored since. Replay all of it; the store ignores what it already has.
          this.logger?.warn({ seq: this.lastSeq, stream_seq: m.position.lastSeq, created: m.position.created }, 'revocation stream was recreated: replaying it from the start');
          this.lastSeq = 0;
          this.identity.lastData = null;
          this.losses.recreated(m.position);
        } else this.losses.agedOutEarly(m.position);
        this.holes(m.gen, m.position);
        this.identity.positioned(m.position);
        this.targetSeq = m.position.lastSeq;
        this.startConsumer();
        if (m.position.messages === 0 || this.lastSeq >= this.targetSeq) this.done();
        return;
      case 'stream.identified':
        if (m.gen !== this.gen) return;
        if (m.same) {
          // nats-server 2.9 (standalone) reports a new creation time after a restart, a settings update
          // and another restart (nats-server#8470); the sequences and messages are the same
          this.logger?.warn({ seq: this.lastSeq, created: m.position.created, was: this.identity.created }, 'revocation stream reports a new creation time but holds the same messages: the same stream, following on');
          this.identity.sameUnderNewTime(m.position);
        }
        this.receive({ type: 'stream.positioned', gen: m.gen, position: m.position, identified: true });
        return;
      case 'stream.holes':
        if (m.gen !== this.gen) return;
        this.losses.deleted(m.seqs, m.position);
        return;
      case 'stream.failed': {
        if (m.gen !== this.gen) return;
        this.failures++;
        if (this.failures === 1 || this.failures % 20 === 0) this.logger?.warn({ err: m.error, attempts: this.failures }, 'revocation stream unavailable; retrying');
        const wait = Math.min(2_000, 100 * 2 ** Math.min(this.failures, 5));
        this.retry = setTimeout(() => { this.retry = null; if (m.gen === this.gen) this.position(m.gen); }, wait);
        return;
      }
      case 'stream.message':
        if (m.consumer !== this.consumerId || m.seq <= this.lastSeq) return; // old consumer, or redelivery after a reset
        this.lastSeq = m.seq;
        this.progressAt = performance.now();
        this.identity.delivered(m.data);
        this.events.record(m.msg, m.seq, m.subject, m.signedAt);
        if (m.msg !== null) this.losses.delivered(m.msg, m.seq);
        // Only the leader's last sequence says we are complete: a consumer's own `pending` can come from a replica behind it.
        if (this.catchingUp && m.seq >= this.targetSeq) this.done();
        return;
      case 'stream.consuming':
        if (m.consumer !== this.consumerId) { m.handle.stop(); return; }
        this.consumer = m.handle;
        return;
      case 'stream.checked': {
        this.checking = false;
        if (m.gen !== this.gen) return;
        this.checks++;
        if (m.position === null) {
          // Connected, yet the stream does not answer: our server lost the stream's quorum (a
          // partition). Revocations made elsewhere meanwhile cannot reach us. Two failed checks
          // in a row (the second 500 ms after the first): one slow answer on a loaded machine is
          // not a partition.
          this.failedChecks++;
          if (!this.lost) this.lastCheck = performance.now() - LIVE_CHECK_MS + CATCH_UP_CHECK_MS; // re-check soon
          if (this.failedChecks < 2) return;
          if (!this.lost) this.logger?.warn({ seq: this.lastSeq }, 'revocation stream unreachable over a live connection (partitioned from its quorum?)');
          this.lost = true;
          this.events.unreachable(this.confirmedAt === 0 ? Date.now() : this.confirmedAt);
          // Not a partition: the server answers that the stream is gone (deleted by hand). Create it
          // again and replay it (positioned → renewed); the member stays stale until that completes.
          // logged once per loss: while it cannot be created (too few servers for its replicas) this runs every check
          if (m.missing === true) { if (!this.missingLogged) this.logger?.warn({ seq: this.lastSeq }, 'revocation stream missing: creating it again'); this.missingLogged = true; this.follow(); }
          return;
        }
        this.failedChecks = 0;
        this.confirmedAt = Date.now();
        if (this.lost) {
          // Back: replay whatever was added while we could not see the stream, as after a reconnect.
          this.lost = false;
          this.logger?.info({ seq: this.lastSeq, stream_seq: m.position.lastSeq }, 'revocation stream reachable again: catching up');
          this.events.reachable();
          this.follow();
          return;
        }
        const p = m.position;
        // recreated while we were connected: position and replay again (resets lastSeq there)
        if (this.identity.renewed(this.lastSeq, p)) { this.follow(); return; }
        // settings changed by hand while we ran (a short max age, limits, rollups): put them back first (ensure), then look for losses
        // (once per change: an update this member may not make must not restart its consumer every check)
        if (p.drifted === true && !this.drifted) { this.drifted = true; this.logger?.warn({ stream_seq: p.lastSeq }, 'revocation stream settings changed under this member: restoring them'); this.follow(); return; }
        if (p.drifted !== true) this.drifted = false;
        // emptied early without being made anew (a max age or limit set by hand, a purge)
        this.losses.agedOutEarly(p);
        this.holes(m.gen, p);
        if (p.messages === 0 || p.lastSeq <= this.lastSeq) {
          this.lagTicks = 0;
          this.gapLog.ended(this.lastSeq); // the consumer caught up by itself: a streak of failed gap reads is over
          if (this.catchingUp) this.done();
          return;
        }
        if (this.catchingUp) this.targetSeq = Math.max(this.targetSeq, p.lastSeq);
        this.lagTicks = this.lastSeq === m.seqBefore ? this.lagTicks + 1 : 0;
        if (this.lagTicks < (this.catchingUp ? 1 : 2) || (this.catchingUp && performance.now() - this.progressAt < CATCH_UP_STALL_MS)) return;
        this.lagTicks = 0;
        this.restarts++;
        if (!this.gapLog.failing) this.logger?.warn({ seq: this.lastSeq, stream_seq: p.lastSeq }, 'revocation consumer stalled; reading the gap from the stream leader and recreating it');
        // a gap of more than MAX_GAP_FILL stored messages only recreates the consumer (readGap, after it)
        this.fillGap(this.lastSeq + 1, p.lastSeq);
        return;
      }
      default: { const never: never = m; return never; }
    }
  }

  /** Read sequence `lastSeq` from the leader: the same bytes (a copy published again has another publishedAt) = the same stream. */
  private identify(gen: number, position: StreamPosition): void {
    const s = this.stream();
    const want = this.identity.lastData;
    if (s === null || want === null) { this.receive({ type: 'stream.identified', gen, position, same: false }); return; }
    s.get(this.lastSeq).then(
      (sm) => this.receive({ type: 'stream.identified', gen, position, same: sm !== null && Buffer.from(sm.data.buffer, sm.data.byteOffset, sm.data.byteLength).equals(want) }),
      (err: Error) => this.receive({ type: 'stream.failed', gen, error: err.message }),
    );
  }

  /**
   * Did the stream's deleted count (or first sequence under it) change? Then read which sequences were
   * taken out of the middle: those of watched revocations are lost (`stream.holes`). A count of 0 is the
   * usual case and costs nothing; a failed read is tried again at the next check.
   */
  private holes(gen: number, p: StreamPosition): void {
    const s = this.stream();
    if (s === null) return;
    const key = this.losses.holesToRead(p);
    if (key === null) return;
    s.deletedSeqs().then(
      (seqs) => this.receive({ type: 'stream.holes', gen, position: p, seqs }),
      (err: Error) => { this.losses.holesReadFailed(key); this.logger?.warn({ err: err.message }, 'reading the revocation stream\'s deleted sequences failed; will retry'); },
    );
  }

  /** `id` (expiry epoch seconds) came from the snapshot: when a whole replay did not deliver it, it is reported lost. */
  expect(id: string, expiresAtS: number): void {
    this.losses.expect(id, expiresAtS);
  }

  private done(): void {
    if (!this.catchingUp) return;
    this.catchingUp = false;
    this.gapLog.ended(this.targetSeq);
    this.losses.notReplayed(this.identity.created, this.targetSeq);
    this.events.complete();
  }

  private position(gen: number): void {
    const s = this.stream();
    if (s === null) { this.receive({ type: 'stream.failed', gen, error: 'no connection' }); return; }
    s.ensure().then(
      (position) => this.receive({ type: 'stream.positioned', gen, position }),
      (err: Error) => this.receive({ type: 'stream.failed', gen, error: err.message }),
    );
  }

  /** Replace the consumer with a new one starting after the last delivered sequence. */
  private startConsumer(): void {
    this.stopConsumer();
    const s = this.stream();
    if (s === null) return;
    const id = this.consumerId;
    this.lastCheck = this.progressAt = performance.now();
    s.consume(this.lastSeq + 1, (sm) => this.receive({ type: 'stream.message', consumer: id, seq: sm.seq, subject: sm.subject, data: sm.data, ...this.decode(sm.subject, sm.data) })).then(
      (handle) => this.receive({ type: 'stream.consuming', consumer: id, handle }),
      // refused (nats.js retries no more, revocation-stream.ts): the stall check reads the gap and starts another
      (err: Error) => { if (id === this.consumerId) this.logger?.debug({ err: err.message, seq: this.lastSeq }, 'revocation consumer refused; the next stall check starts another'); },
    );
  }

  /** Stop the current consumer; anything it still delivers is ignored. */
  private stopConsumer(): void {
    this.consumerId++;
    try { this.consumer?.stop(); } catch { /* already stopped */ }
    this.consumer = null;
  }

  /** Read sequences from..to from the stream leader (holes skipped, stream-gap.ts), then start a fresh consumer after them. */
  private fillGap(from: number, to: number): void {
    const s = this.stream();
    if (s === null || this.filling) return;
    this.filling = true;
    this.stopConsumer();
    const id = this.consumerId;
    readGap(s, from, to, () => id === this.consumerId, (seq, sm) => this.receive({ type: 'stream.message', consumer: id, seq, subject: sm?.subject ?? '', data: sm?.data ?? null, ...(sm === null ? { msg: null, signedAt: null } : this.decode(sm.subject, sm.data)) })).then(
      () => { this.gapLog.ended(this.lastSeq); },
      (err: Error) => { this.gapLog.failed(err, this.lastSeq, to, this.catchingUp ? CATCH_UP_CHECK_MS : 2 * LIVE_CHECK_MS); },
    ).finally(() => {
      this.filling = false;
      if (id === this.consumerId && this.active) this.startConsumer();
    });
  }

  private decode(subject: string, data: Uint8Array): { msg: RevocationAdded | null; signedAt: number | null } {
    const o = this.open(subject, data);
    return o?.msg.type === 'revocation.added' ? { msg: o.msg, signedAt: o.signedAt } : { msg: null, signedAt: null };
  }
}
