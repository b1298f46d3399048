// SSF 1.0 §8 stream management for one transmitter, as a receiver: its metadata
// (`/.well-known/ssf-configuration`), our stream at its `configuration_endpoint` (created when
// absent, `events_requested` brought in line), a verification event requested (§8.1.4) and the
// stream's status (§8.1.2). Every member reads the stream and its status (so each knows
// `events_delivered` and reports the status); only the member owning `ssf-stream:<name>` by the
// cluster's rendezvous rule creates, updates and asks for verification.
import type { Dispatcher } from 'undici';
import { undici } from '../lazy-packages.js';
import { streamDelivery, type EventSourceConfig } from '../config/index.js';
import type { RevocationPublisher } from '../contracts/index.js';
import { loggedUrl, type Logger } from '../log.js';
import { metadataEndpoint } from '../jwt/index.js';
import { sameEndpointUrl } from './endpoint-url-match.js';

export const PUSH_METHOD = 'urn:ietf:rfc:8935';
export const POLL_METHOD = 'urn:ietf:rfc:8936';
/** Largest management answer read, bytes. */
const MAX_ANSWER_BYTES = 256 * 1024;
/** No creation before this long after start, nor before the member's view has heard its peers (publisher.converged()): two members do not both create. */
const SETTLE_MS = 2_500;
/** Retry delay after a failed round (capped exponential from here), ms. */
const RETRY_MS = 1_000;

export type StreamStatus = 'enabled' | 'paused' | 'disabled' | 'unknown';
export const STREAM_STATUSES: readonly StreamStatus[] = ['enabled', 'paused', 'disabled', 'unknown'];

/** What /readyz reports for one managed stream (never a secret). */
export interface StreamView {
  /** This member manages the stream (creates, updates, asks for verification). */
  readonly manager: boolean;
  readonly stream_id: string | null;
  readonly status: StreamStatus;
  readonly reason: string | null;
  readonly events_delivered: readonly string[] | null;
  /** Epoch s this member last asked for a verification event; null = never. */
  readonly verification_requested_at: number | null;
  /** Epoch s a verification SET for this stream last reached this member; null = none yet. */
  readonly verified_at: number | null;
  /** The last failure reading or managing the stream; null after a good round. */
  readonly error: string | null;
}

export interface StreamDeps {
  /** Ownership (`owns`); null = a lone instance, which manages its streams itself. */
  readonly publisher: RevocationPublisher | null;
  readonly logger: Logger;
  /** Authorization header value for the management endpoints. */
  readonly authorization: string;
  /** Push delivery: the Authorization value the transmitter is to send with each push. */
  readonly pushAuthorization: string | null;
  /** The event types to request (what our mapping does something with). */
  readonly eventsRequested: readonly string[];
  /** Count one outcome (`events.<source>.stream.<result>`). */
  readonly count: (result: string) => void;
  readonly dispatcher?: Dispatcher;
}

interface Metadata { readonly configuration_endpoint: string; readonly verification_endpoint: string | null; readonly status_endpoint: string | null }
type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const strs = (v: unknown): string[] | null => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v as string[] : null);

/** The stream manager of one source (one per process). */
export class SsfStreamManager {
  /** performance.now() at construction: the settle window is a length, so a wall-clock step at boot neither ends nor stretches it. */
  readonly #started = performance.now();
  readonly #delivery: 'push' | 'poll';
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #failures = 0;
  #meta: Metadata | null = null;
  #streamId: string | null = null;
  #status: StreamStatus = 'unknown';
  #reason: string | null = null;
  #delivered: ReadonlySet<string> | null = null;
  #manager = false;
  #requestedAt: number | null = null;
  #verifiedAt: number | null = null;
  #error: string | null = null;

  constructor(readonly name: string, readonly src: EventSourceConfig, private readonly deps: StreamDeps) {
    this.#delivery = streamDelivery(src);
  }

