// The JetStream key-value bucket `<P>_POLICY` holding the policy versions under one key,
// `current`, with history. Writes are compare-and-set on the revision read, so of two
// concurrent pushes exactly one wins (also on nats-server 2.9.x clusters: see `write`); the
// loser gets a PolicyConflict.
import type { JetStreamClient, JetStreamManager, KV, KvEntry, MsgRequest, NatsConnection, QueuedIterator } from 'nats';
import { jetStreamMissing, jsErrorText, nats, noAnswerYet, noResponders, StreamNoLeader } from '../transport/index.js';
import { assertQuorum } from '../revocation/index.js';

/** A history spanning fewer stream sequences than this is read from the leader with all its gets at once. */
const PARALLEL_READS = 64;

/** The one key every version is written under. */
export const POLICY_KEY = 'current';

/** Bucket name for a subject prefix: `<PREFIX>_POLICY` (upper-cased, dots → `_`). */
export function policyBucket(prefix: string): string {
  return `${prefix.replace(/\./g, '_').toUpperCase()}_POLICY`;
}

/** A stored value and the bucket revision it has. */
export interface StoredValue {
  readonly revision: number;
  readonly value: Uint8Array;
}

/** Thrown by `write` when the key moved on since `expectRevision` (another push won). */
export class PolicyConflict extends Error {
  readonly code = 'PORTCULLIS_POLICY_CONFLICT';
  /** What refused the write: the expected-sequence check, or the de-duplication alone. */
  constructor(message: string, readonly by: 'sequence' | 'duplicate' = 'sequence') { super(message); }
}

export interface PolicyStoreOptions {
  readonly bucket: string;
  /** Versions kept (default 16). */
  readonly history?: number;
  /** Replicas; auto = 3 on a NATS cluster, else 1. */
  readonly replicas?: number | 'auto';
  /** JetStream API timeout, ms (default 5000). */
  readonly timeoutMs?: number;
  /**
   * The operator CLI's reads (and writes nobody took): asked again on no answer until this time (epoch ms), for the whole
   * command; the bucket is then opened without JetStream's account-info check (only its meta leader
   * answers it). Without it each read is asked again for up to `leaderReadsForMs`.
   */
  readonly leaderReadsUntil?: number;
  /** A member's reads (start, catch-up after a reconnect, POST /policy) and writes nobody took: each asked again on no answer for up to this long, ms (default 10 000: nats-server elects a new leader within ~10 s). */
  readonly leaderReadsForMs?: number;
}

/** An error that a leader election or an unreachable replica explains: worth asking again. */
export { noAnswerYet } from '../transport/index.js';

export class PolicyStore {
  /**
   * JetStream managers by request timeout, ms: a manager's timeout is fixed when it is made, and the
   * leader probe's (1 s) is not the reads' (`timeoutMs`). One shared manager took the timeout of whichever
   * call made it first — a member's start read — and its probe then waited 5 s on a silent leader.
   */
  private readonly managers = new Map<number, JetStreamManager>();

  private readonly js: JetStreamClient;
  /** Writes refused because another won: by the expected-sequence check, or by the de-duplication alone (nats-server#4320). */
  private readonly conflicts = { sequence: 0, duplicate: 0 };

  private readonly leaderReadsUntil: number | undefined;
  private readonly leaderReadsForMs: number;

  private constructor(private readonly kv: KV, readonly bucket: string, private readonly nc: NatsConnection, private readonly timeoutMs: number, opts: PolicyStoreOptions) {
    this.js = nc.jetstream({ timeout: timeoutMs });
    this.leaderReadsUntil = opts.leaderReadsUntil;
    this.leaderReadsForMs = opts.leaderReadsForMs ?? 10_000;
  }

