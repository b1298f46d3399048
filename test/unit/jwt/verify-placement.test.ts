// VerifyPlacement: fixed modes never measure; auto starts inline, spills to the pool past the
// per-turn budget and resets at the next turn; the sampler turns to the pool with a busy loop
// (on a host with more CPUs than proxy processes) and back inline once the loop is idle.
import { afterEach, describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { VerifyPlacement } from '../../../node/jwt/index.js';

const open: VerifyPlacement[] = [];
const placement = (...a: ConstructorParameters<typeof VerifyPlacement>): VerifyPlacement => {
  const p = new VerifyPlacement(...a);
  open.push(p);
  return p;
};
afterEach(() => { for (const p of open.splice(0)) p.close(); });
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));
const busyFor = (ms: number): void => { const end = performance.now() + ms; while (performance.now() < end) { /* hold the loop */ } };

describe('VerifyPlacement', () => {
  it('pool and inline are fixed whatever was spent', () => {
    const pool = placement({ mode: 'pool', inlineBudgetUs: 1e6 });
    const inline = placement({ mode: 'inline', inlineBudgetUs: 0 });
    inline.spent(1e9);
    expect([pool.takeInline(), inline.takeInline(), inline.takeInline()]).toEqual([false, true, true]);
    expect([pool.pool, pool.inline, inline.inline, inline.spills]).toEqual([1, 0, 2, 0]);
    expect([pool.prefersInline, inline.prefersInline]).toEqual([false, true]);
  });

  it('auto verifies inline until the turn has spent its budget, then sends the rest of the turn to the pool', async () => {
    const p = placement({ mode: 'auto', inlineBudgetUs: 1000, sampleMs: 60_000 });
    expect(p.takeInline()).toBe(true);
    p.spent(600);
    expect(p.takeInline()).toBe(true);
    p.spent(600);
    expect([p.takeInline(), p.takeInline()]).toEqual([false, false]);
    expect([p.inline, p.pool, p.spills]).toEqual([2, 2, 2]);
    await nextTurn();
    expect(p.takeInline()).toBe(true); // a new turn, a new budget
  });

  it('auto with a busy loop prefers the pool; an idle loop goes back inline', async () => {
    if (availableParallelism() <= 1) return expect(placement({ mode: 'auto', inlineBudgetUs: 1000 }).prefersInline).toBe(true);
    const p = placement({ mode: 'auto', inlineBudgetUs: 1000, sampleMs: 200 });
    for (let i = 0; i < 3 && p.prefersInline; i++) { busyFor(250); await nextTurn(); await new Promise((r) => setTimeout(r, 5)); }
    expect(p.lastUtilisation).toBeGreaterThanOrEqual(0.5);
    expect(p.prefersInline).toBe(false);
    expect([p.takeInline(), p.pool]).toEqual([false, 1]);
    await new Promise((r) => setTimeout(r, 450)); // an idle loop for two samples
    expect(p.lastUtilisation).toBeLessThan(0.35);
    expect(p.prefersInline).toBe(true);
  });

  it('auto on a host with no more CPUs than proxy processes verifies inline even with a busy loop', async () => {
    const p = placement({ mode: 'auto', inlineBudgetUs: 1000, sampleMs: 50, processes: availableParallelism() });
    busyFor(120); await nextTurn(); await new Promise((r) => setTimeout(r, 60));
    expect(p.prefersInline).toBe(true);
    expect(p.takeInline()).toBe(true);
  });
});
