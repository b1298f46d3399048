// The SharedArrayBuffer ring between the revocation receiver thread (one writer) and the
// request thread (one reader): fixed slots, an Atomics write sequence the reader polls with
// one load, a read sequence the writer never overtakes (a full ring drops and counts, never
// blocks), and shared counters the thread bumps for /metrics.

/** Slots in the ring (a power of two): revocations written and not yet drained, at most. */
export const RING_SLOTS = 256;
/** Bytes per slot, header included: a revocation's codec bytes above SLOT_BYTES − 24 are dropped (counted). */
export const RING_SLOT_BYTES = 2_048;
const SLOT_HEAD = 24; // u32 length | u8 kind | 3 pad | f64 signedAt (NaN: none) | f64 visibleAt
/** Int32 cells before the slots. */
const HEAD_CELLS = 16;

/** Header cells (Int32, read and written with Atomics only). */
export const RingCell = {
  /** Records written, mod 2^32. */
  write: 0,
  /** Records drained, mod 2^32. */
  read: 1,
  /** 1 while a wake-up message is on its way to the reader (coalesces them). */
  wake: 2,
  droppedFull: 3,
  droppedOversized: 4,
  /** 1 while the thread's NATS connection is up. */
  connected: 5,
  refusedUnsigned: 6,
  refusedBadMac: 7,
  refusedUnknownKey: 8,
  refusedStale: 9,
  /** Codec, subject/kind or admin-rule failures. */
  refusedInvalid: 10,
} as const;

/** One record as the reader gets it. */
export interface RingRecord {
  /** Index into REVOCATION_KINDS (the subject it arrived on). */
  readonly kind: number;
  /** When the sender signed it, epoch ms; null without bus authentication. */
  readonly signedAt: number | null;
  /** When the thread wrote it (the moment every check sees it), epoch ms. */
  readonly visibleAt: number;
  /** The verified codec bytes (a copy: the slot is reused once drained). */
  readonly payload: Uint8Array;
}

/** A fresh ring (shared memory) to hand to both sides. `slots` must be a power of two (tests use small ones). */
export function createRing(slots: number = RING_SLOTS, slotBytes: number = RING_SLOT_BYTES): SharedArrayBuffer {
  if (slots < 1 || (slots & (slots - 1)) !== 0) throw new Error(`ring slots must be a power of two, got ${slots}`);
  if (slotBytes <= SLOT_HEAD || slotBytes % 8 !== 0) throw new Error(`ring slot bytes must be a multiple of 8 above ${SLOT_HEAD}, got ${slotBytes}`);
  const sab = new SharedArrayBuffer(HEAD_CELLS * 4 + 8 + slots * slotBytes);
  new Int32Array(sab, 0, HEAD_CELLS + 2).set([slots, slotBytes], HEAD_CELLS);
  return sab;
}

class RingView {
  protected readonly head: Int32Array;
  protected readonly slots: number;
  protected readonly slotBytes: number;
  protected readonly bytes: Uint8Array;
  protected readonly view: DataView;
  protected readonly base = HEAD_CELLS * 4 + 8;

  constructor(readonly sab: SharedArrayBuffer) {
    this.head = new Int32Array(sab, 0, HEAD_CELLS);
    const dims = new Int32Array(sab, HEAD_CELLS * 4, 2);
    this.slots = dims[0]!;
    this.slotBytes = dims[1]!;
    this.bytes = new Uint8Array(sab);
    this.view = new DataView(sab);
  }

  /** A counter cell's value. */
  cell(c: number): number {
    return Atomics.load(this.head, c);
  }

  /** Largest payload a slot holds, bytes. */
  get maxPayload(): number {
    return this.slotBytes - SLOT_HEAD;
  }
}

/** The thread's side: writes whole records, then publishes them with one Atomics.store. */
export class RingWriter extends RingView {
  /**
   * Write one record. Returns false (and counts it) when the ring is full — the reader has not
   * drained `slots` records yet — or the payload does not fit a slot. Never blocks.
   */
  write(kind: number, signedAt: number | null, visibleAt: number, payload: Uint8Array): boolean {
    if (payload.byteLength > this.maxPayload) { Atomics.add(this.head, RingCell.droppedOversized, 1); return false; }
    const w = Atomics.load(this.head, RingCell.write);
    if (((w - Atomics.load(this.head, RingCell.read)) >>> 0) >= this.slots) { Atomics.add(this.head, RingCell.droppedFull, 1); return false; }
    const at = this.base + (w & (this.slots - 1)) * this.slotBytes;
    this.view.setUint32(at, payload.byteLength);
    this.view.setUint8(at + 4, kind);
    this.view.setFloat64(at + 8, signedAt ?? Number.NaN);
    this.view.setFloat64(at + 16, visibleAt);
    this.bytes.set(payload, at + SLOT_HEAD);
    // publishes the slot: a reader that loads the new sequence sees every byte written above
    Atomics.store(this.head, RingCell.write, (w + 1) | 0);
    return true;
  }

  /** True when this call set the wake flag (the caller then tells the reader once; later writes ride along until it drains). */
  claimWake(): boolean {
    return Atomics.compareExchange(this.head, RingCell.wake, 0, 1) === 0;
  }

  /** Bump a counter cell. */
  count(c: number): void {
    Atomics.add(this.head, c, 1);
  }

  /** Set the connected cell. */
  setConnected(up: boolean): void {
    Atomics.store(this.head, RingCell.connected, up ? 1 : 0);
  }
}

/** The request thread's side: `pending()` is one Atomics.load; `drain` hands out whole records in order. */
export class RingReader extends RingView {
  private r: number;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    this.r = Atomics.load(this.head, RingCell.read);
  }

  /** True when the thread wrote something not yet drained. The hot path's only cost when nothing is pending. */
  pending(): boolean {
    return Atomics.load(this.head, RingCell.write) !== this.r;
  }

  /** The writer thread is gone: its connection with it. */
  clearConnected(): void {
    Atomics.store(this.head, RingCell.connected, 0);
  }

  /** Hand every record written so far to `fn` (oldest first), freeing each slot after it; returns how many. */
  drain(fn: (r: RingRecord) => void): number {
    // cleared first: a write after this load sets it again and sends another wake-up
    Atomics.store(this.head, RingCell.wake, 0);
    const w = Atomics.load(this.head, RingCell.write);
    let n = 0;
    while (this.r !== w) {
      const at = this.base + (this.r & (this.slots - 1)) * this.slotBytes;
      const len = this.view.getUint32(at);
      const signedAt = this.view.getFloat64(at + 8);
      const rec: RingRecord = {
        kind: this.view.getUint8(at + 4), signedAt: Number.isNaN(signedAt) ? null : signedAt, visibleAt: this.view.getFloat64(at + 16),
        payload: this.bytes.slice(at + SLOT_HEAD, at + SLOT_HEAD + len),
      };
      this.r = (this.r + 1) | 0;
      Atomics.store(this.head, RingCell.read, this.r);
      n++;
      fn(rec);
    }
    return n;
  }
}
