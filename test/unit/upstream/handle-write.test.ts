// handle-write.ts against real loopback sockets: the direct write below the stream delivers the
// same bytes in the same order as socket.write, whatever the stream holds (corked, buffered, a
// full kernel buffer), fails the socket the same way, and the H1 pool forwards identically on both paths.
import { describe, it, expect, afterEach } from 'vitest';
import fc from 'fast-check';
import net from 'node:net';
import { once } from 'node:events';
import { directWriteAvailable, directWriteCounters, setDirectWrite, writeLatin1, type WriteReq } from '../../../node/upstream/handle-write.js';
import type { H1Handler } from '../../../node/upstream/h1-client.js';
import { H1Pool } from '../../../node/upstream/h1-pool.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  setDirectWrite(true);
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A server that keeps every byte of its one connection; `paused` starts it not reading (kernel buffers fill). */
async function sink(paused = false): Promise<{ port: number; received: () => Promise<Buffer>; conn: Promise<net.Socket> }> {
  const parts: Buffer[] = [];
  let done!: () => void;
  const ended = new Promise<void>((r) => { done = r; });
  let gotConn!: (s: net.Socket) => void;
  const conn = new Promise<net.Socket>((r) => { gotConn = r; });
  const srv = net.createServer((c) => {
    if (paused) c.pause();
    c.on('data', (d: Buffer) => parts.push(d));
    c.on('end', () => { c.end(); done(); });
    c.on('error', () => done());
    gotConn(c);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  cleanups.push(() => new Promise((r) => srv.close(r)));
  return { port: (srv.address() as net.AddressInfo).port, received: async () => { await ended; return Buffer.concat(parts); }, conn };
}

async function client(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  cleanups.push(() => s.destroy());
  return s;
}

type Op = { k: 'direct' | 'stream'; size: number } | { k: 'cork' } | { k: 'uncork' };

/** Run `ops` on a fresh connection; every write carries its index so order is checkable. */
async function run(ops: Op[], paused: boolean): Promise<{ got: string; want: string }> {
  const srv = await sink(paused);
  const s = await client(srv.port);
  let req: WriteReq | null = null;
  let want = '';
  let corks = 0;
  ops.forEach((op, i) => {
    if (op.k === 'cork') { s.cork(); corks++; return; }
    if (op.k === 'uncork') { if (corks > 0) { s.uncork(); corks--; } return; }
    const data = `<${i}:${'x'.repeat(op.size)}>`;
    want += data;
    if (op.k === 'direct') req = writeLatin1(s, data, req);
    else s.write(data, 'latin1');
  });
  while (corks-- > 0) s.uncork();
  if (paused) (await srv.conn).resume();
  s.end();
  return { got: (await srv.received()).toString('latin1'), want };
}

describe('handle-write', () => {
  it('is available on this Node (the bench figures assume the direct path)', () => {
    expect(directWriteAvailable()).toBe(true);
  });

  it('an idle socket takes the write directly; a corked or busy one goes through socket.write, in order', async () => {
    const srv = await sink();
    const s = await client(srv.port);
    const before = { ...directWriteCounters };
    let req = writeLatin1(s, 'a', null);
    expect(directWriteCounters.direct).toBe(before.direct + 1);
    expect(req).not.toBeNull(); // synchronous: the request object is reused
    s.cork();
    req = writeLatin1(s, 'b', req); // a corked socket batches its writes (the pipelining turn's one writev)
    expect(directWriteCounters.fallback).toBe(before.fallback + 1);
    s.write('c');
    s.uncork();
    s.end();
    expect((await srv.received()).toString()).toBe('abc');
  });

  it('a write libuv has to queue stays ahead of later writes (receiver not reading, 4 MiB)', async () => {
    const srv = await sink(true);
    const s = await client(srv.port);
    const before = directWriteCounters.async;
    const big = 'y'.repeat(256 * 1024);
    let want = '';
    let req: WriteReq | null = null;
    for (let i = 0; i < 16; i++) {
      const d = `${i}${big}`;
      want += d;
      if (i % 2 === 0) req = writeLatin1(s, d, req);
      else s.write(d, 'latin1');
    }
    expect(directWriteCounters.async).toBeGreaterThan(before); // the kernel buffer filled up
    (await srv.conn).resume();
    s.end();
    expect((await srv.received()).toString('latin1')).toBe(want);
  });

  it('a failed write destroys the socket with the error socket.write gives (both paths)', async () => {
    for (const direct of [true, false]) {
      setDirectWrite(direct);
      const srv = await sink();
      // onread, as the pool's sockets: pause() then really stops reading (libuv readStop)
      const s = net.connect({ port: srv.port, host: '127.0.0.1', allowHalfOpen: true, onread: { buffer: Buffer.alloc(1024), callback: () => true } });
      cleanups.push(() => s.destroy());
      await once(s, 'connect');
      s.pause(); // not reading: the reset is seen by the write, not by a read
      const errored = once(s, 'error');
      const closed = new Promise((r) => s.once('close', r)); // not once(): it rejects on the 'error' this test expects
      (await srv.conn).resetAndDestroy();
      await new Promise((r) => setTimeout(r, 50)); // the RST arrives
      writeLatin1(s, 'after reset', null);
      const [err] = (await errored) as [NodeJS.ErrnoException];
      await closed;
      expect(['EPIPE', 'ECONNRESET']).toContain(err.code);
      expect(err.syscall).toBe('write');
      expect(err.message).toBe(`write ${err.code!}`);
      expect(s.destroyed).toBe(true);
    }
  });

  it('property: any mix of direct writes, socket.write, cork and a stalled receiver delivers the same bytes in order', async () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ k: fc.constantFrom('direct' as const, 'stream' as const), size: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 100_000, max: 1_500_000 })) }),
      fc.constant({ k: 'cork' as const }),
      fc.constant({ k: 'uncork' as const }),
    );
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), fc.boolean(), async (ops, paused) => {
      const { got, want } = await run(ops, paused);
      expect(got).toBe(want);
    }), { numRuns: 40, seed: 1304 });
  });

  it('the H1 pool forwards the same request bytes with and without the direct path', async () => {
    const heads: string[] = [];
    for (const direct of [true, false]) {
      setDirectWrite(direct);
      let raw = '';
      const srv = net.createServer((c) => {
        c.on('data', (d: Buffer) => {
          raw += d.toString('latin1');
          if (raw.endsWith('\r\n\r\n')) c.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        });
      });
      srv.listen(0, '127.0.0.1');
      await once(srv, 'listening');
      cleanups.push(() => new Promise((r) => srv.close(r)));
      const port = (srv.address() as net.AddressInfo).port;
      const p = new H1Pool(`http://127.0.0.1:${port}`, { connections: 1, keepAliveMs: 10_000, connectTimeoutMs: 2_000, headersTimeoutMs: 5_000, bodyTimeoutMs: 5_000 });
      cleanups.push(() => p.destroy());
      const before = directWriteCounters.direct;
      for (let i = 0; i < 3; i++) {
        const status = await new Promise<number>((resolve, reject) => {
          let st = 0;
          const h: H1Handler = {
            onResponseStart(s) { st = s; },
            onResponseData() {},
            onResponseEnd() { resolve(st); },
            onError(e) { reject(new Error(e.message)); },
          };
          p.request({ method: 'GET', path: `/r/${i}`, headers: ['host', 'up', 'x-forwarded-for', '127.0.0.1'], body: null, contentLength: 0 }, h);
        });
        expect(status).toBe(200);
      }
      // every head goes below the stream when on (the first one at the connect event)
      expect(directWriteCounters.direct - before).toBe(direct ? 3 : 0);
      heads.push(raw);
    }
    expect(heads[0]).toContain('GET /r/2 HTTP/1.1\r\n');
    expect(heads[0]).toBe(heads[1]);
  });
});
