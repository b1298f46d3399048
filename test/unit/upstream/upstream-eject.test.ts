// Passive ejection's counting and its cap, on UpstreamPool alone (no traffic): how many targets may be out at once
// for 1–4 targets, which answers restart a target's counts, and the opt-in consecutive-5xx rule.
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../node/config/index.js';
import { UpstreamPool } from '../../../node/upstream/upstream-pool.js';

const pools: UpstreamPool[] = [];
afterEach(async () => { await Promise.all(pools.splice(0).map((p) => p.close())); });

function pool(targets: number, eject: Record<string, number> = {}): UpstreamPool {
  const r = validateConfig({
    upstreams: { app: { targets: Array.from({ length: targets }, (_, i) => `http://127.0.0.1:${9000 + i}`), eject: { consecutive_failures: 1, ...eject } } },
    routes: [{ name: 'a', match: { path: '/*' }, upstream: 'app', auth: 'none' }],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const p = new UpstreamPool('app', r.config.upstreams.app!);
  pools.push(p);
  return p;
}

/** Every target fails once (threshold 1): how many are out then. */
function outAfterAllFail(p: UpstreamPool, now = 1_000): number {
  for (const t of p.targets) p.targetFailed(t, now);
  return p.targets.filter((t) => t.ejectedUntil > now).length;
}

describe('passive ejection', () => {
  it('never takes more than half the targets out (rounded down): 1 → 0, 2 → 1, 3 → 1, 4 → 2; each refusal counted', () => {
    expect([1, 2, 3, 4].map((n) => outAfterAllFail(pool(n)))).toEqual([0, 1, 1, 2]);
    // past the cap, once no target in rotation is below its threshold, the last to fail takes the slot of the one
    // ejected longest ago (the swap counts as an overflow and an ejection)
    expect(pools.map((p) => p.stats)).toEqual([
      { ejections: 0, ejectionsOverflow: 1 }, { ejections: 2, ejectionsOverflow: 1 },
      { ejections: 2, ejectionsOverflow: 2 }, { ejections: 3, ejectionsOverflow: 2 },
    ]);
  });

  it('max_ejected_percent 100 ejects every target (then all are tried: panic); 0 ejects none', () => {
    const all = pool(2, { max_ejected_percent: 100 });
    expect(outAfterAllFail(all)).toBe(2);
    expect(all.pick(1_000, null)).toBeDefined();
    expect(outAfterAllFail(pool(4, { max_ejected_percent: 0 }))).toBe(0);
  });

  it('a slot freed when a window ends goes to the next target past its threshold', () => {
    const p = pool(4, { duration_ms: 100, max_ejected_percent: 25 });
    const [a, b] = p.targets as [typeof p.targets[0], typeof p.targets[0]];
    p.targetFailed(a, 1_000);
    expect(a.ejectedUntil).toBe(1_100);
    p.targetFailed(b, 1_200); // a is back: b's failure ejects it, nobody returns early
    expect([a.ejectedUntil, b.ejectedUntil]).toEqual([1_100, 1_300]);
    expect(p.stats).toEqual({ ejections: 2, ejectionsOverflow: 0 });
  });

  it('past the cap, a target failing every request takes the slot of the one ejected longest ago, which serves again', () => {
    // a was ejected (a restart's resets) and is back up; then b dies. Before, a kept its slot for its whole 10 s
    // window and every request went to b (a POST is never retried: 502 each)
    const p = pool(2, { duration_ms: 10_000 });
    const [a, b] = p.targets as [typeof p.targets[0], typeof p.targets[0]];
    p.targetFailed(a, 1_000);
    p.targetFailed(b, 2_000);
    const picked = [0, 1, 2, 3].map(() => p.pick(2_001, null));
    expect(picked.map((t) => t.origin)).toEqual([a.origin, a.origin, a.origin, a.origin]);
    expect(b.ejectedUntil).toBe(12_000);
    // a fails again (it was still down): b is back in its place — both down, they alternate as in panic routing
    p.targetFailed(a, 3_000);
    expect([a.ejectedUntil > 3_000, b.ejectedUntil > 3_000]).toEqual([true, false]);
    expect(p.stats).toEqual({ ejections: 3, ejectionsOverflow: 2 });
  });

  it('past the cap, a failing target stays in rotation while another in rotation still serves (the cap spares it the load)', () => {
    const p = pool(3, { duration_ms: 10_000 });
    const [a, b, c] = p.targets as [typeof p.targets[0], typeof p.targets[0], typeof p.targets[0]];
    p.targetFailed(a, 1_000);
    p.targetFailed(b, 2_000);
    expect([a.ejectedUntil, b.ejectedUntil, c.ejectedUntil]).toEqual([11_000, 0, 0]);
    expect(p.stats).toEqual({ ejections: 1, ejectionsOverflow: 1 });
  });

  it('a 5xx answer neither counts as a gateway failure nor restarts the count; an answer below 500 does', () => {
    const p = pool(4, { consecutive_failures: 2 });
    const t = p.targets[0]!;
    p.targetFailed(t, 1_000);
    p.responded(t, 503);
    expect(t.ejectedUntil).toBe(0);
    p.targetFailed(t, 1_000);
    expect(t.ejectedUntil).toBeGreaterThan(1_000);
    const u = p.targets[1]!;
    p.targetFailed(u, 1_000);
    p.responded(u, 404);
    p.targetFailed(u, 1_000);
    expect(u.ejectedUntil).toBe(0);
  });

  it('consecutive_5xx (off by default) ejects after that many 5xx answers and gateway failures in a row', () => {
    const off = pool(2, { consecutive_failures: 100 });
    for (let i = 0; i < 50; i++) off.responded(off.targets[0]!, 500);
    expect(off.stats.ejections).toBe(0);
    const on = pool(2, { consecutive_failures: 100, consecutive_5xx: 3 });
    const t = on.targets[0]!;
    on.responded(t, 500);
    on.targetFailed(t);
    expect(on.stats.ejections).toBe(0);
    on.responded(t, 502);
    expect(on.stats.ejections).toBe(1);
  });
});
