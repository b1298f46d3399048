// RFC 8936 poll delivery for one SSF transmitter: every process runs this loop, but only the
// member that owns `ssf-poll:<name>` by the cluster's rendezvous rule polls, so one member polls
// a stream at a time and another takes over when it leaves or dies. A SET is acknowledged only
// once its revocation is stored in the revocation stream (or it needs none); what is not
// acknowledged is delivered again, and applying it again is a no-op (same revocation id).
import type { Dispatcher } from 'undici';
import { undici } from '../lazy-packages.js';
import type { EventSourceConfig } from '../config/index.js';
import type { RevocationPublisher } from '../contracts/index.js';
import type { JwksActor } from '../jwt/index.js';
import type { Logger } from '../log.js';
import { applyDrop, auditApplied, judgeSet, type DropCached } from './ssf-push.js';
import { publishWithCompanion } from './session-logout.js';

/** Largest poll answer read, bytes (100 SETs of a few KiB each). */
const MAX_POLL_BYTES = 4 * 1024 * 1024;
/** SET ids remembered to tell a transmitter that moved on from one handing out what it handed out before: count, and their characters. */
const MAX_SEEN_IDS = 10_000;
const MAX_SEEN_CHARS = 4 * 1024 * 1024;
/** Most polls in any second: back-to-back polls past it wait for the second to end (a transmitter handing out new SETs without end). */
export const MAX_POLLS_PER_S = 10;

export interface PollerDeps {
  readonly publisher: RevocationPublisher;
  readonly logger: Logger;
  readonly authorization: string;
  readonly actor: JwksActor;
  /** Count one outcome (`events.<source>.<type>.<result>`). */
  readonly count: (type: string, result: string) => void;
  readonly dispatcher?: Dispatcher;
  /** Drop `sub`'s cached verdicts cluster-wide (drop_cache events). */
  readonly dropCached?: DropCached | null;
  /** A managed stream's `events_delivered` now (null: not managed or not read yet). */
  readonly delivered?: () => ReadonlySet<string> | null;
}

/** The poll loop of one source. */
export class SsfPoller {
  readonly #acks = new Set<string>();
  readonly #errs = new Map<string, { err: string; description: string }>();
  /** SET ids of recent answers (bounded: forgotten all at once past MAX_SEEN_IDS or MAX_SEEN_CHARS). */
  readonly #seen = new Set<string>();
  #seenChars = 0;
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #closed = false;
  #failures = 0;
  /** When the last MAX_POLLS_PER_S polls started, monotonic ms (a wall clock stepped back must not hold the loop), oldest first. */
  readonly #starts: number[] = [];

  constructor(private readonly name: string, private readonly src: EventSourceConfig, private readonly deps: PollerDeps) {}

  start(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#schedule(0);
  }

