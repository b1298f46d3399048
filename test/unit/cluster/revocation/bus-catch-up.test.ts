// A NATS member's catch-up after a stall of its own loop: a request read after the loop did not turn for longer
// than the stall bound waits for one round trip and the stream applied to its last sequence — whether the request
// or the late timer notices first —, is refused after the wait (not for a stream that does not answer), and is not
// held at all while off the bus.
import { afterEach, describe, expect, it } from 'vitest';
import { BusCatchUp, type BusCatchUpSource } from '../../../../cluster/revocation/bus-catch-up.js';

// above the turn timer's 100 ms period
const STALL = 150;
const all: BusCatchUp[] = [];
afterEach(() => { for (const c of all.splice(0)) c.close(); });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** The loop stalls: nothing else runs for `ms`. */
const block = (ms: number): void => { const end = performance.now() + ms; while (performance.now() < end) { /* stalled */ } };

/** A bus whose round trip answers when `answer()` is called (or never), with a stream `last` and `applied` sequences. */
function bus(connected = true): BusCatchUpSource & { answer(ok: boolean): void; up: boolean; last: number; applied: number; trips: number } {
  let pending: Array<(ok: boolean) => void> = [];
  const b = {
    up: connected, last: 0, applied: 0, trips: 0,
    connected: () => b.up,
    roundTrip: () => { b.trips++; return b.up ? new Promise<boolean>((r) => { pending.push(r); }) : Promise.resolve(false); },
    streamLastSeq: async () => b.last,
    appliedSeq: () => b.applied,
    answer: (ok: boolean) => { for (const r of pending.splice(0)) r(ok); pending = []; },
  };
  return b;
}
const catchUp = (src: BusCatchUpSource, waitMs = 2_000): BusCatchUp => { const c = new BusCatchUp(src, STALL, waitMs); all.push(c); return c; };

