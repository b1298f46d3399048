// The receiver thread's shared ring (cluster/revocation/revocation-ring.ts): against a model
// queue under random writes and drains (wrap-around of slots and of the 32-bit sequences, a full
// ring that drops and counts, oversized payloads), and with a real writer thread racing the
// reader: the reader only ever sees whole records, in order, none twice.
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRing, RingCell, RingReader, RingWriter, type RingRecord } from '../../../../cluster/revocation/revocation-ring.js';
import { ROOT } from '../../../helpers/proxy-process.js';

type Op = { readonly t: 'write'; readonly len: number; readonly kind: number } | { readonly t: 'drain' };

const SLOT_BYTES = 64; // 40 payload bytes

function payloadOf(n: number, len: number): Uint8Array {
  const p = new Uint8Array(len);
  for (let i = 0; i < len; i++) p[i] = (n * 31 + i) & 0xff;
  return p;
}

describe('revocation ring', () => {
  it('behaves as a bounded FIFO that drops (and counts) when full or oversized, across every wrap-around', () => {
    fc.assert(fc.property(
      fc.constantFrom(1, 2, 4, 8),
      fc.constantFrom(0, 2 ** 31 - 3, 2 ** 32 - 3),
      fc.array(fc.oneof(
        fc.record({ t: fc.constant('write' as const), len: fc.integer({ min: 0, max: SLOT_BYTES }), kind: fc.integer({ min: 0, max: 5 }) }),
        fc.constant({ t: 'drain' as const }),
      ), { maxLength: 80 }),
      (slots, start, ops: Op[]) => {
        const sab = createRing(slots, SLOT_BYTES);
        const head = new Int32Array(sab, 0, 16);
        head[RingCell.write] = start | 0;
        head[RingCell.read] = start | 0;
        const w = new RingWriter(sab);
        const r = new RingReader(sab);
        const model: Array<{ n: number; len: number; kind: number }> = [];
        let full = 0;
        let oversized = 0;
        let n = 0;
        for (const op of ops) {
          if (op.t === 'write') {
            n++;
            const ok = w.write(op.kind, n % 3 === 0 ? null : n, n + 0.5, payloadOf(n, op.len));
            const fits = op.len <= w.maxPayload;
            const room = model.length < slots;
            expect(ok).toBe(fits && room);
            if (!fits) oversized++;
            else if (!room) full++;
            else model.push({ n, len: op.len, kind: op.kind });
            expect(r.pending()).toBe(model.length > 0);
          } else {
            const got: RingRecord[] = [];
            const count = r.drain((x) => got.push(x));
            expect(count).toBe(model.length);
            for (const m of model.splice(0)) {
              const x = got.shift()!;
              expect(x.kind).toBe(m.kind);
              expect(x.signedAt).toBe(m.n % 3 === 0 ? null : m.n);
              expect(x.visibleAt).toBe(m.n + 0.5);
              expect([...x.payload]).toEqual([...payloadOf(m.n, m.len)]);
            }
            expect(r.pending()).toBe(false);
          }
        }
        expect(r.cell(RingCell.droppedFull)).toBe(full);
        expect(r.cell(RingCell.droppedOversized)).toBe(oversized);
      },
    ), { seed: 1307, numRuns: 300 });
  });

  it('a reader racing a writer thread sees only whole records, in order, none twice', async () => {
    const slots = 8;
    const sab = createRing(slots, 256);
    const r = new RingReader(sab);
    const total = 20_000;
    const ringUrl = pathToFileURL(join(ROOT, 'dist/cluster/revocation/revocation-ring.js')).href;
    // the writer: record i has length i % 200 and every byte = i & 0xff, so a torn record shows
    const worker = new Worker(`
      const { workerData } = require('node:worker_threads');
      import(${JSON.stringify(ringUrl)}).then(({ RingWriter }) => {
        const w = new RingWriter(workerData.sab);
        for (let i = 0; i < ${total}; i++) {
          const p = new Uint8Array(i % 200).fill(i & 0xff);
          w.write(i % 6, i, i, p);
        }
      });
    `, { eval: true, workerData: { sab } });
    const exited = new Promise<void>((res) => worker.once('exit', () => res()));
    let done = false;
    void exited.then(() => { done = true; });
    const seen: number[] = [];
    let torn = 0;
    const take = (x: RingRecord): void => {
      const i = x.visibleAt;
      if (x.payload.length !== i % 200 || x.payload.some((b) => b !== (i & 0xff)) || x.kind !== i % 6 || x.signedAt !== i) torn++;
      seen.push(i);
    };
    while (!done) {
      r.drain(take);
      await new Promise((res) => setImmediate(res));
    }
    r.drain(take);
    expect(torn).toBe(0);
    for (let k = 1; k < seen.length; k++) expect(seen[k]! > seen[k - 1]!).toBe(true);
    expect(seen.length + r.cell(RingCell.droppedFull)).toBe(total);
    expect(seen.length).toBeGreaterThan(0);
  });
});