  start(): void {
    if (this.#timer === null && !this.#closed) this.#schedule(0);
  }

  stop(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** The stream's `events_delivered`; null while unknown (not read yet), when events are judged by the mapping alone. */
  delivered(): ReadonlySet<string> | null {
    return this.#delivered;
  }

  /** A verification SET of this stream was accepted here. */
  noteVerified(): void {
    this.#verifiedAt = Math.floor(Date.now() / 1000);
    this.deps.logger.info({ source: this.name, stream_id: this.#streamId }, 'SSF stream verified: the transmitter delivered the verification event');
  }

  view(): StreamView {
    return {
      manager: this.#manager, stream_id: this.#streamId, status: this.#status, reason: this.#reason,
      events_delivered: this.#delivered === null ? null : [...this.#delivered],
      verification_requested_at: this.#requestedAt, verified_at: this.#verifiedAt, error: this.#error,
    };
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => { this.#timer = null; void this.#round(); }, ms);
    this.#timer.unref();
  }

  async #round(): Promise<void> {
    if (this.#closed) return;
    // owns() is false too until the view converged; before, a member whose bus connected late managed alongside its peer
    const settled = performance.now() - this.#started >= SETTLE_MS && (this.deps.publisher === null || this.deps.publisher.converged());
    let next = this.src.stream!.refresh_s * 1000;
    try {
      const owner = this.deps.publisher === null || this.deps.publisher.owns(`ssf-stream:${this.name}`);
      const manage = owner && settled;
      if (manage && !this.#manager) this.#requestedAt = null; // a member that takes over asks for verification again
      this.#manager = manage;
      this.#meta ??= await this.#metadata();
      const stream = await this.#readStream(this.#meta);
      if (stream === null && !manage) {
        // the manager has not created it yet (or this member has not settled): look again soon
        this.#status = 'unknown';
        this.#error = 'no stream at the transmitter yet';
        next = Math.min(next, owner || !settled ? SETTLE_MS : 2_000);
      } else {
        const s = stream ?? await this.#create(this.#meta);
        this.#adopt(manage ? await this.#align(this.#meta, s) : s);
        if (manage && this.src.stream!.verify && this.#requestedAt === null) await this.#verify(this.#meta);
        await this.#readStatus(this.#meta);
        this.#error = null;
        // not settled: this member may be the owner once its view converged; look again soon, not after refresh_s
        if (!settled) next = Math.min(next, SETTLE_MS);
      }
      this.#failures = 0;
    } catch (err) {
      this.#failures++;
      this.#error = String((err as Error)?.message ?? err);
      this.deps.count('failed');
      if (this.#failures === 1 || this.#failures % 30 === 0) this.deps.logger.warn({ source: this.name, err: this.#error, failures: this.#failures }, 'SSF stream management failed; retrying');
      // metadata may have moved: read it again next time
      this.#meta = null;
      next = Math.min(next, RETRY_MS * 2 ** Math.min(this.#failures - 1, 6));
    }
    this.#schedule(next);
  }

  async #call(method: 'GET' | 'POST' | 'PATCH', url: string, body?: Json, auth = true): Promise<{ status: number; json: unknown }> {
    // stream.timeout_ms bounds the whole call: undici's timeouts are idle timers, and a transmitter that
    // drips its answer a byte at a time would otherwise hold the management loop (never rescheduled) forever
    const timeoutMs = this.src.stream!.timeout_ms;
    const signal = AbortSignal.timeout(timeoutMs);
    const chunks: Buffer[] = [];
    let res: Awaited<ReturnType<ReturnType<typeof undici>['request']>>;
    try {
      res = await undici().request(url, {
        method, signal,
        headers: { accept: 'application/json', ...(auth ? { authorization: this.deps.authorization } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(this.deps.dispatcher === undefined ? {} : { dispatcher: this.deps.dispatcher }),
      });
      let n = 0;
      for await (const c of res.body) {
        n += (c as Buffer).length;
        if (n > MAX_ANSWER_BYTES) { res.body.destroy(); throw new Error(`${method} ${new URL(url).pathname} answer exceeds ${MAX_ANSWER_BYTES} bytes`); }
        chunks.push(c as Buffer);
      }
    } catch (err) {
      if (signal.aborted) throw new Error(`${method} ${new URL(url).pathname}: no complete answer within ${timeoutMs} ms`);
      throw err;
    }
    const text = Buffer.concat(chunks).toString('utf8');
    let json: unknown = null;
    if (text !== '') { try { json = JSON.parse(text); } catch { json = null; } }
    return { status: res.statusCode, json };
  }

  /** SSF 1.0 §7.2: the metadata document under the issuer; its `issuer` must be the configured one. */
  async #metadata(): Promise<Metadata> {
    const u = new URL(this.src.issuer);
    const path = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
    const url = `${u.origin}/.well-known/ssf-configuration${path}`;
    const r = await this.#call('GET', url, undefined, false);
    if (r.status !== 200 || !isObj(r.json)) throw new Error(`SSF metadata answered ${r.status}`);
    const m = r.json;
    if (m.issuer !== this.src.issuer) throw new Error('SSF metadata names another issuer');
    // an https document naming a plain-http endpoint would send our management Authorization in clear text
    const at = (k: string): string | null => {
      const e = metadataEndpoint(url, m[k]);
      if (e === 'downgrade') throw new Error(`SSF metadata names a plain http ${k} in an https document (refused)`);
      return e === 'missing' ? null : e;
    };
    const configuration = at('configuration_endpoint');
    if (configuration === null) throw new Error('SSF metadata has no configuration_endpoint');
    const verification = at('verification_endpoint');
    const status = at('status_endpoint');
    const methods = strs(m.delivery_methods_supported);
    const want = this.#delivery === 'push' ? PUSH_METHOD : POLL_METHOD;
    if (methods !== null && !methods.includes(want)) throw new Error(`the transmitter does not support ${this.#delivery} delivery (${want})`);
    return {
      configuration_endpoint: configuration,
      verification_endpoint: verification,
      status_endpoint: status,
    };
  }

  /** Ours among the receiver's streams (§8.1.1.2): same delivery method and, for push, our endpoint URL. */
  async #readStream(meta: Metadata): Promise<Json | null> {
    const r = await this.#call('GET', meta.configuration_endpoint);
    if (r.status === 404) return null;
    if (r.status !== 200) throw new Error(`reading the stream configuration answered ${r.status}`);
    const list = Array.isArray(r.json) ? r.json : isObj(r.json) ? [r.json] : [];
    const want = this.#delivery === 'push' ? PUSH_METHOD : POLL_METHOD;
    const mine = list.filter(isObj).find((s) => {
      const d = s.delivery;
      if (!isObj(d) || d.method !== want) return false;
      return this.#delivery === 'poll' || (typeof d.endpoint_url === 'string' && sameEndpointUrl(d.endpoint_url, this.src.stream!.push_url!));
    });
    return mine ?? null;
  }

  /** §8.1.1.1: create the stream. */
  async #create(meta: Metadata): Promise<Json> {
    const delivery = this.#delivery === 'push'
      ? { method: PUSH_METHOD, endpoint_url: this.src.stream!.push_url, ...(this.deps.pushAuthorization === null ? {} : { authorization_header: this.deps.pushAuthorization }) }
      : { method: POLL_METHOD };
    const r = await this.#call('POST', meta.configuration_endpoint, {
      delivery, events_requested: this.deps.eventsRequested, description: this.src.stream!.description ?? `portcullis receiver (${this.name})`,
    });
    if ((r.status !== 201 && r.status !== 200) || !isObj(r.json)) throw new Error(`creating the stream answered ${r.status}`);
    this.deps.count('created');
    this.deps.logger.info({ source: this.name, stream_id: r.json.stream_id, delivery: this.#delivery }, 'SSF stream created at the transmitter');
    return r.json;
  }

  /** §8.1.1.3: ask for exactly our events when the stream asks for others (a config change altered the mapping). */
  async #align(meta: Metadata, s: Json): Promise<Json> {
    const have = strs(s.events_requested) ?? [];
    const want = this.deps.eventsRequested;
    if (have.length === want.length && want.every((e) => have.includes(e))) return s;
    const r = await this.#call('PATCH', meta.configuration_endpoint, { stream_id: s.stream_id, events_requested: want });
    if (r.status !== 200 || !isObj(r.json)) throw new Error(`updating the stream's events_requested answered ${r.status}`);
    this.deps.count('updated');
    this.deps.logger.info({ source: this.name, stream_id: s.stream_id }, 'SSF stream events_requested updated at the transmitter');
    return r.json;
  }

  #adopt(s: Json): void {
    if (typeof s.stream_id !== 'string' || s.stream_id === '') throw new Error('the stream configuration has no stream_id');
    this.#streamId = s.stream_id;
    const delivered = strs(s.events_delivered);
    this.#delivered = delivered === null ? null : new Set(delivered);
    const d = s.delivery;
    if (this.#delivery === 'poll' && isObj(d) && typeof d.endpoint_url === 'string' && !sameEndpointUrl(d.endpoint_url, this.src.poll?.endpoint ?? '')) {
      // the transmitter's URL may carry the poll key in its query (the configured one, or another): never shown
      throw new Error(`the stream's poll endpoint_url (${loggedUrl(d.endpoint_url)}${/[?#@]/.test(d.endpoint_url) ? ', userinfo, query and fragment not shown' : ''}) is not poll.endpoint`);
    }
  }

  /** §8.1.4: ask the transmitter to send a verification event (once per taking over management). */
  async #verify(meta: Metadata): Promise<void> {
    if (meta.verification_endpoint === null) { this.#requestedAt = 0; return; }
    const r = await this.#call('POST', meta.verification_endpoint, { stream_id: this.#streamId, state: `portcullis-${this.name}-${Date.now()}` });
    // 429: the transmitter's min_verification_interval; not a failure of the stream
    if (r.status !== 204 && r.status !== 200 && r.status !== 202 && r.status !== 429) throw new Error(`requesting a verification event answered ${r.status}`);
    this.#requestedAt = Math.floor(Date.now() / 1000);
    this.deps.count(r.status === 429 ? 'verification_throttled' : 'verification_requested');
  }

  /** §8.1.2.1: enabled, paused or disabled (with the transmitter's reason). */
  async #readStatus(meta: Metadata): Promise<void> {
    if (meta.status_endpoint === null || this.#streamId === null) { this.#status = 'unknown'; return; }
    const u = new URL(meta.status_endpoint);
    u.searchParams.set('stream_id', this.#streamId);
    const r = await this.#call('GET', u.toString());
    if (r.status !== 200 || !isObj(r.json)) throw new Error(`reading the stream status answered ${r.status}`);
    const st = r.json.status;
    const next: StreamStatus = st === 'enabled' || st === 'paused' || st === 'disabled' ? st : 'unknown';
    if (next !== this.#status && next !== 'enabled' && this.#manager) {
      this.deps.logger.warn({ source: this.name, stream_id: this.#streamId, status: next }, 'SSF stream is not enabled at the transmitter: no events are delivered');
    }
    this.#status = next;
    this.#reason = typeof r.json.reason === 'string' ? r.json.reason.slice(0, 256) : null;
  }
}
