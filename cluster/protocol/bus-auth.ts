// Authentication of bus messages between members over NATS: an HMAC-SHA256 envelope
// around the codec bytes, bound to the subject (and, for replies, to the request), with a
// signing time for freshness and a key id so keys can rotate. IPC needs none (one process tree).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { MIN_KEY_BYTES } from '../../node/contracts/index.js';

/** Why an envelope was refused: none, a MAC that does not match, a key nobody configured, or signed too long ago (or ahead). */
export type AuthRejectReason = 'unsigned' | 'bad_mac' | 'unknown_key' | 'stale';

/** An opened envelope: the codec bytes inside, when they were signed (epoch ms), and the tag (binds a reply to its request). */
export type Opened =
  | { readonly ok: true; readonly payload: Uint8Array; readonly signedAt: number; readonly tag: Uint8Array }
  | { readonly ok: false; readonly reason: AuthRejectReason };

/** Key material and the freshness window. */
export interface BusAuthOptions {
  /** Signs every message and verifies; at least 32 bytes. */
  readonly key: Uint8Array;
  /** Still accepted (never used to sign) while a rotation rolls out; at least 32 bytes. */
  readonly previousKey?: Uint8Array | null;
  /** Live messages signed more than this before or after now are `stale`, ms (default 30 000). */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

/** Counters: refused envelopes by reason. */
export type BusAuthStats = Record<`rejected_${AuthRejectReason}`, number> & { signed: number; verified: number };

/** First byte of an envelope, format v1. A codec record never starts with it (msgpackr records start 0x40–0x7f). */
export const ENVELOPE_V1 = 0xb1;
const KID_BYTES = 4;
const TAG_BYTES = 32;
/** magic + key id + signedAt (float64 ms). */
const HEAD_BYTES = 1 + KID_BYTES + 8;
/** Bytes an envelope adds to a message. */
export const ENVELOPE_OVERHEAD = HEAD_BYTES + TAG_BYTES;
const DOMAIN = Buffer.from('portcullis bus v1\0');
const NUL = Buffer.from([0]);
const EMPTY = Buffer.alloc(0);

interface Key { readonly id: Buffer; readonly mac: Buffer; readonly idHex: string }

/** Key id: 4 bytes of SHA-256 over the secret, shown in /readyz so operators can compare members without seeing the key. */
export function busKeyId(secret: Uint8Array): string {
  return deriveKey(secret).idHex;
}

function deriveKey(secret: Uint8Array): Key {
  if (secret.byteLength < MIN_KEY_BYTES) throw new Error(`bus key too short: ${secret.byteLength} bytes, at least ${MIN_KEY_BYTES} needed`);
  const id = createHash('sha256').update('portcullis bus key id v1\0').update(secret).digest().subarray(0, KID_BYTES);
  // A key of its own for the MAC: the same secret reused elsewhere cannot be turned against the bus.
  const mac = createHmac('sha256', secret).update('portcullis bus mac v1').digest();
  return { id, mac, idHex: id.toString('hex') };
}

/** Subject string a reply is bound to: the request's subject, marked so a request can never pass as a reply. */
export function replySubject(requestSubject: string): string {
  return `<reply>${requestSubject}`;
}

/**
 * Seals and opens envelopes: `0xb1 | key id (4) | signedAt ms (float64 BE) | HMAC-SHA256 (32) | payload`.
 * The MAC covers the subject, the context (a request's tag for its reply), the head and the payload.
 */
export class BusAuth {
  private readonly current: Key;
  private readonly previous: Key | null;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly counters: BusAuthStats = { signed: 0, verified: 0, rejected_unsigned: 0, rejected_bad_mac: 0, rejected_unknown_key: 0, rejected_stale: 0 };

  /** Throws when a key is shorter than 32 bytes. */
  constructor(opts: BusAuthOptions) {
    this.current = deriveKey(opts.key);
    this.previous = opts.previousKey == null ? null : deriveKey(opts.previousKey);
    this.maxAgeMs = opts.maxAgeMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  /** Hex ids of the signing key and the previous one (null when none). */
  keyIds(): { readonly current: string; readonly previous: string | null } {
    return { current: this.current.idHex, previous: this.previous?.idHex ?? null };
  }

  /** Wrap `payload` for `subject`; `context` is the request's tag when sealing a reply. */
  seal(subject: string, payload: Uint8Array, context: Uint8Array | null = null, signedAt: number = this.now()): Uint8Array {
    const out = Buffer.allocUnsafe(ENVELOPE_OVERHEAD + payload.byteLength);
    out[0] = ENVELOPE_V1;
    this.current.id.copy(out, 1);
    out.writeDoubleBE(Math.floor(signedAt), 1 + KID_BYTES);
    const tag = this.mac(this.current, subject, context, out.subarray(0, HEAD_BYTES), payload);
    tag.copy(out, HEAD_BYTES);
    out.set(payload, ENVELOPE_OVERHEAD);
    this.counters.signed++;
    return out;
  }

  /**
   * Verify and unwrap. `fresh`: refuse one signed more than the window away from now (live
   * messages); stored ones (the revocation stream) are legitimately older and pass with their
   * signing time, which callers bound their content by. Refusals are counted, never thrown.
   */
  open(subject: string, data: Uint8Array, fresh: boolean, context: Uint8Array | null = null): Opened {
    if (data.byteLength < ENVELOPE_OVERHEAD || data[0] !== ENVELOPE_V1) return this.reject('unsigned');
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const kid = buf.subarray(1, 1 + KID_BYTES);
    const key = kid.equals(this.current.id) ? this.current : this.previous !== null && kid.equals(this.previous.id) ? this.previous : null;
    if (key === null) return this.reject('unknown_key');
    const payload = buf.subarray(ENVELOPE_OVERHEAD);
    const tag = buf.subarray(HEAD_BYTES, ENVELOPE_OVERHEAD);
    if (!timingSafeEqual(tag, this.mac(key, subject, context, buf.subarray(0, HEAD_BYTES), payload))) return this.reject('bad_mac');
    const signedAt = buf.readDoubleBE(1 + KID_BYTES);
    if (!Number.isSafeInteger(signedAt) || signedAt < 0) return this.reject('bad_mac');
    if (fresh && Math.abs(this.now() - signedAt) > this.maxAgeMs) return this.reject('stale');
    this.counters.verified++;
    return { ok: true, payload, signedAt, tag };
  }

  /** A copy of the counters. */
  stats(): BusAuthStats {
    return { ...this.counters };
  }

  private mac(key: Key, subject: string, context: Uint8Array | null, head: Uint8Array, payload: Uint8Array): Buffer {
    return createHmac('sha256', key.mac).update(DOMAIN).update(subject).update(NUL).update(context ?? EMPTY).update(NUL).update(head).update(payload).digest();
  }

  private reject(reason: AuthRejectReason): Opened {
    this.counters[`rejected_${reason}`]++;
    return { ok: false, reason };
  }
}

/** The tag of an envelope sealed by `seal` (the context its reply is bound to); null for anything else. */
export function envelopeTag(data: Uint8Array): Uint8Array | null {
  if (data.byteLength < ENVELOPE_OVERHEAD || data[0] !== ENVELOPE_V1) return null;
  return data.subarray(HEAD_BYTES, ENVELOPE_OVERHEAD);
}