describe('BusCatchUp', () => {
  it('judges at once while the loop turns; after a stall holds requests until a round trip and the stream are through', async () => {
    const b = bus();
    const c = catchUp(b);
    expect(c.current()).toBe(true);
    block(STALL + 40);
    const held = c.current();
    expect(held).toBeInstanceOf(Promise);
    const second = c.current();
    let got: boolean[] | null = null;
    void Promise.all([held, second]).then((x) => { got = x as boolean[]; });
    await sleep(20);
    expect(got).toBe(null);
    expect(b.trips).toBe(1); // one catch-up for all
    b.last = 7;
    b.applied = 6;
    b.answer(true);
    await sleep(20);
    expect(got, 'held until the consumer reached the stream\'s last sequence').toBe(null);
    b.applied = 7;
    await sleep(20);
    expect(got).toEqual([true, true]);
    expect(c.current()).toBe(true);
    expect(c.stats()).toEqual({ revocations_bus_stalls_total: 1, revocations_bus_catch_up_waits_total: 2, revocations_bus_catch_up_expired_total: 0 });
  });

  it('holds too when the late timer runs before the request (libuv after a stop interrupted its poll)', async () => {
    const b = bus();
    const c = catchUp(b);
    block(STALL + 40);
    await sleep(0); // the overdue turn runs first
    expect(b.trips, 'the catch-up began from the timer').toBe(1);
    const held = c.current();
    expect(held).toBeInstanceOf(Promise);
    b.answer(true);
    expect(await held).toBe(true);
  });

  it('refuses a held request after the wait when the server does not answer, and holds the next one too', async () => {
    const b = bus();
    const c = catchUp(b, 80);
    block(STALL + 40);
    const held = c.current();
    expect(await held).toBe(false);
    const next = c.current();
    expect(next, 'still behind: not judged on the old state').toBeInstanceOf(Promise);
    b.answer(true);
    expect(await next).toBe(true);
    expect(c.stats().revocations_bus_catch_up_expired_total).toBe(1);
  });

  it('a stream that does not answer within the wait (its leader died: an election) does not turn the held requests into 503s', async () => {
    const b = bus();
    b.streamLastSeq = () => new Promise<number | null>(() => {}); // JetStream's API request to a dead leader: no answer for 2 s
    const c = catchUp(b, 400);
    block(STALL + 40);
    const held = c.current();
    b.answer(true);
    expect(await held, 'the round trip applied every live copy: judged, not refused').toBe(true);
    expect(c.current()).toBe(true);
    expect(c.stats().revocations_bus_catch_up_expired_total).toBe(0);
  });

  // Before: a link that dropped after the round trip, its stream question failing (null), still released the held
  // requests as caught up — the round trip's guarantee (every live copy applied) ends with the link it ran on
  it('a stream question that fails because the link dropped after the round trip does not release the held requests', async () => {
    const b = bus();
    b.streamLastSeq = async () => { b.up = false; return null; }; // the link drops as the question is asked
    const c = catchUp(b, 300);
    block(STALL + 40);
    const held = c.current();
    b.answer(true);
    expect(await held, 'not judged on a state the dropped link may not have completed').toBe(false);
  });

  // Before: after any stall the stream was given up when slow, so after a stall past the freshness window (the
  // revocation's live copy refused as stale, only the stream had it) the held requests were judged without it.
  it('after a stall past half the freshness window a stream that is only slow is waited for: refused (503), not judged', async () => {
    const b = bus();
    let last: (n: number) => void = () => {};
    b.streamLastSeq = () => new Promise<number | null>((r) => { last = r; }); // a leader that answers late
    const c = new BusCatchUp(b, STALL, 400, 300);
    all.push(c);
    block(STALL + 40); // over half the 300 ms window: a live copy may have been refused as stale
    const held = c.current();
    b.answer(true);
    expect(await held, 'judged on a state without the stream\'s revocations').toBe(false);
    const next = c.current();
    expect(next, 'still behind').toBeInstanceOf(Promise);
    b.answer(true);
    b.applied = 2;
    last(2);
    expect(await next).toBe(true);
  });

  // Before: a catch-up under way when the loop stalled again ended on the round trip and the stream's answer it
  // had from before that stall, so requests read after it were judged without what the stall held back.
  it('a stall during a catch-up starts it again: a request read after that stall waits for a round trip made after it', async () => {
    const b = bus();
    let last: (n: number) => void = () => {};
    b.streamLastSeq = () => new Promise<number | null>((r) => { last = r; }); // answered below, after the second stall
    const c = new BusCatchUp(b, STALL, 5_000, 60_000);
    all.push(c);
    block(STALL + 40);
    void c.current();
    b.answer(true); // the round trip, before the second stall
    await sleep(0);
    block(STALL + 40); // the loop stalls again while the stream's answer is awaited
    await sleep(0); // the overdue turn sees it
    const after = c.current();
    expect(after).toBeInstanceOf(Promise);
    let got: boolean | null = null;
    void (after as Promise<boolean>).then((x) => { got = x; });
    b.streamLastSeq = async () => 0;
    last(0); // the answer to the question asked before the second stall
    await sleep(20);
    expect(got, 'judged on a catch-up from before the last stall').toBe(null);
    expect(b.trips, 'a round trip after the stall').toBe(2);
    b.answer(true);
    expect(await after).toBe(true);
  });

  it('off the bus a stall holds nothing (local state, as documented)', () => {
    const off = bus(false);
    const c = catchUp(off);
    block(STALL + 40);
    expect(c.current()).toBe(true);
    expect(c.stats().revocations_bus_stalls_total).toBe(0);
  });

  it('a link lost during the catch-up (a slow consumer closed) holds on for the reconnect; lost for longer than the wait, the off-bus rules apply', async () => {
    const b = bus();
    const c = catchUp(b, 300);
    block(STALL + 40);
    const held = c.current();
    b.up = false;
    b.answer(false);
    await sleep(60);
    b.up = true; // reconnected: the round trip on the new link
    await sleep(40);
    b.answer(true);
    expect(await held).toBe(true);

    const d = bus();
    const e = catchUp(d, 100);
    block(STALL + 40);
    const lost = e.current();
    d.up = false;
    d.answer(false);
    expect(await lost).toBe(false);
    await sleep(30);
    expect(e.current(), 'off the bus past the wait: judged on local state').toBe(true);
  });

  it('close() during a catch-up releases the held requests and ends the catch-up at its next poll', async () => {
    const b = bus();
    const c = catchUp(b);
    block(STALL + 40);
    const held = c.current();
    expect(held).toBeInstanceOf(Promise);
    b.last = 3;
    b.answer(true); // through the round trip: now polling for the consumer to reach sequence 3, which never comes
    await sleep(20);
    let polls = 0;
    b.appliedSeq = () => { polls++; return 0; };
    c.close();
    expect(await held).toBe(false);
    const after = polls;
    await sleep(50);
    expect(polls - after, 'the catch-up polled on after close()').toBeLessThanOrEqual(1);
  });
});
