// The fair introspection queue: round robin across clients, a full queue making room for a lighter client
// by pushing out the heaviest client's newest call (never a client's only one), a lone client's plain FIFO, lanes kept only while they
// hold a job — alone, and as the caller orders the calls an authorization server sees.
import { describe, it, expect, afterEach } from 'vitest';
import fc from 'fast-check';
import type { ServerResponse } from 'node:http';
import { FairQueue } from '../../../node/fair-queue.js';
import { waitFor } from '../../helpers/wait.js';
import { client, closeClients, scriptedAs } from './client-fixtures.js';

afterEach(closeClients);

const job = (client: string, n: number) => ({ client, id: `${client}${n}` });
type Job = ReturnType<typeof job>;
const drain = (q: FairQueue<Job>): string[] => { const out: string[] = []; for (let j = q.shift(); j !== undefined; j = q.shift()) out.push(j.id); return out; };

describe('FairQueue', () => {
  it('serves one job per client in rotation, oldest first within a client; a new client joins at the back', () => {
    const q = new FairQueue<Job>(100);
    for (let n = 1; n <= 4; n++) q.push(job('a', n));
    q.push(job('b', 1));
    q.push(job('b', 2));
    expect(q.shift()?.id).toBe('a1');
    q.push(job('c', 1));
    expect(drain(q)).toEqual(['b1', 'a2', 'c1', 'b2', 'a3', 'a4']);
    expect(q.clients).toBe(0);
  });

  it('a lone client is a plain FIFO of every place, refused past it', () => {
    const q = new FairQueue<Job>(3);
    for (let n = 1; n <= 3; n++) { expect(q.admits('a')).toBe(true); expect(q.push(job('a', n))).toBeNull(); }
    expect(q.admits('a')).toBe(false);
    expect(drain(q)).toEqual(['a1', 'a2', 'a3']);
  });

  it('full: a client that would still hold fewer than the client holding the most pushes out its newest job; a mere swap is refused', () => {
    const q = new FairQueue<Job>(4);
    for (let n = 1; n <= 4; n++) q.push(job('flood', n));
    expect(q.admits('good')).toBe(true);
    expect(q.push(job('good', 1))?.id).toBe('flood4');
    expect(q.push(job('other', 1))?.id).toBe('flood3');
    expect([q.held('flood'), q.held('good'), q.held('other')]).toEqual([2, 1, 1]);
    // good or other would hold 2, as many as flood: pushing flood's out would only trade who holds the most
    expect([q.admits('good'), q.admits('other'), q.admits('flood')]).toEqual([false, false, false]);
    expect(q.push(job('third', 1))?.id).toBe('flood2');
    expect(q.size).toBe(4);
    expect(drain(q)).toEqual(['flood1', 'good1', 'other1', 'third1']);
  });

  it('a client\'s only waiting job is never pushed out: with every client holding one, a newcomer is refused', () => {
    const q = new FairQueue<Job>(4);
    q.push(job('a', 1)); q.push(job('b', 1)); q.push(job('b', 2)); q.push(job('a', 2));
    // of clients tied at the most (2), the one that reached it last gives up its newest job: the longest waiting are served
    expect(q.push(job('c', 1))?.id).toBe('a2');
    expect(q.push(job('d', 1))?.id).toBe('b2');
    // four clients holding one each (a lone good token among them): nobody gives way to a fifth address
    for (const newcomer of ['e', 'f', 'a', 'd']) expect(q.admits(newcomer)).toBe(false);
    expect(drain(q)).toEqual(['a1', 'b1', 'c1', 'd1']);
  });

  it('a job leaves from anywhere (a timed-out waiter); lanes and counts follow, and nothing of a client is kept once it has no job', () => {
    const q = new FairQueue<Job>(3);
    const a = [job('a', 1), job('a', 2), job('a', 3)];
    for (const j of a) q.push(j);
    expect(q.delete(a[1]!)).toBe(true);
    expect(q.delete(a[1]!)).toBe(false);
    // a holds 2 of 3 places: b (0) is admitted to the free place; b would then hold as many as a (refused), c (0) pushes out a's newest
    expect(q.push(job('b', 1))).toBeNull();
    expect(q.admits('b')).toBe(false);
    expect(q.push(job('c', 1))?.id).toBe('a3');
    expect(drain(q)).toEqual(['a1', 'b1', 'c1']);
    for (let n = 0; n < 1000; n++) { q.push(job(`c${n}`, 1)); q.shift(); }
    expect([q.size, q.clients]).toEqual([0, 0]);
    q.push(job('x', 1));
    q.clear();
    expect([q.size, q.clients, q.admits('y')]).toEqual([0, 0, true]);
  });

  it('matches a plain model of the rules for any sequence of arrivals, turns and departures', () => {
    type Op = { kind: 'arrive'; client: number } | { kind: 'serve' } | { kind: 'leave'; pick: number };
    const op = fc.oneof(
      fc.record({ kind: fc.constant('arrive' as const), client: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ kind: fc.constant('serve' as const) }),
      fc.record({ kind: fc.constant('leave' as const), pick: fc.nat() }),
    );
    fc.assert(fc.property(fc.integer({ min: 0, max: 6 }), fc.array(op, { maxLength: 60 }), (capacity, ops: Op[]) => {
      const q = new FairQueue<Job>(capacity);
      // the model: lanes in rotation order, each stamped when its count last changed
      let lanes: Array<{ client: string; jobs: Job[]; stamp: number }> = [];
      let clock = 0, n = 0;
      const all = (): Job[] => lanes.flatMap((l) => l.jobs);
      const drop = (j: Job): void => {
        const l = lanes.find((x) => x.jobs.includes(j))!;
        l.jobs.splice(l.jobs.indexOf(j), 1);
        l.stamp = clock++;
        lanes = lanes.filter((x) => x.jobs.length > 0);
      };
      for (const o of ops) {
        if (o.kind === 'arrive') {
          const j = job(`c${o.client}`, n++);
          const mine = lanes.find((l) => l.client === j.client)?.jobs.length ?? 0;
          const most = Math.max(0, ...lanes.map((l) => l.jobs.length));
          const full = all().length >= capacity;
          expect(q.admits(j.client)).toBe(!full || mine + 1 < most);
          if (full && mine + 1 >= most) continue;
          let out: Job | null = null;
          if (full) {
            const victim = lanes.filter((l) => l.jobs.length === most).sort((x, y) => y.stamp - x.stamp)[0]!;
            out = victim.jobs[victim.jobs.length - 1]!;
            drop(out);
          }
          expect(q.push(j)).toBe(out);
          let l = lanes.find((x) => x.client === j.client);
          if (l === undefined) { l = { client: j.client, jobs: [], stamp: 0 }; lanes.push(l); }
          l.jobs.push(j);
          l.stamp = clock++;
        } else if (o.kind === 'serve') {
          const l = lanes[0];
          const expected = l?.jobs[0];
          expect(q.shift()).toBe(expected);
          if (l !== undefined) { drop(expected!); if (l.jobs.length > 0) lanes = [...lanes.filter((x) => x !== l), l]; }
        } else {
          const js = all();
          if (js.length === 0) continue;
          const j = js[o.pick % js.length]!;
          expect(q.delete(j)).toBe(true);
          drop(j);
        }
        expect([q.size, q.clients]).toEqual([all().length, lanes.length]);
      }
    }), { numRuns: 300 });
  });

  it('max_pending 0: nothing waits', () => {
    const q = new FairQueue<Job>(0);
    expect(q.admits('a')).toBe(false);
  });
});

