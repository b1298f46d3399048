// The direct push handshake over real loopback sockets: a connection that proves nothing (idle or
// drip-feeding bytes) is closed at the deadline, counted; unproven connections never hold or
// evict a proven one; a hello is bound to its connection's nonce (a captured one is refused
// elsewhere); senders and receivers of the release before the handshake still work together.
import { connect as tcpConnect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BusAuth } from '../../../../cluster/protocol/index.js';
import { DIRECT_CHALLENGE_SUBJECT, DirectFrameReader, DirectListener, DirectSender, encodeDirectFrame, type DirectFrame, type DirectListenerOptions } from '../../../../cluster/transport/index.js';
import { waitFor } from '../../../helpers/wait.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const HELLO = 'test.direct.hello';
const EMPTY = new Uint8Array(0);
const auth = new BusAuth({ key: Buffer.alloc(32, 9) });

/** A socket that records whether the listener closed it and the frames it was sent. */
function rawClient(port: number): { s: Socket; closed: () => boolean; frames: DirectFrame[] } {
  const s = tcpConnect({ host: '127.0.0.1', port });
  let closed = false;
  const frames: DirectFrame[] = [];
  const reader = new DirectFrameReader();
  s.on('data', (c: Buffer) => { const f = reader.push(c); if (typeof f !== 'string') frames.push(...f); });
  s.on('error', () => {});
  s.on('close', () => { closed = true; });
  return { s, closed: () => closed, frames };
}

describe('direct push handshake', () => {
  const closers: Array<() => unknown> = [];
  afterEach(async () => { for (const c of closers.splice(0)) await c(); });

  async function listener(extra: Partial<DirectListenerOptions> = {}): Promise<{ l: DirectListener; port: number; seen: string[]; refused: string[] }> {
    const seen: string[] = [];
    const refused: string[] = [];
    const l = new DirectListener({
      host: '127.0.0.1', port: 0, maxConnections: 2,
      onFrame: (subject, p) => { seen.push(Buffer.from(p).toString()); return subject === 'ok' ? null : 'subject'; },
      onRefused: (r) => refused.push(r),
      handshake: { helloSubject: HELLO, deadlineMs: 300, maxPending: 3, onHello: (p, nonce) => { const o = auth.open(HELLO, p, true, nonce); return o.ok ? null : o.reason; } },
      ...extra,
    });
    closers.push(() => l.close());
    const { port } = await l.listen();
    return { l, port, seen, refused };
  }
  function sender(port: number, answer = true): DirectSender {
    const s = new DirectSender();
    if (answer) s.onChallenge = (nonce) => encodeDirectFrame(HELLO, auth.seal(HELLO, EMPTY, nonce));
    closers.push(() => s.close());
    s.setPeers(new Map([['p', `127.0.0.1:${port}`]]));
    return s;
  }

  it('closes an idle and a drip-feeding connection at the deadline, and keeps a sender that answered the challenge', async () => {
    const { l, port, refused } = await listener();
    const idle = rawClient(port);
    const drip = rawClient(port);
    closers.push(() => idle.s.destroy(), () => drip.s.destroy());
    // a 4 KiB frame announced, then one byte at a time
    const bytes = [0, 0, 0x10, 0, 0, 4, 0x61, 0x62, 0x63, 0x64];
    let i = 0;
    const t = setInterval(() => drip.s.write(Buffer.from([bytes[i++] ?? 0x78])), 50);
    closers.push(() => clearInterval(t));
    sender(port);
    await waitFor('idle.closed() && drip.closed()', () => idle.closed() && drip.closed());
    expect(idle.frames[0]?.subject).toBe(DIRECT_CHALLENGE_SUBJECT);
    expect(refused.filter((r) => r === 'handshake_timeout')).toHaveLength(2);
    await sleep(400);
    expect(l.stats()).toMatchObject({ connections: 1, connections_pending: 0 });
  });

  it('a flood of unproven connections neither evicts a proven peer nor keeps a new one out', async () => {
    const { l, port, seen } = await listener({ handshake: { helloSubject: HELLO, deadlineMs: 10_000, maxPending: 3, onHello: (p, nonce) => (auth.open(HELLO, p, true, nonce).ok ? null : 'bad_mac') } });
    const a = sender(port);
    await waitFor('l.stats().connections === 1 && l.stats().connections_pending === 0', () => l.stats().connections === 1 && l.stats().connections_pending === 0);
    const flood = Array.from({ length: 8 }, () => rawClient(port));
    closers.push(() => { for (const f of flood) f.s.destroy(); });
    await waitFor('flood.filter((f) => f.closed()).length === 5', () => flood.filter((f) => f.closed()).length === 5);
    expect(l.stats()).toMatchObject({ connections: 4, connections_pending: 3 });
    const b = sender(port);
    // b evicted the oldest unproven connection, then proved itself
    await waitFor('l.stats().connections_pending === 2 && flood.filter((f) => f.closed()).length === 6', () => l.stats().connections_pending === 2 && flood.filter((f) => f.closed()).length === 6);
    a.send(encodeDirectFrame('ok', Buffer.from('from-a')));
    b.send(encodeDirectFrame('ok', Buffer.from('from-b')));
    await waitFor('seen.length === 2', () => seen.length === 2);
    expect(seen.sort()).toEqual(['from-a', 'from-b']);
    expect(l.stats()).toMatchObject({ connections: 4, connections_pending: 2 });
  });

  it('refuses a hello made for another connection\'s nonce', async () => {
    const { port, refused } = await listener();
    const c = rawClient(port);
    closers.push(() => c.s.destroy());
    await waitFor('c.frames.length === 1', () => c.frames.length === 1);
    const captured = encodeDirectFrame(HELLO, auth.seal(HELLO, EMPTY, Buffer.alloc(16, 1)));
    c.s.write(captured);
    await waitFor('c.closed()', () => c.closed());
    expect(refused).toEqual(['bad_mac']);
  });

  it('an earlier sender (no answer) is proven by its first accepted frame; an earlier receiver (no challenge) gets no hello', async () => {
    const { l, port, seen } = await listener();
    const old = sender(port, false);
    old.send(encodeDirectFrame('ok', Buffer.from('old-sender')));
    await waitFor("seen.includes('old-sender')", () => seen.includes('old-sender'));
    await sleep(500);
    expect(l.stats()).toMatchObject({ connections: 1, connections_pending: 0 });
    expect(old.stats().connects).toBe(1);
    const subjects: string[] = [];
    const plain = new DirectListener({ host: '127.0.0.1', port: 0, onFrame: (subject) => { subjects.push(subject); return null; } });
    closers.push(() => plain.close());
    const p2 = (await plain.listen()).port;
    const s = sender(p2);
    s.send(encodeDirectFrame('ok', Buffer.from('x')));
    await waitFor('subjects.length === 1', () => subjects.length === 1);
    await sleep(100);
    expect(subjects).toEqual(['ok']);
  });
});
