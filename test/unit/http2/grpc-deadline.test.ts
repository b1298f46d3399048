// grpc-timeout parsing (gRPC PROTOCOL-HTTP2.md units) and the shared deadline timer: a call is
// ended once, within a tick of its deadline; one that finished (deleted) never is.
import { describe, it, expect } from 'vitest';
import { DEADLINE_TICK_MS, GrpcDeadlines, grpcTimeoutMs, type Deadlined } from '../../../node/http2/grpc-deadline.js';

describe('grpcTimeoutMs', () => {
  it.each([
    ['1H', 3_600_000], ['2M', 120_000], ['3S', 3_000], ['250m', 250], ['1500u', 2], ['1n', 1], ['99999999m', 99_999_999],
  ])('%s → %d ms (rounded up, at least 1)', (v, ms) => {
    expect(grpcTimeoutMs(['content-type', 'application/grpc', 'grpc-timeout', v])).toBe(ms);
  });

  it.each(['', '10', 'm', '1s', '123456789S', '-1S', '1.5S'])('malformed %j is ignored (null)', (v) => {
    expect(grpcTimeoutMs(['grpc-timeout', v])).toBeNull();
  });

  it('absent → null', () => expect(grpcTimeoutMs(['te', 'trailers'])).toBeNull());
});

describe('GrpcDeadlines', () => {
  const call = (inMs: number, log: string[], name: string): Deadlined => ({ deadlineAt: performance.now() + inMs, deadlineSlot: -1, deadlineExceeded: () => log.push(name) });

  it('ends due calls once, within a tick; a deleted call is never ended; the timer stops when empty', async () => {
    const d = new GrpcDeadlines();
    const log: string[] = [];
    const a = call(30, log, 'a');
    const b = call(30, log, 'b');
    const c = call(5_000, log, 'c');
    d.add(a); d.add(b); d.add(c);
    d.delete(b);
    await new Promise((r) => setTimeout(r, 30 + 3 * DEADLINE_TICK_MS));
    expect(log).toEqual(['a']);
    expect(d.size).toBe(1);
    d.delete(c);
    await new Promise((r) => setTimeout(r, 2 * DEADLINE_TICK_MS));
    expect(d.size).toBe(0);
    d.close();
  });
});
