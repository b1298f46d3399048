// The direct push transport over real loopback sockets: the listener hands frames to its
// callback in order and closes a connection on the first refusal; the sender connects on
// discovery, holds a bounded queue while a peer is unreachable (the excess dropped and
// counted), delivers it once the peer listens, and closes peers that leave.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DIRECT_MAX_QUEUED_AGE_MS, DIRECT_MAX_QUEUED_FRAMES, DirectListener, DirectSender, encodeDirectFrame, parseHostPort } from '../../../../cluster/transport/index.js';
import { freePort } from '../../../helpers/ports.js';
import { waitFor } from '../../../helpers/wait.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('direct push transport', () => {
  const closers: Array<() => unknown> = [];
  afterEach(async () => { for (const c of closers.splice(0)) await c(); });

  it('delivers frames in order; a refused frame closes the connection and nothing after it is seen', async () => {
    const seen: string[] = [];
    const refused: string[] = [];
    const l = new DirectListener({ host: '127.0.0.1', port: 0, onFrame: (subject, p) => { seen.push(`${subject}:${Buffer.from(p).toString()}`); return subject === 'bad' ? 'subject' : null; }, onRefused: (r) => refused.push(r) });
    closers.push(() => l.close());
    const { port } = await l.listen();
    const s = new DirectSender();
    closers.push(() => s.close());
    s.setPeers(new Map([['p', `127.0.0.1:${port}`]]));
    for (const x of ['a', 'b', 'c']) s.send(encodeDirectFrame('ok', Buffer.from(x)));
    await waitFor('seen.length === 3', () => seen.length === 3);
    expect(seen).toEqual(['ok:a', 'ok:b', 'ok:c']);
    s.send(encodeDirectFrame('bad', Buffer.from('x')));
    s.send(encodeDirectFrame('ok', Buffer.from('after')));
    await waitFor('refused.length === 1', () => refused.length === 1);
    expect(refused).toEqual(['subject']);
    expect(l.stats()).toMatchObject({ frames_accepted: 3, frames_refused: 1 });
    await sleep(50);
    expect(seen).not.toContain('ok:after');
  });

  it('queues at most the bound for an unreachable peer, drops the rest counted, and delivers the queue once it listens', async () => {
    const port = await freePort();
    const s = new DirectSender();
    closers.push(() => s.close());
    s.setPeers(new Map([['p', `127.0.0.1:${port}`]]));
    const extra = 5;
    for (let i = 0; i < DIRECT_MAX_QUEUED_FRAMES + extra; i++) s.send(encodeDirectFrame('ok', Buffer.from(String(i))));
    expect(s.stats()).toMatchObject({ frames_sent: 0, frames_dropped: extra, peers: 1, peers_connected: 0 });
    await waitFor('s.stats().connect_failures > 0', () => s.stats().connect_failures > 0);
    const seen: string[] = [];
    const l = new DirectListener({ host: '127.0.0.1', port, onFrame: (_s, p) => { seen.push(Buffer.from(p).toString()); return null; } });
    closers.push(() => l.close());
    await l.listen();
    await waitFor('seen.length === DIRECT_MAX_QUEUED_FRAMES', () => seen.length === DIRECT_MAX_QUEUED_FRAMES, 10_000);
    // the oldest were dropped: what arrives is the newest, in order
    expect(seen[0]).toBe(String(extra));
    expect(seen.at(-1)).toBe(String(DIRECT_MAX_QUEUED_FRAMES + extra - 1));
    expect(s.stats()).toMatchObject({ frames_sent: DIRECT_MAX_QUEUED_FRAMES, peers_connected: 1 });
  });

  it('drops held frames older than the bound when the peer finally connects (the receiver would refuse them as stale)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    closers.push(() => vi.useRealTimers());
    const port = await freePort();
    const s = new DirectSender();
    closers.push(() => s.close());
    s.setPeers(new Map([['p', `127.0.0.1:${port}`]]));
    s.send(encodeDirectFrame('ok', Buffer.from('old')));
    vi.setSystemTime(Date.now() + DIRECT_MAX_QUEUED_AGE_MS + 1);
    s.send(encodeDirectFrame('ok', Buffer.from('new')));
    const seen: string[] = [];
    const l = new DirectListener({ host: '127.0.0.1', port, onFrame: (_s, p) => { seen.push(Buffer.from(p).toString()); return null; } });
    closers.push(() => l.close());
    await l.listen();
    await waitFor('seen.length === 1', () => seen.length === 1, 10_000);
    expect(seen).toEqual(['new']);
    expect(s.stats()).toMatchObject({ frames_sent: 1, frames_dropped: 1 });
  });

  it('keeps the connection of a peer gone from the view until the peer closes it (no reconnect then), and refuses connections past the bound', async () => {
    const refused: string[] = [];
    const l = new DirectListener({ host: '127.0.0.1', port: 0, maxConnections: 1, onFrame: () => null, onRefused: (r) => refused.push(r) });
    closers.push(() => l.close());
    const { port } = await l.listen();
    const a = new DirectSender();
    const b = new DirectSender();
    closers.push(() => a.close(), () => b.close());
    a.setPeers(new Map([['p', `127.0.0.1:${port}`]]));
    await waitFor('l.stats().connections === 1', () => l.stats().connections === 1);
    b.setPeers(new Map([['p', `127.0.0.1:${port}`]]));
    await waitFor("refused.includes('too_many_connections')", () => refused.includes('too_many_connections'));
    b.close();
    // unheard is not gone (this member may be the one off the bus): the standing connection stays
    a.setPeers(new Map());
    expect(a.stats()).toMatchObject({ peers: 1, peers_connected: 1 });
    await l.close();
    await waitFor('a.stats().peers === 0', () => a.stats().peers === 0);
    expect(a.stats()).toMatchObject({ peers: 0, peers_connected: 0, connect_failures: 0 });
  });

  it('parses host:port and [v6]:port, nothing else', () => {
    expect(parseHostPort('127.0.0.1:80')).toEqual({ host: '127.0.0.1', port: 80 });
    expect(parseHostPort('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(parseHostPort('::1:9000')).toBeNull();
    expect(parseHostPort('host')).toBeNull();
    expect(parseHostPort('h:99999')).toBeNull();
  });
});
