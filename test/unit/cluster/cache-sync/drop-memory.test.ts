// What a member remembers of its drops (a fill signed at or before one is overtaken; forgotten after
// DROP_MEMORY_MS; an overflow refuses every fill signed before what it forgot), of the newest inactive
// result per key, and of the fills it sent, so a drop reaching it after one of them evicts that key everywhere.
import { describe, expect, it } from 'vitest';
import { DROP_MEMORY_MS, DropMemory, FillsSent, MAX_REMEMBERED_DROPS } from '../../../../cluster/cache-sync/local-drops.js';

describe('DropMemory', () => {
  it('a fill signed at or before its key\'s or subject\'s drop is overtaken, a later one is not; IPC fills (no signing time) are not judged', () => {
    let t = 1_000_000;
    const d = new DropMemory(() => t);
    d.note('k1', false);
    d.note('ivan', true);
    expect(d.overtaken('k1', null, t - 5)).toBe(true);
    expect(d.overtaken('k1', null, t + 1)).toBe(false);
    expect(d.overtaken('k2', { sub: 'ivan' }, t)).toBe(true);
    expect(d.overtaken('k2', { sub: 'olga' }, t - 5)).toBe(false);
    expect(d.overtaken('k1', null, null)).toBe(false);
    t += DROP_MEMORY_MS + 1;
    d.note('other', false); // prunes what ran out
    expect(d.overtaken('k1', { sub: 'ivan' }, 1_000_000 - 5)).toBe(false);
  });

  it('an active fill signed before the newest inactive result of its key is older news; at or after it, not; bounded like drops', () => {
    let t = 3_000_000;
    const d = new DropMemory(() => t);
    d.noteInactive('k1', t - 100); // a peer's fill signed then
    d.noteInactive('k1', t - 200); // an older one does not move it back
    expect(d.beforeInactive('k1', t - 101)).toBe(true);
    expect(d.beforeInactive('k1', t - 100)).toBe(false);
    expect(d.beforeInactive('k2', t - 101)).toBe(false);
    expect(d.beforeInactive('k1', null)).toBe(false);
    expect(d.overtaken('k1', null, t - 101)).toBe(false); // a result is no drop
    for (let i = 0; i <= MAX_REMEMBERED_DROPS; i++) { t++; d.noteInactive(`r${i}`, t); }
    expect(d.beforeInactive('unrelated', 3_000_000)).toBe(true); // what was forgotten became the floor
    expect(d.beforeInactive('unrelated', t + 1)).toBe(false);
  });

  it('dropping everything (an eviction this build could not read) refuses every fill signed before it, of any key', () => {
    let t = 2_000_000;
    const d = new DropMemory(() => t);
    d.noteAll();
    expect(d.overtaken('any', { sub: 'zoe' }, t - 1)).toBe(true);
    expect(d.overtaken('any', null, t)).toBe(true);
    t += 10;
    expect(d.overtaken('any', null, t)).toBe(false);
  });

  it('overflowing forgets the oldest drops and refuses every fill signed before them', () => {
    let t = 5_000;
    const d = new DropMemory(() => t);
    for (let i = 0; i <= MAX_REMEMBERED_DROPS; i++) { t++; d.note(`k${i}`, false); }
    expect(d.overtaken('k0', null, 5_001)).toBe(true); // k0 was forgotten, its time became the floor
    expect(d.overtaken('unrelated', null, 5_001)).toBe(true);
    expect(d.overtaken('unrelated', null, t + 1)).toBe(false);
  });

  // a drop is signed on another member's clock: a fill compared with it by time was missed under a skew
  it('FillsSent: a fill of a key sent within DROP_MEMORY_MS is found whatever the drop\'s signing time; past it, forgotten', () => {
    let t = 3_000_000;
    const f = new FillsSent(() => t);
    f.note('k1');
    expect(f.sent('k1')).toBe(true);
    expect(f.sent('k2')).toBe(false);
    t += DROP_MEMORY_MS - 1;
    expect(f.sent('k1')).toBe(true);
    t += 2;
    expect(f.sent('k1')).toBe(false);
    f.note('k2'); // prunes what ran out
    expect(f.sent('k1')).toBe(false);
  });

  // Before: a flood of distinct tokens (each filled) silently pushed a key out, and a drop that our fill of it had
  // overtaken no longer evicted it everywhere — the peers that took the fill kept the old answer until cache_ttl_s.
  it('FillsSent: past MAX_REMEMBERED_DROPS fills a drop signed at or before the newest forgotten one still counts as found', () => {
    let t = 4_000_000;
    const f = new FillsSent(() => t);
    const dropAt = t;
    f.note('victim');
    for (let i = 0; i < MAX_REMEMBERED_DROPS; i++) { t++; f.note(`flood${i}`); }
    expect(f.sent('victim'), 'forgotten by the flood: may have been sent').toBe(true);
    expect(f.sent('never-filled'), 'while a forgotten fill may still matter, any key counts').toBe(true);
    t = dropAt + MAX_REMEMBERED_DROPS + DROP_MEMORY_MS + 1;
    f.note('later'); // prunes the flood
    expect(f.sent('never-filled'), 'once every forgotten fill ran out').toBe(false);
  });
});
