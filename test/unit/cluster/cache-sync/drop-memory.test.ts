// What a member remembers of its drops (a fill signed at or before one is overtaken; forgotten after
// DROP_MEMORY_MS; an overflow refuses every fill signed before what it forgot) and of the fills it
// sent, so a drop reaching it after one of them evicts that key everywhere.
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

  it('FillsSent: a drop signed at or before our last fill of a key finds it (a drop of unknown time finds any remembered fill); past DROP_MEMORY_MS it is forgotten', () => {
    let t = 3_000_000;
    const f = new FillsSent(() => t);
    f.note('k1');
    expect(f.sentSince('k1', t - 10)).toBe(true);
    expect(f.sentSince('k1', t)).toBe(true);
    expect(f.sentSince('k1', t + 1)).toBe(false); // the drop came after our fill: peers refuse or drop that fill themselves
    expect(f.sentSince('k2', t - 10)).toBe(false);
    expect(f.sentSince('k1', null)).toBe(true);
    t += DROP_MEMORY_MS + 1;
    f.note('k2'); // prunes what ran out
    expect(f.sentSince('k1', null)).toBe(false);
  });

  // Before: a flood of distinct tokens (each filled) silently pushed a key out, and a drop that our fill of it had
  // overtaken no longer evicted it everywhere — the peers that took the fill kept the old answer until cache_ttl_s.
  it('FillsSent: past MAX_REMEMBERED_DROPS fills a drop signed at or before the newest forgotten one still counts as found', () => {
    let t = 4_000_000;
    const f = new FillsSent(() => t);
    const dropAt = t;
    f.note('victim');
    for (let i = 0; i < MAX_REMEMBERED_DROPS; i++) { t++; f.note(`flood${i}`); }
    expect(f.sentSince('victim', dropAt), 'forgotten by the flood: may have been sent after the drop').toBe(true);
    expect(f.sentSince('never-filled', t + 1), 'a drop after every forgotten fill').toBe(false);
  });
});
