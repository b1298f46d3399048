// bench/syscall-count.ts: reading strace's -c summary and turning it into syscalls per request
// (build-compare prints them: a figure other processes' load does not move).
import { describe, expect, it } from 'vitest';
import { parseStraceSummary, perRequest } from '../../../bench/syscall-count.js';
import { syscallTable } from '../../../bench/build-compare.bench.js';

// as strace 6.1 writes it for a proxy that served 3600 requests (x_forwarded_for: off)
const SUMMARY = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 74.72    1.224369        6215       197        12 futex
 18.05    0.295831        1671       177           epoll_pwait
  2.38    0.038972          10      3615           write
  1.78    0.029227           7      3654           sendto
  1.33    0.021764           6      3616           recvfrom
  1.25    0.020550           5      3653           read
  0.32    0.005310         408        13           mmap
------ ----------- ----------- --------- --------- ----------------
100.00    1.635929          32     14925        12 total
`;

describe('syscall count', () => {
  it('reads every syscall row with its call count (with or without an errors column), not the total', () => {
    expect(parseStraceSummary(SUMMARY)).toEqual({ futex: 197, epoll_pwait: 177, write: 3615, sendto: 3654, recvfrom: 3616, read: 3653, mmap: 13 });
    expect(parseStraceSummary('')).toEqual({});
  });

  it('per request: all calls over the requests; rows under 0.05 per request left out of the breakdown', () => {
    const c = perRequest(parseStraceSummary(SUMMARY), 3600);
    expect(c.perRequest).toBeCloseTo(14925 / 3600, 5);
    expect(c.bySyscall).toEqual({ sendto: 1.01, read: 1.01, recvfrom: 1, write: 1, futex: 0.05 });
    expect(c.requests).toBe(3600);
    expect(c.setUp).toEqual({ accepts: 0, connects: 0 });
  });

  it('counts the connections set up in the window (their set-up is spread over its requests)', () => {
    const c = perRequest({ accept4: 65, connect: 64, setsockopt: 384, write: 3000 }, 3000);
    expect(c.setUp).toEqual({ accepts: 65, connects: 64 });
    expect(perRequest({ accept: 2, accept4: 3 }, 100).setUp.accepts).toBe(5);
  });

  it('the build-compare table shows a count per target and the reason where strace could not count', () => {
    const t = syscallTable({ portcullis: perRequest({ write: 3000, read: 3000, accept4: 64, connect: 64 }, 3000), haproxy: 'strace not found' });
    expect(t).toContain('| portcullis | 2.04 | write 1, read 1 | 64 · 64 |');
    expect(t).toContain('| haproxy | — | skipped: strace not found | — |');
  });
});