describe('IntrospectionCaller behind the fair queue', () => {
  it('the free connection goes to the next client in rotation; a full queue makes room for another client, answered 503 and counted', async () => {
    const as = await scriptedAs();
    const held: ServerResponse[] = [];
    as.setReply((res) => { held.push(res); });
    const answerOne = (): void => { held.shift()?.writeHead(200, { 'content-type': 'application/json' }).end('{"active":false}'); };
    try {
      const c = client(as.url, { connections: 1, max_pending: 3, timeout_ms: 10_000 });
      const from = (address: string) => () => address;
      const first = c.lookup('flood-0', undefined, from('192.0.2.1'));
      await waitFor('the first call is on the wire', () => as.seen.length === 1, 10_000);
      const flood = [1, 2, 3].map((n) => c.lookup(`flood-${n}`, undefined, from('192.0.2.1')));
      const refused = await c.lookup('flood-4', undefined, from('192.0.2.1'));
      expect(refused.ok === false && refused.reason, 'a lone client past every place').toBe('introspection_queue_full');
      const good = c.lookup('good-1', undefined, from('198.51.100.9'));
      // flood-3 made room for it: answered at once, unsent
      const out = await flood[2]!;
      expect(out.ok === false && out.reason).toBe('introspection_client_limited');
      expect(c.stats()).toMatchObject({ calls_queue_full: 1, calls_preempted: 1, calls_failed: 0 });
      const sent = (): string[] => as.seen.map((r) => new URLSearchParams(r.body).get('token') ?? '');
      answerOne();
      await waitFor('the next call is on the wire', () => as.seen.length === 2, 10_000);
      answerOne();
      await waitFor('the third call is on the wire', () => as.seen.length === 3, 10_000);
      answerOne();
      await waitFor('the fourth call is on the wire', () => as.seen.length === 4, 10_000);
      answerOne();
      // the flooder's oldest waiting call, then the other client's, then the flooder's next
      expect(sent()).toEqual(['flood-0', 'flood-1', 'good-1', 'flood-2']);
      for (const r of await Promise.all([first, flood[0]!, flood[1]!, good])) expect(r.ok === false && r.reason).toBe('inactive');
      expect(as.seen.length).toBe(4);
    } finally {
      for (const res of held.splice(0)) res.destroy();
      as.server.closeAllConnections();
      await new Promise((resolve) => as.server.close(resolve));
    }
  });

  // Regression: the refusal went through a flight, two async functions and a thrown Error, and was written
  // after the listener's handler returned — a junk-token flood cost more proxy CPU per refusal than an RSA check.
  it('a lookup the full queue refuses is answered synchronously (no promise), counted, and calls nobody', async () => {
    const as = await scriptedAs();
    const held: ServerResponse[] = [];
    as.setReply((res) => { held.push(res); });
    try {
      const c = client(as.url, { connections: 1, max_pending: 1, timeout_ms: 10_000 });
      const from = () => '192.0.2.1';
      const first = c.lookup('flood-0', undefined, from);
      await waitFor('the first call is on the wire', () => as.seen.length === 1, 10_000);
      const second = c.lookup('flood-1', undefined, from);
      const refused = c.lookup('flood-2', undefined, from);
      expect(refused instanceof Promise, 'the refusal of a full queue').toBe(false);
      expect(!(refused instanceof Promise) && !refused.ok && refused.reason).toBe('introspection_queue_full');
      expect(c.stats()).toMatchObject({ calls_queue_full: 1, calls_failed: 0 });
      // the refused token holds nothing: asked again once there is room, it is called
      held.shift()!.writeHead(200, { 'content-type': 'application/json' }).end('{"active":false}');
      expect((await first).ok).toBe(false);
      await waitFor('the waiting call on the wire', () => as.seen.length === 2, 10_000);
      held.shift()!.writeHead(200, { 'content-type': 'application/json' }).end('{"active":false}');
      expect(await second).toMatchObject({ ok: false, reason: 'inactive' });
      const again = c.lookup('flood-2', undefined, from);
      await waitFor('the refused token called once there is room', () => as.seen.length === 3, 10_000);
      held.shift()!.writeHead(200, { 'content-type': 'application/json' }).end('{"active":false}');
      expect(await again).toMatchObject({ ok: false, reason: 'inactive' });
    } finally {
      for (const res of held.splice(0)) res.destroy();
      as.server.closeAllConnections();
      await new Promise((resolve) => as.server.close(resolve));
    }
  });

  it('a good client\'s one waiting token is answered, not pushed out by a flood of fresh addresses (they get 503 at once)', async () => {
    const as = await scriptedAs();
    const held: ServerResponse[] = [];
    as.setReply((res) => { held.push(res); });
    try {
      const c = client(as.url, { connections: 1, max_pending: 2, timeout_ms: 10_000 });
      const from = (address: string) => () => address;
      const first = c.lookup('flood-0', undefined, from('192.0.2.1'));
      await waitFor('the first call is on the wire', () => as.seen.length === 1, 10_000);
      const waiting = [c.lookup('flood-1', undefined, from('192.0.2.2')), c.lookup('good-1', undefined, from('198.51.100.9'))];
      // the queue is full of clients holding one call each: every further address is refused, nobody pushed out
      for (let n = 3; n < 8; n++) {
        const r = await c.lookup(`flood-${n}`, undefined, from(`192.0.2.${n}`));
        expect(r.ok === false && r.reason).toBe('introspection_queue_full');
      }
      expect(c.stats()).toMatchObject({ calls_queue_full: 5, calls_preempted: 0 });
      for (let n = 1; n <= 3; n++) {
        await waitFor(`call ${n} on the wire`, () => as.seen.length === n, 10_000);
        held.shift()!.writeHead(200, { 'content-type': 'application/json' }).end('{"active":false}');
      }
      for (const r of await Promise.all([first, ...waiting])) expect(r.ok === false && r.reason).toBe('inactive');
      expect(as.seen.map((r) => new URLSearchParams(r.body).get('token'))).toEqual(['flood-0', 'flood-1', 'good-1']);
    } finally {
      for (const res of held.splice(0)) res.destroy();
      as.server.closeAllConnections();
      await new Promise((resolve) => as.server.close(resolve));
    }
  });
});
