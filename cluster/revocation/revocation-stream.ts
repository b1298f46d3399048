// JetStream helper for the revocation stream `<P>_REVOCATIONS` (subjects
// `<p>.revocations.>`, max age = maximum token lifetime): create or update it, publish
// with an ack (deduplicated on the revocation id), replay from a sequence with an
// ordered consumer.
import type { ConsumerMessages, JetStreamClient, JetStreamManager, NatsConnection, StreamConfig, StreamInfo } from 'nats';
import { jsErrorText, nats } from '../transport/index.js';
import type { Logger } from '../../node/log.js';
import type { Subjects } from '../protocol/subjects.js';

/** Stream settings; the name and subject come from the prefix. */
export interface RevocationStreamOptions {
  readonly subjects: Subjects;
  /** Stream max age, ms: the maximum token lifetime plus a margin. */
  readonly maxAgeMs: number;
  /** Replicas; `auto` = 3 when the server is clustered, falling back to 1 when the cluster cannot place 3. */
  readonly replicas?: number | 'auto';
  readonly logger?: Logger | undefined;
  /** JetStream API timeout, ms (default 2000). */
  readonly apiTimeoutMs?: number;
  /**
   * Told after every check whether the stream keeps revocations shorter than `maxAgeMs` (a stream an
   * older release made, whose update was refused): `null` when it does not. The member shows it in
   * /readyz and /metrics — a member started later could not replay what ages out early.
   */
  readonly onRetention?: (short: RetentionShort | null) => void;
  /** Told after every check the stream's replica count (`num_replicas`): the member shows it in /metrics. */
  readonly onReplicas?: (replicas: number) => void;
}

/** The stream's max age and the one this member needs, seconds. */
export interface RetentionShort { readonly maxAgeS: number; readonly wantS: number }

/** Where the stream stands: `lastSeq` 0 when nothing was ever stored. */
export interface StreamPosition {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly messages: number;
  /** When this stream was created (ISO): a different value means it was deleted and made anew, its sequences restarted. */
  readonly created?: string;
  /** Its settings differ from this member's (someone changed them since its last check): `ensure()` puts them back. */
  readonly drifted?: boolean;
  /** Messages taken out between its first and last sequence (a single delete, a filtered purge): `deletedSeqs()` names them. */
  readonly deleted?: number;
}

/** One stored revocation as the consumer hands it over. */
export interface StreamMessage {
  readonly seq: number;
  /** The subject it was published on (`<p>.revocations.<kind>`): its authentication is bound to it. */
  readonly subject: string;
  readonly data: Uint8Array;
  /** Messages still behind this one in the stream when it was delivered. */
  readonly pending: number;
}

/** Deduplication window: a re-published revocation id within it is stored once. */
const DUPLICATE_WINDOW_MS = 2 * 60_000;
/**
 * A stream created with 1 replica because the cluster could not place 3 (`replicas: auto`) is raised
 * to 3 at most this often per member, ms (monotonic clock): a cluster still too small refuses each try.
 */
const RAISE_RETRY_MS = 30_000; // 30 s

/** Operations on the revocation stream over one NATS connection (reconnects are handled by nats.js). */
export class RevocationStream {
  readonly name: string;
  private jsm: JetStreamManager | null = null;
  private readonly js: JetStreamClient;
  /** performance.now() of the last try to raise the replicas; -∞ before the first. */
  private raiseTriedAt = Number.NEGATIVE_INFINITY;
  /** Raises the cluster refused so far. */
  private raiseRefusals = 0;

  constructor(private readonly nc: NatsConnection, private readonly opts: RevocationStreamOptions) {
    this.name = opts.subjects.revocationStream;
    this.js = nc.jetstream({ timeout: opts.apiTimeoutMs ?? 2_000 });
  }

