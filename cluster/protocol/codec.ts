// msgpackr codec for bus messages: fixed shared record structures (one per message
// spec, append-only), strict decode that validates shape and version. A bad message
// is dropped and counted; decode never throws, and no message changes how the next one decodes.
import { Packr } from 'msgpackr';
import { MESSAGE_SPECS, SAME_RECORD_SPECS, type BusMessage } from './messages.js';
import { isPlainObject, type MessageSpec } from './message-spec.js';

/** Why an incoming message was dropped. */
export type DropReason = 'malformed' | 'unknown_type' | 'unknown_version' | 'too_large';

/** Default largest accepted message: 1 MiB (NATS' default max_payload). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/** Counters of one codec (one per cluster member). */
export interface CodecStats {
  encoded: number;
  decoded: number;
  dropped_malformed: number;
  dropped_unknown_type: number;
  dropped_unknown_version: number;
  dropped_too_large: number;
}

/** Encode/decode bus messages. One instance per member; it holds the drop counters. */
export class Codec {
  private readonly packr: Packr;
  /** The shared structures as built here: put back after every decode (see `restoreStructures`). */
  private readonly shared: string[][];
  private readonly specs = new Map<string, Map<number, MessageSpec<BusMessage>>>();
  private readonly counters: CodecStats = { encoded: 0, decoded: 0, dropped_malformed: 0, dropped_unknown_type: 0, dropped_unknown_version: 0, dropped_too_large: 0 };
  /** The type the last dropped message named (null: none readable): what an unreadable message was meant to be. */
  lastDropType: string | null = null;
  /** Called for every dropped message (for a rate-limited log line); never gets the bytes. */
  onDrop: ((reason: DropReason, type: string | null) => void) | null = null;

  constructor(private readonly maxBytes = MAX_MESSAGE_BYTES) {
    for (const s of [...MESSAGE_SPECS, ...SAME_RECORD_SPECS]) {
      let byV = this.specs.get(s.type);
      if (byV === undefined) { byV = new Map(); this.specs.set(s.type, byV); }
      byV.set(s.v, s);
    }
    const structures = MESSAGE_SPECS.map((s) => [...s.fields]);
    this.shared = [...structures];
    // maxSharedStructures = exactly our list: msgpackr then writes any other shape inline
    // instead of growing the shared table, so members never disagree on structure ids.
    this.packr = new Packr({ structures, maxSharedStructures: structures.length, useRecords: true, moreTypes: false, bundleStrings: false, mapsAsObjects: true });
  }

  /** Encode a message in its spec's field order (missing optional fields become null). Throws only on a programming error (unknown type). */
  encode(msg: BusMessage): Uint8Array {
    const spec = this.specs.get(msg.type)?.get(msg.v);
    if (spec === undefined) throw new Error(`no codec spec for ${msg.type} v${msg.v}`);
    const o: Record<string, unknown> = {};
    const m = msg as unknown as Record<string, unknown>;
    for (const f of spec.fields) o[f] = m[f] ?? null;
    this.counters.encoded++;
    return this.packr.pack(o);
  }

  /** Decode and validate; null (counted by reason) for anything malformed, too large, of unknown type or version. */
  decode(bytes: Uint8Array): BusMessage | null {
    if (bytes.byteLength > this.maxBytes) return this.drop('too_large', null);
    let o: unknown;
    try {
      o = this.packr.unpack(bytes);
    } catch {
      this.restoreStructures();
      return this.drop('malformed', null);
    }
    // A message whose own record is defined inline (it begins with msgpackr's record definition,
    // 0xd4 0x72) over a shared one is not one any build writes: its fields are the sender's invention.
    // A nested object defined under a shared id is: a build with fewer shared records defines nested
    // records from the end of its own list (dropped before, an older member's fills and heartbeats).
    if (this.restoreStructures() && bytes[0] === 0xd4 && bytes[1] === 0x72) return this.drop('malformed', null);
    if (!isPlainObject(o) || typeof o.type !== 'string') return this.drop('malformed', null);
    const byV = this.specs.get(o.type);
    if (byV === undefined) return this.drop('unknown_type', o.type.slice(0, 64));
    if (typeof o.v !== 'number' || !Number.isSafeInteger(o.v)) return this.drop('malformed', o.type);
    const spec = byV.get(o.v);
    if (spec === undefined) return this.drop('unknown_version', o.type);
    let msg: BusMessage | null;
    try {
      msg = spec.parse(o);
    } catch {
      msg = null;
    }
    if (msg === null) return this.drop('malformed', o.type);
    this.counters.decoded++;
    return msg;
  }

  /** A copy of the counters. */
  stats(): CodecStats {
    return { ...this.counters };
  }

  /**
   * msgpackr keeps a record definition read from a message in the decoder's table — a shared id
   * included — so one message could make every later one decode to other fields (a revocation's
   * `value` read as its `origin`). Put the table back as built; true when a shared id was redefined.
   */
  private restoreStructures(): boolean {
    const table = (this.packr as unknown as { structures?: unknown[] }).structures;
    if (table === undefined) return false;
    let redefined = false;
    for (let i = 0; i < this.shared.length; i++) {
      if (table[i] !== this.shared[i]) { table[i] = this.shared[i]; redefined = true; }
    }
    // Ids past the shared ones live for one message only: each message carries its own definitions.
    if (table.length > this.shared.length) table.length = this.shared.length;
    return redefined;
  }

  private drop(reason: DropReason, type: string | null): null {
    this.counters[`dropped_${reason}`]++;
    this.lastDropType = type;
    try { this.onDrop?.(reason, type); } catch { /* a listener must not break decoding */ }
    return null;
  }
}