  /**
   * The manager whose requests time out after `timeoutMs`, made on first use without JetStream's
   * account-info check: `open` reached the bucket already, and only JetStream's meta leader answers that
   * check — the leader probe's answer must depend on the bucket's stream leader alone.
   */
  private async manager(timeoutMs: number): Promise<JetStreamManager> {
    const made = this.managers.get(timeoutMs);
    if (made !== undefined) return made;
    const jsm = await this.nc.jetstreamManager({ timeout: timeoutMs, checkAPI: false });
    this.managers.set(timeoutMs, jsm);
    return jsm;
  }

  /** The largest message the connected NATS server takes (its `max_payload`), bytes; null before it said. */
  maxPayload(): number | null {
    const m = this.nc.info?.max_payload;
    return typeof m === 'number' && m > 0 ? m : null;
  }

  /** Bind to the bucket, creating it when missing (falls back to 1 replica when 3 cannot be placed). */
  static async open(nc: NatsConnection, opts: PolicyStoreOptions): Promise<PolicyStore> {
    // leader reads: no account-info check at open (only JetStream's meta leader answers it)
    const js = nc.jetstream({ timeout: opts.timeoutMs ?? 5_000, ...(opts.leaderReadsUntil === undefined ? {} : { checkAPI: false }) });
    const clustered = typeof nc.info?.cluster === 'string' && nc.info.cluster !== '';
    const replicas = opts.replicas === undefined || opts.replicas === 'auto' ? (clustered ? 3 : 1) : opts.replicas;
    const history = opts.history ?? 16;
    try {
      return new PolicyStore(await js.views.kv(opts.bucket, { history, replicas, timeout: opts.timeoutMs ?? 5_000 }), opts.bucket, nc, opts.timeoutMs ?? 5_000, opts);
    } catch (err) {
      // JetStream's description: nats.js's message of a 503 answer ("insufficient resources") is "503" alone
      const msg = jsErrorText(err);
      if (replicas > 1 && opts.replicas === 'auto' && /insufficient|replicas|resources|peers/i.test(msg)) {
        return new PolicyStore(await js.views.kv(opts.bucket, { history, replicas: 1, timeout: opts.timeoutMs ?? 5_000 }), opts.bucket, nc, opts.timeoutMs ?? 5_000, opts);
      }
      throw err;
    }
  }

  /**
   * The latest value (null when nothing was pushed yet, or it was deleted), as the stream leader has
   * it. `latest` and `history` ask the leader only (STREAM.MSG.GET), for the CLI and members alike: a
   * direct get or an ordered consumer may be served by any replica, and one cut off but not yet seen
   * dead by the others took its share and answered none — TIMEOUT about one read in three
   * (policy-cli-server-down.test.ts, policy-member-peer-frozen.test.ts).
   */
  async latest(): Promise<StoredValue | null> {
    return this.fromLeader(async () => (await this.leaderValues(true))[0] ?? null);
  }

  /**
   * The latest value as the bucket's stream leader has it (not a replica's possibly stale copy,
   * as a direct get may be), when its revision is above `after`; null when there is nothing
   * newer (or nothing pushed yet). Throws — within `timeoutMs` — while this member's NATS server
   * is cut off from the leader's quorum, and while the leader answering has lost its quorum
   * (a cut-off leader keeps answering with its own stale state until it steps down).
   */
  async latestFromLeader(timeoutMs = 1_000, after = 0): Promise<StoredValue | null> {
    const jsm = await this.manager(timeoutMs);
    const stream = `KV_${this.bucket}`;
    const info = await jsm.streams.info(stream);
    assertQuorum(info, `policy bucket ${this.bucket}`);
    // one key: the stream's last sequence is its latest revision (a put, or a delete marker)
    if (info.state.last_seq <= after) return null;
    try {
      const m = await jsm.streams.getMessage(stream, { last_by_subj: `$KV.${this.bucket}.${POLICY_KEY}` });
      return { revision: m.seq, value: m.data };
    } catch (err) {
      if (/no message found/i.test((err as Error).message ?? '')) return null;
      throw err;
    }
  }