  /**
   * Create the stream or bring its subjects and max age up to date. Rejects when JetStream is unavailable.
   * `update: false` (the revoke CLI) only creates a missing stream: a publisher never changes the retention the members set.
   */
  async ensure(opts: { readonly update?: boolean } = {}): Promise<StreamPosition> {
    const jsm = await this.manager();
    const want: Partial<StreamConfig> = {
      name: this.name,
      subjects: [this.opts.subjects.revocationsAll],
      max_age: nats().nanos(this.opts.maxAgeMs),
      duplicate_window: nats().nanos(Math.min(DUPLICATE_WINDOW_MS, this.opts.maxAgeMs)),
      storage: nats().StorageType.File,
      retention: nats().RetentionPolicy.Limits,
      discard: nats().DiscardPolicy.Old,
      // age alone decides what leaves: a message/byte/per-subject limit (set by anyone with NATS
      // credentials) would drop revocations a later member must replay
      max_msgs: -1,
      max_bytes: -1,
      max_msgs_per_subject: -1,
    };
    let info;
    try {
      info = await jsm.streams.info(this.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      info = await this.create(jsm, want);
    }
    const c = info.config;
    const limited = c.max_msgs !== -1 || c.max_bytes !== -1 || c.max_msgs_per_subject !== -1 || c.discard !== nats().DiscardPolicy.Old;
    if (opts.update !== false && this.drifted(c, true)) {
      if (limited) this.opts.logger?.warn({ stream: this.name, max_msgs: c.max_msgs, max_bytes: c.max_bytes, max_msgs_per_subject: c.max_msgs_per_subject }, 'revocation stream had limits that drop revocations before their max age: removed');
      else if (c.allow_rollup_hdrs === true || c.no_ack === true) this.opts.logger?.warn({ stream: this.name, allow_rollup_hdrs: c.allow_rollup_hdrs, no_ack: c.no_ack }, 'revocation stream allowed rollups (one message purges it) or turned acks off: reset');
      else this.opts.logger?.info({ stream: this.name }, 'updating revocation stream settings');
      // a sealed stream takes no update and no message: say so; the member keeps what it has
      if (c.sealed === true) this.opts.logger?.error({ stream: this.name }, 'revocation stream is sealed (someone with NATS credentials sealed it): it stores no revocation; delete it to let members create it again');
      else {
        try {
          info = await jsm.streams.update(this.name, { ...c, subjects: want.subjects!, max_age: want.max_age!, duplicate_window: want.duplicate_window!, max_msgs: -1, max_bytes: -1, max_msgs_per_subject: -1, discard: nats().DiscardPolicy.Old, allow_rollup_hdrs: false, no_ack: false });
        } catch (err) {
          // keep following the stream as it is (refused permission, a setting the server will not change): replay must go on
          this.opts.logger?.error({ stream: this.name, err: (err as Error).message }, 'cannot restore the revocation stream settings');
        }
      }
      const short = this.retention(info.config);
      if (short !== null) this.opts.logger?.error({ stream: this.name, max_age_s: short.maxAgeS, wanted_s: short.wantS }, 'revocation stream keeps revocations for less than the maximum token lifetime plus the clock-skew margin, and this member could not raise it: a member started later cannot replay the oldest ones — raise its max_age (or let members update it)');
    }
    if (opts.update !== false) await this.raiseReplicas(jsm, info);
    return positionOf(info);
  }

  /**
   * `replicas: auto` on a NATS cluster wants 3; a stream the fallback created with 1 (the cluster could not
   * place 3 then) is raised once the cluster can: a scale-up keeps the stream, its sequences and its
   * messages (the new replicas copy them from the leader), so nothing is replayed or stored twice. Tried at
   * most every RAISE_RETRY_MS; a refusal (still too few servers, no permission) keeps the stream as it is.
   */
  private async raiseReplicas(jsm: JetStreamManager, info: StreamInfo): Promise<void> {
    const have = info.config.num_replicas ?? 1;
    this.opts.onReplicas?.(have);
    const clustered = typeof this.nc.info?.cluster === 'string' && this.nc.info.cluster !== '';
    const auto = this.opts.replicas === undefined || this.opts.replicas === 'auto';
    if (!auto || !clustered || have >= 3 || info.config.sealed === true) return;
    const now = performance.now();
    if (now - this.raiseTriedAt < RAISE_RETRY_MS) return;
    this.raiseTriedAt = now;
    try {
      const raised = await jsm.streams.update(this.name, { ...info.config, num_replicas: 3 });
      this.opts.logger?.info({ stream: this.name, replicas_before: have, replicas: raised.config.num_replicas }, 'revocation stream raised to 3 replicas (it was created with fewer when the NATS cluster could not place 3)');
      this.opts.onReplicas?.(raised.config.num_replicas ?? 1);
      // the caller keeps this read's answer, from before the raise (1 replica, its own quorum): the new
      // replicas are still copying, and a quorum check of the raised stream now would fail for nothing
    } catch (err) {
      // said once at info (a cluster that stays too small would repeat it every 30 s), then at debug
      const log = this.raiseRefusals++ === 0 ? this.opts.logger?.info.bind(this.opts.logger) : this.opts.logger?.debug.bind(this.opts.logger);
      log?.({ stream: this.name, replicas: have, err: (err as Error).message }, 'revocation stream cannot be raised to 3 replicas yet; will try again every 30 s');
    }
  }

  /** Current first/last sequence, from a leader that has its quorum; rejects otherwise. `drifted` when its settings are no longer this member's. */
  async position(): Promise<StreamPosition> {
    const jsm = await this.manager();
    const info = await jsm.streams.info(this.name);
    await this.raiseReplicas(jsm, info);
    const p = positionOf(info);
    this.retention(info.config);
    return this.drifted(info.config, false) && info.config.sealed !== true ? { ...p, drifted: true } : p;
  }

  /**
   * Does `c` lose or refuse revocations this member's settings keep: limits, a shorter max age, other
   * subjects, rollups allowed, acks off? `exact` (at a check on connect): also any other max age or
   * duplicate window. While running only the harmful differences count, so members whose
   * `max_token_lifetime_s` differ during a roll-out do not rewrite the stream every few seconds.
   */
  private drifted(c: StreamConfig, exact: boolean): boolean {
    const limited = c.max_msgs !== -1 || c.max_bytes !== -1 || c.max_msgs_per_subject !== -1 || c.discard !== nats().DiscardPolicy.Old;
    const maxAge = nats().nanos(this.opts.maxAgeMs);
    if (exact && (c.max_age !== maxAge || c.duplicate_window !== nats().nanos(Math.min(DUPLICATE_WINDOW_MS, this.opts.maxAgeMs)))) return true;
    return limited || (c.max_age !== 0 && c.max_age < maxAge) || c.subjects.length !== 1 || c.subjects[0] !== this.opts.subjects.revocationsAll
      || c.allow_rollup_hdrs === true || c.no_ack === true;
  }

  /** Tell `onRetention` whether `c` keeps revocations for less than this member's max age (0 = for ever). */
  private retention(c: StreamConfig): RetentionShort | null {
    const want = nats().nanos(this.opts.maxAgeMs);
    const short = c.max_age !== 0 && c.max_age < want ? { maxAgeS: Math.floor(c.max_age / 1e9), wantS: Math.ceil(want / 1e9) } : null;
    this.opts.onRetention?.(short);
    return short;
  }

  /** Publish and wait for the stream's ack; `msgId` makes a retry idempotent. */
  async publish(subject: string, data: Uint8Array, msgId: string, timeoutMs = 2_000): Promise<{ seq: number; duplicate: boolean }> {
    const ack = await this.js.publish(subject, data, { msgID: msgId, timeout: timeoutMs });
    return { seq: ack.seq, duplicate: ack.duplicate };
  }

  /**
   * The sequences taken out between the first and the last (STREAM.INFO with deleted_details), from a
   * leader with its quorum; rejects otherwise. Asked only when the deleted count rose: a revocation
   * stream has none unless someone with NATS credentials deleted or purged by subject.
   */
  async deletedSeqs(): Promise<number[]> {
    const info = await (await this.manager()).streams.info(this.name, { deleted_details: true });
    assertQuorum(info, 'revocation stream');
    return info.state.deleted ?? [];
  }

  /**
   * Read one message from the stream leader (not a replica); null when that sequence
   * no longer exists (aged out). Used to fill a gap a stalled consumer leaves.
   */
  async get(seq: number): Promise<StreamMessage | null> {
    try {
      const m = await (await this.manager()).streams.getMessage(this.name, { seq });
      return { seq: m.seq, subject: m.subject, data: m.data, pending: 0 };
    } catch (err) {
      if (/no message found|not found/i.test((err as Error).message ?? '') || (err as { api_error?: { err_code?: number } }).api_error?.err_code === 10037) return null;
      throw err;
    }
  }

  /**
   * Deliver every stored message from `fromSeq` (1 = the beginning) in order, then keep
   * delivering new ones until `stop()`, which deletes it. The ordered consumer recreates itself on gaps;
   * a consumer the server refuses to create rejects at once (the follower's watchdog tries again).
   * `pullExpiresMs`: how long each pull waits (default 30 000 ms); half of it is the heartbeat after which
   * a silent consumer is recreated.
   */
  async consume(fromSeq: number, onMessage: (m: StreamMessage) => void, opts: { readonly pullExpiresMs?: number } = {}): Promise<{ stop(): void }> {
    // Always a start sequence: nats.js 2.29 sends opt_start_seq with deliver_policy=all too,
    // which nats-server 2.9 refuses, and the ordered consumer then retries for ever.
    const consumer = await this.js.consumers.get(this.name, { opt_start_seq: Math.max(1, fromSeq) });
    // nats.js 2.29 retries a refused creation in the background 30 times, 15–45 s apart (README Limitations):
    // one try here, so a refusal rejects now and no retry outlives the follower's next consumer
    if ('maxInitialReset' in consumer) (consumer as { maxInitialReset: number }).maxInitialReset = 0;
    let stopped = false;
    const msgs: ConsumerMessages = await consumer.consume({
      max_messages: 512,
      // nats.js's default (30 s): also its heartbeat (half of it) and its recreation delay (15–45 s)
      expires: opts.pullExpiresMs ?? 30_000,
      callback: (m) => onMessage({ seq: m.seq, subject: m.subject, data: m.data, pending: m.info.pending }),
    });
    // A consumer that lost its server is recreated by nats.js without bound, and stop() does not end that
    // loop: when it succeeds later it binds a live pull to the stopped messages. Stop and delete that one.
    const bind = (msgs as Partial<{ setSource(src: { stop(): void }): void }>).setSource?.bind(msgs);
    if (bind !== undefined) Object.assign(msgs, { setSource: (src: { stop(): void }) => { if (!stopped) { bind(src); return; } src.stop(); consumer.delete().catch(() => undefined); } });
    // deleted, not left to the server's 5-minute inactivity threshold: a member restarting its consumer
    // at every stall would otherwise pile them up on the stream
    return { stop: () => { stopped = true; msgs.stop(); consumer.delete().catch(() => undefined); } };
  }

  private async manager(): Promise<JetStreamManager> {
    this.jsm ??= await this.nc.jetstreamManager({ timeout: this.opts.apiTimeoutMs ?? 2_000 });
    return this.jsm;
  }

  private async create(jsm: JetStreamManager, want: Partial<StreamConfig>): Promise<Awaited<ReturnType<JetStreamManager['streams']['info']>>> {
    const clustered = typeof this.nc.info?.cluster === 'string' && this.nc.info.cluster !== '';
    const replicas = this.opts.replicas === undefined || this.opts.replicas === 'auto' ? (clustered ? 3 : 1) : this.opts.replicas;
    try {
      return await jsm.streams.add({ ...want, num_replicas: replicas });
    } catch (err) {
      // JetStream's description: nats.js's message of a 503 answer ("insufficient resources") is "503" alone
      const msg = jsErrorText(err);
      // Another member created it first.
      if (/already in use|already exists/i.test(msg)) return jsm.streams.info(this.name);
      if (replicas > 1 && this.opts.replicas !== replicas && /insufficient|replicas|resources|peers/i.test(msg)) {
        this.opts.logger?.warn({ stream: this.name, err: msg }, 'cannot place 3 stream replicas; using 1');
        return jsm.streams.add({ ...want, num_replicas: 1 });
      }
      // set explicitly: say which setting waits for which servers (nats-server only says "no suitable peers")
      if (replicas > 1 && /insufficient resources|no suitable peers/i.test(msg)) {
        throw new Error(`${msg}: cluster.revocation.replicas is ${replicas} and fewer JetStream servers of the NATS cluster can take a replica — start the others`);
      }
      throw err;
    }
  }
}

/** Did a JetStream API call fail because the stream does not exist (10059)? */
export function isNotFound(err: unknown): boolean {
  const e = err as { code?: string | number; message?: string; api_error?: { err_code?: number } };
  return e.api_error?.err_code === 10059 || /stream not found/i.test(e.message ?? '');
}

/** Stream info as JetStream's STREAM.INFO answers it: the parts the quorum check reads. */
export interface StreamInfoLike { config: { num_replicas?: number }; cluster?: { leader?: string; replicas?: Array<{ current?: boolean; offline?: boolean }> } }

/**
 * Throws unless `info` comes from a leader that still has a quorum of current replicas. A leader
 * cut off from the others keeps answering for a while with its own, stale state; a member
 * trusting it would call itself caught up while what was written on the other side of the
 * partition is missing. `what` names the stream in the error.
 */
export function assertQuorum(info: StreamInfoLike, what: string): void {
  const replicas = info.config.num_replicas ?? 1;
  if (replicas <= 1) return;
  const leader = info.cluster?.leader;
  if (leader === undefined || leader === '') throw new Error(`${what} has no leader`);
  // the leader plus its current peers (capped: some servers list the leader among them)
  const current = Math.min(replicas, 1 + (info.cluster?.replicas ?? []).filter((r) => r.current === true && r.offline !== true).length);
  if (current < Math.floor(replicas / 2) + 1) throw new Error(`${what} has no quorum (${current} of ${replicas} replicas current)`);
}

/** The stream's position, only when it comes from a leader that still has a quorum of current replicas (assertQuorum). */
function positionOf(info: StreamInfoLike & { created?: string; state: { first_seq: number; last_seq: number; messages: number; num_deleted?: number } }): StreamPosition {
  assertQuorum(info, 'revocation stream');
  return { firstSeq: info.state.first_seq, lastSeq: info.state.last_seq, messages: info.state.messages, deleted: info.state.num_deleted ?? 0, ...(info.created === undefined ? {} : { created: info.created }) };
}
