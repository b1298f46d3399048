// The direct push framing (cluster/transport/direct-frame.ts): frames survive any split into
// chunks, garbage never throws and never yields a frame past the bounds, oversized and
// malformed prefixes stop the stream for good.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DirectFrameReader, encodeDirectFrame, MAX_DIRECT_FRAME_BYTES } from '../../../../cluster/transport/direct-frame.js';

const subjectArb = fc.stringMatching(/^[a-z0-9_.-]{1,60}$/);
const frameArb = fc.record({ subject: subjectArb, payload: fc.uint8Array({ maxLength: 1500 }) });

/** Cut `buf` at the given (sorted, deduplicated) offsets. */
function cut(buf: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((x) => x % (buf.byteLength + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) { out.push(buf.subarray(prev, p)); prev = p; }
  out.push(buf.subarray(prev));
  return out;
}

describe('direct frames', () => {
  it('round-trip any sequence of frames however the stream is cut', () => {
    fc.assert(fc.property(fc.array(frameArb, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (frames, at) => {
      const stream = Buffer.concat(frames.map((f) => encodeDirectFrame(f.subject, f.payload)));
      const r = new DirectFrameReader();
      const got = cut(stream, at).flatMap((c) => {
        const x = r.push(c);
        if (typeof x === 'string') throw new Error(x);
        return x;
      });
      expect(got.map((f) => ({ subject: f.subject, payload: Buffer.from(f.payload).toString('hex') })))
        .toEqual(frames.map((f) => ({ subject: f.subject, payload: Buffer.from(f.payload).toString('hex') })));
      expect(r.pending).toBe(0);
    }));
  });

  it('garbage never throws, never holds more than one bounded frame, and an error is final', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 5000 }), { maxLength: 6 }), (chunks) => {
      const r = new DirectFrameReader();
      let failed: string | null = null;
      for (const c of chunks) {
        const x = r.push(c);
        if (failed !== null) { expect(x).toBe(failed); continue; }
        if (typeof x === 'string') { failed = x; expect(['oversized', 'malformed']).toContain(x); continue; }
        for (const f of x) expect(f.payload.byteLength).toBeLessThanOrEqual(MAX_DIRECT_FRAME_BYTES);
        expect(r.pending).toBeLessThan(MAX_DIRECT_FRAME_BYTES + 4);
      }
    }));
  });

  it('refuses a length past the bound at once, before the bytes arrive', () => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_DIRECT_FRAME_BYTES + 1, 0);
    const r = new DirectFrameReader();
    expect(r.push(head)).toBe('oversized');
    expect(r.push(encodeDirectFrame('a.b', new Uint8Array(3)))).toBe('oversized');
  });

  it('refuses a subject length that does not fit its frame, an empty subject and a subject that is not UTF-8', () => {
    expect(new DirectFrameReader().push(Buffer.from([0, 0, 0, 4, 0, 9, 0x61, 0x62]))).toBe('malformed');
    expect(new DirectFrameReader().push(Buffer.from([0, 0, 0, 3, 0, 0, 0x61]))).toBe('malformed');
    expect(new DirectFrameReader().push(Buffer.from([0, 0, 0, 3, 0, 1, 0xff]))).toBe('malformed');
  });

  it('the encoder refuses what the reader would refuse', () => {
    expect(() => encodeDirectFrame('', new Uint8Array(1))).toThrow();
    expect(() => encodeDirectFrame('a', new Uint8Array(MAX_DIRECT_FRAME_BYTES))).toThrow(/exceeds/);
  });
});