  stop(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => { this.#timer = null; void this.#round(); }, ms);
    this.#timer.unref();
  }

  async #round(): Promise<void> {
    if (this.#running || this.#closed) return;
    const poll = this.src.poll!;
    // a member whose bus never connected (serving from its snapshot) polls too, acknowledging nothing: what it applies
    // it cannot store, and a cache drop or verification it acknowledged its peers would never see; before, it polled nothing
    // and IdP revocations went unenforced for as long as its bus stayed down
    const alone = this.deps.publisher.isolated();
    if (!alone && !this.deps.publisher.owns(`ssf-poll:${this.name}`)) {
      // another member polls; acknowledgements we still hold are for SETs it will see again (idempotent)
      this.#acks.clear();
      this.#errs.clear();
      this.#schedule(poll.interval_ms);
      return;
    }
    this.#running = true;
    this.#starts.push(performance.now());
    if (this.#starts.length > MAX_POLLS_PER_S) this.#starts.shift();
    let more = false;
    try {
      more = await this.#pollOnce(alone);
      this.#failures = 0;
    } catch (err) {
      this.#failures++;
      this.deps.count('poll', 'failed');
      if (this.#failures === 1 || this.#failures % 60 === 0) this.deps.logger.warn({ source: this.name, err: String(err), failures: this.#failures }, 'SSF poll failed; retrying');
    } finally {
      this.#running = false;
      // alone it acknowledges nothing, not even once its bus connects (what it judged alone is the owner's to
      // acknowledge); a refused SET is reported (setErrs): every member judges it alike
      if (alone) this.#acks.clear();
    }
    this.#schedule(more ? this.#budgetWait() : Math.min(poll.interval_ms * 2 ** Math.min(this.#failures, 6), 60_000));
  }

  /** How long the next back-to-back poll waits, ms: 0 within MAX_POLLS_PER_S a second, else until the oldest of them is a second old. */
  #budgetWait(): number {
    if (this.#starts.length < MAX_POLLS_PER_S) return 0;
    const wait = this.#starts[0]! + 1_000 - performance.now();
    if (wait <= 0) return 0;
    this.deps.count('poll', 'throttled');
    return wait;
  }

  /** One poll request (with the acknowledgements of the last one; `alone`: bus never connected); true when the transmitter has more and sent some. */
  async #pollOnce(alone: boolean): Promise<boolean> {
    const poll = this.src.poll!;
    const body = {
      ack: [...this.#acks], ...(this.#errs.size > 0 ? { setErrs: Object.fromEntries(this.#errs) } : {}),
      maxEvents: poll.max_events, returnImmediately: true,
    };
    // timeout_ms bounds the whole exchange, body included: undici's own timeouts are idle timers, and a
    // transmitter dripping a byte now and then would hold this loop (and every revocation behind it) forever
    const signal = AbortSignal.timeout(poll.timeout_ms);
    let text: string;
    try {
      const res = await undici().request(poll.endpoint, {
        method: 'POST', headers: { authorization: this.deps.authorization, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body), signal, ...(this.deps.dispatcher === undefined ? {} : { dispatcher: this.deps.dispatcher }),
      });
      text = await readLimited(res.body, MAX_POLL_BYTES);
      if (res.statusCode !== 200) throw new Error(`poll endpoint answered ${res.statusCode}`);
    } catch (err) {
      if (signal.aborted) throw new Error(`no complete poll answer within ${poll.timeout_ms} ms`);
      throw err;
    }
    this.deps.count('poll', 'ok');
    // the transmitter has them now
    this.#acks.clear();
    this.#errs.clear();
    const doc = JSON.parse(text) as { sets?: unknown; moreAvailable?: unknown };
    const sets = doc.sets !== null && typeof doc.sets === 'object' && !Array.isArray(doc.sets) ? doc.sets as Record<string, unknown> : {};
    // a SET id a recent answer carried too (acknowledged, refused or left unanswered) is no sign the transmitter moved on
    let fresh = 0;
    for (const jti of Object.keys(sets)) {
      if (this.#seen.has(jti)) continue;
      fresh++;
      if (this.#seen.size >= MAX_SEEN_IDS || this.#seenChars + jti.length > MAX_SEEN_CHARS) { this.#seen.clear(); this.#seenChars = 0; }
      this.#seen.add(jti);
      this.#seenChars += jti.length;
    }
    for (const [jti, set] of Object.entries(sets)) {
      if (this.#closed) break;
      if (typeof set !== 'string') { this.#errs.set(jti, { err: 'invalid_request', description: 'not a compact SET' }); continue; }
      await this.#one(jti, set, alone);
    }
    // more at once only after an answer that moved on: `moreAvailable` with no SET, with only SETs left
    // unacknowledged (their keys could not be fetched: they come again first), or with only SETs recent answers
    // carried (a transmitter ignoring acks, its answer holding one of those too or taking turns between answers:
    // before, polled again at once, each SET republished), would spin the loop
    return doc.moreAvailable === true && fresh > 0 && this.#acks.size + this.#errs.size > 0;
  }

  async #one(jti: string, set: string, alone: boolean): Promise<void> {
    const j = await judgeSet(this.name, this.src, this.deps.actor, set, this.src.jwks.timeout_ms, this.deps.delivered?.() ?? null);
    if (j.kind === 'refuse') {
      this.deps.count(`ssf_${j.type}`, j.result);
      // keys not loaded: no answer, the SET comes again; anything else is the transmitter's to know (RFC 8936 §2.4 setErrs)
      if (j.status === 503) return;
      this.deps.logger.warn({ source: this.name, event: j.type, result: j.result, err: j.err, description: j.message }, 'identity-provider event refused');
      this.#errs.set(jti, { err: j.err, description: j.message });
      return;
    }
    if (j.kind === 'accept') {
      this.deps.count(`ssf_${j.type}`, j.result);
      // as a push says it: an event that revokes nothing (an unmapped subject, an unknown type) is seen, not lost
      this.deps.logger.info({ audit: 'idp_event', source: this.name, event: j.type, result: j.result }, 'identity-provider event accepted, nothing to revoke');
      this.#acks.add(jti);
      return;
    }
    if (j.kind === 'drop') {
      // cannot drop here: left unacknowledged, it comes again
      if (!applyDrop(this.deps.logger, this.name, j, this.deps.dropCached)) { this.deps.count(`ssf_${j.type}`, 'no_cache_link'); return; }
      this.deps.count(`ssf_${j.type}`, 'cache_dropped');
      this.#acks.add(jti);
      return;
    }
    // alone, one applied here already waits in the outbox for the bus: publishing it again each poll only logs again
    if (alone && this.deps.publisher.known(j.id)) return;
    // published every time it arrives: a redelivery of one not yet stored gets stored now (the same id is a no-op otherwise)
    const out = await publishWithCompanion(this.deps.publisher, j.input, j.companion, j.id, j.also);
    if (!out.ok) {
      const full = out.full === true;
      this.deps.count(`ssf_${j.type}`, full ? 'store_full' : 'invalid_revocation');
      this.deps.logger.error({ source: this.name, event: j.type, errors: out.errors }, 'identity-provider event not applied');
      // a full store may take it later (left unacknowledged, it comes again); a revocation refused as invalid is refused
      // every time: the transmitter is told, as a push is answered 400 — before, it came again every poll, never reported
      if (!full) this.#errs.set(jti, { err: 'invalid_request', description: out.errors.join('; ') });
      return;
    }
    if (out.persisted === false) { this.deps.count(`ssf_${j.type}`, 'not_persisted'); return; }
    this.deps.count(`ssf_${j.type}`, 'accepted');
    auditApplied(this.deps.logger, this.name, j.type, j.input, out.id, out.persisted, j.also);
    this.#acks.add(jti);
  }
}

async function readLimited(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > max) { body.destroy(); throw new Error(`poll answer exceeds ${max} bytes`); }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
