// The h2 tail diagnosis report (bench/h2-stream-trace.ts): step percentiles from per-stream
// timestamps, GC totals by kind, and which slow streams overlapped a GC pause or a loop stall.
import { describe, expect, it } from 'vitest';
import { analyse, quantile } from '../../../bench/h2-stream-trace.js';
import { TRACE_FIELDS, type TraceDump } from '../../../bench/h2-stream-trace-preload.js';

// open, request, upHead, upData, upEnd, respond, close (ms)
const fast = (t: number): number[] => [t, t + 0.1, t + 0.5, t + 0.6, t + 0.7, t + 0.6, t + 1];
const slow = (t: number): number[] => [t, t + 0.1, t + 20, t + 20.1, t + 20.2, t + 20.1, t + 21];

describe('h2 stream trace analysis', () => {
  it('quantile reads a sorted copy; empty is NaN', () => {
    expect(quantile([3, 1, 2], 0.5)).toBe(2);
    expect(quantile([3, 1, 2], 1)).toBe(3);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('names the slow streams and what they overlapped', () => {
    const d: TraceDump = {
      fields: TRACE_FIELDS,
      streams: [fast(0), fast(10), slow(100), slow(300), [500, -1, -1, -1, -1, -1, 501]],
      gc: [[105, 12, 1], [400, 3, 4]],
      stalls: [[302, 15]],
    };
    const out = analyse(d, 5).join('\n');
    expect(out).toMatch(/streams 5/);
    expect(out).toMatch(/upstream request → upstream head\s+n\s+4 /);
    expect(out).toMatch(/GC: 2 pauses, 15\.0 ms in all, longest 12\.00 ms/);
    expect(out).toMatch(/minor: 1, 12\.0 ms/);
    expect(out).toMatch(/major: 1, 3\.0 ms/);
    expect(out).toMatch(/loop stalls > 3 ms: 1, 15\.0 ms in all/);
    expect(out).toMatch(/15\.0 ms: no GC/);
    expect(out).toMatch(/streams open > 5 ms in the proxy: 2; overlapping a GC pause 1, a loop stall 1/);
  });
});

describe('the node:http2 floor (bench/h2-bare-proxy.ts)', () => {
  it('relays a stream to the h2c upstream and its answer back, the request headers with it', async () => {
    const { startH2cUpstream } = await import('../../../bench/h2-upstream.js');
    const { startBareH2Proxy } = await import('../../../bench/h2-bare-proxy.js');
    const { h2Probe } = await import('../../../bench/h2-targets.js');
    const up = await startH2cUpstream();
    const floor = await startBareH2Proxy(up.port);
    try {
      expect(await h2Probe(`http://127.0.0.1:${floor.port}/x`, { authorization: 'Bearer t' })).toEqual({ status: 200, body: 'hello' });
    } finally {
      floor.close();
      up.close();
    }
  });

  it('carries a gRPC unary call: the answer and its grpc-status trailers reach a grpc-js client', async () => {
    const { GRPC_ECHO_PATH, startGrpcUpstream } = await import('../../../bench/h2-upstream.js');
    const { startBareH2Proxy } = await import('../../../bench/h2-bare-proxy.js');
    const grpc = await import('@grpc/grpc-js');
    const up = await startGrpcUpstream();
    const floor = await startBareH2Proxy(up.port);
    const client = new grpc.Client(`127.0.0.1:${floor.port}`, grpc.credentials.createInsecure());
    try {
      const answer = await new Promise<Buffer>((resolve, reject) => {
        client.makeUnaryRequest(GRPC_ECHO_PATH, (b: Buffer) => b, (b: Buffer) => b, Buffer.from('ping'), new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => (err !== null || res === undefined ? reject(err ?? new Error('no answer')) : resolve(res)));
      });
      expect(answer.toString()).toBe('ping');
    } finally {
      client.close();
      floor.close();
      up.close();
    }
  });
});
