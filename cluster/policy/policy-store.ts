// The JetStream key-value bucket `<P>_POLICY` holding the policy versions under one key,
// `current`, with history. Writes are compare-and-set on the revision read, so of two
// concurrent pushes exactly one wins (also on nats-server 2.9.x clusters: see `write`); the
// loser gets a PolicyConflict.
import type { JetStreamClient, JetStreamManager, KV, KvEntry, MsgRequest, NatsConnection, QueuedIterator } from 'nats';
import { nats, noAnswerYet } from '../transport/index.js';
import { assertQuorum } from '../revocation/index.js';

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
   * The operator CLI's reads (`latest`, `history`): asked of the bucket's stream leader only, and
   * retried on no answer until this time (epoch ms). Without it they are a direct get and an
   * ordered consumer, which any replica may serve — one that is cut off (its route not yet seen
   * dead) takes its share of them and answers none: TIMEOUT (policy-cli-server-down.test.ts).
   */
  readonly leaderReadsUntil?: number;
  /**
   * A member's reads (`latest`, `history`: start, catch-up after a reconnect, POST /policy): asked of
   * the stream leader as the CLI's are, each retried on no answer for up to this many ms (a leader
   * election). The bucket is opened as without it (start-up unchanged).
   */
  readonly leaderReadsForMs?: number;
}

/** An error that a leader election or an unreachable replica explains: worth asking again. */
export { noAnswerYet } from '../transport/index.js';

export class PolicyStore {
  private jsm: JetStreamManager | null = null;

  private readonly js: JetStreamClient;
  /** Writes refused because another won: by the expected-sequence check, or by the de-duplication alone (nats-server#4320). */
  private readonly conflicts = { sequence: 0, duplicate: 0 };

  private readonly leaderReadsUntil: number | undefined;
  private readonly leaderReadsForMs: number | undefined;

  private constructor(private readonly kv: KV, readonly bucket: string, private readonly nc: NatsConnection, private readonly timeoutMs: number, opts: PolicyStoreOptions) {
    this.js = nc.jetstream({ timeout: timeoutMs });
    this.leaderReadsUntil = opts.leaderReadsUntil;
    this.leaderReadsForMs = opts.leaderReadsForMs;
  }

  /** Reads go to the stream leader (the CLI's, and a member's given `leaderReadsForMs`). */
  private get leaderReads(): boolean { return this.leaderReadsUntil !== undefined || this.leaderReadsForMs !== undefined; }

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
      const msg = (err as Error).message ?? '';
      if (replicas > 1 && opts.replicas === 'auto' && /insufficient|replicas|resources|peers/i.test(msg)) {
        return new PolicyStore(await js.views.kv(opts.bucket, { history, replicas: 1, timeout: opts.timeoutMs ?? 5_000 }), opts.bucket, nc, opts.timeoutMs ?? 5_000, opts);
      }
      throw err;
    }
  }

  /** The latest value (null when nothing was pushed yet, or it was deleted). */
  async latest(): Promise<StoredValue | null> {
    if (this.leaderReads) return this.fromLeader(async () => (await this.leaderValues(true))[0] ?? null);
    const e = await this.kv.get(POLICY_KEY);
    return e === null || e.operation !== 'PUT' ? null : { revision: e.revision, value: e.value };
  }

  /**
   * The latest value as the bucket's stream leader has it (not a replica's possibly stale copy,
   * as a direct get may be), when its revision is above `after`; null when there is nothing
   * newer (or nothing pushed yet). Throws — within `timeoutMs` — while this member's NATS server
   * is cut off from the leader's quorum, and while the leader answering has lost its quorum
   * (a cut-off leader keeps answering with its own stale state until it steps down).
   */
  async latestFromLeader(timeoutMs = 1_000, after = 0): Promise<StoredValue | null> {
    this.jsm ??= await this.nc.jetstreamManager({ timeout: timeoutMs });
    const stream = `KV_${this.bucket}`;
    const info = await this.jsm.streams.info(stream);
    assertQuorum(info, `policy bucket ${this.bucket}`);
    // one key: the stream's last sequence is its latest revision (a put, or a delete marker)
    if (info.state.last_seq <= after) return null;
    try {
      const m = await this.jsm.streams.getMessage(stream, { last_by_subj: `$KV.${this.bucket}.${POLICY_KEY}` });
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
      this.jsm ??= await this.nc.jetstreamManager({ timeout: this.timeoutMs, checkAPI: this.leaderReadsUntil === undefined });
      const m = await this.jsm.streams.getMessage(`KV_${this.bucket}`, { last_by_subj: `$KV.${this.bucket}.${POLICY_KEY}` });
      const op = m.header?.get('KV-Operation') ?? '';
      if (op !== 'DEL' && op !== 'PURGE') { this.conflicts[err.by]++; throw err; }
      return this.publishOn(value, m.seq);
    }
  }

  /** `count`: a refusal counts as a lost race (not when a create first tries an empty key and falls back to a delete marker). */
  private async publishOn(value: Uint8Array, revision: number, count = true): Promise<number> {
    const h = nats().headers();
    h.set('Nats-Expected-Last-Subject-Sequence', String(revision));
    try {
      const ack = await this.js.publish(`$KV.${this.bucket}.${POLICY_KEY}`, value, { headers: h, msgID: `on-${revision}`, timeout: this.timeoutMs });
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
   * Every stored value of the key, oldest first (up to the bucket's history). Throws TIMEOUT when
   * they have not all arrived within `timeoutMs`: nats.js ends its history iterator only when the
   * count the consumer announced has arrived, so deliveries that never come (a stream leader cut
   * off mid-read) kept `policy push` waiting forever, silent.
   */
  async history(): Promise<StoredValue[]> {
    if (this.leaderReads) return this.fromLeader(() => this.leaderValues(false));
    const it = await this.kv.history({ key: POLICY_KEY });
    const out: StoredValue[] = [];
    let late = false;
    const timer = setTimeout(() => { late = true; it.stop(); }, this.timeoutMs);
    try {
      // nats.js 2.29's history() pushes its end-of-history sentinel once more, as undefined, when a
      // value written meanwhile arrives before the iterator ran it (README Limitations): skipped
      for await (const e of it) if (e !== undefined && e.operation === 'PUT') out.push({ revision: e.revision, value: e.value });
    } finally { clearTimeout(timer); }
    if (late) throw new Error(`TIMEOUT: the policy bucket's history (${out.length} value(s) so far) did not arrive within ${this.timeoutMs} ms`);
    return out;
  }

  /** `read`, asked again while it gets no answer (a leader election), until `leaderReadsUntil` (or for `leaderReadsForMs`). */
  private async fromLeader<T>(read: () => Promise<T>): Promise<T> {
    const until = this.leaderReadsUntil ?? Date.now() + this.leaderReadsForMs!;
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
    this.jsm ??= await this.nc.jetstreamManager({ timeout: this.timeoutMs, checkAPI: false });
    const stream = `KV_${this.bucket}`;
    const subject = `$KV.${this.bucket}.${POLICY_KEY}`;
    const out: StoredValue[] = [];
    for (let seq = 1; ;) {
      let m;
      try {
        // next_by_subj (nats-server ≥ 2.9): the first message on the subject from seq on; nats.js 2.29 types it for direct gets only
        m = await this.jsm.streams.getMessage(stream, last ? { last_by_subj: subject } : ({ seq, next_by_subj: subject } as unknown as MsgRequest));
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
