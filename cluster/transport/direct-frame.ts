// Wire framing of the direct revocation push (member → member over TCP): one frame is
// `u32 BE length | u16 BE subject length | subject (UTF-8) | payload`, length counting all
// that follows it. Bytes only: what the payload means (a sealed bus envelope) is decided above.

/** Largest frame accepted or sent, bytes after the length prefix (a sealed revocation is < 1 KiB): 4 KiB. */
export const MAX_DIRECT_FRAME_BYTES = 4096;
/** Longest subject, bytes. */
export const MAX_DIRECT_SUBJECT_BYTES = 255;
/** Subject of the frame a listener with a handshake writes on accept; its payload is the nonce the hello must be bound to. */
export const DIRECT_CHALLENGE_SUBJECT = 'portcullis.direct.challenge';
/** Bytes of a challenge nonce. */
export const DIRECT_NONCE_BYTES = 16;
const LEN_BYTES = 4;
const SUBJ_LEN_BYTES = 2;

/** One decoded frame. */
export interface DirectFrame {
  readonly subject: string;
  readonly payload: Uint8Array;
}

/** Why a byte stream was refused: a frame over the bound, or a subject length that does not fit its frame / is not UTF-8. */
export type DirectFrameError = 'oversized' | 'malformed';

/** Encode one frame. Throws when the subject or the whole frame exceeds the bounds (a programming error on the sending side). */
export function encodeDirectFrame(subject: string, payload: Uint8Array): Buffer {
  const subj = Buffer.from(subject, 'utf8');
  if (subj.byteLength === 0 || subj.byteLength > MAX_DIRECT_SUBJECT_BYTES) throw new Error(`direct frame subject of ${subj.byteLength} bytes`);
  const len = SUBJ_LEN_BYTES + subj.byteLength + payload.byteLength;
  if (len > MAX_DIRECT_FRAME_BYTES) throw new Error(`direct frame of ${len} bytes exceeds ${MAX_DIRECT_FRAME_BYTES}`);
  const out = Buffer.allocUnsafe(LEN_BYTES + len);
  out.writeUInt32BE(len, 0);
  out.writeUInt16BE(subj.byteLength, LEN_BYTES);
  subj.copy(out, LEN_BYTES + SUBJ_LEN_BYTES);
  out.set(payload, LEN_BYTES + SUBJ_LEN_BYTES + subj.byteLength);
  return out;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Incremental parser for one connection: feed chunks as they arrive, get whole frames back.
 * Holds at most one partial frame (≤ 4 KiB + 4). After an error every later push returns the same error.
 */
export class DirectFrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private failed: DirectFrameError | null = null;

  /** Frames completed by `chunk`, or the error that makes the stream unusable (the caller closes the connection). */
  push(chunk: Uint8Array): DirectFrame[] | DirectFrameError {
    if (this.failed !== null) return this.failed;
    this.buf = this.buf.byteLength === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([this.buf, chunk]);
    const frames: DirectFrame[] = [];
    let off = 0;
    while (this.buf.byteLength - off >= LEN_BYTES) {
      const len = this.buf.readUInt32BE(off);
      if (len > MAX_DIRECT_FRAME_BYTES) return this.fail('oversized');
      if (len < SUBJ_LEN_BYTES + 1) return this.fail('malformed');
      if (this.buf.byteLength - off < LEN_BYTES + len) break;
      const start = off + LEN_BYTES;
      const subjLen = this.buf.readUInt16BE(start);
      if (subjLen === 0 || subjLen > MAX_DIRECT_SUBJECT_BYTES || SUBJ_LEN_BYTES + subjLen > len) return this.fail('malformed');
      let subject: string;
      try {
        subject = UTF8.decode(this.buf.subarray(start + SUBJ_LEN_BYTES, start + SUBJ_LEN_BYTES + subjLen));
      } catch {
        return this.fail('malformed');
      }
      // a copy: the frame outlives this chunk's buffer
      const payload = Uint8Array.prototype.slice.call(this.buf, start + SUBJ_LEN_BYTES + subjLen, start + len);
      frames.push({ subject, payload });
      off = start + len;
    }
    this.buf = off === 0 ? Buffer.from(this.buf) : Buffer.from(this.buf.subarray(off));
    return frames;
  }

  /** Bytes held of an incomplete frame. */
  get pending(): number {
    return this.buf.byteLength;
  }

  private fail(e: DirectFrameError): DirectFrameError {
    this.failed = e;
    this.buf = Buffer.alloc(0);
    return e;
  }
}