  /**
   * Write `value` if the key is still at `expectRevision` (null = nothing there yet, or deleted);
   * returns the new revision; throws PolicyConflict when another write got there first. Each
   * write carries the message id `on-<revision it was based on>`: only one write can follow a
   * given revision, and the stream's de-duplication refuses the others even while they are in
   * flight together — which the expected-sequence header alone does not do on a replicated
   * stream before nats-server 2.9.21 (nats-server#4320: every racer was told it won).
   */
  async write(value: Uint8Array, expectRevision: number | null): Promise<number> {
    if (expectRevision !== null) return this.publishOn(value, expectRevision);
    try {
      return await this.publishOn(value, 0, false);
    } catch (err) {
      if (!(err instanceof PolicyConflict)) throw err;
      // a deleted or purged key: its marker (as the stream's leader has it, not a replica's
      // possibly stale copy) is the revision a create follows, as kv.create does
      const jsm = await this.manager(this.timeoutMs);
      const m = await jsm.streams.getMessage(`KV_${this.bucket}`, { last_by_subj: `$KV.${this.bucket}.${POLICY_KEY}` });
      const op = m.header?.get('KV-Operation') ?? '';
      if (op !== 'DEL' && op !== 'PURGE') { this.conflicts[err.by]++; throw err; }
      return this.publishOn(value, m.seq);
    }
  }

