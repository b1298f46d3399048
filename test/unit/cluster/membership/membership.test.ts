// Membership over the in-process transport (fake timers): members hear each other's
// heartbeats, expire after 3 missed beats, leave at once on member.left; members() is
// sorted and lists only serving members; a stalled process does not expire its peers.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Codec, MessageBus, subjects } from '../../../../cluster/protocol/index.js';
import { LocalTransport } from '../../../../cluster/transport/index.js';
import { Membership, configuredMemberId, newMemberId } from '../../../../cluster/membership/index.js';

/** Advance fake time and let the loop-back deliveries (microtasks) run. */
async function tick(ms: number): Promise<void> {
  vi.advanceTimersByTime(ms);
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('Membership', () => {
  let bus: MessageBus;
  const made: Membership[] = [];
  let stalled = 0; // ms this process stood still (a blocked loop): both clocks ran on, no timer fired
  const stall = (ms: number): void => { vi.setSystemTime(Date.now() + ms); stalled += ms; };
  const member = (id: string, role: 'worker' | 'primary' = 'worker'): Membership => {
    const m = new Membership({ bus, id, role, intervalMs: 1_000, mono: () => performance.now() + stalled });
    made.push(m);
    return m;
  };
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date', 'performance'] }); // setSystemTime steps Date only: performance.now is the monotonic clock
    bus = new MessageBus(new LocalTransport(), new Codec(), subjects('t'));
    stalled = 0;
  });
  afterEach(() => {
    for (const m of made.splice(0)) m.close();
    vi.useRealTimers();
  });

  it('a member with a direct revocation address carries it in every heartbeat (v3); one without says nothing (v2)', async () => {
    const a = member('a-worker');
    const b = member('b-worker');
    a.setDirectAddress('127.0.0.1:4711');
    a.start();
    b.start();
    await tick(1_000);
    expect(b.all().find((m) => m.id === 'a-worker')).toMatchObject({ direct: '127.0.0.1:4711', policy: null });
    expect(a.all().find((m) => m.id === 'b-worker')).toMatchObject({ direct: null });
  });

  it('its own heartbeats coming back are no conflict; another process beating under its id is, reported with that process', async () => {
    const a = member('a-worker');
    const seen: Array<{ host: string; pid: number; startedAt: number }> = [];
    a.onIdConflict((o) => seen.push(o));
    a.start();
    await tick(2_000);
    expect(a.stats().member_id_conflicts_total).toBe(0);
    a.receive({ type: 'member.heartbeat', v: 2, id: 'a-worker', role: 'single', host: 'elsewhere', pid: 4242, startedAt: Date.now(), seq: 1, intervalMs: 1_000, policy: null });
    expect(a.stats().member_id_conflicts_total).toBe(1);
    expect(seen).toEqual([{ host: 'elsewhere', pid: 4242, startedAt: Date.now() }]);
    expect(a.all()).toEqual([]); // still not in its own view
  });

  it('a member heard from as a new process under the same id (later startedAt) is reported as restarted; its old beats are not', async () => {
    const a = member('a-worker');
    const b1 = member('b-worker');
    const restarted: string[] = [];
    a.onRestart((id) => restarted.push(id));
    a.start();
    b1.start();
    await tick(1_000);
    expect(a.members()).toContain('b-worker');
    expect(restarted).toEqual([]);
    await tick(5); // the new process starts later
    const b2 = member('b-worker');
    b2.start();
    await tick(1_000);
    expect(restarted).toEqual(['b-worker']); // once: the old process's beats are replays from now on
    await tick(2_000);
    expect(restarted).toEqual(['b-worker']);
    expect(a.members()).toContain('b-worker');
  });

  it('makes subject-safe unique ids', () => {
    expect(newMemberId('web.example.com', 12)).toMatch(/^web_example_com-12-[0-9a-f]{6}$/);
    expect(newMemberId('h', 1)).not.toBe(newMemberId('h', 1));
  });

  it('a configured member_id is the id of a single process and a primary; worker i of serve --workers N joins as <id>-w<i>', () => {
    expect(configuredMemberId('proxy-a', 'single', '1')).toBe('proxy-a');
    expect(configuredMemberId('proxy-a', 'primary', undefined)).toBe('proxy-a');
    expect(configuredMemberId('proxy-a', 'worker', '0')).toBe('proxy-a-w0');
    expect(configuredMemberId('proxy-a', 'worker', '1')).toBe('proxy-a-w1');
    expect(configuredMemberId('proxy-a', 'worker', undefined)).toBe(`proxy-a-w${process.pid}`);
  });

  it('sees the others, sorted, without the primary; a silent member expires after 3 missed heartbeats', async () => {
    const b = member('b-worker');
    const a = member('a-worker');
    const p = member('p-primary', 'primary');
    const changes: Array<readonly string[]> = [];
    a.onChange((ids) => changes.push(ids));
    for (const m of [a, b, p]) m.start();
    await tick(1_000);
    expect(a.members()).toEqual(['a-worker', 'b-worker']);
    expect(p.members()).toEqual(['a-worker', 'b-worker']);
    expect(a.all().map((m) => m.id)).toEqual(['b-worker', 'p-primary']);
    expect(changes).toEqual([['a-worker', 'b-worker']]);

    // c beats once, then falls silent (crash: no member.left).
    a.receive({ type: 'member.heartbeat', v: 1, id: 'c-worker', role: 'single', host: 'h', pid: 1, startedAt: 0, seq: 1, intervalMs: 1_000 });
    expect(a.members()).toEqual(['a-worker', 'b-worker', 'c-worker']);
    await tick(2_900);
    expect(a.members()).toContain('c-worker');
    await tick(200);
    expect(a.members()).toEqual(['a-worker', 'b-worker']);
    expect(a.stats()).toMatchObject({ members_live: 2, members_expired_total: 1 });
  });

  it('a member that closes says so and is dropped at once', async () => {
    const a = member('a');
    const b = member('b');
    a.start();
    b.start();
    await tick(1_000);
    expect(a.members()).toEqual(['a', 'b']);
    b.close();
    await tick(0);
    expect(a.members()).toEqual(['a']);
  });

  it('a stalled process does not expire its peers when its timer finally fires (regression)', async () => {
    const a = member('a');
    a.start();
    let seq = 0;
    const beat = (): void => a.receive({ type: 'member.heartbeat', v: 1, id: 'p', role: 'single', host: 'h', pid: 2, startedAt: 0, seq: ++seq, intervalMs: 1_000 });
    beat();
    await tick(1_000);
    expect(a.members()).toEqual(['a', 'p']);

    // a's loop is blocked for 10 s: no timer fires, p's heartbeats pile up unread in the socket.
    stall(10_000);
    expect(a.members()).toEqual(['a', 'p']); // a reader before the overdue timer: no lazy expiry either
    await tick(1_000); // the late round: heartbeat out, no expiry
    expect(a.members()).toEqual(['a', 'p']);
    beat(); // the next I/O phase reads p's queued heartbeats
    await tick(1_000); // an on-time round: p is fresh
    expect(a.members()).toEqual(['a', 'p']);
    expect(a.stats()).toMatchObject({ members_expired_total: 0, members_expiry_rounds_skipped_total: 1 });

    // p really falls silent: it still expires after 3 missed heartbeats.
    await tick(3_100);
    expect(a.members()).toEqual(['a']);
    expect(a.stats()).toMatchObject({ members_expired_total: 1 });
  });

  it('a process late on every round still drops a dead peer after 3 skipped rounds', async () => {
    const a = member('a');
    a.start();
    a.receive({ type: 'member.heartbeat', v: 1, id: 'p', role: 'single', host: 'h', pid: 2, startedAt: 0, seq: 1, intervalMs: 1_000 });
    await tick(1_000);
    for (let i = 0; i < 3; i++) {
      stall(2_000); // every round fires 2 s late; p never beats again
      await tick(1_000);
      expect(a.members()).toEqual(['a', 'p']);
    }
    stall(2_000);
    await tick(1_000);
    expect(a.members()).toEqual(['a']);
    expect(a.stats()).toMatchObject({ members_expired_total: 1, members_expiry_rounds_skipped_total: 3 });
  });

  it('a wall clock stepped back keeps no dead peer in the view: it expires after 3 missed heartbeats all the same (regression)', async () => {
    const a = member('a');
    a.start();
    a.receive({ type: 'member.heartbeat', v: 1, id: 'p', role: 'single', host: 'h', pid: 2, startedAt: 0, seq: 1, intervalMs: 1_000 });
    expect(a.members()).toEqual(['a', 'p']);
    // p dies (no goodbye) and NTP steps the wall clock back an hour (Date only): before, p stayed in the view for the
    // hour — its share of introspection keys still routed to it, every lookup of them waiting on a dead owner
    vi.setSystemTime(Date.now() - 3_600_000);
    await tick(2_900);
    expect(a.members()).toEqual(['a', 'p']);
    await tick(200);
    expect(a.members()).toEqual(['a']);
    expect(a.stats()).toMatchObject({ members_expired_total: 1, members_expiry_rounds_skipped_total: 0 });
  });

  it('a wall clock stepped forward is no stall: live peers stay, no expiry round is skipped, a dead one still expires on time (regression)', async () => {
    const a = member('a');
    const z = member('z');
    a.start();
    z.start();
    await tick(1_000);
    a.receive({ type: 'member.heartbeat', v: 1, id: 'p', role: 'single', host: 'h', pid: 2, startedAt: 0, seq: 1, intervalMs: 1_000 });
    // before: an hour forward read as a stalled loop — rounds skipped (and counted), the dead p kept 3 rounds longer
    vi.setSystemTime(Date.now() + 3_600_000);
    expect(a.members()).toEqual(['a', 'p', 'z']);
    for (let i = 0; i < 3; i++) await tick(1_000);
    expect(a.members()).toEqual(['a', 'z']);
    expect(a.stats()).toMatchObject({ members_expired_total: 1, members_expiry_rounds_skipped_total: 0 });
  });

  it('heartbeats keep a member alive indefinitely', async () => {
    const a = member('a');
    const z = member('z');
    a.start();
    z.start();
    await tick(30_000);
    expect(a.members()).toEqual(['a', 'z']);
  });

  it('a heartbeat not newer than one already heard (a replay) keeps nobody alive; a restart (later startedAt) is heard', async () => {
    const a = member('a');
    a.start();
    const hb = (startedAt: number, seq: number): void => a.receive({ type: 'member.heartbeat', v: 1, id: 'p', role: 'single', host: 'h', pid: 2, startedAt, seq, intervalMs: 1_000 });
    hb(100, 1);
    hb(100, 2);
    expect(a.members()).toEqual(['a', 'p']);
    for (let i = 0; i < 4; i++) { hb(100, 2); hb(100, 1); await tick(1_000); }
    expect(a.members()).toEqual(['a']);
    expect(a.stats()).toMatchObject({ heartbeats_replayed_total: 8, members_expired_total: 1 });
    hb(100, 2); // replayed after it left the view: still refused
    expect(a.members()).toEqual(['a']);
    hb(200, 1); // the member restarted
    expect(a.members()).toEqual(['a', 'p']);
  });

  it('a goodbye signed before the member\'s current process started is a replay: the restarted member stays', () => {
    const a = member('a');
    a.start();
    a.receive({ type: 'member.heartbeat', v: 1, id: 'p', role: 'single', host: 'h', pid: 2, startedAt: 5_000, seq: 1, intervalMs: 1_000 });
    a.receive({ type: 'member.left', v: 1, id: 'p' }, 4_999);
    expect(a.members()).toEqual(['a', 'p']);
    expect(a.stats()).toMatchObject({ heartbeats_replayed_total: 1 });
    a.receive({ type: 'member.left', v: 1, id: 'p' }, 5_100);
    expect(a.members()).toEqual(['a']);
  });

  it('a beat sealed with a start in the future does not make the member\'s real goodbye a replay (regression)', () => {
    const a = member('a');
    a.start();
    const hb = (startedAt: number, seq: number, signedAt: number): void => a.receive({ type: 'member.heartbeat', v: 1, id: 'p', role: 'single', host: 'h', pid: 2, startedAt, seq, intervalMs: 1_000 }, signedAt);
    const start = Date.now() - 60_000;
    hb(start, 60, Date.now());
    // a key holder signs ahead within max_age_ms (30 s) and claims a process started then: before, the real
    // goodbye (signed now, before that "start") was taken for a replay and the member stayed until it expired
    hb(Date.now() + 20_000, 1, Date.now() + 20_000);
    a.receive({ type: 'member.left', v: 1, id: 'p' }, Date.now());
    expect(a.members()).toEqual(['a']);
    expect(a.stats()).toMatchObject({ heartbeats_replayed_total: 0 });
  });

  it('a beat declaring a huge period keeps a member that fell silent only for 3 of the longest believed periods (regression)', async () => {
    const a = member('a');
    a.start();
    a.receive({ type: 'member.heartbeat', v: 1, id: 'p', role: 'single', host: 'h', pid: 2, startedAt: Date.now() - 1_000, seq: 1, intervalMs: 2 ** 52 });
    expect(a.members()).toEqual(['a', 'p']);
    // before: it stayed for 3 × 2^52 ms; now for 3 × MAX_PEER_INTERVAL_MS (10 s)
    for (let i = 0; i < 31; i++) await tick(1_000);
    expect(a.members()).toEqual(['a']);
  });

  it('a signed beat with an invented seq or startedAt holds the real member out only until the real one signs later; a start after signing is refused', async () => {
    const a = member('a');
    a.start();
    const hb = (startedAt: number, seq: number, signedAt: number): void => a.receive({ type: 'member.heartbeat', v: 1, id: 'p', role: 'single', host: 'h', pid: 2, startedAt, seq, intervalMs: 1_000 }, signedAt);
    const start = Date.now() - 60_000;
    hb(start, 60, Date.now() - 1);
    hb(start, Number.MAX_SAFE_INTEGER, Date.now()); // forged by a key holder: the real process's seq never gets there
    hb(Date.now() + 5_000, 1, Date.now()); // a process that claims to start after it signed
    for (let i = 1; i <= 5; i++) { await tick(1_000); hb(start, 60 + i, Date.now()); }
    expect(a.members()).toEqual(['a', 'p']); // still heard: its beats are signed later
    hb(start, 61, Date.now() - 2_000); // a captured earlier beat replayed: refused
    expect(a.stats()).toMatchObject({ heartbeats_replayed_total: 1 });
    expect(bus.rejections().invalid).toBe(1);
  });

  it('a member whose clock is stepped back (NTP step) stays in the view: its process keeps counting seq; a captured beat of it is still a replay (regression)', async () => {
    const a = member('a');
    a.start();
    const start = Date.now() - 60_000;
    let seq = 0;
    const hb = (signedAt: number, s = ++seq): void => a.receive({ type: 'member.heartbeat', v: 1, id: 'p', role: 'single', host: 'h', pid: 2, startedAt: start, seq: s, intervalMs: 1_000 }, signedAt);
    hb(Date.now());
    await tick(1_000);
    hb(Date.now());
    // p's clock is stepped back 10 s (within max_age_ms, so its beats stay fresh): before, every beat of it
    // was a "replay" until its clock passed the last one heard — it left every view (and its keys) for ~7 s
    for (let i = 0; i < 6; i++) { await tick(1_000); hb(Date.now() - 10_000); }
    expect(a.members()).toEqual(['a', 'p']);
    hb(Date.now() - 10_000, 3); // a beat captured earlier, replayed: older by seq and by signing time
    hb(Date.now() - 12_000, seq); // and the newest one again
    expect(a.stats()).toMatchObject({ heartbeats_replayed_total: 2 });
  });

  const unsettledMember = (): Membership => {
    // a bus that is not in-process (NATS, IPC): the view counts as unsettled for 1.5 periods after it connected
    const t = new LocalTransport();
    Object.defineProperty(t, 'kind', { value: 'nats' });
    const m = new Membership({ bus: new MessageBus(t, new Codec(), subjects('t')), id: 'a', role: 'worker', intervalMs: 1_000 });
    made.push(m);
    return m;
  };

  it('a wall clock stepped back after the bus connected holds DPoP proofs and readiness for the round and a half, not for the step (regression)', async () => {
    const m = unsettledMember();
    m.start();
    expect(m.unsettledMs()).toBe(1_500);
    await tick(600);
    // an NTP step back of an hour inside the window: before, every proof waited (and /readyz said `members`) an hour
    vi.setSystemTime(Date.now() - 3_600_000);
    expect(m.unsettledMs()).toBe(900); // the window runs on: the step moves nothing
    await tick(900);
    expect([m.unsettledMs(), m.settled()]).toEqual([0, true]);
    // once settled, a later step back does not unsettle it
    vi.setSystemTime(Date.now() - 3_600_000);
    expect([m.unsettledMs(), m.settled(), m.converged()]).toEqual([0, true, true]);
  });

  it('a wall clock stepped forward right after the bus connected does not end the settle window early (regression)', async () => {
    const m = unsettledMember();
    m.start();
    await tick(100);
    // an NTP step forward of an hour: before, the window ended at once — DPoP proofs were judged by a view of one
    // (a proof replayed on a peer accepted here) and the member counted as converged before it heard anyone
    vi.setSystemTime(Date.now() + 3_600_000);
    expect([m.unsettledMs(), m.settled(), m.converged()]).toEqual([1_400, false, false]);
    await tick(1_400);
    expect([m.unsettledMs(), m.settled(), m.converged()]).toEqual([0, true, true]);
  });

  it('a wall clock stepped forward before the bus ever connected does not call the member isolated early (regression)', () => {
    const m = unsettledMember();
    vi.setSystemTime(Date.now() + 3_600_000);
    expect(m.isolated()).toBe(false); // before: isolated at once — an SSF poller polled as if alone
    vi.advanceTimersByTime(1_500);
    expect(m.isolated()).toBe(true);
  });
});