  /**
   * `publish`, sent again while nobody takes the bucket's subjects (503, no responders: nothing was
   * delivered, so a resend is no second write): its stream has no leader — its server died and the
   * others elect one (~5 s) — unless `$JS.API.INFO` gets no responders too (JetStream gone since `open`).
   * Before, the bare 503 failed `policy push` at once with "is JetStream enabled on the NATS servers?".
   * Past the store's bound (`leaderReadsUntil`, or `leaderReadsForMs`): StreamNoLeader.
   */
  private async untakenAskedAgain<T>(publish: () => Promise<T>): Promise<T> {
    const started = Date.now();
    const until = this.leaderReadsUntil ?? started + this.leaderReadsForMs;
    for (let first = true; ; first = false) {
      try { return await publish(); } catch (err) {
        if (!noResponders(err)) throw err;
        // JetStream gone since `open` (no responders on its API too): said at once, not waited on
        if (first) { const missing = await jetStreamMissing(this.nc); if (missing !== null) throw missing; }
        if (Date.now() + 250 >= until) {
          throw new StreamNoLeader(`nothing was written: the policy bucket's stream KV_${this.bucket} had no leader within ${Math.round((Date.now() - started) / 1000)} s (503, no responders: no server took the write) — its replicas need a majority of their servers (2 of 3) up and reachable`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** `count`: a refusal counts as a lost race (not when a create first tries an empty key and falls back to a delete marker). */
  private async publishOn(value: Uint8Array, revision: number, count = true): Promise<number> {
    const h = nats().headers();
    h.set('Nats-Expected-Last-Subject-Sequence', String(revision));
    try {
      const ack = await this.untakenAskedAgain(() => this.js.publish(`$KV.${this.bucket}.${POLICY_KEY}`, value, { headers: h, msgID: `on-${revision}`, timeout: this.timeoutMs }));
      if (ack.duplicate) throw this.conflict('duplicate', count);
      return ack.seq;
    } catch (err) {
      if (err instanceof PolicyConflict) throw err;
      const msg = (err as Error).message ?? '';
      if (/wrong last sequence/i.test(msg)) throw this.conflict('sequence', count);
      if (/duplicate/i.test(msg)) throw this.conflict('duplicate', count);
      throw err;
    }
  }

  private conflict(by: 'sequence' | 'duplicate', count: boolean): PolicyConflict {
    if (count) this.conflicts[by]++;
    return new PolicyConflict('the policy changed since it was read: another push won', by);
  }

  /** `policy.push_conflicts.<by>`: this store's writes that lost a race (POST /policy on a member). */
  stats(): Record<string, number> {
    return { 'policy.push_conflicts.sequence': this.conflicts.sequence, 'policy.push_conflicts.duplicate': this.conflicts.duplicate };
  }

  /**
   * Every stored value of the key, oldest first (up to the bucket's history), as the stream leader
   * has them: requests, not a consumer (nats.js's history iterator waited forever for deliveries that
   * never came, and 2.29's handed it an `undefined` entry when a write raced the read).
   */
  async history(): Promise<StoredValue[]> {
    return this.fromLeader(() => this.leaderValues(false));
  }

  /** `read`, asked again while it gets no answer (a leader election), until `leaderReadsUntil` (or for `leaderReadsForMs`). */
  private async fromLeader<T>(read: () => Promise<T>): Promise<T> {
    const until = this.leaderReadsUntil ?? Date.now() + this.leaderReadsForMs;
    for (;;) {
      try { return await read(); } catch (err) {
        if (!noAnswerYet(err) || Date.now() + 250 >= until) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /**
   * The key's values as the stream leader has them (STREAM.MSG.GET: only the leader answers),
   * oldest first; `last`: only the latest (a put, or nothing when it is a delete marker).
   */
  private async leaderValues(last: boolean): Promise<StoredValue[]> {
    const jsm = await this.manager(this.timeoutMs);
    const stream = `KV_${this.bucket}`;
    const subject = `$KV.${this.bucket}.${POLICY_KEY}`;
    if (!last) {
      // one key: its history is the stream's last few sequences; asked all at once (a member's start and
      // every POST /policy read it: one request per version in turn took ~2× the ordered consumer's time)
      const { first_seq: first, last_seq: lastSeq, messages } = (await jsm.streams.info(stream)).state;
      if (messages === 0) return [];
      if (lastSeq - first < PARALLEL_READS) return this.leaderRange(jsm, stream, subject, first, lastSeq);
    }
    const out: StoredValue[] = [];
    for (let seq = 1; ;) {
      let m;
      try {
        // next_by_subj (nats-server ≥ 2.9): the first message on the subject from seq on; nats.js 2.29 types it for direct gets only
        m = await jsm.streams.getMessage(stream, last ? { last_by_subj: subject } : ({ seq, next_by_subj: subject } as unknown as MsgRequest));
      } catch (err) {
        if (/no message found/i.test((err as Error).message ?? '')) return out;
        throw err;
      }
      // a put carries no KV-Operation header (DEL and PURGE markers do)
      if ((m.header?.get('KV-Operation') ?? '') === '') out.push({ revision: m.seq, value: m.data });
      if (last) return out;
      seq = m.seq + 1;
    }
  }

  /** The key's puts at sequences `first`..`last` (gone or other subjects skipped), oldest first; one request each, all at once. */
  private async leaderRange(jsm: JetStreamManager, stream: string, subject: string, first: number, last: number): Promise<StoredValue[]> {
    const got = await Promise.all(Array.from({ length: last - first + 1 }, async (_, i) => {
      try { return await jsm.streams.getMessage(stream, { seq: first + i }); } catch (err) {
        if (/no message found/i.test((err as Error).message ?? '')) return null;
        throw err;
      }
    }));
    return got.flatMap((m) => (m === null || m.subject !== subject || (m.header?.get('KV-Operation') ?? '') !== '' ? [] : [{ revision: m.seq, value: m.data }]));
  }

  /**
   * Call `onValue` with the latest value and every later one until the returned stop function
   * is called. The watch survives reconnects (nats.js resumes an ordered consumer).
   */
  async watch(onValue: (v: StoredValue) => void): Promise<() => void> {
    const it: QueuedIterator<KvEntry> = await this.kv.watch({ key: POLICY_KEY, include: nats().KvWatchInclude.LastValue, ignoreDeletes: true });
    void (async () => {
      for await (const e of it) if (e.operation === 'PUT') onValue({ revision: e.revision, value: e.value });
    })().catch(() => { /* stopped or connection closed */ });
    return () => { it.stop(); };
  }
}
